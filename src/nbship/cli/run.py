"""nbship run."""

from __future__ import annotations

import sys
from typing import Any

import click

from nbship.cli import console
from nbship.cli.options import (
    build_options,
    build_options_from,
    container_options,
    env_from,
    optional_path_arg,
    resources_from,
    work_folder_options,
)
from nbship.sources.refs import ProjectPath

_COMMAND_KEY = "nbship.run.command"


class _CommandAfterSeparator(click.Command):
    """Everything after the first `--` is the command, taken as it is (its own options included);
    what comes before is nbship's options and PATH."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            args, ctx.meta[_COMMAND_KEY] = args[:cut], tuple(args[cut + 1 :])
        return super().parse_args(ctx, args)


@click.command(cls=_CommandAfterSeparator)
@optional_path_arg
@click.option("--image", help="Run in this image as given (pulled when needed) instead of PATH's own.")
@work_folder_options
@click.option("-i", "--interactive", is_flag=True, help="Pass your standard input on to the command.")
@container_options
@build_options
def run(
    path: ProjectPath | None,
    image: str | None,
    mount: str | None,
    volume_name: str | None,
    interactive: bool,
    **kwargs: Any,
) -> None:
    """Run a command in a new container of PATH's image, in its work folder.

    nbship run [PATH] [OPTIONS] -- COMMAND [ARG]...

    The image is built when needed; the command runs as the notebook user in the work folder (the
    project's volume, as for `up`), and nbship exits with its exit code. Ctrl-C stops it; no
    container is left behind."""
    from nbship import api
    from nbship.errors import UsageError

    command = click.get_current_context().meta.get(_COMMAND_KEY, ())
    if not command:
        raise UsageError(
            "Give the command after --, e.g. `nbship run . -- python analysis.py` "
            "(everything after -- is the command and its arguments)."
        )
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    options = api.RunOptions(
        command=command,
        image=image,
        mount=mount,  # type: ignore[arg-type]  # click.Choice checked it
        volume=volume_name,
        env=env_from(kwargs),
        resources=resources_from(kwargs),
        stdin=interactive or terminal,
        tty=terminal,
    )
    with console.progress() as reporter:
        build = build_options_from(kwargs)
        code = api.run(path=path, options=options, build_options=build, reporter=reporter)
    sys.exit(code)
