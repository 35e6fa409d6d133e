"""nbship lock."""

from __future__ import annotations

from pathlib import Path

import click

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import channel_auth_option, project_arg
from nbship.sources.refs import ProjectPath


@click.command()
@project_arg
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(["linux-64", "linux-aarch64"]),
    help="Platform to lock for (repeat for several; default linux-64). A lock keeps the platforms it had.",
)
@click.option("--update", is_flag=True, help="Solve again for the newest allowed versions, even when current.")
@click.option(
    "--exclude-newer",
    metavar="DATE",
    help="Ignore packages published after DATE, to reproduce a past solve (kept until --update).",
)
@channel_auth_option
@json_option
def lock(
    path: ProjectPath,
    platforms: tuple[str, ...],
    update: bool,
    exclude_newer: str | None,
    channel_auth: Path | None,
    as_json: bool,
) -> None:
    """Lock PATH's environment: exact packages with hashes.

    nbship.lock for environment.yml, requirements.lock for requirements.txt / pyproject.toml."""
    from nbship import api

    options = api.LockOptions(
        platforms=platforms or api.LockOptions().platforms,  # type: ignore[arg-type]  # click.Choice checked them
        exclude_newer=exclude_newer,
        update=update,
        channel_auth=channel_auth,
    )
    with console.progress() as reporter:  # a fetched source says what it resolved to, on stderr
        outcomes = api.lock(path=path, options=options, reporter=reporter)
    if as_json:
        from nbship.cli import jsonout

        console.emit_json(jsonout.locks(outcomes))
    for outcome in outcomes:
        for note in outcome.notes:
            console.say(note)
        counts = ", ".join(f"{count} packages for {platform}" for platform, count in outcome.packages.items())
        if outcome.written_by != "nbship":
            console.say(
                f"{outcome.path} is the lock ({counts} pinned with hashes); nbship installs it as it is, as Binder "
                f"does (`{outcome.written_by} lock` refreshes it)."
            )
        elif outcome.written:
            console.say(f"wrote {outcome.path} from {outcome.source}: {counts}")
        else:
            console.say(
                f"{outcome.path} is current with {outcome.source}, kept as is ({counts}); --update solves again."
            )
