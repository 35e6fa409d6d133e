"""nbship volume ls, create, rm, export and import."""

from __future__ import annotations

from pathlib import Path

import click

from nbship import contract as c
from nbship.cli import console
from nbship.cli.app import json_option


@click.group()
def volume() -> None:
    """List, create, remove, export and import the volumes that keep the work."""


@volume.command("ls")
@json_option
def volume_ls(as_json: bool) -> None:
    """List nbship's volumes and the project each belongs to."""
    from nbship import api
    from nbship.cli import jsonout

    with console.progress() as reporter:
        found = api.volume_list(engine=console.engine(), reporter=reporter)
    if as_json:
        console.emit_json(jsonout.volumes(found))
        return
    if not found:
        console.say("nbship has no volumes on this machine.")
        return
    for info in found:
        used = ", ".join(info.used_by) if info.used_by else "-"
        console.out(f"{info.name}\t{info.project_path or '-'}\t{info.created}\t{used}")


@volume.command("create")
@click.argument("name")
def volume_create(name: str) -> None:
    """Create an empty volume (fill it with `nbship up --volume NAME`)."""
    from nbship import api

    with console.progress() as reporter:
        created = api.volume_create(name=name, engine=console.engine(), reporter=reporter)
    console.say(f"Created the volume {created}.")


@volume.command("rm")
@click.argument("names", nargs=-1, required=True)
def volume_rm(names: tuple[str, ...]) -> None:
    """Remove volumes, with the work in them (refused while a container uses one)."""
    from nbship import api

    for name in names:
        with console.progress() as reporter:
            info = api.volume_remove(name=name, engine=console.engine(), reporter=reporter)
        owner = f" (the work of {info.project_path})" if info.project_path else ""
        console.say(f"Removed the volume {name}{owner}.")


@volume.command("export")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST when it is an existing tar file.")
def volume_export(name: str, dest: Path, force: bool) -> None:
    """Copy a volume into DEST: a .tar/.tar.gz file (keeps owners and modes) or a new folder
    (no device nodes, FIFOs or setuid bits; hard links become copies)."""
    from nbship import api

    with console.progress() as reporter:
        outcome = api.volume_export(name=name, dest=dest, force=force, engine=console.engine(), reporter=reporter)
    console.say(f"Exported {outcome.entries} entries of {name} to {dest}.")
    for note in outcome.notes():
        console.styled("bold yellow", "warning", f" {note}")


@volume.command("import")
@click.argument("name")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--owner", type=int, help=f"Uid (and gid) owning the imported files [default: {c.DEFAULT_UID}].")
@click.option("--keep-owners", is_flag=True, help="Keep the owners recorded in the archive (or the folder).")
def volume_import(name: str, source: Path, owner: int | None, keep_owners: bool) -> None:
    """Create the volume NAME from SOURCE: a tar file made by `volume export`, or a folder.

    Device nodes, FIFOs and sockets are left out and setuid/setgid bits removed (each is listed)."""
    from nbship import api
    from nbship.errors import UsageError

    if owner is not None and keep_owners:
        raise UsageError("--owner and --keep-owners contradict each other: give one of them.")
    if owner is not None and not 0 <= owner < 2**32:
        raise UsageError(f"--owner {owner} is not a uid (0 to 4294967295).")
    with console.progress() as reporter:
        outcome = api.volume_import(
            name=name,
            source=source,
            owner=c.DEFAULT_UID if owner is None else owner,
            keep_owners=keep_owners,
            engine=console.engine(),
            reporter=reporter,
        )
    console.say(f"Created the volume {name} with {outcome.entries} entries from {source}.")
    for note in outcome.notes():
        console.styled("bold yellow", "warning", f" {note}")
    console.say(f"Use it with: nbship up PATH --volume {name}")
