"""What every `nbship` command shares for output: the two consoles, live progress, and the way an
error is shown. Text that comes from the user or a program is always printed literally, never as
rich markup, so a message holding `[bold]` or `:x:` reads as it was written."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

if TYPE_CHECKING:
    from rich.status import Status

    from nbship.errors import NbshipError
    from nbship.options import EngineChoice

stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
stdout = Console(highlight=False, soft_wrap=True, emoji=False)


def say(text: str) -> None:
    """One line on stderr (what nbship did), printed as it is."""
    stderr.print(Text(text), highlight=False)


def out(text: str) -> None:
    """One line on stdout (the result a script reads), printed as it is."""
    stdout.print(Text(text), highlight=False)


def styled(style: str, head: str, rest: str, *, console: Console = stderr) -> None:
    """`head` in a style, then `rest`, both literal."""
    console.print(Text.assemble((head, style), rest), highlight=False)


class ConsoleReporter:
    """Live progress on a terminal (one updating status line); plain lines elsewhere (CI, pipes)."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.live = stderr.is_terminal
        self._status: Status | None = None
        self._started = time.monotonic()
        self._steps = 0

    def info(self, message: str) -> None:
        self.close()  # a message is a line of its own; the next step starts the live line again
        styled("bold cyan", "nbship", f" {message}")

    def warn(self, message: str) -> None:
        self.close()
        styled("bold yellow", "warning", f" {message}")

    def step(self, name: str) -> None:
        self._steps += 1
        if self.live:
            if self._status is None:
                self._status = stderr.status("")
                self._status.start()
            elapsed = time.monotonic() - self._started
            self._status.update(f"[bold]{elapsed:4.0f}s[/] step {self._steps}  [dim]{escape(_shorten(name, 90))}[/]")
        else:
            say(f"  {_shorten(name)}")

    def log(self, line: str) -> None:
        if self.verbose:
            stderr.out(line, highlight=False)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


@contextmanager
def progress() -> Iterator[ConsoleReporter]:
    """A reporter for one command; its live line is gone before anything else is printed."""
    from nbship.cli.app import state

    reporter = ConsoleReporter(verbose=state().verbose)
    try:
        yield reporter
    finally:
        reporter.close()


def engine() -> EngineChoice | None:
    """The engine asked for with the global --engine option (None: not given)."""
    from nbship.cli.app import state

    return state().engine


def _shorten(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def emit_json(document: Any) -> None:
    """A result for scripts: one JSON document on stdout, printed as it is."""
    stdout.out(json.dumps(document, indent=2, default=str), highlight=False)


def error_json(
    message: str,
    *,
    exit_code: int,
    kind: str,
    file: str | None = None,
    line: int | None = None,
    details: str | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "exit_code": exit_code,
            "kind": kind,
            "file": file,
            "line": line,
            "details": details,
        }
    }


def report_error(exc: NbshipError, *, debug: bool, as_json: bool = False) -> None:
    from nbship.errors import CheckFailed

    if debug:
        import traceback

        traceback.print_exception(exc)
    styled("bold red", "error", f" {exc.message}")
    if exc.details:
        stderr.print(Text(exc.details, style="dim"), highlight=False)
    # A failed check has printed its report, which says so (`"ok": false`): one document on stdout.
    if as_json and not isinstance(exc, CheckFailed):
        emit_json(
            error_json(
                exc.message,
                exit_code=int(exc.exit_code),
                kind=type(exc).__name__,
                file=getattr(exc, "path", None),
                line=getattr(exc, "line", None),
                details=exc.details,
            )
        )


def report_usage_error(exc: click.ClickException) -> None:
    """A command-line mistake under --json: click's own message, and the same as JSON."""
    message = exc.format_message()
    styled("bold red", "error", f" {message}")
    emit_json(error_json(message, exit_code=exc.exit_code, kind="UsageError"))


def report_bug(exc: Exception, *, debug: bool, as_json: bool = False) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    message = (
        f"nbship failed unexpectedly ({type(exc).__name__}: {exc}). "
        "This is a bug in nbship: run the command again with --debug and report what it shows."
    )
    styled("bold red", "error", f" {message}")
    if as_json:
        emit_json(error_json(message, exit_code=1, kind="Bug"))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in {"B", "kB"} else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def follow_log(lines: Iterator[str], *, intro: str, stop: Callable[[], object], ended: str) -> None:
    """Streams a server's log until Ctrl-C, which stops the server (`stop`), or until the server
    ends by itself, a failure: its container is kept, so that its log can be read (`ended`)."""
    from nbship.errors import ExitCode

    say(intro)
    try:
        for line in lines:
            stderr.out(line, highlight=False)
    except KeyboardInterrupt:
        say("Stopping…")
        stop()
        return
    say(ended)
    raise SystemExit(int(ExitCode.RUN_FAILED))
