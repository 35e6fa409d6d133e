"""Executed notebooks kept for inspection (--output DIR), without ever overwriting a user's file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from nbship.errors import UsageError

MARKER = "nbship-check.json"  # the JSON report; also marks a folder as one nbship wrote


def prepare_output_dir(folder: Path, *, what: str = "--output") -> Path:
    """The folder, resolved, once it is known to be safe to write into: new, empty, or an earlier
    check's output (whose files nbship may replace)."""
    target = folder.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{what} {folder} is a file. Give a folder for what nbship check writes (it may be new).")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise UsageError(
            f"{what} {folder} already holds files that nbship did not write, and nbship does not overwrite "
            "your files. Give a new or empty folder (an earlier check's folder can be reused)."
        )
    return target


def inside(folder: Path, root: Path) -> bool:
    return folder == root or root in folder.parents


def write_output(folder: Path, executed: dict[str, bytes], report_json: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in executed.items():
        parts = PurePosixPath(rel).parts
        if not parts or ".." in parts or PurePosixPath(rel).is_absolute():
            continue  # names come from the container: only plain relative paths are written
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (folder / MARKER).write_text(report_json + "\n", encoding="utf-8")
