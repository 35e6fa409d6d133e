"""The `nbship` group: commands load on first use (so `nbship --help` imports neither the engine
SDK nor the solvers), and this is the one place where errors become messages and exit codes."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from nbship import __version__

if TYPE_CHECKING:
    from nbship.options import EngineChoice

# name -> (module, attribute, one line of help). The help line is the command's docstring's first
# line (tests/unit/test_cli_offline.py pins that they agree); it is here so that listing the
# commands needs no import of them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("nbship.cli.build", "build", "Build the image for PATH (only when its inputs changed)."),
    "check": ("nbship.cli.check", "check", "Build if needed, run every notebook of PATH headless in its image."),
    "up": ("nbship.cli.serve", "up", "Build if needed and serve PATH with JupyterLab; the work is kept in a volume."),
    "down": ("nbship.cli.serve", "down", "Stop and remove PATH's JupyterLab container (its volume stays)."),
    "logs": ("nbship.cli.serve", "logs", "Print the server log of PATH's container."),
    "shell": ("nbship.cli.serve", "shell", "Open bash in PATH's running container, or in a new one from its image."),
    "status": ("nbship.cli.status", "status", "List the running nbship servers and their URLs."),
    "volume": (
        "nbship.cli.volume",
        "volume",
        "List, create, remove, export and import the volumes that keep the work.",
    ),
    "compose": (
        "nbship.cli.compose",
        "compose",
        "Write compose.yaml (and the token into .env) for `docker compose up`.",
    ),
    "push": ("nbship.cli.registry", "push", "Push the project's image (built when needed) to a registry."),
    "login": ("nbship.cli.registry", "login", "Log in to REGISTRY; the credentials are kept for pushes and pulls."),
    "run": ("nbship.cli.run", "run", "Run a command in a new container of PATH's image, in its work folder."),
    "clean": (
        "nbship.cli.clean",
        "clean",
        "Remove what nbship made for PATH: stopped containers, images, build cache.",
    ),
    "sbom": (
        "nbship.cli.sbom",
        "sbom",
        "Print the SBOM (SPDX 2.3 JSON) of PATH's image (built when needed) or of --image.",
    ),
    "archive": (
        "nbship.cli.archive",
        "archive",
        "Write PATH's image (built when needed) or --image, with its SBOM, locks and README, to one file.",
    ),
    "hub": ("nbship.cli.hub", "hub", "Serve PATH to a lab or a class with JupyterHub, on this machine or a Swarm."),
    "lock": ("nbship.cli.lock", "lock", "Lock PATH's environment: exact packages with hashes."),
    "dockerfile": ("nbship.cli.build", "dockerfile", "Print the Dockerfile nbship builds for PATH (no Docker needed)."),
    "init": ("nbship.cli.build", "init", "Write nbship's Dockerfile and support files into PATH, to own them."),
}


@dataclass(frozen=True)
class CliState:
    debug: bool = False
    verbose: bool = False
    json: bool = False  # --json: results and errors as JSON on stdout
    engine: EngineChoice | None = None  # --engine; None: NBSHIP_ENGINE, the settings, then auto


# Kept in ctx.meta, which every context of one invocation shares: `-v` before or after the command
# name, or `--json` on the command, is seen wherever the state is read.
_META = "nbship.state"


def state() -> CliState:
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_META) if ctx is not None else None
    return found if isinstance(found, CliState) else CliState()


def _set(ctx: click.Context, **changes: bool | str) -> None:
    current = ctx.meta.get(_META)
    base = current if isinstance(current, CliState) else CliState()
    ctx.meta[_META] = CliState(**{**base.__dict__, **changes})


def _flag_callback(name: str) -> Any:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            _set(ctx, **{name: True})

    return callback


def _json_mode(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        _set(ctx, json=True)
    return value


def json_option(fn: Any) -> Any:
    """`--json`: the command's result as JSON on stdout (field names in the README), and its errors
    as a JSON object too."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=_json_mode,
        help="Print the result as JSON on stdout (errors too); messages stay on stderr.",
    )(fn)


def _shared_options() -> list[click.Option]:
    """-v and --debug on every command too, so `nbship build -v` works as `nbship -v build` does."""
    return [
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_flag_callback("verbose"),
            help="Show the full build log.",
        ),
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            callback=_flag_callback("debug"),
            help="Show tracebacks for errors.",
        ),
    ]


def _add_shared_options(command: click.Command) -> None:
    names = {name for param in command.params for name in getattr(param, "opts", [])}
    if "--verbose" not in names:
        command.params.extend(_shared_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_shared_options(sub)


def _before_separator(args: list[str]) -> list[str]:
    return args[: args.index("--")] if "--" in args else args


class NbshipGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        _add_shared_options(command)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Known before the command's own options are parsed, so that a usage error is JSON too.
        if "--json" in _before_separator(args):
            _set(ctx, json=True)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (_, _, help_line) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        from nbship.errors import ExitCode, Interrupted, NbshipError

        try:
            return super().invoke(ctx)
        except NbshipError as exc:
            from nbship.cli.console import report_error

            report_error(exc, debug=state().debug, as_json=state().json)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            from nbship.cli.console import report_error

            report_error(Interrupted("Interrupted."), debug=False, as_json=state().json)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except click.ClickException as exc:
            if not state().json:
                raise
            from nbship.cli.console import report_usage_error

            report_usage_error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            from nbship.cli.console import report_bug, report_error

            if isinstance(exc, OSError) and exc.filename is not None:
                # A file the system refused (permissions, a full disk, a folder in the way): the user's to fix.
                report_error(_file_error(exc), debug=state().debug, as_json=state().json)
            else:
                report_bug(exc, debug=state().debug, as_json=state().json)
            ctx.exit(int(ExitCode.FAILURE))


def _file_error(exc: OSError) -> Any:
    from nbship.errors import NbshipError

    what = f"{exc.filename}" + (f" and {exc.filename2}" if exc.filename2 else "")
    return NbshipError(
        f"nbship could not use {what}: {exc.strerror or exc}. Check that it exists and that your user may "
        "read and write it (and that the disk has room), then run nbship again."
    )


@click.group(cls=NbshipGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbship")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full build log.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "docker", "podman"]),
    help="Container engine (default: NBSHIP_ENGINE, else `engine` in the settings, else auto: Docker when it "
    "answers, else Podman).",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool, engine: str | None) -> None:
    """Build a Jupyter project into a container image and serve it with JupyterLab."""
    _set(ctx, **{name: True for name, on in (("debug", debug), ("verbose", verbose)) if on})
    if engine is not None:
        _set(ctx, engine=engine)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
