"""Unpacking zip and tar archives (gzip, bzip2, xz) from the network, safely: every entry lands
inside the destination or is refused. Absolute names and `..` are refused; links are made last,
only relative ones, and a link that resolves outside the tree is dropped; devices, FIFOs and
setuid bits never come out. Standard library only, without tarfile's `filter=` (missing on stock
Debian 12's Python 3.11.2), so the checks are the same on every Python nbship runs on."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from nbship.errors import ProjectError

ArchiveKind = Literal["zip", "tar"]
_DRIVE = re.compile(r"[A-Za-z]:")
# What macOS adds to archives it makes: resource forks, never project content.
_JUNK_TOP = frozenset({"__MACOSX"})


class UnsafeMember(ProjectError):
    pass


@dataclass
class Unpacked:
    files: int = 0
    left_out: list[str] = field(default_factory=list)  # entries not unpacked, with the reason


def member_path(name: str, *, archive: str) -> str | None:
    """The relative posix path an archive entry may be written to; None for entries that carry
    nothing (the root, macOS resource forks). Raises UnsafeMember for a name that leaves the folder."""
    if "\0" in name:
        raise UnsafeMember(f"{archive} holds an entry whose name contains a NUL byte; nbship does not unpack it.")
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise UnsafeMember(
            f"{archive} holds the absolute path {name!r}, which would be written outside the project folder; "
            "nbship does not unpack such archives."
        )
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeMember(
            f"{archive} holds the entry {name!r}, whose '..' would write outside the project folder; nbship "
            "does not unpack such archives."
        )
    if not parts or parts[0] in _JUNK_TOP or parts[-1].startswith("._"):
        return None
    return "/".join(parts)


def archive_kind(path: Path) -> ArchiveKind | None:
    """What `path` is, from its content (never its name): a zip, a tar (compressed or not), or neither."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, "r:*"):
            return "tar"  # opening reads the first header: what is not a tar fails here
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None


def _mode(bits: int) -> int:
    # Only the executable bit is kept: no setuid/setgid/sticky, no world-writable files.
    return 0o755 if bits & 0o111 else 0o644


def _target(dest: Path, rel: str, archive: str) -> Path:
    target = dest.joinpath(*rel.split("/"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ProjectError(f"{archive} holds {rel!r} below an entry that is a file, not a folder.") from exc
    if target.is_dir() and not target.is_symlink():
        raise ProjectError(f"{archive} holds {rel!r} both as a folder and as a file; nbship cannot unpack it.")
    return target


def _write(source: IO[bytes], target: Path, mode: int, mtime: float) -> None:
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    os.chmod(target, mode)
    os.utime(target, (mtime, mtime))


def _zip_entries(path: Path, name: str, dest: Path, result: Unpacked) -> Iterator[tuple[str, str]]:
    """Unpacks files and folders; yields (link path, link target) for the links, made afterwards."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            rel = member_path(info.filename, archive=name)
            if rel is None:
                continue
            unix = info.external_attr >> 16 if info.create_system == 3 else 0
            if info.is_dir():
                dest.joinpath(*rel.split("/")).mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(unix):
                yield rel, archive.read(info).decode("utf-8", errors="replace")
            elif stat.S_IFMT(unix) not in (0, stat.S_IFREG):
                result.left_out.append(f"{rel} (not a regular file)")
            else:
                mtime = time.mktime((*info.date_time, 0, 0, -1))
                with archive.open(info) as source:
                    _write(source, _target(dest, rel, name), _mode(unix), mtime)
                result.files += 1


def _tar_entries(path: Path, name: str, dest: Path, result: Unpacked) -> Iterator[tuple[str, str]]:
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            rel = member_path(member.name, archive=name)
            if rel is None:
                continue
            if member.isdir():
                dest.joinpath(*rel.split("/")).mkdir(parents=True, exist_ok=True)
            elif member.issym():
                yield rel, member.linkname
            elif member.islnk():
                source = member_path(member.linkname, archive=name)
                copied = dest.joinpath(*source.split("/")) if source else None
                if copied is None or not copied.is_file():
                    result.left_out.append(f"{rel} (a hard link to an entry that is not there)")
                    continue
                shutil.copy2(copied, _target(dest, rel, name))
                result.files += 1
            elif member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None  # a regular member always has a file object
                with extracted:
                    _write(extracted, _target(dest, rel, name), _mode(member.mode), member.mtime)
                result.files += 1
            else:
                result.left_out.append(f"{rel} (a device, FIFO or other special file)")


def unpack(path: Path, dest: Path, *, name: str) -> Unpacked:
    """Unpacks the archive at `path` into the new folder `dest`. An archive whose entries all sit
    in one top folder (a GitHub or Zenodo release archive) has that folder's content as `dest`.
    `name` names the archive in messages."""
    kind = archive_kind(path)
    if kind is None:
        raise ProjectError(
            f"{name} is not a zip or tar archive; nbship unpacks .zip, .tar, .tar.gz, .tar.bz2 and .tar.xz."
        )
    dest.mkdir(parents=True)
    result = Unpacked()
    entries = _zip_entries if kind == "zip" else _tar_entries
    try:
        links = list(entries(path, name, dest, result))
        for rel, target in links:
            if posixpath.isabs(target) or _DRIVE.match(target):
                result.left_out.append(f"{rel} (a link to the absolute path {target})")
                continue
            link = _target(dest, rel, name)
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise ProjectError(f"{name} is damaged and cannot be unpacked ({exc}).") from exc
    except OSError as exc:
        raise ProjectError(f"{name} cannot be unpacked: {exc.strerror or exc} ({exc.filename or 'an entry'}).") from exc
    if result.files == 0:
        raise ProjectError(f"{name} holds no files, so there is no project in it.")
    _hoist_single_folder(dest)
    result.left_out += drop_escaping_links(dest)
    return result


def _hoist_single_folder(dest: Path) -> None:
    children = list(dest.iterdir())
    if len(children) != 1 or not children[0].is_dir() or children[0].is_symlink():
        return
    moved = dest.with_name(dest.name + ".top")
    children[0].rename(moved)
    dest.rmdir()
    moved.rename(dest)


def drop_escaping_links(root: Path) -> list[str]:
    """Removes links that resolve outside `root` (fetched content must not reach into the host);
    returns what was removed. Links that resolve inside, or to nothing inside, stay."""
    removed: list[str] = []
    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root):
        for entry in [*dirs, *files]:
            path = os.path.join(folder, entry)
            if not os.path.islink(path):
                continue
            resolved = os.path.realpath(path)
            if os.path.commonpath([real_root, resolved]) != real_root:
                removed.append(f"{os.path.relpath(path, root)} (a link to {os.readlink(path)}, outside the project)")
                os.unlink(path)
    return removed
