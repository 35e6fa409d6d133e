"""nbship's cache of fetched sources, and what each reference last resolved to.

    <cache>/sources/trees/<key>/fetched/    what was fetched, exactly: nbship never writes here
    <cache>/sources/trees/<key>/project/    the folder nbship builds: the same files (large ones
                                            hard-linked), plus the locks nbship writes
    <cache>/sources/downloads/<sha256>      downloaded files, verified, named by their content
    <cache>/sources/refs/<hash>.json        the last resolution of a reference (commit, record
                                            version, validators), for "moved" notes and offline use

A tree is made in a temporary folder and renamed into place, under a lock, so a half-made tree is
never used and two nbship processes never fetch the same thing at once. <cache> is
$NBSHIP_CACHE_DIR, else $XDG_CACHE_HOME/nbship, else ~/.cache/nbship.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two nbship processes may then fetch one tree twice
    fcntl = None  # type: ignore[assignment]
from dataclasses import asdict, dataclass
from pathlib import Path

from nbship.cachedir import cache_home
from nbship.project.kinds.environment_yml import LOCK_NAME as CONDA_LOCK
from nbship.project.kinds.pip_lock import LOCK_NAME as PIP_LOCK

# Files at least this big are hard-linked into project/ instead of copied. Small files (notebooks,
# environment files) and the locks nbship writes are copies, so nothing that rewrites one in place
# reaches fetched/.
LINK_AT = 1 << 20
WRITTEN_BY_NBSHIP = frozenset({CONDA_LOCK, PIP_LOCK})


def cache_root() -> Path:
    return cache_home() / "sources"


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    folder = cache_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        if fcntl is None:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Tree:
    key: str

    @property
    def root(self) -> Path:
        return cache_root() / "trees" / self.key

    @property
    def fetched(self) -> Path:
        return self.root / "fetched"

    @property
    def project(self) -> Path:
        return self.root / "project"

    def exists(self) -> bool:
        return self.project.is_dir() and self.fetched.is_dir() and (self.root / "revision").is_file()

    @property
    def revision(self) -> str:
        return (self.root / "revision").read_text(encoding="utf-8").strip()


def make_tree(key: str, fill: Callable[[Path], str]) -> tuple[Tree, bool]:
    """The tree `key`, made by `fill(folder)` (which creates `folder` and returns the revision it
    holds) unless it exists; True when made now."""
    tree = Tree(key)
    with locked(f"tree-{key}"):
        if tree.exists():
            return tree, False
        staging = tree.root.with_name(f".tmp-{key}-{uuid.uuid4().hex[:8]}")
        staging.mkdir(parents=True)
        try:
            revision = fill(staging / "fetched")
            mirror(staging / "fetched", staging / "project")
            (staging / "revision").write_text(revision + "\n", encoding="utf-8")
            if tree.root.exists():  # an incomplete tree of an older nbship: replaced whole
                shutil.rmtree(tree.root)
            staging.rename(tree.root)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return tree, True


def mirror(source: Path, target: Path) -> None:
    """`target` as a copy of `source` that shares the bytes of large files (hard links where the
    file system allows), with modes and times kept, so both fingerprint the same."""
    for folder, dirs, files in os.walk(source):
        rel = os.path.relpath(folder, source)
        out = target if rel == "." else target / rel
        out.mkdir(parents=True, exist_ok=True)
        shutil.copystat(folder, out)
        for name in [*dirs, *files]:
            src, dst = os.path.join(folder, name), out / name
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
                if name in dirs:
                    dirs.remove(name)  # os.walk does not descend into it anyway; keep that explicit
            elif name in files:
                _copy_file(src, dst)
    for folder, _, _ in os.walk(source):  # again: the files made the folders' times change
        rel = os.path.relpath(folder, source)
        shutil.copystat(folder, target if rel == "." else target / rel)


def _copy_file(src: str, dst: Path) -> None:
    if os.path.getsize(src) >= LINK_AT and dst.name not in WRITTEN_BY_NBSHIP:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another file system, or links not allowed: a copy does the same
    shutil.copy2(src, dst)


@dataclass(frozen=True)
class Resolution:
    """What a reference resolved to the last time it was fetched."""

    reference: str
    revision: str
    tree: str
    at: str  # ISO time, UTC
    detail: str = ""  # what the revision is, for messages ("branch main", "record 123 version 2")
    etag: str | None = None
    last_modified: str | None = None


def _resolution_file(identity: str) -> Path:
    return cache_root() / "refs" / f"{digest(identity)[:32]}.json"


def last_resolution(identity: str) -> Resolution | None:
    path = _resolution_file(identity)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Resolution(**{key: data[key] for key in Resolution.__dataclass_fields__ if key in data})
    except (OSError, ValueError, TypeError):
        return None  # never written, or left unreadable: fetched again


def record_resolution(identity: str, resolution: Resolution) -> None:
    path = _resolution_file(identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    staging.write_text(json.dumps(asdict(resolution), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staging, path)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def downloads() -> Path:
    return cache_root() / "downloads"
