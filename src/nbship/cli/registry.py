"""nbship push and login."""

from __future__ import annotations

import sys
from typing import Any

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import build_options, build_options_from, optional_path_arg
from nbship.sources.refs import ProjectPath


@click.command()
@optional_path_arg
@click.option(
    "--to",
    "to",
    required=True,
    help="Where to push: [REGISTRY/]NAMESPACE/NAME:TAG, e.g. alice/sst:1.0 or ghcr.io/alice/sst:1.0.",
)
@click.option("--image", help="Push this local image as given instead of the project's.")
@json_option
@build_options
def push(path: ProjectPath | None, to: str, image: str | None, as_json: bool, **kwargs: Any) -> None:
    """Push the project's image (built when needed) to a registry."""
    from nbship import api
    from nbship.cli import jsonout

    with console.progress() as reporter:
        outcome = api.push(to=to, path=path, image=image, build_options=build_options_from(kwargs), reporter=reporter)
    console.say(f"Pushed: {outcome.layers_pushed} layer(s) uploaded, {outcome.layers_present} already in the registry.")
    if as_json:
        console.emit_json(jsonout.push(outcome))
    else:
        console.out(f"{outcome.reference}@{outcome.digest}" if outcome.digest else outcome.reference)
    console.say(f"Anyone can now run it with: nbship up --image {outcome.reference}")


@click.command()
@click.argument("registry")
@click.option("-u", "--username", required=True, help="The user name (or token name) for the registry.")
@click.option("--password-stdin", is_flag=True, help="Read the password (or token) from standard input.")
def login(registry: str, username: str, password_stdin: bool) -> None:
    """Log in to REGISTRY; the credentials are kept for pushes and pulls."""
    from nbship import api

    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    console.say(api.login(registry_host=registry, username=username, password=password))
