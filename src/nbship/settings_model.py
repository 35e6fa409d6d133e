"""The settings' schema: pydantic models that check a settings file and NBSHIP_<OPTION> variables,
and name the file's line when a value is wrong. Imported only when there are settings to read
(settings.py decides); the values commands use are settings.py's plain dataclasses, so a project
without settings never pays for pydantic.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nbship import settings as values
from nbship.errors import InputFileError, UsageError
from nbship.options import BuilderChoice, EngineChoice, Installer, MountChoice
from nbship.resources import MIN_MEMORY, GpuRequest, Resources, parse_cpus, parse_gpus, parse_memory
from nbship.values import control_character

PYTHON_VERSION_RE = re.compile(r"^3\.\d{1,2}$")
# A CRAN-like repository's URL: it goes into the image (R's settings) and into shell and R text,
# so it is held to characters that need no quoting anywhere, and never carries credentials.
_CREDENTIALS_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*@", re.IGNORECASE)
R_REPOSITORY_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%+/-]*)?$")


# The defaults are the plain values' (settings.py), defined there once.
_CHECK, _HUB, _DEFAULT = values.CheckSettings(), values.HubSettings(), values.Settings()


class StrictModel(BaseModel):
    """Unknown keys are mistakes (a typo silently ignored is worse than an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CheckModel(StrictModel):
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


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
# Traits whose names say they hold a secret: refused in the file, taken from [hub.authenticator.secrets].
_SECRET_WORDS = ("secret", "password", "token", "private_key")


class SecretSourceModel(StrictModel):
    """Where `nbship hub up` reads one of the authenticator's secrets: a variable or a file."""

    env: str | None = None
    file: str | None = None  # ~ is expanded; a relative path is the project folder's

    @field_validator("env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(f"'{value}' is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretSourceModel:
        if (self.env is None) == (self.file is None):
            raise ValueError('give exactly one of env = "VARIABLE" or file = "PATH"')
        return self


class AuthenticatorModel(BaseModel):
    """`[hub.authenticator]`: a JupyterHub authenticator class and its traits (any other key)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    class_name: str = Field(alias="class")
    secrets: dict[str, SecretSourceModel] = Field(default_factory=dict)

    @field_validator("class_name")
    @classmethod
    def _importable(cls, value: str) -> str:
        if not _CLASS_NAME.match(value):
            raise ValueError("expected an importable class such as 'oauthenticator.github.GitHubOAuthenticator'")
        return value

    @model_validator(mode="after")
    def _traits(self) -> AuthenticatorModel:
        for key in (*self.traits, *self.secrets):
            if not _IDENTIFIER.match(key):
                raise ValueError(f"'{key}' is not a trait name (letters, digits and _)")
        for key, value in self.traits.items():
            if any(word in key.lower() for word in _SECRET_WORDS):
                raise ValueError(
                    f"'{key}' holds a secret, which never goes in a settings file: read it from the environment "
                    f'or a file with [hub.authenticator.secrets] {key} = {{ env = "VARIABLE" }} (or file = "PATH")'
                )
            _check_plain(key, value)
        return self

    @property
    def traits(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _check_plain(key: str, value: Any) -> None:
    """Trait values travel to the hub as JSON: TOML's dates and times do not."""
    if isinstance(value, dict):
        for inner, item in value.items():
            _check_plain(f"{key}.{inner}", item)
    elif isinstance(value, list):
        for item in value:
            _check_plain(key, item)
    elif not isinstance(value, str | int | float | bool):
        raise ValueError(f"'{key}' is a {type(value).__name__}; give it as a string")


class HubModel(StrictModel):
    """`[hub]`: `nbship hub up`'s users, address, idle culling and authenticator."""

    users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    port: int | None = Field(default=None, ge=1, le=65535, strict=True)  # default 8000
    bind: str | None = None  # default: the top-level `bind`
    swarm: bool = Field(default=_HUB.swarm, strict=True)
    idle_timeout: int = Field(default=_HUB.idle_timeout, ge=0, strict=True, alias="idle-timeout")  # seconds; 0: never
    authenticator: AuthenticatorModel | None = None

    @field_validator("bind")
    @classmethod
    def _bind_is_an_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F.:]+", value):
            raise ValueError("expected an IP address such as 127.0.0.1 or 0.0.0.0")
        return value


class SettingsModel(StrictModel):
    # -- the project
    name: str | None = None
    image: str | None = None
    base_image: str | None = Field(default=None, alias="base-image")
    python: str | None = None
    # -- how images are built
    strip: bool = Field(default=_DEFAULT.strip, strict=True)
    installer: Installer = _DEFAULT.installer
    user_id: int = Field(default=_DEFAULT.user_id, ge=1, lt=2**31, strict=True, alias="user-id")
    builder: BuilderChoice = _DEFAULT.builder
    reproducible: bool = Field(default=_DEFAULT.reproducible, strict=True)
    engine: EngineChoice = _DEFAULT.engine
    # -- how containers run
    port: int | None = Field(default=None, ge=1, le=65535, strict=True)  # strict: `port = true` is no port
    bind: str = _DEFAULT.bind
    mount: MountChoice = _DEFAULT.mount
    ready_timeout: float = Field(default=_DEFAULT.ready_timeout, gt=0, alias="ready-timeout")
    memory: int | None = None  # written like docker's --memory ("4g")
    cpus: float | None = None
    gpus: GpuRequest | None = None  # written like docker's --gpus ("all")
    # -- R projects
    r_repository: str | None = Field(default=None, alias="r-repository")
    check: CheckModel = CheckModel()
    hub: HubModel = HubModel()

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _as_value_error(parse_memory, value)
        if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MEMORY:
            raise ValueError('expected an amount such as "4g" or "512m" (a number alone counts bytes, 6m at least)')
        return value

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("expected a number of CPUs such as 2 or 0.5")
        return _as_value_error(parse_cpus, value)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError('expected a string as for docker run --gpus, e.g. "all"')
        return _as_value_error(parse_gpus, value)

    @field_validator("bind")
    @classmethod
    def _bind_is_an_address(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F.:]+", value):
            raise ValueError("expected an IP address such as 127.0.0.1 or 0.0.0.0")
        return value

    @property
    def resources(self) -> Resources:
        return Resources(memory=self.memory, cpus=self.cpus, gpus=self.gpus)

    @field_validator("python")
    @classmethod
    def _python_is_minor_version(cls, value: str | None) -> str | None:
        if value is not None and not PYTHON_VERSION_RE.match(value):
            raise ValueError('expected a Python minor version such as "3.11"')
        return value

    @field_validator("r_repository")
    @classmethod
    def _r_repository_is_a_plain_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _CREDENTIALS_RE.match(value):
            raise ValueError(
                "a repository URL must not carry credentials: they would be kept in the image's R settings"
            )
        if not R_REPOSITORY_RE.match(value):
            raise ValueError(
                "expected the http(s) URL of a CRAN-like repository, such as "
                '"https://packagemanager.posit.co/cran/2024-06-03" (no spaces, quotes or query)'
            )
        return value.rstrip("/")

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        if value is not None and control_character(value):
            raise ValueError("must be one line of plain text, without control characters")
        return value


def _as_value_error(parse: Any, value: Any) -> Any:
    """The shared parsers' UsageError as pydantic's ValueError, so the file and line get named."""
    try:
        return parse(value, what="the value")
    except UsageError as exc:
        raise ValueError(exc.message.removeprefix("the value ")) from None


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


def _validate(data: Any, path: Path, text: str, section: str) -> SettingsModel:
    prefix = f"{section}." if section else ""
    if not isinstance(data, dict):
        raise InputFileError(
            path.name, None, f"[{section}] must be a table", "See the README for the settings nbship reads."
        )
    try:
        return SettingsModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        table = str(first["loc"][0]) if len(first["loc"]) > 1 else ""
        if first["type"] == "extra_forbidden":
            candidates = TABLE_KEYS.get(table, TOP_KEYS)
            close = difflib.get_close_matches(str(first["loc"][-1]), candidates, n=1, cutoff=0.6)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            problem = f"unknown setting '{prefix}{key}'{guess}"
            fix = f"The settings nbship knows are: {known_settings()}."
        else:
            problem = f"setting '{prefix}{key}' is invalid: {first['msg']}"
            fix = "Correct the value and run nbship again."
        raise InputFileError(path.name, _line_of(text, first["loc"], section), problem, fix) from exc


def _line_of(text: str, loc: tuple[int | str, ...], section: str) -> int | None:
    """The line of the deepest key of `loc` that can be found (a key inside a table, such as
    [check] timeout, on its own line; else the table's)."""
    parts = [str(part) for part in loc if isinstance(part, str)]
    for depth in range(len(parts), 0, -1):
        table = ".".join(part for part in (section, *parts[: depth - 1]) if part)
        line = _line_of_key(text, parts[depth - 1], table)
        if line is not None:
            return line
    return None


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in model.model_fields.items())


