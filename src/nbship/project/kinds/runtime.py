"""runtime.txt: `python-3` or `python-X.Y` (a patch number is accepted and ignored)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship.errors import InputFileError
from nbship.project.kinds.base import Input, Layout, OneFile, PythonHint
from nbship.project.python import KNOWN_PYTHONS
from nbship.project.text import read_text

_RUNTIME_RE = re.compile(r"^python-(3)(?:\.(\d{1,2}))?(?:\.\d+)?$")


def parse_runtime(path: Path, display: str) -> str | None:
    """The Python minor version asked for ("3.9"), or None for plain `python-3` (the default)."""
    text = read_text(path, display)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _RUNTIME_RE.match(line)
        if not match:
            kind = line.split("-", 1)[0]
            language = {"r": "R", "julia": "Julia"}.get(kind.lower())
            if language:
                problem = f"'{line}' asks for {language}, which nbship does not support"
            else:
                problem = f"'{line}' is not a runtime nbship understands"
            raise InputFileError(
                display, number, problem, "Write 'python-3.11' (or another python-3.X), or remove runtime.txt."
            )
        if match.group(2) is None:
            return None
        version = f"3.{int(match.group(2))}"
        if version not in KNOWN_PYTHONS:
            raise InputFileError(
                display,
                number,
                f"'{line}' asks for Python {version}, which nbship cannot build for",
                f"Write one of python-{KNOWN_PYTHONS[0]} to python-{KNOWN_PYTHONS[-1]}.",
            )
        return version
    raise InputFileError(display, None, "the file is empty", "Write 'python-3.11' in it, or remove it.")


name = "runtime"


@dataclass(frozen=True)
class RuntimeInput(OneFile):
    kind: ClassVar[str] = name
    python: str | None  # None: `python-3`, the default

    def python_hint(self) -> PythonHint:
        return PythonHint(self.python, self.display, rank=10)


def detect(layout: Layout, found: tuple[Input, ...]) -> RuntimeInput | None:
    path = layout.find("runtime.txt")
    if path is None:
        return None
    display = layout.display(path)
    return RuntimeInput(path, display, parse_runtime(path, display))
