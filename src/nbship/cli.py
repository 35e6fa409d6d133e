"""The `nbship` command: parses arguments, forwards to nbship.api, and is the one place where
errors become messages and exit codes (cli_support.handle_errors)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from nbship import __version__, api, cli_share
from nbship.cli_support import (
    State,
    build_options,
    build_opts,
    handle_errors,
    new_reporter,
    project_arg,
    stderr,
    stdout,
)
from nbship.engine.build import human_size
from nbship.errors import ExitCode


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbship")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full build log.")
def main(debug: bool, verbose: bool) -> None:
    """Build a Jupyter project into a container image and serve it with JupyterLab."""
    State.debug = debug
    State.verbose = verbose


@main.command()
@project_arg
@click.option("--classic", is_flag=True, help="Show the variant for the classic builder (no cache or secret mounts).")
@build_options
@handle_errors
def dockerfile(path: Path, classic: bool, **kwargs: Any) -> None:
    """Print the Dockerfile nbship builds for PATH (no Docker needed)."""
    stdout.out(api.dockerfile(path=path, options=build_opts(kwargs), buildkit=not classic), end="")


@main.command()
@project_arg
@click.option("--force", is_flag=True, help="Overwrite an existing Dockerfile.")
@build_options
@handle_errors
def init(path: Path, force: bool, **kwargs: Any) -> None:
    """Write nbship's Dockerfile (and a .dockerignore) into PATH, to own and edit them."""
    written = api.init(path=path, options=build_opts(kwargs), force=force)
    for file in written:
        stderr.print(f"wrote {file}", markup=False)
    stderr.print("From now on `nbship build` uses this Dockerfile as is.")


@main.command()
@project_arg
@build_options
@handle_errors
def build(path: Path, **kwargs: Any) -> None:
    """Build the image for PATH (only when its inputs changed)."""
    reporter = new_reporter()
    outcome = api.build(path=path, options=build_opts(kwargs), reporter=reporter)
    reporter.close()
    stdout.print(f"{outcome.image}  {human_size(outcome.size)}", markup=False)


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--image", help="Serve this image as given (pulled when needed); without PATH, from any folder.")
@click.option("--port", type=int, help="Host port (default 8888, or `port` in the settings).")
@click.option("--token", help="Token for JupyterLab (default: 32 random bytes).")
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Host address to publish on; 0.0.0.0 opens it to the network.",
)
@click.option(
    "--mount",
    type=click.Choice(["volume", "host", "none"]),
    default="volume",
    show_default=True,
    help="Keep the work in the project's named volume, in the project folder itself (host), or nowhere (none).",
)
@click.option("--volume", "volume_name", help="Use this existing named volume for the work folder.")
@click.option("-d", "--detach", is_flag=True, help="Return once the server answers; leave it running.")
@click.option("--open", "open_browser", is_flag=True, help="Open JupyterLab in a web browser.")
@build_options
@handle_errors
def up(
    path: Path | None,
    image: str | None,
    port: int | None,
    token: str | None,
    bind: str,
    mount: str,
    volume_name: str | None,
    detach: bool,
    open_browser: bool,
    **kwargs: Any,
) -> None:
    """Build if needed and serve PATH with JupyterLab; the work is kept in a volume."""
    reporter = new_reporter()
    server = api.up(
        path=path,
        options=api.UpOptions(
            image=image,
            port=port,
            token=token,
            bind=bind,
            mount=mount,  # type: ignore[arg-type]  # click.Choice checked it
            volume=volume_name,
        ),
        build_options=build_opts(kwargs),
        reporter=reporter,
    )
    reporter.close()
    stderr.print(f"JupyterLab for {server.project_path} is ready ({server.image}):", markup=False)
    stdout.print(server.url, markup=False, highlight=False)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    again = f"--image {image}" if path is None and image else str(path or ".")
    if detach:
        stderr.print(f"Stop it with: nbship down {again}", markup=False)
        return
    stderr.print("Showing its log; press Ctrl-C to stop the server (the work stays in its volume).")
    try:
        for line in api.follow(server=server):
            stderr.out(line, highlight=False)
    except KeyboardInterrupt:
        stderr.print("Stopping…")
        api.down(path=path, image=image)
        return
    # The server ended by itself: keep the container so its log can still be read.
    stderr.print(f"The server stopped on its own; `nbship logs {again}` shows why.", markup=False)
    sys.exit(int(ExitCode.RUN_FAILED))


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--image", help="Stop the server started with `nbship up --image IMAGE`.")
@click.option("--volumes", is_flag=True, help="Also remove the project's volume, with the work in it.")
@handle_errors
def down(path: Path | None, image: str | None, volumes: bool) -> None:
    """Stop and remove PATH's JupyterLab container (its volume stays unless --volumes)."""
    reporter = new_reporter()
    outcome = api.down(path=path, image=image, volumes_too=volumes, reporter=reporter)
    reporter.close()
    server = outcome.server
    stderr.print(f"Stopped {server.container_name}." if server else "No nbship server was running for this project.")
    for name in outcome.removed_volumes:
        stderr.print(f"Removed the volume {name}.", markup=False)
    for name in outcome.kept_volumes:
        stderr.print(
            f"The work is kept in the volume {name} (`nbship volume export {name} DEST` copies it out).", markup=False
        )


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--image", help="The server started with `nbship up --image IMAGE`.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@handle_errors
def logs(path: Path | None, image: str | None, follow: bool) -> None:
    """Print the server log of PATH's container."""
    try:
        for line in api.logs(path=path, image=image, follow=follow):
            stdout.out(line, highlight=False)
    except KeyboardInterrupt:
        return


@main.command()
@handle_errors
def status() -> None:
    """List the running nbship servers and their URLs."""
    servers = api.status()
    if not servers:
        stderr.print("No nbship server is running.")
        return
    for server in servers:
        stdout.print(
            f"{server.project_path}\t{server.status}\t{server.url}\t{server.image}\t{server.mount}",
            markup=False,
            highlight=False,
        )


@main.command()
@project_arg
@click.option("--image", help="Open the shell in this image instead of the project's.")
@build_options
@handle_errors
def shell(path: Path, image: str | None, **kwargs: Any) -> None:
    """Open bash in PATH's running container, or in a new one from its image."""
    reporter = new_reporter()
    code = api.shell(
        path=path, image=image, build_options=build_opts(kwargs), interactive_tty=sys.stdin.isatty(), reporter=reporter
    )
    sys.exit(code)


cli_share.register(main)
