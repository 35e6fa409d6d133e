"""Helpers shared by the unit tests: every project is written file by file into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nbship.commands.build import plan_for
from nbship.errors import NbshipError
from nbship.options import ImageOptions
from nbship.project.detect import detect
from nbship.project.plan import BuildPlan
from nbship.render.dockerfile import render_dockerfile

MakeProject = Callable[..., Path]


def message_of(action: Callable[[], object]) -> str | None:
    """The message of the NbshipError `action` raised, or None when it raised none (any other
    exception goes on: that is what property tests look for)."""
    try:
        action()
    except NbshipError as exc:
        return exc.message
    return None


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Writes `files` (relative path -> content) under `root`; a path ending in '/' is a folder."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        if rel.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def plan_of(root: Path, *, buildkit: bool = True, mount_context: bool = True, **options: Any) -> BuildPlan:
    """The build plan nbship makes for the project at `root` (image options as keywords)."""
    return plan_for(detect(root), ImageOptions(**options), buildkit=buildkit, mount_context=mount_context)


def render(root: Path, *, buildkit: bool = True, mount_context: bool = True, **options: Any) -> str:
    """The Dockerfile nbship renders for the project at `root` (`mount_context`: for BuildKit, not Buildah)."""
    return render_dockerfile(plan_of(root, buildkit=buildkit, mount_context=mount_context, **options))
