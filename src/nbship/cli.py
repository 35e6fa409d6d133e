"""The `nbship` command: parses arguments, forwards to nbship.api, and is the one place where
errors become messages and exit codes."""

from __future__ import annotations

import functools
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from nbship import __version__, api
from nbship.engine.build import human_size
from nbship.errors import ExitCode, Interrupted, NbshipError

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


class ConsoleReporter:
    """Live progress on a terminal (one updating status line); plain lines elsewhere (CI, pipes)."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.live = stderr.is_terminal
        self._status: Status | None = None
        self._started = time.monotonic()
        self._steps = 0

    def info(self, message: str) -> None:
        stderr.print(f"[bold cyan]nbship[/] {escape(message)}", highlight=False)

    def warn(self, message: str) -> None:
        stderr.print(f"[bold yellow]warning[/] {escape(message)}", highlight=False)

    def step(self, name: str) -> None:
        self._steps += 1
        if self.live:
            if self._status is None:
                self._status = stderr.status(name)
                self._status.start()
            elapsed = time.monotonic() - self._started
            self._status.update(f"[bold]{elapsed:4.0f}s[/] step {self._steps}  [dim]{escape(_shorten(name, 90))}[/]")
        else:
            stderr.print(f"  {_shorten(name)}", markup=False)

    def log(self, line: str) -> None:
        if self.verbose:
            stderr.out(line, highlight=False)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _shorten(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _State:
    debug = False
    verbose = False


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NbshipError as exc:
            _report(exc)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            _report(Interrupted("Interrupted."))
            sys.exit(int(ExitCode.INTERRUPTED))
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:
            if _State.debug:
                traceback.print_exc()
            stderr.print(
                f"[bold red]error[/] nbship failed unexpectedly ({type(exc).__name__}: {escape(str(exc))}). "
                "This is a bug in nbship: run the command again with --debug and report what it shows."
            )
            sys.exit(int(ExitCode.FAILURE))

    return wrapper  # type: ignore[return-value]


def _report(exc: NbshipError) -> None:
    for reporter in _active:
        reporter.close()
    if _State.debug:
        traceback.print_exception(exc)
    stderr.print(f"[bold red]error[/] {escape(exc.message)}", highlight=False)
    if exc.details:
        stderr.print(exc.details, style="dim", markup=False, highlight=False)


_active: list[ConsoleReporter] = []


def _reporter() -> ConsoleReporter:
    reporter = ConsoleReporter(verbose=_State.verbose)
    _active.append(reporter)
    return reporter


def build_options(fn: F) -> F:
    """The options every command that builds when needed takes, identical to `nbship build`'s."""
    decorators = [
        click.option("-t", "--tag", help="Image name (default: from the project's name)."),
        click.option("--base-image", help="Base image (default: python:X.Y-slim for the project's Python)."),
        click.option("--user-id", type=int, default=1000, show_default=True, help="Uid of the notebook user."),
        click.option(
            "--installer",
            type=click.Choice(["uv", "pip"]),
            default="uv",
            show_default=True,
            help="Installs packages with uv (faster) or pip.",
        ),
        click.option(
            "--builder",
            type=click.Choice(["auto", "buildkit", "classic"]),
            default="auto",
            show_default=True,
            help="BuildKit when available, else the classic builder.",
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(path_type=Path, dir_okay=False),
            help="CA bundle (PEM) trusted during the build only, e.g. for a TLS-intercepting proxy.",
        ),
        click.option(
            "--channel-auth",
            type=click.Path(path_type=Path, dir_okay=False),
            help="conda channel credentials (rattler's JSON; default $RATTLER_AUTH_FILE), a build secret only.",
        ),
        click.option("--no-cache", is_flag=True, help="Build every layer anew."),
        click.option("--rebuild", is_flag=True, help="Build even when nothing changed since the last build."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def _build_opts(kwargs: dict[str, Any]) -> api.BuildOptions:
    return api.BuildOptions(
        tag=kwargs.pop("tag"),
        base_image=kwargs.pop("base_image"),
        user_id=kwargs.pop("user_id"),
        installer=kwargs.pop("installer"),
        builder=kwargs.pop("builder"),
        ca_bundle=kwargs.pop("ca_bundle"),
        no_cache=kwargs.pop("no_cache"),
        rebuild=kwargs.pop("rebuild"),
        channel_auth=kwargs.pop("channel_auth"),
    )


project_arg = click.argument("path", type=click.Path(path_type=Path), default=".", required=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbship")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full build log.")
def main(debug: bool, verbose: bool) -> None:
    """Build a Jupyter project into a container image and serve it with JupyterLab."""
    _State.debug = debug
    _State.verbose = verbose


@main.command()
@project_arg
@click.option("--classic", is_flag=True, help="Show the variant for the classic builder (no cache or secret mounts).")
@build_options
@handle_errors
def dockerfile(path: Path, classic: bool, **kwargs: Any) -> None:
    """Print the Dockerfile nbship builds for PATH (no Docker needed)."""
    stdout.out(api.dockerfile(path=path, options=_build_opts(kwargs), buildkit=not classic), end="")


@main.command()
@project_arg
@click.option("--force", is_flag=True, help="Overwrite an existing Dockerfile.")
@build_options
@handle_errors
def init(path: Path, force: bool, **kwargs: Any) -> None:
    """Write nbship's Dockerfile (and a .dockerignore) into PATH, to own and edit them."""
    written = api.init(path=path, options=_build_opts(kwargs), force=force)
    for file in written:
        stderr.print(f"wrote {file}", markup=False)
    stderr.print("From now on `nbship build` uses this Dockerfile as is.")


@main.command()
@project_arg
@build_options
@handle_errors
def build(path: Path, **kwargs: Any) -> None:
    """Build the image for PATH (only when its inputs changed)."""
    reporter = _reporter()
    outcome = api.build(path=path, options=_build_opts(kwargs), reporter=reporter)
    reporter.close()
    stdout.print(f"{outcome.image}  {human_size(outcome.size)}", markup=False)


@main.command()
@project_arg
@click.option("--image", help="Run this image as given instead of building the project.")
@click.option("--port", type=int, help="Host port (default 8888, or `port` in the settings).")
@click.option("--token", help="Token for JupyterLab (default: 32 random bytes).")
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Host address to publish on; 0.0.0.0 opens it to the network.",
)
@click.option("-d", "--detach", is_flag=True, help="Return once the server answers; leave it running.")
@click.option("--open", "open_browser", is_flag=True, help="Open JupyterLab in a web browser.")
@build_options
@handle_errors
def up(
    path: Path,
    image: str | None,
    port: int | None,
    token: str | None,
    bind: str,
    detach: bool,
    open_browser: bool,
    **kwargs: Any,
) -> None:
    """Build if needed and serve PATH with JupyterLab."""
    reporter = _reporter()
    server = api.up(
        path=path,
        options=api.UpOptions(image=image, port=port, token=token, bind=bind),
        build_options=_build_opts(kwargs),
        reporter=reporter,
    )
    reporter.close()
    stderr.print(f"JupyterLab for {server.project_path} is ready ({server.image}):", markup=False)
    stdout.print(server.url, markup=False, highlight=False)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    if detach:
        stderr.print(f"Stop it with: nbship down {path}", markup=False)
        return
    stderr.print("Showing its log; press Ctrl-C to stop the server.")
    try:
        for line in api.follow(server=server):
            stderr.out(line, highlight=False)
    except KeyboardInterrupt:
        stderr.print("Stopping…")
        api.down(path=path)
        return
    # The server ended by itself: keep the container so its log can still be read.
    stderr.print(f"The server stopped on its own; `nbship logs {path}` shows why.", markup=False)
    sys.exit(int(ExitCode.RUN_FAILED))


@main.command()
@project_arg
@handle_errors
def down(path: Path) -> None:
    """Stop and remove PATH's JupyterLab container."""
    server = api.down(path=path)
    stderr.print(f"Stopped {server.container_name}." if server else "No nbship server was running for this project.")


@main.command()
@project_arg
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@handle_errors
def logs(path: Path, follow: bool) -> None:
    """Print the server log of PATH's container."""
    try:
        for line in api.logs(path=path, follow=follow):
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
            f"{server.project_path}\t{server.status}\t{server.url}\t{server.image}", markup=False, highlight=False
        )


@main.command()
@project_arg
@click.option("--image", help="Open the shell in this image instead of the project's.")
@build_options
@handle_errors
def shell(path: Path, image: str | None, **kwargs: Any) -> None:
    """Open bash in PATH's running container, or in a new one from its image."""
    reporter = _reporter()
    code = api.shell(
        path=path, image=image, build_options=_build_opts(kwargs), interactive_tty=sys.stdin.isatty(), reporter=reporter
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
