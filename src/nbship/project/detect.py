"""Reads a project folder with the Binder conventions into one immutable `Project`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nbship import contract as c
from nbship import ignore
from nbship.errors import InputFileError, ProjectError
from nbship.project.identity import Identity, identify
from nbship.project.kinds import KINDS
from nbship.project.kinds.base import Ignored, Input, Layout
from nbship.project.kinds.unused import unused_files
from nbship.project.origin import Origin
from nbship.project.text import read_text
from nbship.values import shown

InputT = TypeVar("InputT", bound=Input)


@dataclass(frozen=True, kw_only=True)
class Project(Identity):
    """Which project it is (the Identity), and what detection found in it."""

    config_dir: Path  # root, or binder/ / .binder/ when present (then root files are ignored)
    dockerignore: Path | None
    data_dir: Path | None
    notebooks: tuple[Path, ...]
    inputs: tuple[Input, ...]  # every detected input kind, in detection order
    ignored: tuple[Ignored, ...] = ()  # files found and not used, with the reason
    ignore: tuple[ignore.Pattern, ...] = ()  # the project's .dockerignore, as Docker reads it

    def rel(self, path: Path) -> str:
        """A project path as a posix path relative to the root (how Dockerfiles name it)."""
        return path.relative_to(self.root).as_posix()

    def input(self, kind: type[InputT]) -> InputT | None:
        """The project's input of this kind, if it has one."""
        return next((item for item in self.inputs if isinstance(item, kind)), None)


def _config_dir(root: Path) -> Path:
    candidates = [root / name for name in ("binder", ".binder") if (root / name).is_dir()]
    if len(candidates) > 1:
        raise ProjectError(
            f"{root} has both binder/ and .binder/ folders, so it is unclear which configures the "
            "environment. Keep one of them (Binder refuses this too)."
        )
    chosen = candidates[0] if candidates else root
    if chosen != root and not os.access(chosen, os.R_OK | os.X_OK):
        raise InputFileError(
            f"{chosen.name}/",
            None,
            "nbship may not read this folder (permission denied)",
            "Make it readable for your user.",
        )
    return chosen


def find_notebooks(root: Path) -> tuple[Path, ...]:
    found: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue  # unreadable: the build says so if it would send the folder
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in c.SKIP_DIRS:
                    stack.append(entry)
            elif entry.suffix == ".ipynb":
                found.append(entry)
    return tuple(sorted(found))


def read_dockerignore(path: Path) -> tuple[ignore.Pattern, ...]:
    """The project's .dockerignore as Docker reads it; a pattern Docker refuses names its line."""
    lines = ignore.parse(read_text(path, path.name))
    try:
        return ignore.compile_lines(lines)
    except ignore.PatternError:
        pass
    for number, text in lines:  # again, one by one, to name the line
        try:
            ignore.compile_lines([(number, text)])
        except ignore.PatternError as exc:
            problem = f"'{shown(text)}' is not a pattern nbship can apply: {exc}"
            raise InputFileError(path.name, number, problem, "Fix or remove the line.") from exc
    raise AssertionError("unreachable: one of the lines failed")


def detect_inputs(layout: Layout) -> tuple[tuple[Input, ...], tuple[Ignored, ...]]:
    inputs: list[Input] = []
    ignored: list[Ignored] = []
    for kind in KINDS:
        result = kind.detect(layout, tuple(inputs))
        for item in result if isinstance(result, tuple) else (result,):
            if isinstance(item, Ignored):
                ignored.append(item)
            elif item is not None:
                inputs.append(item)
    ignored.extend(unused_files(layout, tuple(inputs)))
    return tuple(inputs), tuple(ignored)


def detect(path: Path, *, origin: Origin | None = None) -> Project:
    """Detects the project at `path`. Raises ProjectError for anything the user must fix. With
    `origin` (a fetched source), the project's name and id come from the source, not the path."""
    identity = identify(path, origin=origin)
    root, settings = identity.root, identity.settings
    layout = Layout(root, _config_dir(root), settings)
    inputs, ignored = detect_inputs(layout)
    data_dir = root / "data"
    dockerignore = root / ".dockerignore"
    has_ignore = dockerignore.is_file() or dockerignore.is_symlink()
    return Project(
        root=root,
        name=identity.name,
        slug=identity.slug,
        project_id=identity.project_id,
        settings=settings,
        settings_file=identity.settings_file,
        origin=identity.origin,
        config_dir=layout.config_dir,
        dockerignore=dockerignore if has_ignore else None,
        data_dir=data_dir if data_dir.is_dir() and not data_dir.is_symlink() else None,
        notebooks=find_notebooks(root),
        inputs=inputs,
        ignored=ignored,
        ignore=read_dockerignore(dockerignore) if has_ignore else (),
    )