TOP_KEYS = _keys(SettingsModel)
CHECK_KEYS = _keys(CheckModel)
HUB_KEYS = _keys(HubModel)
# The tables of the settings file, and their models.
TABLES: dict[str, type[BaseModel]] = {"check": CheckModel, "hub": HubModel}
TABLE_KEYS = {"check": CHECK_KEYS, "hub": HUB_KEYS}


def known_settings() -> str:
    tables = "; ".join(f"in a [{name}] table: {', '.join(keys)}" for name, keys in TABLE_KEYS.items())
    return ", ".join(key for key in TOP_KEYS if key not in TABLES) + "; " + tables


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_PARSED = {"memory", "cpus", "gpus"}  # written as docker writes them; their validators read the text


def _env_value(name: str, key: tuple[str, ...], text: str) -> Any:
    """A variable's text as the type its setting holds (TOML has types, the environment has none)."""
    model: type[BaseModel] = TABLES[key[0]] if len(key) > 1 else SettingsModel
    field = next(info for attr, info in model.model_fields.items() if (info.alias or attr) == key[-1])
    kind = field.annotation
    value = text.strip()
    if key[-1] in _PARSED:
        return value
    if kind is bool:
        if value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise UsageError(f"{name}={text!r} is not a yes or no: give true or false (or 1 or 0).")
    if kind in (int, int | None):
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{name}={text!r} is not a whole number.") from None
    return value


def environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings NBSHIP_<OPTION> variables give, as settings-file data (tables nested)."""
    data: dict[str, Any] = {}
    for name, key in values.ENV_NAMES.items():
        if name not in environ or not environ[name].strip():
            continue
        target = data
        for part in key[:-1]:
            target = target.setdefault(part, {})
        target[key[-1]] = _env_value(name, key, environ[name])
    try:
        SettingsModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = values.env_name(tuple(str(part) for part in first["loc"] if isinstance(part, str)))
        raise UsageError(
            f"The environment variable {name}={environ.get(name, '')!r} is invalid: {first['msg']}. "
            "Correct it or unset it (it applies to every project)."
        ) from exc
    return data


def _layered(file_data: Mapping[str, Any], env_data: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**file_data, **{key: value for key, value in env_data.items() if key not in TABLES}}
    for table in TABLES:
        if table in env_data:
            own = file_data.get(table)
            merged[table] = {**(own if isinstance(own, dict) else {}), **env_data[table]}
    return merged


def validated(found: values.SettingsFile | None, env_data: Mapping[str, Any]) -> values.Settings:
    """The settings of `found` (None: no file) under the variables' `env_data`, checked."""
    if found is None:
        return as_value(SettingsModel.model_validate(env_data))
    model = _validate(found.data, found.path, found.text, found.section)  # the file's own errors name its lines
    if env_data:
        model = SettingsModel.model_validate(_layered(found.data, env_data))
    return as_value(model)


# Each model and the plain value it becomes: the same fields, by name.
VALUES: dict[type[BaseModel], type[Any]] = {
    CheckModel: values.CheckSettings,
    SecretSourceModel: values.SecretSource,
    AuthenticatorModel: values.AuthenticatorSettings,
    HubModel: values.HubSettings,
    SettingsModel: values.Settings,
}


def _plain(item: Any) -> Any:
    kind = VALUES.get(type(item))
    if kind is not None:
        return kind(**{f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(kind)})
    if isinstance(item, dict):
        return {key: _plain(value) for key, value in item.items()}
    return item


def as_value(model: SettingsModel) -> values.Settings:
    settings: values.Settings = _plain(model)
    return settings
