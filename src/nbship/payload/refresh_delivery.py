"""What an image delivers to the work folder and what the folder's record says it delivered last:
the manifest the build writes, the record the refresh keeps, and reading either without trusting it.
Part of nbship-refresh (refresh.py): standard-library Python 3.8+ only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable

RECORD_DIR = ".nbship"
RECORD = ".nbship/delivered.json"
TEMP_DIR = ".nbship/tmp"
FORMAT = 2
# Served from the image through a link rather than copied: large, and read-only there.
LINKED = ("data",)
# Top-level names that are never the image's files: nbship's own folder, the link to the data,
# and the folder ext4 keeps at the root of a volume.
NOT_DELIVERED = (RECORD_DIR, "lost+found", *LINKED)
_MAX_JSON = 256 << 20  # a record larger than this is not one nbship wrote
_HEX = frozenset("0123456789abcdef")


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_rel(rel: object) -> bool:
    """A relative path that names something inside the work folder, and nothing of nbship's."""
    if not isinstance(rel, str) or not rel or len(rel) > 4096 or "\0" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    if parts[0] in NOT_DELIVERED:
        return False
    return all(part not in ("", ".", "..") for part in parts)


class Delivery:
    """What an image delivers (its manifest) or delivered (the work folder's record)."""

    def __init__(self, files: dict[str, str], modes: dict[str, int], project: str = "", partial: bool = False) -> None:
        self.files = files
        self.modes = modes
        self.project = project
        # A first fill under way: a missing file was never delivered, rather than deleted.
        self.partial = partial
        self.ignored = 0  # entries that were not a clean path inside the folder with a sha256

    def entry(self, rel: str) -> tuple[str, int | None] | None:
        """(sha256, permission bits or None when not recorded), or None when not delivered."""
        digest = self.files.get(rel)
        return None if digest is None else (digest, self.modes.get(rel))

    def dump(self) -> str:
        data: dict[str, object] = {
            "format": FORMAT,
            "project": self.project,
            "files": self.files,
            "modes": {rel: format(mode, "o") for rel, mode in self.modes.items()},
        }
        if self.partial:
            data["partial"] = True
        return json.dumps(data, indent=0, sort_keys=True) + "\n"


def parse_delivery(data: object) -> Delivery | None:
    """A manifest or record as JSON gave it; entries that are not clean are dropped, not trusted."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    files = {
        rel: digest
        for rel, digest in data["files"].items()
        if clean_rel(rel) and isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest)
    }
    raw_modes = data.get("modes")
    modes: dict[str, int] = {}
    if isinstance(raw_modes, dict):
        for rel, text in raw_modes.items():
            if rel in files and isinstance(text, str) and 0 < len(text) <= 4 and set(text) <= set("01234567"):
                modes[rel] = int(text, 8) & 0o777
    project = data.get("project")
    found = Delivery(files, modes, project if isinstance(project, str) else "", data.get("partial") is True)
    found.ignored = len(data["files"]) - len(files)
    return found


def build_manifest(content: str, project: str = "") -> Delivery:
    """Every regular file under `content` (not through links), with its hash and mode."""
    files: dict[str, str] = {}
    modes: dict[str, int] = {}
    for folder, dirs, names in os.walk(content):
        rel_folder = os.path.relpath(folder, content)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in NOT_DELIVERED]
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            rel = (name if rel_folder == "." else os.path.join(rel_folder, name)).replace(os.sep, "/")
            if stat.S_ISREG(info.st_mode) and clean_rel(rel):
                files[rel] = file_hash(path)
                modes[rel] = info.st_mode & 0o777
    return Delivery(files, modes, project)


def copy_project(source: str, dest: str, skip: Iterable[str]) -> None:
    """Copy the build context mounted at `source` into `dest` as `COPY . dest/` lays it out,
    leaving out the relative paths `skip` (data/, nbship's folder, what .dockerignore hides from
    the image): files, folders and links with their modes and times, links as links (never
    followed), owned by whoever runs this (root, as COPY makes them). Other kinds of entry
    (sockets, fifos) are left out. The mount is read, never written: the copy replaces a COPY step
    and the snapshot it costs, and data/ is never read."""
    left_out = set(skip)
    os.makedirs(dest, exist_ok=True)
    folders: list[tuple[str, os.stat_result]] = []  # given their times last: filling them changes them
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(source, rel) if rel else source) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                child = f"{rel}/{entry.name}" if rel else entry.name
                if child in left_out:
                    continue
                info = entry.stat(follow_symlinks=False)
                target = os.path.join(dest, child)
                if stat.S_ISDIR(info.st_mode):
                    os.mkdir(target)
                    folders.append((target, info))
                    todo.append(child)
                elif stat.S_ISLNK(info.st_mode):
                    os.symlink(os.readlink(entry.path), target)
                    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)
                elif stat.S_ISREG(info.st_mode):
                    shutil.copyfile(entry.path, target, follow_symlinks=False)
                    os.chmod(target, stat.S_IMODE(info.st_mode))
                    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    for target, info in reversed(folders):
        os.chmod(target, stat.S_IMODE(info.st_mode))
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def _move(content: str, rel: str, dest: str) -> None:
    """Move content/rel to dest/rel, making its folders with the modes they have under content."""
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        source = os.path.join(content, *parts[:depth])
        target = os.path.join(dest, *parts[:depth])
        if not os.path.isdir(target):
            os.mkdir(target)
            os.chmod(target, stat.S_IMODE(os.lstat(source).st_mode))
    os.rename(os.path.join(content, *parts), os.path.join(dest, *parts))


def split_layers(content: str, delivered: Delivery, stable: str, last: str, stable_rels: list[str]) -> tuple[int, int]:
    """Move the files that change least (the environment's specs and locks, named by the build)
    into `stable` and the notebooks into `last`, each at its path under `content`, so the image
    gets them as layers of their own: a notebook edit then changes the last layer alone, and not
    the one holding a lock of a hundred kilobytes. What moves is among the files the manifest of
    `content` lists (regular files reached without a link); everything else stays. Returns how
    many moved to each."""
    names = set(stable_rels)
    moved = [0, 0]
    for rel in sorted(delivered.files):
        if rel in names:
            _move(content, rel, stable)
            moved[0] += 1
        elif rel.endswith(".ipynb"):
            _move(content, rel, last)
            moved[1] += 1
    return moved[0], moved[1]


class Unreadable(Exception):
    """A manifest or record that cannot be used, and why (for the report)."""


def read_json(path: str) -> tuple[object, str]:
    """The parsed JSON of a regular file, and its text; raises Unreadable saying why not."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("it is not a file")
        if info.st_size > _MAX_JSON:
            raise Unreadable("it is far too large")
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        return json.loads(text), text
    except UnicodeDecodeError:
        raise Unreadable("it is not UTF-8 text") from None
    except RecursionError:
        raise Unreadable("it is nested too deeply") from None
    except ValueError:
        raise Unreadable("it is not JSON") from None
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
