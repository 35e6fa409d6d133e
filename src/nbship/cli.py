"""The `nbship` command: parses arguments, forwards to nbship.api, and is the one place where
errors become messages and exit codes (cli_support.handle_errors)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from nbship import __version__, api, cli_share
from nbship.check.report import text_lines, to_json, to_junit
from nbship.check.results import CheckReport
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
from nbship.errors import CheckFailed, ExitCode, UsageError


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
@click.option("--check", "then_check", is_flag=True, help="Then run `nbship check` on the image.")
@build_options
@handle_errors
def build(path: Path, then_check: bool, **kwargs: Any) -> None:
    """Build the image for PATH (only when its inputs changed)."""
    reporter = new_reporter()
    options = build_opts(kwargs)
    outcome = api.build(path=path, options=options, reporter=reporter)
    reporter.close()
    stdout.print(f"{outcome.image}  {human_size(outcome.size)}", markup=False)
    if then_check:
        reporter = new_reporter()
        report = api.check(path=path, build_options=options, reporter=reporter, built=outcome)
        reporter.close()
        _print_check(report, as_json=False)


_STATUS_STYLE = {"passed": "green", "failed": "bold red", "timed out": "bold red", "differs": "bold yellow"}


def _print_check(report: CheckReport, *, as_json: bool) -> None:
    """The report: text lines on stdout (on stderr when stdout carries --json), then the exit."""
    console = stderr if as_json else stdout
    for line in text_lines(report):
        status = next((s for s in _STATUS_STYLE if line.startswith(s + " ")), None)
        if status is None:
            console.print(line, markup=False, highlight=False)
        else:
            console.print(f"[{_STATUS_STYLE[status]}]{escape(status)}[/]{escape(line[len(status) :])}", highlight=False)
    if as_json:
        stdout.out(to_json(report), highlight=False)
    if not report.ok:
        bad = [result for result in report.notebooks if not result.ok]
        names = ", ".join(f"{result.path} ({result.status})" for result in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckFailed(f"{len(bad)} of {len(report.notebooks)} notebooks did not pass: {names}{more}.")


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--image", help="Check this image as it is (its own notebooks and settings) instead of PATH's.")
@click.option(
    "-n",
    "--notebook",
    "notebooks",
    multiple=True,
    help="Only this notebook (path relative to the project folder); repeat for more, run in that order.",
)
@click.option("--timeout", type=int, help="Seconds a cell may run (default: [check] timeout, else 600).")
@click.option("--network", is_flag=True, help="Let the notebooks use the network (default: none).")
@click.option("--compare", is_flag=True, help="Compare fresh outputs with the outputs saved in the notebooks.")
@click.option("--tolerance", type=float, help="With --compare: numbers may differ by this (relative), e.g. 1e-6.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the executed notebooks in this folder (new, empty, or an earlier check's).",
)
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Write a JUnit XML report here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout (text goes to stderr).")
@build_options
@handle_errors
def check(
    path: Path | None,
    image: str | None,
    notebooks: tuple[str, ...],
    timeout: int | None,
    network: bool,
    compare: bool,
    tolerance: float | None,
    output: Path | None,
    junit: Path | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Build if needed, run every notebook of PATH headless in its image, and report each one."""
    reporter = new_reporter()
    report = api.check(
        path=path if path is not None or image else Path("."),
        options=api.CheckOptions(
            image=image,
            notebooks=notebooks,
            timeout=timeout,
            network=network,
            compare=compare,
            tolerance=tolerance,
            output_dir=output,
        ),
        build_options=build_opts(kwargs),
        reporter=reporter,
    )
    reporter.close()
    if junit is not None:
        suite = image or (path or Path(".")).resolve().name
        try:
            junit.write_text(to_junit(report, suite=suite), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--junit {junit}: cannot write the report there ({exc.strerror}).") from exc
        stderr.print(f"wrote {junit}", markup=False)
    if report.output_dir is not None:
        stderr.print(f"executed notebooks are in {report.output_dir}", markup=False)
    _print_check(report, as_json=as_json)


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


@main.command()
@project_arg
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(["linux-64", "linux-aarch64"]),
    help="Platform to lock for (repeat for several; default linux-64).",
)
@click.option("--update", is_flag=True, help="Solve again for the newest allowed versions, even when current.")
@click.option(
    "--exclude-newer",
    metavar="DATE",
    help="Ignore packages published after DATE, to reproduce a past solve (kept until --update).",
)
@click.option(
    "--channel-auth",
    type=click.Path(path_type=Path, dir_okay=False),
    help="conda channel credentials (rattler's JSON format; default $RATTLER_AUTH_FILE).",
)
@handle_errors
def lock(
    path: Path, platforms: tuple[str, ...], update: bool, exclude_newer: str | None, channel_auth: Path | None
) -> None:
    """Lock PATH's environment: exact packages with hashes (nbship.lock for environment.yml,
    requirements.lock for requirements.txt / pyproject.toml)."""
    options = api.LockOptions(
        platforms=platforms or api.LockOptions().platforms,
        exclude_newer=exclude_newer,
        update=update,
        channel_auth=channel_auth,
    )
    for outcome in api.lock(path=path, options=options):
        counts = ", ".join(f"{count} packages for {platform}" for platform, count in outcome.packages.items())
        if outcome.written:
            stderr.print(f"wrote {outcome.path} from {outcome.source}: {counts}", markup=False)
        else:
            stderr.print(
                f"{outcome.path} is current with {outcome.source}, kept as is ({counts}); --update solves again.",
                markup=False,
            )


cli_share.register(main)
