"""nbship check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from nbship.cli import console
from nbship.cli.app import json_option
from nbship.cli.options import (
    build_options,
    build_options_from,
    container_options,
    env_from,
    optional_path_arg,
    resources_from,
)
from nbship.sources.refs import ProjectPath, SourceRef

if TYPE_CHECKING:
    from nbship.api import CheckReport

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "timed out": "bold red", "differs": "bold yellow"}


def print_report(report: CheckReport, *, as_json: bool, wrap: dict[str, Any] | None = None) -> None:
    """The report: text lines on stdout (on stderr when stdout carries --json), then the exit.
    `wrap`: a JSON document the report goes into, as its "check" (build --check --json)."""
    from nbship import api
    from nbship.errors import CheckFailed

    target = console.stderr if as_json else console.stdout
    for line in api.check_report_lines(report):
        status = next((s for s in _STATUS_STYLE if line.startswith(s + " ")), None)
        if status is None:
            target.print(Text(line), highlight=False)
        else:
            console.styled(_STATUS_STYLE[status], status, line[len(status) :], console=target)
    if as_json and wrap is not None:
        import json

        console.emit_json({**wrap, "check": json.loads(api.check_report_json(report))})
    elif as_json:
        console.stdout.out(api.check_report_json(report), highlight=False)
    if not report.ok:
        bad = [result for result in report.notebooks if not result.ok]
        names = ", ".join(f"{result.path} ({result.status})" for result in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckFailed(f"{len(bad)} of {len(report.notebooks)} notebooks did not pass: {names}{more}.")


@click.command()
@optional_path_arg
@click.option(
    "--image",
    help="Check this image as it is, with its own notebooks and settings (with PATH: PATH's settings).",
)
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
@click.option(
    "--html",
    "html",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write a report to open in a browser into this folder (index.html; new, empty, or an earlier one).",
)
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Write a JUnit XML report here.")
@json_option
@container_options
@build_options
def check(
    path: ProjectPath | None,
    image: str | None,
    notebooks: tuple[str, ...],
    timeout: int | None,
    network: bool,
    compare: bool,
    tolerance: float | None,
    output: Path | None,
    html: Path | None,
    junit: Path | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Build if needed, run every notebook of PATH headless in its image.

    Each notebook runs from its own folder, with its own kernel and no network, and is reported."""
    from nbship import api
    from nbship.errors import UsageError

    options = api.CheckOptions(
        image=image,
        notebooks=notebooks,
        timeout=timeout,
        network=network,
        compare=compare,
        tolerance=tolerance,
        output_dir=output,
        html_dir=html,
        env=env_from(kwargs),
        resources=resources_from(kwargs),
    )
    with console.progress() as reporter:
        report = api.check(
            path=path if path is not None or image else Path("."),
            options=options,
            build_options=build_options_from(kwargs),
            reporter=reporter,
        )
    if junit is not None:
        suite = image or (path.name if isinstance(path, SourceRef) else (path or Path(".")).resolve().name)
        try:
            junit.write_text(api.check_report_junit(report, suite=suite), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--junit {junit}: cannot write the report there ({exc.strerror}).") from exc
        console.say(f"wrote {junit}")
    if report.output_dir is not None:
        console.say(f"executed notebooks are in {report.output_dir}")
    if report.html_dir is not None:
        console.say(f"the report to open in a browser: {report.html_dir / 'index.html'}")
    print_report(report, as_json=as_json)
