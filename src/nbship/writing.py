"""Writing a command's files into the user's folder: all of them, or none.

Each file is written beside its target under a temporary name first, and only when every one is
written are they renamed into place; a file it replaces is kept aside until then. A failure at
any point (a read-only folder, a full disk, a folder where a file should go) puts back what was
there and leaves nothing of the command behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import ProjectError


@dataclass(frozen=True)
class NewFile:
    path: Path
    data: bytes
    mode: int = 0o644


def preflight(files: list[NewFile], *, root: Path) -> None:
    """What can be refused before any work: a folder where a file goes, a file where a folder goes,
    a folder nbship may not write into."""
    for item in files:
        for place in (item.path, *item.path.parents):
            if place == root or root not in place.parents:
                break
            if place == item.path and place.is_dir() and not place.is_symlink():
                raise ProjectError(
                    f"{place} is a folder, and nbship would write a file there. Move or rename the folder, then "
                    "run nbship again; nothing was written."
                )
            if place != item.path and place.exists() and not place.is_dir():
                raise ProjectError(
                    f"{place} is a file, and nbship would write {item.path.name} into a folder of that name. Move "
                    "or rename the file, then run nbship again; nothing was written."
                )
        existing = next(p for p in (item.path.parent, *item.path.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            raise ProjectError(
                f"nbship may not write into {existing} (it is read-only for you), so nothing was written. "
                "Make the folder writable for your user and run nbship again."
            )


def write_all(files: list[NewFile], *, root: Path) -> list[Path]:
    """Writes every file or none (see the module's note); returns their paths."""
    preflight(files, root=root)
    made_dirs: list[Path] = []
    staged: list[tuple[Path, NewFile]] = []
    aside: list[tuple[Path, Path]] = []  # (backup, original)
    placed: list[Path] = []
    try:
        for item in files:
            missing = [p for p in (item.path.parent, *item.path.parent.parents) if not p.exists()]
            for folder in reversed(missing):
                folder.mkdir()
                made_dirs.append(folder)
            fd, name = tempfile.mkstemp(prefix=f".{item.path.name}.nbship-", dir=item.path.parent)
            staged.append((Path(name), item))
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.data)
            os.chmod(name, item.mode)
        for tmp, item in staged:
            if item.path.exists() or item.path.is_symlink():
                fd, old = tempfile.mkstemp(prefix=f".{item.path.name}.nbship-old-", dir=item.path.parent)
                os.close(fd)
                backup = Path(old)
                os.replace(item.path, backup)
                aside.append((backup, item.path))
            os.replace(tmp, item.path)
            placed.append(item.path)
    except OSError as exc:
        for path in placed:
            with contextlib.suppress(OSError):
                path.unlink()
        for backup, original in aside:
            with contextlib.suppress(OSError):
                os.replace(backup, original)
        for leftover, _ in staged:
            with contextlib.suppress(OSError):
                leftover.unlink()
        for folder in reversed(made_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()
        where = exc.filename or root
        raise ProjectError(
            f"nbship could not write into {Path(where).parent if exc.filename else where} ({exc.strerror or exc}); "
            "nothing was written. Make the folder writable for your user and run nbship again."
        ) from exc
    for backup, _ in aside:
        with contextlib.suppress(OSError):
            backup.unlink()
    return [item.path for item in files]
