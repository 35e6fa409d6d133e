"""nbship's optional settings: `nbship.toml` at the project root, or `[tool.nbship]` in pyproject.toml."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nbship.errors import InputFileError
from nbship.options import EngineChoice

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PYTHON_VERSION_RE = re.compile(r"^3\.\d{1,2}$")


class StrictModel(BaseModel):
    """Unknown keys are mistakes (a typo silently ignored is worse than an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CheckSettings(StrictModel):
    """`[check]`: which notebooks `nbship check` runs, in which order, and their cell timeout."""

    notebooks: tuple[str, ...] | None = None  # paths relative to the project folder; None: all
    timeout: int | None = Field(default=None, ge=1, strict=True)  # seconds per cell

    @field_validator("notebooks")
    @classmethod
    def _notebook_paths(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for item in value:
            parts = item.split("/")
            if not item.endswith(".ipynb") or item.startswith("/") or ".." in parts or "\\" in item:
                raise ValueError(
                    f"'{item}' is not a notebook path relative to the project folder, like 'analysis/fit.ipynb'"
                )
        duplicates = sorted({item for item in value if value.count(item) > 1})
        if duplicates:
            raise ValueError(f"'{duplicates[0]}' is listed more than once")
        return value


class Settings(StrictModel):
    name: str | None = None
    image: str | None = None
    base_image: str | None = Field(default=None, alias="base-image")
    python: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535, strict=True)  # strict: `port = true` is no port
    check: CheckSettings = CheckSettings()
    strip: bool = Field(default=True, strict=True)  # false: the environment reaches the image untrimmed
    engine: EngineChoice = "auto"  # the container engine (--engine and NBSHIP_ENGINE come first)

    @field_validator("python")
    @classmethod
    def _python_is_minor_version(cls, value: str | None) -> str | None:
        if value is not None and not PYTHON_VERSION_RE.match(value):
            raise ValueError('expected a Python minor version such as "3.11"')
        return value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value


_HEADER_RE = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")


def _line_of_key(text: str, key: str, section: str) -> int | None:
    """The line of `key` (a `key =` line or a `[key]` table) inside `section` ("" = the top level)."""
    assignment = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            current = header.group(1).replace('"', "").replace("'", "").replace(" ", "")
            if current == (f"{section}.{key}" if section else key):
                return number
            continue
        if current == section and assignment.match(line):
            return number
    return None


def _parse_toml(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise InputFileError(
            path.name, line, f"this is not valid TOML ({exc})", "Fix the syntax and run nbship again."
        ) from exc


def _validate(data: Any, path: Path, text: str, section: str) -> Settings:
    prefix = f"{section}." if section else ""
    if not isinstance(data, dict):
        raise InputFileError(
            path.name, None, f"[{section}] must be a table", "See the README for the settings nbship reads."
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        known = "name, image, base-image, python, port. In a [check] table: notebooks, timeout"
        if len(first["loc"]) > 1 and first["loc"][0] == "check":
            known = "in [check]: notebooks, timeout"
        if first["type"] == "extra_forbidden":
            problem = f"unknown setting '{prefix}{key}'"
            fix = f"The settings nbship knows are: {known}."
        else:
            problem = f"setting '{prefix}{key}' is invalid: {first['msg']}"
            fix = "Correct the value and run nbship again."
        line = _line_of_key(text, str(first["loc"][0]), section)
        if len(first["loc"]) > 1 and isinstance(first["loc"][1], str):
            # A key inside a table ([check] timeout): its own line when it can be found.
            line = _line_of_key(text, first["loc"][1], f"{prefix}{first['loc'][0]}") or line
        raise InputFileError(path.name, line, problem, fix) from exc


def load_settings(root: Path) -> tuple[Settings, Path | None]:
    """Settings of the project at `root`, and the file they came from (None: defaults)."""
    own = root / "nbship.toml"
    if own.is_file():
        data, text = _parse_toml(own)
        return _validate(data, own, text, ""), own
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data, text = _parse_toml(pyproject)
        tool = data.get("tool")
        section = tool.get("nbship") if isinstance(tool, dict) else None
        if section is not None:
            return _validate(section, pyproject, text, "tool.nbship"), pyproject
    return Settings(), None
