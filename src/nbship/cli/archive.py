"""nbship archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import build_options, build_options_from, optional_path_arg
from nbship.sources.refs import ProjectPath


@click.command()
@optional_path_arg
@click.option("--image", help="Archive this image instead of the project's (pulled when needed).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The archive file to write (a tar that `docker load -i` reads).",
)
@click.option("--force", is_flag=True, help="Replace the output file when it exists.")
@json_option
@build_options
def archive(
    path: ProjectPath | None, image: str | None, output: Path, force: bool, as_json: bool, **kwargs: Any
) -> None:
    """Write PATH's image (built when needed) or --image, with its SBOM, locks and README, to one file."""
    from nbship import api
    from nbship.cli import jsonout

    with console.progress() as reporter:
        outcome = api.archive(
            output=output,
            path=path,
            image=image,
            build_options=build_options_from(kwargs),
            force=force,
            reporter=reporter,
            engine=console.engine(),
        )
    if as_json:
        console.emit_json(jsonout.archive(outcome))
    else:
        console.out(str(outcome.path))
    console.say(
        f"Wrote {outcome.path} ({outcome.size / 1e6:.0f} MB, sha256 {outcome.sha256}): {outcome.image} "
        f"({outcome.image_id[:19]}) with {', '.join(outcome.extras)}. Load it with `docker load -i {outcome.path}`, "
        f"or serve it with `nbship up --archive {outcome.path}`."
    )
