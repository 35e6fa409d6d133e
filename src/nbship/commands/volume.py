"""volume: list, create, remove, export and import the volumes that keep the work."""

from __future__ import annotations

from pathlib import Path

from nbship import contract as c
from nbship.engine import connect
from nbship.options import EngineChoice
from nbship.reporter import Reporter
from nbship.runtime import volumes
from nbship.runtime.archive import ArchiveOutcome
from nbship.runtime.volumes import WorkVolume


def volume_list(*, engine: EngineChoice | None = None, reporter: Reporter | None = None) -> list[WorkVolume]:
    return volumes.list_volumes(connect(engine, reporter=reporter))


def volume_create(*, name: str, engine: EngineChoice | None = None, reporter: Reporter | None = None) -> str:
    volumes.create(connect(engine, reporter=reporter), name, {c.LABEL_MANAGED: "true"})
    return name


def volume_remove(*, name: str, engine: EngineChoice | None = None, reporter: Reporter | None = None) -> WorkVolume:
    return volumes.remove(connect(engine, reporter=reporter), name)


def volume_export(
    *,
    name: str,
    dest: Path,
    force: bool = False,
    engine: EngineChoice | None = None,
    reporter: Reporter | None = None,
) -> ArchiveOutcome:
    """A tar file keeps the volume as it is; a folder gets no device node, FIFO or setuid bit."""
    return volumes.export(connect(engine, reporter=reporter), name, dest, force=force)


def volume_import(
    *,
    name: str,
    source: Path,
    owner: int = c.DEFAULT_UID,
    keep_owners: bool = False,
    engine: EngineChoice | None = None,
    reporter: Reporter | None = None,
) -> ArchiveOutcome:
    """A new volume from a tar file or folder, without device nodes, FIFOs, sockets or setuid bits;
    owned by `owner` (the notebook user) unless `keep_owners`."""
    chosen = connect(engine, reporter=reporter)
    return volumes.import_(chosen, name, source, {c.LABEL_MANAGED: "true"}, owner=owner, keep_owners=keep_owners)
