"""runtime.txt, as Binder reads it: `python-3` or `python-X.Y` (a patch number is accepted and
ignored), or R: `r-X.Y`, `r-X.Y-YYYY-MM-DD` (the date of the CRAN snapshot packages come from),
or Binder's older `r-YYYY-MM-DD`. The R part is used by the R kind (kinds/r.py)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship.errors import InputFileError
from nbship.project.kinds.base import Input, Layout, OneFile, PythonHint
from nbship.project.python import KNOWN_PYTHONS
from nbship.project.text import read_text

_PYTHON_RE = re.compile(r"^python-(3)(?:\.(\d{1,2}))?(?:\.\d+)?$")
_DATE = r"\d{4}-\d{2}-\d{2}"
_R_RE = re.compile(rf"^r-(?:(?P<version>\d+\.\d+(?:\.\d+)?)(?:-(?P<date>{_DATE}))?|(?P<date_only>{_DATE}))$", re.I)
_FIX = "Write 'python-3.11' (or another python-3.X), or 'r-4.2-2023-01-01' (R, with its CRAN snapshot date)."


@dataclass(frozen=True)
class RRuntime:
    """What runtime.txt asks of R."""

    version: str | None  # "4.2" or "4.2.3"; None: whichever R the base image's Debian release has
    snapshot: dt.date | None  # the day of the CRAN snapshot packages come from; None: current CRAN


@dataclass(frozen=True)
class Runtime:
    python: str | None = None  # the Python minor version ("3.9"); None: the default
    r: RRuntime | None = None  # set when runtime.txt names R instead of Python


def _r_runtime(match: re.Match[str], display: str, number: int, line: str) -> RRuntime:
    day = match.group("date") or match.group("date_only")
    snapshot = None
    if day is not None:
        try:
            snapshot = dt.date.fromisoformat(day)
        except ValueError:
            raise InputFileError(
                display, number, f"'{day}' in '{line}' is not a date", "Write the date as YYYY-MM-DD, e.g. 2023-01-31."
            ) from None
    return RRuntime(match.group("version"), snapshot)


def parse_runtime(path: Path, display: str) -> Runtime:
    """What runtime.txt asks for: a Python minor version (None: `python-3`, the default), or R."""
    text = read_text(path, display)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if r_match := _R_RE.match(line):
            return Runtime(r=_r_runtime(r_match, display, number, line))
        match = _PYTHON_RE.match(line)
        if not match:
            if line.split("-", 1)[0].lower() == "julia":
                problem = f"'{line}' asks for Julia, which nbship does not support"
            else:
                problem = f"'{line}' is not a runtime nbship understands"
            raise InputFileError(display, number, problem, _FIX)
        if match.group(2) is None:
            return Runtime()
        version = f"3.{int(match.group(2))}"
        if version not in KNOWN_PYTHONS:
            raise InputFileError(
                display,
                number,
                f"'{line}' asks for Python {version}, which nbship cannot build for",
                f"Write one of python-{KNOWN_PYTHONS[0]} to python-{KNOWN_PYTHONS[-1]}.",
            )
        return Runtime(python=version)
    raise InputFileError(display, None, "the file is empty", "Write 'python-3.11' in it, or remove it.")


name = "runtime"


@dataclass(frozen=True)
class RuntimeInput(OneFile):
    kind: ClassVar[str] = name
    runtime: Runtime

    def python_hint(self) -> PythonHint | None:
        if self.runtime.r is not None:
            return None  # an R project's Python (for Jupyter) is chosen as if runtime.txt were absent
        return PythonHint(self.runtime.python, self.display, rank=10)


def detect(layout: Layout, found: tuple[Input, ...]) -> RuntimeInput | None:
    path = layout.find("runtime.txt")
    if path is None:
        return None
    display = layout.display(path)
    return RuntimeInput(path, display, parse_runtime(path, display))
