"""An R package's DESCRIPTION file, read as R reads it (DCF: `Field: value` lines, continuation
lines indented), into what nbship installs: the package itself and the dependencies it names.

Written here rather than taken from a Debian control-file library: R's dependency fields have
their own syntax (`pkg (>= 1.0), other`), and every mistake must be reported with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import InputFileError
from nbship.project.text import read_bytes
from nbship.values import control_character, shown

# What install.packages() installs for a package by default (dependencies = NA).
DEPENDENCY_FIELDS = ("Depends", "Imports", "LinkingTo")
# "Writing R Extensions": letters, digits and dots, starting with a letter, not ending in a dot.
PACKAGE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
_FIELD_RE = re.compile(r"^([^\s:]+):(.*)$")
# `pkg` or `pkg (>= 1.0)`; `R` (one letter) names R itself.
_DEPENDENCY_RE = re.compile(
    r"^(R|[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9])\s*(?:\(\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9.-]*)\s*\))?$"
)
_VERSION_RE = re.compile(r"^\d+([.-]\d+)+$")


@dataclass(frozen=True)
class Dependency:
    name: str
    operator: str | None = None  # ">=", ...; None: any version
    version: str | None = None

    def spec(self) -> str:
        """As DESCRIPTION writes it, and as nbship's R installer reads it: `pkg (>= 1.0)`."""
        return self.name if self.operator is None else f"{self.name} ({self.operator} {self.version})"


@dataclass(frozen=True)
class Description:
    package: str | None  # None: the file only lists dependencies (then only they are installed)
    version: str | None
    dependencies: tuple[Dependency, ...]  # from Depends, Imports and LinkingTo, R itself left out
    remotes: tuple[str, ...]  # the Remotes field (devtools' GitHub sources), which nbship does not use


def read_dcf(text: str, display: str) -> dict[str, tuple[int, str]]:
    """The fields of a one-record DCF file: name -> (its line, the value with continuations joined)."""
    fields: dict[str, tuple[int, str]] = {}
    current: str | None = None
    ended_at: int | None = None  # the blank line that ended the record
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            if fields:
                ended_at = ended_at or number
            continue
        if raw[0] in " \t":
            if current is None or ended_at is not None:
                raise InputFileError(
                    display, number, "an indented line continues no field", "Start the file with 'Package: name'."
                )
            line, value = fields[current]
            fields[current] = (line, f"{value}\n{raw.strip()}")
            continue
        if ended_at is not None:
            raise InputFileError(
                display,
                number,
                f"a second record starts after the blank line {ended_at}",
                "A DESCRIPTION holds one record: remove the blank line or what follows it.",
            )
        match = _FIELD_RE.match(raw)
        if not match:
            raise InputFileError(
                display, number, f"'{raw.strip()[:60]}' is not a 'Field: value' line", "Write it as 'Imports: dplyr'."
            )
        current = match.group(1)
        if current in fields:
            raise InputFileError(
                display,
                number,
                f"the field {current} is given twice (first on line {fields[current][0]})",
                "Keep one of them.",
            )
        fields[current] = (number, match.group(2).strip())
    return fields


def parse_dependencies(value: str, field: str, line: int, display: str) -> tuple[Dependency, ...]:
    found: list[Dependency] = []
    for item in value.split(","):
        entry = " ".join(item.split())
        if not entry:
            continue  # a trailing comma, which R accepts
        match = _DEPENDENCY_RE.match(entry)
        if not match:
            raise InputFileError(
                display,
                line,
                f"'{entry}' in {field} is not an R package name with an optional version, like 'dplyr (>= 1.1.0)'",
                "Separate the packages with commas.",
            )
        found.append(Dependency(match.group(1), match.group(2), match.group(3)))
    return tuple(found)


def read_description_text(path: Path, display: str) -> str:
    """The file's text: UTF-8 (a byte-order mark dropped) or else Latin-1, R's other usual encoding
    for DESCRIPTION files. Its values reach the Dockerfile and the build's output, so a control
    character other than a tab is refused where it stands."""
    data = read_bytes(path, display).removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        found = control_character(line.replace("\t", " "))
        if found:
            binary = "\x00" in line
            raise InputFileError(
                display,
                number,
                "it holds NUL bytes: this is a binary file, not text"
                if binary
                else f"'{shown(line.strip(), 60)}' holds a control character ({shown(found)})",
                "Replace it with a text file." if binary else "Remove it: a DESCRIPTION is plain text.",
            )
    return text


def parse_description(path: Path, display: str) -> Description:
    fields = read_dcf(read_description_text(path, display), display)
    dependencies: dict[str, Dependency] = {}
    for field in DEPENDENCY_FIELDS:
        if field in fields:
            line, value = fields[field]
            for dependency in parse_dependencies(value, field, line, display):
                if dependency.name != "R":  # `Depends: R (>= 4.0)` is the R version, not a package
                    dependencies.setdefault(dependency.name, dependency)
    package = fields.get("Package")
    version = fields.get("Version")
    if package is not None and not PACKAGE_NAME_RE.match(package[1]):
        raise InputFileError(
            display,
            package[0],
            f"'{package[1]}' is not an R package name",
            "Use letters, digits and dots, starting with a letter, like 'sstanalysis'.",
        )
    if package is not None and (version is None or not _VERSION_RE.match(version[1])):
        raise InputFileError(
            display,
            version[0] if version else package[0],
            f"the package {package[1]} needs a Version such as 0.1.0"
            + (f", not '{version[1]}'" if version else ", and there is none"),
            "Add a line like 'Version: 0.1.0'.",
        )
    remotes = tuple(item for item in " ".join(fields.get("Remotes", (0, ""))[1].split()).split(",") if item.strip())
    return Description(
        package=package[1] if package else None,
        version=version[1] if version else None,
        dependencies=tuple(dependencies.values()),
        remotes=tuple(item.strip() for item in remotes),
    )
