"""A check's report as one HTML page (`nbship check --html DIR`): each notebook, its status, the
failing cell's traceback, and output differences with both pictures side by side.

The page is self-contained (pictures as data: URLs), escapes everything it shows, and forbids
scripts and outside requests in its Content-Security-Policy: notebook outputs are not trusted."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

from nbship.check.output import MARKER
from nbship.check.report import headline, summary
from nbship.check.results import CheckReport, NotebookResult

INDEX = "index.html"


@dataclass(frozen=True)
class _Row:
    result: NotebookResult
    headline: str
    css: str


def render_html(report: CheckReport) -> str:
    def load(name: str) -> str:
        return resources.files("nbship.check").joinpath("templates").joinpath(name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    rows = [_Row(result, headline(result), result.status.replace(" ", "-")) for result in report.notebooks]
    return env.get_template("report.html.j2").render(report=report, notebooks=rows, summary=summary(report))


def write_html(folder: Path, report: CheckReport, report_json: str) -> Path:
    """Writes index.html (and the JSON report, which marks the folder as nbship's) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / INDEX
    target.write_text(render_html(report), encoding="utf-8")
    (folder / MARKER).write_text(report_json + "\n", encoding="utf-8")
    return target
