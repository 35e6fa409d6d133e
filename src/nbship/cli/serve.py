"""nbship up, down, logs and shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from nbship import contract as c
from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import (
    build_options,
    build_options_from,
    container_options,
    env_from,
    optional_path_arg,
    project_arg,
    resources_from,
    work_folder_options,
)
from nbship.sources.refs import ProjectPath


@click.command()
@optional_path_arg
@click.option("--image", help="Serve this image as given (pulled when needed); without PATH, from any folder.")
@click.option(
    "--archive",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Load the image from this file (`nbship archive` wrote it; checked first, no network) and serve it.",
)
@click.option("-p", "--port", type=int, help=f"Host port (default {c.CONTAINER_PORT}, or `port` in the settings).")
@click.option("--token", help="Token for JupyterLab (default: 32 random bytes).")
@click.option(
    "--bind",
    help=f"Host address to publish on (default {c.LOOPBACK}, or `bind` in the settings); 0.0.0.0 opens it "
    "to the network.",
)
@work_folder_options
@click.option("-d", "--detach", is_flag=True, help="Return once the server answers; leave it running.")
@click.option("--open", "open_browser", is_flag=True, help="Open JupyterLab in a web browser.")
@json_option
@container_options
@build_options
def up(
    path: ProjectPath | None,
    image: str | None,
    archive: Path | None,
    port: int | None,
    token: str | None,
    bind: str | None,
    mount: str | None,
    volume_name: str | None,
    detach: bool,
    open_browser: bool,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Build if needed and serve PATH with JupyterLab; the work is kept in a volume."""
    from nbship import api
    from nbship.errors import UsageError

    if as_json and not detach:
        raise UsageError("--json prints the running server and returns, so it goes with --detach (-d).")
    if archive is not None:
        if image:
            raise UsageError("--archive loads the image to serve, so it cannot go with --image: give one of them.")
        with console.progress() as reporter:
            image = api.load_archive(file=archive, reporter=reporter, engine=console.engine()).image
        console.say(f"Loaded {image} from {archive}.")
    options = api.UpOptions(
        image=image,
        port=port,
        token=token,
        bind=bind,
        mount=mount,  # type: ignore[arg-type]  # click.Choice checked it
        volume=volume_name,
        env=env_from(kwargs),
        resources=resources_from(kwargs),
    )
    with console.progress() as reporter:
        server = api.up(
            path=path,
            options=options,
            build_options=build_options_from(kwargs),
            reporter=reporter,
            engine=console.engine(),
        )
    console.say(f"JupyterLab for {server.project_path} is ready ({server.image}):")
    if as_json:
        from nbship.cli import jsonout

        console.emit_json(jsonout.server(server))
    else:
        console.out(server.url)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    again = f"--image {image}" if path is None and image else str(path or ".")
    if detach:
        console.say(f"Stop it with: nbship down {again}")
        return
    console.follow_log(
        api.follow(server=server, engine=console.engine()),
        intro="Showing its log; press Ctrl-C to stop the server (the work stays in its volume).",
        stop=lambda: api.down(path=path, image=image, engine=console.engine()),
        ended=f"The server stopped on its own; `nbship logs {again}` shows why.",
    )


@click.command()
@optional_path_arg
@click.option("--image", help="Stop the server started with `nbship up --image IMAGE`.")
@click.option("--volumes", is_flag=True, help="Also remove the project's volume, with the work in it.")
def down(path: ProjectPath | None, image: str | None, volumes: bool) -> None:
    """Stop and remove PATH's JupyterLab container (its volume stays).

    With --volumes the project's own volume goes too, after nbship says which."""
    from nbship import api

    with console.progress() as reporter:
        outcome = api.down(path=path, image=image, volumes_too=volumes, reporter=reporter, engine=console.engine())
    server = outcome.server
    console.say(f"Stopped {server.container_name}." if server else "No nbship server was running for this project.")
    for name in outcome.removed_volumes:
        console.say(f"Removed the volume {name}.")
    for name in outcome.kept_volumes:
        console.say(f"The work is kept in the volume {name} (`nbship volume export {name} DEST` copies it out).")


@click.command()
@optional_path_arg
@click.option("--image", help="The server started with `nbship up --image IMAGE`.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(path: ProjectPath | None, image: str | None, follow: bool) -> None:
    """Print the server log of PATH's container."""
    from nbship import api

    try:
        with console.progress() as reporter:
            # Up to the first line, so that what nbship says comes before the log, not inside it.
            lines = api.logs(path=path, image=image, follow=follow, engine=console.engine(), reporter=reporter)
            first = next(lines, None)
        if first is not None:
            console.stdout.out(first, highlight=False)
        for line in lines:
            console.stdout.out(line, highlight=False)
    except KeyboardInterrupt:
        return


@click.command()
@project_arg
@click.option("--image", help="Open the shell in this image instead of the project's.")
@container_options
@build_options
def shell(path: ProjectPath, image: str | None, **kwargs: Any) -> None:
    """Open bash in PATH's running container, or in a new one from its image."""
    from nbship import api

    env, resources = env_from(kwargs), resources_from(kwargs)
    with console.progress() as reporter:
        options = build_options_from(kwargs)
        code = api.shell(
            path=path,
            image=image,
            build_options=options,
            interactive_tty=sys.stdin.isatty(),
            reporter=reporter,
            env=env,
            resources=resources,
            engine=console.engine(),
        )
    sys.exit(code)
