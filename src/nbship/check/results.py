"""What a check found: the runner's results file read strictly, and the report nbship returns."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

import nbformat
from pydantic import BaseModel, ConfigDict, ValidationError

from nbship.check.compare import Comparison, compare_notebooks
from nbship.errors import RunError

Status = Literal["passed", "failed", "timed out", "differs"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Frame headers IPython writes for code typed into a cell (IPython 8+, 8.0-8.4, and 7).
_CELL_FRAME = re.compile(r"^(Cell In ?\[|Input In ?\[|<ipython-input-)")
_LIBRARY = re.compile(r"site-packages|dist-packages|/lib/python\d|/lib/pypy|<frozen ")
_ARROW = re.compile(r"^\s*-+>")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def relevant_traceback(traceback: tuple[str, ...]) -> tuple[str, ...]:
    """The frames of the notebook's own code (its cells and the project's modules): each frame's
    header and the line that raised. Library frames and IPython's banner are left out."""
    frames = [strip_ansi(chunk).strip("\n") for chunk in traceback]
    frames = [frame for frame in frames if "\n" in frame or _CELL_FRAME.match(frame)]

    def own(frame: str) -> bool:
        header = frame.split("\n", 1)[0]
        return bool(_CELL_FRAME.match(header)) or (header.startswith("File ") and not _LIBRARY.search(header))

    chosen = [frame for frame in frames if own(frame)] or frames[-1:]
    lines: list[str] = []
    for frame in chosen:
        header, *body = frame.split("\n")
        lines.append(header)
        lines.extend(line.rstrip() for line in body if _ARROW.match(line))
    return tuple(lines)


@dataclass(frozen=True)
class CellError:
    type: str
    message: str
    traceback: tuple[str, ...] = ()  # as the kernel sent it, colour codes removed

    @property
    def relevant(self) -> tuple[str, ...]:
        return relevant_traceback(self.traceback)


@dataclass(frozen=True)
class NotebookResult:
    path: str  # relative to the project folder, with '/'
    status: Status
    duration: float
    kernel: str | None = None
    note: str | None = None  # e.g. the kernel that stood in for one the image does not have
    cell: int | None = None  # 1-based position of the failing cell among all cells
    execution_count: int | None = None  # its "In [n]", as the traceback names it
    error: CellError | None = None
    comparison: Comparison | None = None

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class CheckReport:
    image: str
    network: bool
    timeout: int
    duration: float
    notebooks: tuple[NotebookResult, ...]
    started: str = ""  # ISO 8601, UTC
    compared: bool = False
    output_dir: Path | None = None
    html_dir: Path | None = None
    image_id: str = ""  # exactly which image was checked
    sbom_digest: str | None = None  # sha256 of the SBOM the image carries (None: it has none)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.notebooks)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.notebooks if result.status == status)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RunnerError(_Strict):
    type: str
    message: str
    traceback: list[str]


class _RunnerNotebook(_Strict):
    path: str
    status: Literal["passed", "failed", "timed out"]
    duration: float
    kernel: str | None
    note: str | None
    cell: int | None
    execution_count: int | None
    error: _RunnerError | None


class _RunnerResults(_Strict):
    root: str
    python: str
    notebooks: list[_RunnerNotebook]


def parse_results(text: str) -> list[NotebookResult]:
    """The runner's results.json; anything else is a bug between nbship and its runner."""
    try:
        parsed = _RunnerResults.model_validate_json(text)
    except ValidationError as exc:
        raise RunError(
            f"nbship could not read the results of its notebook runner ({exc.errors()[0]['msg']}). "
            "This is a bug in nbship: run again with --debug and report it."
        ) from exc
    return [
        NotebookResult(
            path=item.path,
            status=item.status,
            duration=item.duration,
            kernel=item.kernel,
            note=item.note,
            cell=item.cell,
            execution_count=item.execution_count,
            error=CellError(
                item.error.type, strip_ansi(item.error.message), tuple(strip_ansi(t) for t in item.error.traceback)
            )
            if item.error
            else None,
        )
        for item in parsed.notebooks
    ]


# nbformat is untyped; it reads any notebook version and converts it to v4.
_read_notebook = cast(Callable[..., Mapping[str, Any]], nbformat.reads)


def with_comparisons(
    results: tuple[NotebookResult, ...],
    *,
    originals: Mapping[str, bytes],
    executed: Mapping[str, bytes],
    tolerance: float | None,
) -> list[NotebookResult]:
    """The results, each notebook that passed compared with the notebook as the image delivers it
    (`originals`): `differs` when a cell's outputs are not the same."""
    compared = []
    for result in results:
        committed, fresh = originals.get(result.path), executed.get(result.path)
        if result.status != "passed" or committed is None or fresh is None:
            compared.append(result)
            continue
        comparison = compare_notebooks(
            _read_notebook(committed.decode(), as_version=4),
            _read_notebook(fresh.decode(), as_version=4),
            tolerance=tolerance,
        )
        status: Status = "passed" if comparison.same else "differs"
        compared.append(replace(result, status=status, comparison=comparison))
    return compared
