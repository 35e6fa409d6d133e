"""The Python version of the image, chosen once per build from what the project's files say."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nbship.errors import ProjectError
from nbship.project.kinds.base import PythonHint

if TYPE_CHECKING:
    # packaging is imported when a specifier is checked: only projects that give one need it.
    from packaging.specifiers import SpecifierSet

DEFAULT_PYTHON = "3.11"
# Minor versions nbship picks from when requires-python rules out the default.
KNOWN_PYTHONS = tuple(f"3.{minor}" for minor in range(8, 15))


@dataclass(frozen=True)
class PythonChoice:
    version: str
    reason: str


def allows_minor(spec: SpecifierSet, minor: str) -> bool:
    """Whether any release of `minor` (3.11.0 ... 3.11.40) satisfies `spec`: python:X.Y images are X.Y.latest."""
    from packaging.version import Version

    return any(spec.contains(Version(f"{minor}.{patch}"), prereleases=False) for patch in range(41))


def for_specifier(spec: SpecifierSet) -> str | None:
    """The default when `spec` allows it, else the lowest known version it allows (None: none)."""
    if allows_minor(spec, DEFAULT_PYTHON):
        return DEFAULT_PYTHON
    return next((candidate for candidate in KNOWN_PYTHONS if allows_minor(spec, candidate)), None)


def choose_python(hints: Iterable[PythonHint]) -> PythonChoice:
    """The hint of the lowest rank decides (the `python` setting, runtime.txt, requires-python ...)."""
    ranked = sorted(hints, key=lambda hint: hint.rank)
    if not ranked:
        return PythonChoice(DEFAULT_PYTHON, "default")
    best = ranked[0]
    if best.problem is not None:
        raise ProjectError(best.problem)
    return PythonChoice(best.version or DEFAULT_PYTHON, best.reason)
