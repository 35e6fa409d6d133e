"""nbship status. A module of its own so that the listing loads click, the console and the
engine's light reader only, not the project options every other serving command parses."""

from __future__ import annotations

import click

from nbship.cli import console
from nbship.cli.app import json_option


@click.command()
@json_option
def status(as_json: bool) -> None:
    """List the running nbship servers and their URLs."""
    from nbship import api

    with console.progress() as reporter:
        servers = api.status(engine=console.engine(), reporter=reporter)
    if as_json:
        from nbship.cli import jsonout

        console.emit_json(jsonout.servers(servers))
        return
    if not servers:
        console.say("No nbship server is running.")
        return
    for server in servers:
        mount = server.mount.label if server.mount else ""
        console.out(f"{server.project_path}\t{server.status}\t{server.url}\t{server.image}\t{mount}")
