"""nbship build, dockerfile and init."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import (
    build_options,
    build_options_from,
    channel_auth_option,
    image_options,
    image_options_from,
    project_arg,
)

if TYPE_CHECKING:
    from nbship.sources.refs import ProjectPath

_BUILDER = click.option(
    "--builder",
    type=click.Choice(["buildkit", "classic"]),
    default="buildkit",
    show_default=True,
    help="The variant for this builder (classic: no cache or secret mounts).",
)


@click.command()
@project_arg
@_BUILDER
@image_options
def dockerfile(path: ProjectPath, builder: str, **kwargs: Any) -> None:
    """Print the Dockerfile nbship builds for PATH (no Docker needed)."""
    from nbship import api

    with console.progress() as reporter:  # a fetched source says what it resolved to, on stderr
        text = api.dockerfile(
            path=path, options=image_options_from(kwargs), buildkit=builder == "buildkit", reporter=reporter
        )
    console.stdout.out(text, end="", highlight=False)


@click.command()
@project_arg
@click.option("--force", is_flag=True, help="Overwrite an existing Dockerfile.")
@_BUILDER
@image_options
@channel_auth_option
def init(path: ProjectPath, force: bool, builder: str, channel_auth: Path | None, **kwargs: Any) -> None:
    """Write nbship's Dockerfile and support files into PATH, to own them.

    The support files go into .nbship-image/ beside the Dockerfile, so that a plain `docker build`
    of the project folder works; a .dockerignore is written when the project has none."""
    from nbship import api

    written = api.init(
        path=path,
        options=image_options_from(kwargs),
        buildkit=builder == "buildkit",
        channel_auth=channel_auth,
        force=force,
    )
    for file in written:
        console.say(f"wrote {file}")
    console.say("From now on `nbship build` uses this Dockerfile as is.")


@click.command()
@project_arg
@click.option("--check", "then_check", is_flag=True, help="Then run `nbship check` on the image.")
@json_option
@build_options
def build(path: ProjectPath, then_check: bool, as_json: bool, **kwargs: Any) -> None:
    """Build the image for PATH (only when its inputs changed)."""
    from nbship import api
    from nbship.cli import jsonout

    options = build_options_from(kwargs)
    with console.progress() as reporter:
        outcome = api.build(path=path, options=options, reporter=reporter, engine=console.engine())
    if not as_json:
        console.out(f"{outcome.image}  {console.human_size(outcome.size)}")
    elif not then_check:
        console.emit_json(jsonout.build(outcome))
    if then_check:
        from nbship.cli.check import print_report

        with console.progress() as reporter:
            report = api.check(
                path=path, build_options=options, reporter=reporter, built=outcome, engine=console.engine()
            )
        print_report(report, as_json=as_json, wrap=jsonout.build(outcome) if as_json else None)
