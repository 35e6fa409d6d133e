"""Helpers shared by the unit tests: every project is written file by file into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

MakeProject = Callable[..., Path]


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
