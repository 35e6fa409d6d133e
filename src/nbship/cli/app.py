"""The `nbship` group: commands load on first use (so `nbship --help` imports neither the engine
SDK nor the solvers), and this is the one place where errors become messages and exit codes."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import click

from nbship import __version__
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
    "status": ("nbship.cli.serve", "status", "List the running nbship servers and their URLs."),
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
    "lock": ("nbship.cli.lock", "lock", "Lock PATH's environment: exact packages with hashes."),
    "dockerfile": ("nbship.cli.build", "dockerfile", "Print the Dockerfile nbship builds for PATH (no Docker needed)."),
    "init": ("nbship.cli.build", "init", "Write nbship's Dockerfile and support files into PATH, to own them."),
}


@dataclass(frozen=True)
class CliState:
    debug: bool = False
    verbose: bool = False
    engine: EngineChoice | None = None  # --engine; None: NBSHIP_ENGINE, the settings, then auto


def state() -> CliState:
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(CliState) if ctx is not None else None
    return found or CliState()


class NbshipGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (_, _, help_line) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        from nbship.errors import ExitCode, Interrupted, NbshipError

        try:
            return super().invoke(ctx)
        except NbshipError as exc:
            from nbship.cli.console import report_error

            report_error(exc, debug=state().debug)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            from nbship.cli.console import report_error

            report_error(Interrupted("Interrupted."), debug=False)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:
            from nbship.cli.console import report_bug

            report_bug(exc, debug=state().debug)
            ctx.exit(int(ExitCode.FAILURE))


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
    ctx.obj = CliState(debug=debug, verbose=verbose, engine=engine)  # type: ignore[arg-type]  # click.Choice


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
