"""The named volumes that keep a project's work: create, list, remove, export and import.

Export and import go through the Engine API's archive endpoints on a container that is created
and never started, from a one-layer helper image nbship makes itself (no image has to be
pulled, and the volume's files are never touched by a running program). The helper mounts the
volume at /nbship/volume and archives are unpacked at /nbship with the volume's root as the top
entry: that is what lets ownership and mode of the volume's root survive the round trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nbship import contract as c
from nbship.engine.base import ContainerSpec, Engine, Mount, VolumeInfo
from nbship.errors import DockerCommandError, NotFoundError, UsageError, VolumeInUseError

HELPER_IMAGE = ("nbship/volume-helper", "1")
_MOUNT_PARENT = "/nbship"
_MOUNT_NAME = "volume"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class WorkVolume:
    name: str
    project_path: str  # "" when nbship did not create it for a project
    created: str
    used_by: tuple[str, ...]  # container names


def volume_name(project_id: str) -> str:
    return f"nbship-{project_id}"


def volume_labels(project_id: str, project_path: str) -> dict[str, str]:
    return {c.LABEL_MANAGED: "true", c.LABEL_PROJECT_ID: project_id, c.LABEL_PROJECT_PATH: project_path}


MANAGED_LABELS = {c.LABEL_MANAGED: "true"}


def _info(engine: Engine, volume: VolumeInfo) -> WorkVolume:
    users = tuple(sorted(found.name for found in engine.containers_using(volume.name)))
    return WorkVolume(
        name=volume.name,
        project_path=volume.labels.get(c.LABEL_PROJECT_PATH, ""),
        created=volume.created,
        used_by=users,
    )


def list_volumes(engine: Engine) -> list[WorkVolume]:
    found = engine.volumes(labels=MANAGED_LABELS)
    return sorted((_info(engine, v) for v in found), key=lambda info: info.name)


def require(engine: Engine, name: str) -> VolumeInfo:
    volume = engine.volume(name)
    if volume is None:
        raise NotFoundError(
            f"There is no volume named {name}. `nbship volume ls` lists nbship's volumes (`docker volume ls` all of "
            "them); `nbship volume create` or `nbship volume import` makes one."
        )
    return volume


def ensure(engine: Engine, name: str, labels: dict[str, str]) -> tuple[VolumeInfo, bool]:
    """The volume, created with nbship's labels when missing; True when it was created now."""
    volume = engine.volume(name)
    if volume is not None:
        return volume, False
    return engine.create_volume(name, labels=labels), True


def create(engine: Engine, name: str, labels: dict[str, str]) -> VolumeInfo:
    _check_name(name)
    if engine.volume(name) is not None:
        raise UsageError(f"A volume named {name} already exists; choose another name (`nbship volume ls` lists them).")
    return engine.create_volume(name, labels=labels)


def _check_name(name: str) -> None:
    # Docker's own rule for volume names, checked here so the message can say it.
    ok = name[:1].isalnum() and all(ch.isalnum() or ch in "_.-" for ch in name)
    if not ok or len(name) < 2:
        raise UsageError(
            f"'{name}' cannot be a volume name: use letters, digits and _ . - (starting with a letter or digit), "
            "e.g. 'sst-work'."
        )


def remove(engine: Engine, name: str) -> WorkVolume:
    volume = require(engine, name)
    info = _info(engine, volume)
    if info.used_by:
        raise VolumeInUseError(
            f"The volume {name} is used by the container(s) {', '.join(info.used_by)}, so it was not removed. "
            "Stop them first (`nbship down PATH`, or `docker rm` for others), then remove the volume."
        )
    try:
        engine.remove_volume(volume.name)
    except DockerCommandError as exc:
        if exc.returncode == 409:
            raise VolumeInUseError(f"The volume {name} is in use, so it was not removed: {exc.message}") from exc
        raise
    return info


