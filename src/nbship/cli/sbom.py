"""nbship sbom."""

from __future__ import annotations

from typing import Any

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import build_options, build_options_from, optional_path_arg
from nbship.sources.refs import ProjectPath


@click.command()
@optional_path_arg
@click.option("--image", help="Print the SBOM of this image instead of the project's.")
@json_option
@build_options
def sbom(path: ProjectPath | None, image: str | None, as_json: bool, **kwargs: Any) -> None:
    """Print the SBOM (SPDX 2.3 JSON) of PATH's image (built when needed) or of --image."""
    from nbship import api

    with console.progress() as reporter:
        found = api.sbom(
            path=path, image=image, build_options=build_options_from(kwargs), reporter=reporter, engine=console.engine()
        )
    # The document is JSON already: with or without --json it is printed byte for byte as the image has it.
    click.echo(found.text.decode("utf-8"), nl=False)
    count = sum(1 for p in found.document.get("packages", ()) if isinstance(p, dict))
    console.say(f"{found.image} ({found.image_id[:19]}): {count} packages, SBOM {found.digest}.")
