"""What every `nbship` command shares: the console, progress reporting, error handling and the
build options. The commands themselves are in cli.py (build and serve) and cli_share.py."""

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

from nbship import api
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


class State:
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
            if State.debug:
                traceback.print_exc()
            stderr.print(
                f"[bold red]error[/] nbship failed unexpectedly ({type(exc).__name__}: {escape(str(exc))}). "
                "This is a bug in nbship: run the command again with --debug and report what it shows."
            )
            sys.exit(int(ExitCode.FAILURE))

    return wrapper  # type: ignore[return-value]


def _report(exc: NbshipError) -> None:
    for reporter in active_reporters:
        reporter.close()
    if State.debug:
        traceback.print_exception(exc)
    stderr.print(f"[bold red]error[/] {escape(exc.message)}", highlight=False)
    if exc.details:
        stderr.print(exc.details, style="dim", markup=False, highlight=False)


active_reporters: list[ConsoleReporter] = []


def new_reporter() -> ConsoleReporter:
    reporter = ConsoleReporter(verbose=State.verbose)
    active_reporters.append(reporter)
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
        click.option(
            "--strip/--no-strip",
            default=None,
            help="Leave test suites, build tools, C sources and most bytecode out of the image "
            "(default: on, or `strip` in the settings).",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def build_opts(kwargs: dict[str, Any]) -> api.BuildOptions:
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
        strip=kwargs.pop("strip"),
    )


project_arg = click.argument("path", type=click.Path(path_type=Path), default=".", required=False)
