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
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nbship import contract as c
from nbship.engine.archive import ChunkReader
from nbship.engine.base import Engine, VolumeInfo
from nbship.errors import DockerCommandError, NotFoundError, UsageError, VolumeInUseError
from nbship.runtime.archive import ArchiveOutcome, Screen, copy_members, relative, renamed, write_folder

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_ROOT = "."  # the volume's root in the tar layout engines take and give


@dataclass(frozen=True)
class WorkVolume:
    name: str
    project_path: str  # "" when nbship did not create it for a project
    created: str
    used_by: tuple[str, ...]  # container names


def volume_name(project_id: str) -> str:
    return f"nbship-{project_id}"


def volume_labels(project_id: str, project_path: str, image_repository: str = "") -> dict[str, str]:
    labels = {c.LABEL_MANAGED: "true", c.LABEL_PROJECT_ID: project_id, c.LABEL_PROJECT_PATH: project_path}
    if image_repository:
        labels[c.LABEL_IMAGE_REPOSITORY] = image_repository
    return labels


def created_for(volume: VolumeInfo, project_id: str, image_repository: str = "") -> bool:
    """Whether nbship created this volume for the project (or, given a repository, for `up --image` of it).

    An image's project-id label is only a claim: any image can carry another project's id, so
    the id alone never makes a volume this image's to remove."""
    labels = volume.labels
    if labels.get(c.LABEL_MANAGED) != "true" or labels.get(c.LABEL_PROJECT_ID) != project_id:
        return False
    return not image_repository or labels.get(c.LABEL_IMAGE_REPOSITORY) == image_repository


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


def export(engine: Engine, name: str, dest: Path, *, force: bool = False) -> ArchiveOutcome:
    """Writes the volume to a tar file (by its suffix), as it is, or into a new folder, screened."""
    require(engine, name)
    dest = dest.expanduser()
    if is_tar_path(dest):
        if dest.exists() and not force:
            raise UsageError(f"{dest} already exists; choose another file name, or pass --force to replace it.")
        dest.parent.mkdir(parents=True, exist_ok=True)
        gzip = dest.name.endswith(("gz", "tgz"))
        partial = dest.with_name(dest.name + ".partial")
        with partial.open("wb") as handle, _volume_tar(engine, name) as source, _writer(handle, gzip=gzip) as tar:
            count = copy_members(source, tar, top="", rename=_ROOT)
        partial.replace(dest)
        return ArchiveOutcome(count)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise UsageError(
            f"{dest} is not a new or empty folder; export into a new or empty folder, or to a file "
            f"ending in {', '.join(TAR_SUFFIXES)}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    with _volume_tar(engine, name) as source:
        try:
            return write_folder(source, dest, top="")
        except OSError as exc:
            raise UsageError(
                f"Could not write the volume's files into {dest} ({exc.strerror or exc}); what was written so far "
                "is there. Export into a folder on a disk with room and where you may write, or to a tar file."
            ) from exc


@contextlib.contextmanager
def _volume_tar(engine: Engine, name: str) -> Iterator[tarfile.TarFile]:
    reader = io.BufferedReader(ChunkReader(engine.export_volume(name)))
    with tarfile.open(fileobj=reader, mode="r|") as source:
        yield source


def import_(
    engine: Engine, name: str, source: Path, labels: dict[str, str], *, owner: int, keep_owners: bool = False
) -> ArchiveOutcome:
    """Creates the volume from a tar file or a folder, screened; files owned by `owner` unless `keep_owners`."""
    _check_name(name)
    source = source.expanduser()
    if not source.exists():
        raise NotFoundError(f"{source} does not exist: give a tar file made by `nbship volume export`, or a folder.")
    if engine.volume(name) is not None:
        raise UsageError(
            f"A volume named {name} already exists, and import never writes into one: choose another name, "
            f"or remove it first with `nbship volume rm {name}`."
        )
    screen = Screen(top="", owner=None if keep_owners else owner)
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w") as tar:
            if source.is_dir():
                _add_folder(source, tar, screen)
            else:
                _add_archive(source, tar, screen, owner=owner)
        spool.seek(0)
        engine.create_volume(name, labels=labels)
        try:
            engine.import_volume(name, spool)
        except BaseException:
            with contextlib.suppress(Exception):
                remove(engine, name)
            raise
    return screen.outcome()


def _add_folder(source: Path, tar: tarfile.TarFile, screen: Screen) -> None:
    """The folder's entries, links not followed (a link to a folder outside stays a link)."""
    _add_path(source, source, tar, screen)
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        for entry in [*dirs, *sorted(names)]:
            _add_path(Path(folder, entry), source, tar, screen)


def _add_path(path: Path, source: Path, tar: tarfile.TarFile, screen: Screen) -> None:
    rel = path.relative_to(source).as_posix()
    arcname = renamed(rel, _ROOT)
    try:
        member = tar.gettarinfo(str(path), arcname=arcname)
        if member is None:
            screen.leave(rel, "socket")
            return
        if screen.admit(member) is not None:
            with path.open("rb") if member.isreg() else contextlib.nullcontext() as data:
                tar.addfile(member, data)
    except OSError as exc:
        raise UsageError(
            f"Cannot read {path} ({exc.strerror or exc}), so the volume was not created. Make it readable, or "
            "import a copy of the folder without it."
        ) from exc


def _add_archive(source: Path, tar: tarfile.TarFile, screen: Screen, *, owner: int) -> None:
    # The volume's root first, owned by the notebook user; the archive's own root entry, if any, follows.
    root = tarfile.TarInfo(_ROOT)
    root.type, root.mode, root.uid, root.gid = tarfile.DIRTYPE, 0o755, owner, owner
    tar.addfile(root)
    try:
        with tarfile.open(source, mode="r|*") as archive:
            for member in archive:
                rel = screen.admit(member)
                if rel is None:
                    continue
                linked = relative(member.linkname, "") if member.islnk() else None
                member.name = renamed(rel, _ROOT)
                if linked is not None:
                    member.linkname = renamed(linked, _ROOT)
                tar.addfile(member, archive.extractfile(member) if member.isreg() else None)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UsageError(f"{source} is not a readable tar archive ({exc}); give a tar file or a folder.") from exc
    except OSError as exc:
        raise UsageError(f"Cannot read {source} ({exc.strerror or exc}); give a readable tar file or folder.") from exc


def holds_nothing_of_the_users(engine: Engine, name: str) -> bool:
    """Whether the volume is empty, or holds only what an image delivered into it, unchanged (as
    its record says): then nothing in it is the user's, and a failed start may remove it."""
    hashes: dict[str, str] = {}
    record: dict[str, str] | None = None
    with _volume_tar(engine, name) as source:
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
