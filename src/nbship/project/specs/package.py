"""The project itself as a Python package: pyproject.toml with [project]/[build-system], or setup.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from nbship.errors import InputFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class PackageSpec:
    path: Path  # pyproject.toml or setup.py
    requires_python: SpecifierSet | None
    dependency_names: frozenset[str]


def _dependency_names(deps: Any) -> frozenset[str]:
    names: set[str] = set()
    for dep in deps if isinstance(deps, list) else []:
        try:
            names.add(canonicalize_name(Requirement(str(dep)).name))
        except InvalidRequirement:
            continue  # pip reports it at install time, with its own words
    return frozenset(names)


def parse_package(folder: Path, display_root: Path) -> PackageSpec | None:
    pyproject = folder / "pyproject.toml"
    setup_py = folder / "setup.py"
    if pyproject.is_file():
        display = str(pyproject.relative_to(display_root))
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputFileError(
                display,
                getattr(exc, "lineno", None),
                f"this is not valid TOML ({exc})",
                "Fix the syntax and run nbship again.",
            ) from exc
        project = data.get("project")
        if isinstance(project, dict) or "build-system" in data:
            spec: SpecifierSet | None = None
            raw = project.get("requires-python") if isinstance(project, dict) else None
            if raw is not None:
                try:
                    spec = SpecifierSet(str(raw))
                except InvalidSpecifier as exc:
                    raise InputFileError(
                        display,
                        None,
                        f"requires-python '{raw}' is not a valid version specifier",
                        "Write it like '>=3.10'.",
                    ) from exc
            deps = project.get("dependencies", []) if isinstance(project, dict) else []
            return PackageSpec(pyproject, spec, _dependency_names(deps))
    if setup_py.is_file():
        return PackageSpec(setup_py, None, frozenset())
    return None
