"""What an input kind is: one module per kind of project file (requirements.txt, environment.yml,
apt.txt, ...), each detecting and parsing its files into a frozen `Input`, and contributing its part
of the build plan: a hint for the Python version, the packages it provides, Dockerfile fragments
for the stages of the image, and environment variables of the final image.

Kinds are composed, not inherited (repo2docker's BuildPack idea without the class tree): the
registry in kinds/__init__.py lists them in order, and the planner asks each one for its part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from nbship.errors import InputFileError
from nbship.project.text import os_problem, resolve_inside
from nbship.settings import Settings

# Where a fragment goes in the Dockerfile, in the order the stages appear:
#   stages    whole stages of their own, built before the environment (the conda install)
#   system    the system stage, as root, after the base image check (apt.txt)
#   env-base  replaces the environment's first step (a conda prefix instead of a new virtualenv)
#   env       the env stage, one install step each (requirements, locks, a conda pip: section)
#   project   installs that need the project's sources (the project as a package, `-e .`)
#   content   the image's copy of the project, as root, before it reaches the image (script modes)
#   image     the final image, as root, before its data and content (what a stage of its own built)
#   final     the final image, as the notebook user, after the content (postBuild)
Stage = Literal["stages", "system", "env-base", "env", "project", "content", "image", "final"]
STAGES: tuple[Stage, ...] = ("stages", "system", "env-base", "env", "project", "content", "image", "final")


@dataclass(frozen=True)
class Layout:
    """Where detection looks: the project root, and the folder holding its configuration files
    (binder/ or .binder/ when present, else the root; as on Binder, then root files are ignored)."""

    root: Path
    config_dir: Path
    settings: Settings

    def find(self, name: str) -> Path | None:
        """The file `name` in the configuration folder; a folder or a link that loops, leads
        nowhere or leads out of the project by that name is an error, not silently no file."""
        candidate = self.config_dir / name
        display = self.display(candidate)
        try:
            if not candidate.is_symlink() and not candidate.exists():
                return None
            resolve_inside(candidate, self.root, display)
            candidate.stat()
        except OSError as exc:
            problem, fix = os_problem(exc)
            raise InputFileError(display, None, problem, fix) from exc
        if not candidate.is_file():
            raise InputFileError(display, None, "it is a folder, not a file", "Replace it with a file, or rename it.")
        return candidate

    def display(self, path: Path) -> str:
        """A project path as a posix path relative to the root (how Dockerfiles and messages name it)."""
        return path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class PythonHint:
    """What a kind says about the Python version; the lowest rank wins (settings 0 beat all)."""

    version: str | None  # None: "the default", as runtime.txt `python-3` says
    reason: str
    rank: int
    problem: str | None = None  # when this hint decides, the build cannot go on: the message says why


@dataclass(frozen=True)
class Fragment:
    """Dockerfile text for one stage: a Jinja template rendered with the plan's shared values
    (render/dockerfile.py names them) and the fragment's own `values`."""

    stage: Stage
    template: str
    values: Mapping[str, Any] = field(default_factory=dict)
    # It copies from the `source` stage (the project without notebooks and data), which the
    # skeleton then renders before every stage of the `stages` slot.
    uses_source: bool = False


@dataclass(frozen=True)
class PlanContext:
    """The choices made before the kinds contribute: each is decided once, in project/plan.py."""

    python: str
    installer: str  # "uv" | "pip"
    buildkit: bool
    inputs: tuple[Input, ...]  # every input the project has, for kinds that depend on another
    rel: Callable[[Path], str]

    def has(self, kind: str) -> bool:
        return any(item.kind == kind for item in self.inputs)


class Input(Protocol):
    """A detected, parsed project file (or group of files) of one kind."""

    kind: ClassVar[str]
    # The image runs this input's file (postBuild, start), so it stays in the image's copy of the
    # project even where the project's .dockerignore hides it.
    kept_in_image: ClassVar[bool]

    @property
    def files(self) -> tuple[Path, ...]:
        """The files it was read from (for messages and for what nbship.lock's digest covers)."""

    def context_files(self) -> tuple[Path, ...]:
        """The files its build steps read from the build context: always sent, whatever the
        project's .dockerignore says (its own files by default)."""

    def python_hint(self) -> PythonHint | None: ...

    def provides(self) -> frozenset[str]:
        """Canonical names of the packages it installs (JupyterLab brought by the project, say)."""

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]: ...

    def final_env(self) -> Mapping[str, str]:
        """Environment variables the final image gets from this input."""


class InputBase:
    """Defaults for the parts a kind has nothing to say about."""

    kept_in_image: ClassVar[bool] = False

    @property
    def files(self) -> tuple[Path, ...]:
        raise NotImplementedError("every kind names the files it was read from")

    def context_files(self) -> tuple[Path, ...]:
        return self.files

    def python_hint(self) -> PythonHint | None:
        return None

    def provides(self) -> frozenset[str]:
        return frozenset()

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        return ()

    def final_env(self) -> Mapping[str, str]:
        return {}


@dataclass(frozen=True)
class OneFile(InputBase):
    """An input read from one file of the project."""

    path: Path
    display: str  # as the project names it: "binder/postBuild"

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path,)


@dataclass(frozen=True)
class Ignored:
    """A project file nbship found and does not use, with why (reported, never silent)."""

    path: Path
    reason: str


class Kind(Protocol):
    """A kind module: `detect` returns its input, or None when the project has none of its files."""

    name: str

    def detect(self, layout: Layout, found: tuple[Input, ...]) -> Input | Ignored | tuple[Input | Ignored, ...] | None:
        """`found`: what the kinds before this one detected (environment.yml makes requirements.txt unused).
        A tuple: an input and what it leaves unused (a Pipfile.lock, and the newer Pipfile it ignores)."""
