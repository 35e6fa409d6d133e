"""nbship compose."""

from __future__ import annotations

from typing import Any

import click

from nbship import contract as c
from nbship.cli import console
from nbship.cli.options import build_options, build_options_from, project_arg
from nbship.sources.refs import ProjectPath


@click.command()
@project_arg
@click.option("--image", help="The image the compose file runs (default: the project's, built when needed).")
@click.option("-p", "--port", type=int, help=f"Host port (default {c.CONTAINER_PORT}, or `port` in the settings).")
@click.option("--token", help="Token written into .env (default: the one already there, else 32 random bytes).")
@click.option("--force", is_flag=True, help="Replace a compose.yaml that nbship did not write.")
@build_options
def compose(
    path: ProjectPath, image: str | None, port: int | None, token: str | None, force: bool, **kwargs: Any
) -> None:
    """Write compose.yaml (and the token into .env) for `docker compose up`."""
    from nbship import api

    options = api.ComposeOptions(image=image, port=port, token=token, force=force)
    with console.progress() as reporter:
        outcome = api.compose(path=path, options=options, build_options=build_options_from(kwargs), reporter=reporter)
    console.say(f"wrote {outcome.compose_file} (image {outcome.image}, volume {outcome.volume})")
    for note in outcome.notes:
        console.say(note)
    console.say(f"Start it with: docker compose -f {outcome.compose_file} up -d")
