"""nbship clean."""

from __future__ import annotations

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import optional_path_arg
from nbship.sources.refs import ProjectPath


@click.command()
@optional_path_arg
@click.option("--all", "everything", is_flag=True, help="Every project's, nbship's support images and build cache.")
@click.option("--volumes", is_flag=True, help="Also remove the volumes, with the work in them (listed first).")
@json_option
def clean(path: ProjectPath | None, everything: bool, volumes: bool, as_json: bool) -> None:
    """Remove what nbship made for PATH: stopped containers, images, build cache.

    Running servers and what they use stay, and so does everything nbship did not make. Volumes, which
    hold the work, go only with --volumes. The build cache is shared by all projects: --all removes
    the part nbship's builds made."""
    from nbship import api
    from nbship.cli import jsonout
    from nbship.errors import UsageError

    if everything and path is not None:
        raise UsageError("Give either PATH or --all: --all cleans up after every project.")
    with console.progress() as reporter:
        outcome = api.clean(path=path, everything=everything, volumes_too=volumes, reporter=reporter)
    for name in outcome.containers:
        console.say(f"removed the container {name}")
    for image in outcome.images:
        console.say(f"removed the image {image.name} ({console.human_size(image.size)} of its own)")
    for name in outcome.volumes:
        console.say(f"removed the volume {name}")
    if outcome.build_cache:
        console.say(f"removed {console.human_size(outcome.build_cache)} of nbship's build cache")
    for reason in outcome.kept:
        console.say(f"kept {reason}")
    if not everything:
        console.say("The build cache is shared by every project: `nbship clean --all` removes nbship's part of it.")
    if as_json:
        console.emit_json(jsonout.clean(outcome))
    else:
        console.out(f"freed {console.human_size(outcome.freed)}")
