"""The named volumes that keep a project's work: create, list, remove, export and import.

Export and import hand the engine tar streams whose members are relative to the volume's root
("." the root itself); each engine moves them in and out its own way (engine.base.Engine
export_volume / import_volume), owners and modes kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nbship import contract as c
from nbship.engine.archive import ChunkReader, copy_members, relative
from nbship.engine.base import Engine, VolumeInfo
from nbship.errors import DockerCommandError, NotFoundError, UsageError, VolumeInUseError

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
        with partial.open("wb") as handle:
            reader = io.BufferedReader(ChunkReader(engine.export_volume(name)))
            with tarfile.open(fileobj=reader, mode="r|") as source, _writer(handle, gzip=gzip) as tar:
                count = copy_members(source, tar, top="", rename=".")
        partial.replace(dest)
        return count
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(
            f"{dest} is a folder that is not empty; export into a new or empty folder, or to a file "
            f"ending in {', '.join(TAR_SUFFIXES)}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    reader = io.BufferedReader(ChunkReader(engine.export_volume(name)))
    with tarfile.open(fileobj=reader, mode="r|") as source:
        count = 0
        for member in source:
            rel = relative(member.name, "")
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
            engine.import_volume(name, spool)
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
                member = tar.gettarinfo(str(path), arcname="." if rel == "." else f"./{rel}")
                member.uid = member.gid = owner
                member.uname = member.gname = ""
                with path.open("rb") if member.isfile() else contextlib.nullcontext() as data:
                    tar.addfile(member, data)
                count += 1
            return count
        try:
            with tarfile.open(source, mode="r:*") as archive:
                has_root = any(relative(m.name, "") == "." for m in archive.getmembers())
                if not has_root:
                    root = tarfile.TarInfo(".")
                    root.type, root.mode, root.uid, root.gid = tarfile.DIRTYPE, 0o755, owner, owner
                    tar.addfile(root)
                return copy_members(archive, tar, top="", rename=".")
        except tarfile.TarError as exc:
            raise UsageError(f"{source} is not a readable tar archive ({exc}); give a tar file or a folder.") from exc


def holds_nothing_of_the_users(engine: Engine, name: str) -> bool:
    """Whether the volume is empty, or holds only what an image delivered into it, unchanged (as
    its record says): then nothing in it is the user's, and a failed start may remove it."""
    hashes: dict[str, str] = {}
    record: dict[str, str] | None = None
    reader = io.BufferedReader(ChunkReader(engine.export_volume(name)))
    with tarfile.open(fileobj=reader, mode="r|") as source:
        for member in source:
            rel = relative(member.name, "")
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
