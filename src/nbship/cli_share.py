"""Commands for sharing a project: compose files, registries, and the volumes that keep the work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from nbship import api
from nbship.cli_support import build_options, build_opts, handle_errors, new_reporter, project_arg, stderr, stdout


@click.command()
@project_arg
@click.option("--image", help="The image the compose file runs (default: the project's, built when needed).")
@click.option("--port", type=int, help="Host port (default 8888, or `port` in the settings).")
@click.option("--token", help="Token written into .env (default: the one already there, else 32 random bytes).")
@click.option("--force", is_flag=True, help="Replace a compose.yaml that nbship did not write.")
@build_options
@handle_errors
def compose(path: Path, image: str | None, port: int | None, token: str | None, force: bool, **kwargs: Any) -> None:
    """Write compose.yaml (and the token into .env) so `docker compose up` serves the project."""
    reporter = new_reporter()
    outcome = api.compose(
        path=path,
        image=image,
        port=port,
        token=token,
        force=force,
        build_options=build_opts(kwargs),
        reporter=reporter,
    )
    reporter.close()
    stderr.print(f"wrote {outcome.compose_file} (image {outcome.image}, volume {outcome.volume})", markup=False)
    for note in outcome.notes:
        stderr.print(note, markup=False)
    stderr.print(f"Start it with: docker compose -f {outcome.compose_file} up -d", markup=False)


@click.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option(
    "--to",
    "to",
    required=True,
    help="Where to push: [REGISTRY/]NAMESPACE/NAME:TAG, e.g. alice/sst:1.0 or ghcr.io/alice/sst:1.0.",
)
@click.option("--image", help="Push this local image as given instead of the project's.")
@build_options
@handle_errors
def push(path: Path | None, to: str, image: str | None, **kwargs: Any) -> None:
    """Push the project's image (built when needed) to a registry."""
    reporter = new_reporter()
    outcome = api.push(to=to, path=path, image=image, build_options=build_opts(kwargs), reporter=reporter)
    reporter.close()
    stderr.print(
        f"Pushed: {outcome.layers_pushed} layer(s) uploaded, {outcome.layers_present} already in the registry.",
        markup=False,
    )
    stdout.print(f"{outcome.reference}@{outcome.digest}" if outcome.digest else outcome.reference, markup=False)
    stderr.print(f"Anyone can now run it with: nbship up --image {outcome.reference}", markup=False)


@click.command()
@click.argument("registry")
@click.option("-u", "--username", required=True, help="The user name (or token name) for the registry.")
@click.option("--password-stdin", is_flag=True, help="Read the password (or token) from standard input.")
@handle_errors
def login(registry: str, username: str, password_stdin: bool) -> None:
    """Log in to REGISTRY; Docker stores the credentials for `nbship push` and pulls."""
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    stderr.print(api.login(registry_host=registry, username=username, password=password), markup=False)


@click.group()
def volume() -> None:
    """List, create, remove, export and import the volumes that keep the work."""


@volume.command("ls")
@handle_errors
def volume_ls() -> None:
    """List nbship's volumes and the project each belongs to."""
    found = api.volume_list()
    if not found:
        stderr.print("nbship has no volumes on this machine.")
        return
    for info in found:
        used = ", ".join(info.used_by) if info.used_by else "-"
        stdout.print(f"{info.name}\t{info.project_path or '-'}\t{info.created}\t{used}", markup=False)


@volume.command("create")
@click.argument("name")
@handle_errors
def volume_create(name: str) -> None:
    """Create an empty volume (fill it with `nbship up --volume NAME`)."""
    stderr.print(f"Created the volume {api.volume_create(name=name)}.", markup=False)


@volume.command("rm")
@click.argument("names", nargs=-1, required=True)
@handle_errors
def volume_rm(names: tuple[str, ...]) -> None:
    """Remove volumes, with the work in them (refused while a container uses one)."""
    for name in names:
        info = api.volume_remove(name=name)
        owner = f" (the work of {info.project_path})" if info.project_path else ""
        stderr.print(f"Removed the volume {name}{owner}.", markup=False)


@volume.command("export")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST when it is an existing tar file.")
@handle_errors
def volume_export(name: str, dest: Path, force: bool) -> None:
    """Copy a volume into DEST: a .tar/.tar.gz file (keeps owners and modes) or a new folder."""
    count = api.volume_export(name=name, dest=dest, force=force)
    stderr.print(f"Exported {count} entries of {name} to {dest}.", markup=False)


@volume.command("import")
@click.argument("name")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--owner", type=int, default=1000, show_default=True, help="Uid owning files imported from a folder.")
@handle_errors
def volume_import(name: str, source: Path, owner: int) -> None:
    """Create the volume NAME from SOURCE: a tar file made by `volume export`, or a folder."""
    count = api.volume_import(name=name, source=source, owner=owner)
    stderr.print(f"Created the volume {name} with {count} entries from {source}.", markup=False)
    stderr.print(f"Use it with: nbship up PATH --volume {name}", markup=False)


def register(group: click.Group) -> None:
    for command in (compose, push, login, volume):
        group.add_command(command)