@contextlib.contextmanager
def _helper(engine: Engine, name: str) -> Iterator[str]:
    """A created, never started container with the volume mounted, for the archive endpoints."""
    repository, tag = HELPER_IMAGE
    if engine.image(f"{repository}:{tag}") is None:
        engine.import_image(_helper_layer(), repository=repository, tag=tag)
    container = engine.create(
        ContainerSpec(
            image=f"{repository}:{tag}",
            command=("nbship-volume-helper",),  # never run; an image without a command needs one to be created
            mounts=(Mount("volume", name, f"{_MOUNT_PARENT}/{_MOUNT_NAME}"),),
            labels=MANAGED_LABELS,
        )
    )
    try:
        yield container.id
    finally:
        engine.remove_container(container.id)


def _helper_layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(_MOUNT_PARENT.strip("/"))
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
    return buffer.getvalue()


class _ChunkReader(io.RawIOBase):
    """A file object over the archive endpoint's chunks, so tarfile can stream them."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _relative(name: str, top: str) -> str | None:
    """A member name inside the volume ('.' for its root), or None when it is outside."""
    parts = [p for p in name.split("/") if p not in {"", "."}]
    if top:
        if not parts or parts[0] != top:
            return None
        parts = parts[1:]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts) or "."


def _renamed(rel: str, top: str) -> str:
    if rel == ".":
        return top
    return f"{top}/{rel}"


def _copy_members(source: tarfile.TarFile, target: tarfile.TarFile, *, top: str, rename: str) -> int:
    """Copies members from `source` (names under `top`) into `target` (names under `rename`)."""
    count = 0
    for member in source:
        rel = _relative(member.name, top)
        if rel is None:
            continue
        member.name = _renamed(rel, rename)
        if member.islnk():
            linked = _relative(member.linkname, top)
            if linked is None:
                continue
            member.linkname = _renamed(linked, rename)
        data = source.extractfile(member) if member.isfile() else None
        target.addfile(member, data)
        count += 1
    return count


def _writer(handle: IO[bytes], *, gzip: bool) -> tarfile.TarFile:
    return tarfile.open(fileobj=handle, mode="w|gz") if gzip else tarfile.open(fileobj=handle, mode="w|")


def is_tar_path(path: Path) -> bool:
    return path.name.endswith(TAR_SUFFIXES)


def export(engine: Engine, name: str, dest: Path, *, force: bool = False) -> int:
    """Writes the volume to a tar file (by its suffix) or a new folder; returns the number of entries."""
    require(engine, name)
    dest = dest.expanduser()
    if is_tar_path(dest):
        if dest.exists() and not force:
            raise UsageError(f"{dest} already exists; choose another file name, or pass --force to replace it.")
        dest.parent.mkdir(parents=True, exist_ok=True)
        gzip = dest.name.endswith(("gz", "tgz"))
        partial = dest.with_name(dest.name + ".partial")
        with _helper(engine, name) as helper, partial.open("wb") as handle:
            reader = io.BufferedReader(_ChunkReader(engine.archive_stream(helper, f"{_MOUNT_PARENT}/{_MOUNT_NAME}")))
            with tarfile.open(fileobj=reader, mode="r|") as source, _writer(handle, gzip=gzip) as tar:
                count = _copy_members(source, tar, top=_MOUNT_NAME, rename=".")
        partial.replace(dest)
        return count
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(
            f"{dest} is a folder that is not empty; export into a new or empty folder, or to a file "
            f"ending in {', '.join(TAR_SUFFIXES)}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    with _helper(engine, name) as helper:
        reader = io.BufferedReader(_ChunkReader(engine.archive_stream(helper, f"{_MOUNT_PARENT}/{_MOUNT_NAME}")))
        with tarfile.open(fileobj=reader, mode="r|") as source:
            count = 0
            for member in source:
                rel = _relative(member.name, _MOUNT_NAME)
                if rel is None or rel == ".":
                    continue
                member.name = rel
                # "tar": keeps modes (and owners when run as root), refuses paths leaving dest.
                source.extract(member, dest, numeric_owner=True, filter="tar")
                count += 1
    return count


def import_(engine: Engine, name: str, source: Path, labels: dict[str, str], *, owner: int) -> int:
    """Creates the volume from a tar file (owners as recorded) or a folder (owned by `owner`)."""
    _check_name(name)
    source = source.expanduser()
    if not source.exists():
        raise NotFoundError(f"{source} does not exist: give a tar file made by `nbship volume export`, or a folder.")
    if engine.volume(name) is not None:
        raise UsageError(
            f"A volume named {name} already exists, and import never writes into one: choose another name, "
            f"or remove it first with `nbship volume rm {name}`."
        )
    with tempfile.TemporaryFile() as spool:
        count = _archive_for_import(source, spool, owner=owner)
        spool.seek(0)
        engine.create_volume(name, labels=labels)
        try:
            with _helper(engine, name) as helper:
                engine.put_archive(helper, _MOUNT_PARENT, spool)
        except BaseException:
            with contextlib.suppress(Exception):
                remove(engine, name)
            raise
    return count


def _archive_for_import(source: Path, spool: IO[bytes], *, owner: int) -> int:
    with tarfile.open(fileobj=spool, mode="w") as tar:
        if source.is_dir():
            count = 0
            for path in [source, *sorted(source.rglob("*"))]:
                rel = path.relative_to(source).as_posix()
                member = tar.gettarinfo(str(path), arcname=_MOUNT_NAME if rel == "." else f"{_MOUNT_NAME}/{rel}")
                member.uid = member.gid = owner
                member.uname = member.gname = ""
                with path.open("rb") if member.isfile() else contextlib.nullcontext() as data:
                    tar.addfile(member, data)
                count += 1
            return count
        try:
            with tarfile.open(source, mode="r:*") as archive:
                has_root = any(_relative(m.name, "") == "." for m in archive.getmembers())
                if not has_root:
                    root = tarfile.TarInfo(_MOUNT_NAME)
                    root.type, root.mode, root.uid, root.gid = tarfile.DIRTYPE, 0o755, owner, owner
                    tar.addfile(root)
                return _copy_members(archive, tar, top="", rename=_MOUNT_NAME)
        except tarfile.TarError as exc:
            raise UsageError(f"{source} is not a readable tar archive ({exc}); give a tar file or a folder.") from exc


def holds_nothing_of_the_users(engine: Engine, name: str) -> bool:
    """Whether the volume is empty, or holds only what an image delivered into it, unchanged (as
    its record says): then nothing in it is the user's, and a failed start may remove it."""
    hashes: dict[str, str] = {}
    record: dict[str, str] | None = None
    with _helper(engine, name) as helper:
        reader = io.BufferedReader(_ChunkReader(engine.archive_stream(helper, f"{_MOUNT_PARENT}/{_MOUNT_NAME}")))
        with tarfile.open(fileobj=reader, mode="r|") as source:
            for member in source:
                rel = _relative(member.name, _MOUNT_NAME)
                if rel is None or rel == "." or member.isdir():
                    continue
                if member.issym() and rel in c.LINKED_DIRS:
                    continue  # the link to the image's data/
                if not member.isfile():
                    return False
                handle = source.extractfile(member)
                data = handle.read() if handle is not None else b""
                if rel == c.RECORD:
                    record = _record_files(data)
                elif not rel.startswith(f"{c.RECORD_DIR}/"):
                    hashes[rel] = hashlib.sha256(data).hexdigest()
    if not hashes:
        return True
    return record is not None and all(record.get(rel) == digest for rel, digest in hashes.items())


def _record_files(data: bytes) -> dict[str, str] | None:
    try:
        files = json.loads(data).get("files")
    except (ValueError, AttributeError):
        return None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else None
