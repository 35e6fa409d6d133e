"""What the refresh tests share: an image laid out as the Dockerfile lays it out, a user who edits
the work folder, a disk that is cut short at a chosen change, and snapshots of folders."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from nbship.payload import refresh

# A tree as the tests write it: relative path -> text, or (text, mode).
Tree = Mapping[str, "str | tuple[str, int]"]


def _text_and_mode(value: str | tuple[str, int]) -> tuple[str, int]:
    return value if isinstance(value, tuple) else (value, 0o644)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_tree_file(root: Path, rel: str, value: str | tuple[str, int]) -> None:
    """Writes one file, clearing whatever is in its way (a file where a folder goes, and back)."""
    text, mode = _text_and_mode(value)
    target = root / rel
    for parent in reversed(target.relative_to(root).parents[:-1]):
        if (root / parent).is_file() or (root / parent).is_symlink():
            (root / parent).unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove(target)
    target.write_text(text)
    target.chmod(mode)


class Image:
    """An image's project copy and its manifest, as the Dockerfile lays them out."""

    def __init__(self, root: Path) -> None:
        self.content = root / "project"
        self.manifest = root / "manifest.json"
        self.content.mkdir(parents=True)

    def deliver(self, files: Tree, project: str = "proj") -> None:
        for old in list(self.content.iterdir()):
            remove(old)
        for rel, value in files.items():
            write_tree_file(self.content, rel, value)
        self.manifest.write_text(refresh.build_manifest(str(self.content), project).dump())

    def sync(self, work: Path, disk: refresh.Disk | None = None) -> list[str]:
        return refresh.sync(str(self.content), str(self.manifest), str(work), disk)


def edit(work: Path, before: Tree, user: Tree) -> None:
    """The user's side: what `before` delivered and `user` lacks is deleted; the rest is written."""
    for rel in before:
        if rel not in user:
            remove(work / rel)
    for rel, value in user.items():
        if rel not in before or before[rel] != value:
            write_tree_file(work, rel, value)


def files_of(folder: Path) -> dict[str, str]:
    """Regular files (not through links, not nbship's own folder) and their text."""
    found = {}
    for base, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not (base == str(folder) and d == refresh.RECORD_DIR)]
        for name in names:
            path = Path(base, name)
            if path.is_file() and not path.is_symlink():
                found[str(path.relative_to(folder))] = path.read_text()
    return found


Snapshot = dict[str, tuple[str, int, bytes]]


def snapshot(folder: Path) -> Snapshot:
    """Everything under `folder`, links not followed: kind, permission bits, and bytes or link target."""
    found: Snapshot = {}
    for base, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            path = Path(base, name)
            info = path.lstat()
            rel = str(path.relative_to(folder))
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", 0, os.readlink(path).encode())
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", info.st_mode & 0o777, b"")
            else:
                found[rel] = ("file", info.st_mode & 0o777, path.read_bytes())
    return found


class Killed(BaseException):
    """A start cut short (kill -9): no handler of the refresh catches it, as none runs after a kill."""


class CuttingDisk(refresh.Disk):
    """A disk that counts the refresh's changes and is cut short before change number `cut_at`."""

    def __init__(self, work: str, cut_at: int | None = None) -> None:
        super().__init__(work)
        self.cut_at = cut_at
        self.steps = 0

    def step(self) -> None:
        if self.cut_at is not None and self.steps == self.cut_at:
            raise Killed
        self.steps += 1


def debris(work: Path) -> list[str]:
    """nbship's temporary files anywhere in the user's folders (outside .nbship/)."""
    return [
        str(path.relative_to(work))
        for path in work.rglob("*")
        if path.name.startswith((".nbship-", "copy-", "record-")) and refresh.RECORD_DIR not in path.parts
    ]
