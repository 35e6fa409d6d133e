"""Tar members on their way into a volume or out of one.

Into a volume (`volume import`), every member is screened: device nodes, FIFOs and sockets are
left out, setuid and setgid bits are cleared, names outside the archive's folder or under a link
the archive itself made are left out, and hard links must name a file the archive holds. Files
are owned by the notebook user unless the archive's owners are asked for. What was left out or
changed is reported by name.

Out of a volume into a folder (`volume export DIR`), the same screen applies, and the folder is
written here rather than by `TarFile.extract`: its `filter=` argument, which the safe extraction
would need, is missing from Python before 3.10.12 and 3.11.4 (Debian 12 has 3.11.2). Nothing is
followed through a link, no device node or setuid file is made, and hard links become copies of
the file they name, so a link whose target is elsewhere in the archive never fails.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nbship.engine.archive import copy_members, relative, renamed

__all__ = ["ArchiveOutcome", "LeftOut", "Screen", "copy_members", "relative", "renamed", "write_folder"]

_SHOWN = 5  # names listed per kind of entry left out, before "..."


@dataclass(frozen=True)
class LeftOut:
    name: str
    why: str  # "device node", "FIFO", "socket", ...


@dataclass(frozen=True)
class ArchiveOutcome:
    entries: int
    left_out: tuple[LeftOut, ...] = ()
    cleared: tuple[str, ...] = ()  # entries whose setuid or setgid bit was removed

    def notes(self) -> list[str]:
        """What the user is told about the entries that did not come through as they were."""
        lines = []
        kinds: dict[str, list[str]] = {}
        for item in self.left_out:
            kinds.setdefault(item.why, []).append(item.name)
        if kinds:
            parts = [f"{why}: {len(names)} ({_names(names)})" for why, names in kinds.items()]
            lines.append(f"Left out {len(self.left_out)} entries: " + "; ".join(parts) + ".")
        if self.cleared:
            lines.append(f"Removed the setuid/setgid bit from {len(self.cleared)} file(s): {_names(self.cleared)}.")
        return lines


def _names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


class Screen:
    """Decides member by member what may enter a volume or a folder, and remembers what it refused."""

    def __init__(self, *, top: str, owner: int | None) -> None:
        self.top = top
        self.owner = owner  # None: keep the archive's owners
        self.files: set[str] = set()
        self.links: set[str] = set()
        self.left_out: list[LeftOut] = []
        self.cleared: list[str] = []
        self.count = 0

    def leave(self, name: str, why: str) -> None:
        self.left_out.append(LeftOut(name, why))

    def admit(self, member: tarfile.TarInfo) -> str | None:
        """The member's path inside the folder when it may go in (its mode and owner made safe), else None."""
        rel = relative(member.name, self.top)
        if rel is None:
            self.leave(member.name, "outside the archive's folder")
            return None
        under = next((link for link in self.links if rel.startswith(link + "/")), None)
        if under is not None:
            self.leave(rel, f"inside {under}, which is a link")
            return None
        why = self._refused(member, rel)
        if why is not None:
            self.leave(rel, why)
            return None
        if member.mode & 0o6000:
            self.cleared.append(rel)
        member.mode &= 0o1777
        if self.owner is not None:
            member.uid = member.gid = self.owner
            member.uname = member.gname = ""
        (self.links.add if member.issym() else self.links.discard)(rel)
        (self.files.add if member.isreg() else self.files.discard)(rel)
        if member.isreg():
            member.type = tarfile.REGTYPE  # sparse and contiguous files are written back as plain ones
        self.count += 1
        return rel

    def refuse(self, rel: str, why: str) -> None:
        """Takes back an admitted entry that could not be written after all."""
        self.files.discard(rel)
        self.links.discard(rel)
        self.count -= 1
        self.leave(rel, why)

    def _refused(self, member: tarfile.TarInfo, rel: str) -> str | None:
        if member.ischr() or member.isblk():
            return "device node"
        if member.isfifo():
            return "FIFO"
        if member.islnk():
            target = relative(member.linkname, self.top)
            if target is None or target not in self.files:
                return "hard link to something that is not a file of the archive"
            return None
        if rel == "." and not member.isdir():
            return "not a folder at the archive's top"
        if member.isreg() or member.isdir() or member.issym():
            return None
        return "unsupported kind of entry"

    def outcome(self) -> ArchiveOutcome:
        return ArchiveOutcome(self.count, tuple(self.left_out), tuple(self.cleared))


def _blocked(dest: Path, rel: str) -> str | None:
    """The first folder on the way to `rel` that is a link or not a folder (nothing is written through it)."""
    path = dest
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return str(path.relative_to(dest))
    return None


def _write(path: Path, data: IO[bytes] | None, mode: int) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()  # a name the archive holds twice: the later entry wins, as with tar
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags, 0o600), "wb") as out:
        if data is not None:
            shutil.copyfileobj(data, out, 1 << 20)
    path.chmod(mode)


def write_folder(source: tarfile.TarFile, dest: Path, *, top: str) -> ArchiveOutcome:
    """Writes the members under `top` into the folder `dest`, screened; owners are kept only as root."""
    screen = Screen(top=top, owner=None)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    folders: list[tuple[Path, tarfile.TarInfo]] = []
    for member in source:
        rel = screen.admit(member)
        if rel is None or rel == ".":
            continue
        path = dest.joinpath(*rel.split("/"))
        blocked = _blocked(dest, rel)
        is_dir = path.is_dir() and not path.is_symlink()
        clash = (member.isdir() and os.path.lexists(path) and not is_dir) or (not member.isdir() and is_dir)
        if blocked is not None or clash:
            screen.refuse(rel, f"in the way of {blocked or rel}, which is not a folder")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if member.isdir():
            path.mkdir(exist_ok=True)
            folders.append((path, member))
            continue
        if member.issym():
            if path.is_symlink() or path.is_file():
                path.unlink()
            os.symlink(member.linkname, path)
        elif member.islnk():
            linked = relative(member.linkname, top)
            assert linked is not None  # the screen admits hard links to its files only
            with dest.joinpath(*linked.split("/")).open("rb") as original:
                _write(path, original, member.mode & 0o777)
        else:
            _write(path, source.extractfile(member), member.mode & 0o777)
        _finish(path, member, as_root=as_root)
    # Folders last, deepest first: a read-only folder must not stop what goes into it.
    for path, member in sorted(folders, key=lambda item: len(item[0].parts), reverse=True):
        path.chmod(member.mode & 0o777)
        _finish(path, member, as_root=as_root)
    return screen.outcome()


def _finish(path: Path, member: tarfile.TarInfo, *, as_root: bool) -> None:
    if as_root:
        os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if os.utime in os.supports_follow_symlinks or not member.issym():
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
