"""The Dockerfile of a plan, kept in nbship's cache: a plan is the render's only input besides
nbship's own code and Jinja, so a build after a notebook edit (the same plan) reads the text back
instead of importing Jinja and compiling the templates again.

The key hashes the plan's repr (frozen dataclasses of plain values all the way down, so the repr
holds every field), nbship's own files and Jinja's. A plan holding an object whose repr does not
show its state (`<... object at 0x...>`) is rendered every time and never kept.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from nbship import __version__
from nbship.cachedir import cache_home, own_digest, stat_key

if TYPE_CHECKING:
    from nbship.project.plan import BuildPlan

FORMAT = 1
KEEP = 64  # entries kept: each plan a project has had (a lock or a setting changed) is one
_OPAQUE = " object at 0x"


def _jinja() -> str:
    spec = importlib.util.find_spec("jinja2")  # finds it without importing it
    origin = spec.origin if spec is not None else None
    return "-" if origin is None else f"{origin}\0{stat_key(origin)}"


def entry(plan: BuildPlan) -> Path | None:
    """Where the plan's Dockerfile is kept; None: a plan that cannot be keyed by its repr."""
    shown = repr(plan)
    if _OPAQUE in shown:
        return None
    key = f"format {FORMAT}\0nbship {__version__}\0own {own_digest()}\0jinja2 {_jinja()}\0{shown}"
    name = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return cache_home() / "dockerfiles" / f"{name}.Dockerfile"


def _keep(path: Path, text: str) -> None:
    """Best effort: the cache only saves time, so a failure keeps nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        kept = sorted(path.parent.glob("*.Dockerfile"), key=lambda item: item.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return


def dockerfile(plan: BuildPlan) -> str:
    """The Dockerfile nbship renders for `plan`, from the cache when it holds it."""
    path = entry(plan)
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    from nbship.render.dockerfile import render_dockerfile

    text = render_dockerfile(plan)
    if path is not None:
        _keep(path, text)
    return text
