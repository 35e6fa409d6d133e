"""nbship's settings: `nbship.toml` at the project root, or `[tool.nbship]` in pyproject.toml, and
`NBSHIP_<OPTION>` environment variables.

Where an option's value comes from, first match wins: the command line (or the caller of the Python
API: an option that is not None), then the environment variable, then the settings file, then
nbship's default. `load_settings` is the one place that layers the last three into one `Settings`;
each command then takes a value given on its command line over the setting.

The values are plain frozen dataclasses, and their defaults are defined here, once. The schema that
checks a settings file or a variable (settings_model.py, pydantic) is imported only when there is
one to check: most projects have neither, and every command that reads a project would otherwise
pay for pydantic before doing anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbship import contract as c
from nbship.options import BuilderChoice, EngineChoice, Installer, MountChoice
from nbship.project.text import load_toml
from nbship.resources import GpuRequest, Resources


@dataclass(frozen=True)
class CheckSettings:
    """`[check]`: which notebooks `nbship check` runs, in which order, and their cell timeout."""

    notebooks: tuple[str, ...] | None = None  # paths relative to the project folder; None: all
    timeout: int | None = None  # seconds per cell


@dataclass(frozen=True)
class SecretSource:
    """Where `nbship hub up` reads one of the authenticator's secrets: a variable or a file."""

    env: str | None = None
    file: str | None = None  # ~ is expanded; a relative path is the project folder's


@dataclass(frozen=True)
class AuthenticatorSettings:
    """`[hub.authenticator]`: a JupyterHub authenticator class and its traits (any other key)."""

    class_name: str
    secrets: Mapping[str, SecretSource] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HubSettings:
    """`[hub]`: `nbship hub up`'s users, address, idle culling and authenticator."""

    users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    port: int | None = None  # default 8000
    bind: str | None = None  # default: the top-level `bind`
    swarm: bool = False
    idle_timeout: int = 3600  # seconds; 0: never
    authenticator: AuthenticatorSettings | None = None


@dataclass(frozen=True)
class Settings:
    # -- the project
    name: str | None = None
    image: str | None = None
    base_image: str | None = None
    python: str | None = None
    # -- how images are built
    strip: bool = True  # false: the environment reaches the image untrimmed
    installer: Installer = "uv"
    user_id: int = c.DEFAULT_UID
    builder: BuilderChoice = "auto"
    # true: nbship build --reproducible by default (the same commit gives the same image id anywhere)
    reproducible: bool = False
    # The container engine (--engine comes first): auto is Docker when it answers, else Podman.
    engine: EngineChoice = "auto"
    # -- how containers run
    port: int | None = None
    bind: str = c.LOOPBACK
    mount: MountChoice = "volume"
    ready_timeout: float = 180.0  # seconds until JupyterLab answers
    memory: int | None = None  # bytes; written like docker's --memory ("4g")
    cpus: float | None = None
    gpus: GpuRequest | None = None  # written like docker's --gpus ("all")
    # -- R projects
    # Where R packages come from (install.R, DESCRIPTION); None: a dated CRAN snapshot, else CRAN.
    r_repository: str | None = None
    check: CheckSettings = CheckSettings()
    hub: HubSettings = HubSettings()

    @property
    def resources(self) -> Resources:
        return Resources(memory=self.memory, cpus=self.cpus, gpus=self.gpus)


# The settings a user sets for every project (NBSHIP_<KEY>, '-' as '_'); the project's own identity
# (name, image, python, [check] notebooks) is the project's, so it has none.
ENV_PREFIX = "NBSHIP_"
ENV_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("base-image",),
    ("strip",),
    ("installer",),
    ("user-id",),
    ("builder",),
    ("reproducible",),
    ("engine",),
    ("port",),
    ("bind",),
    ("mount",),
    ("ready-timeout",),
    ("memory",),
    ("cpus",),
    ("gpus",),
    ("check", "timeout"),
    ("hub", "port"),
    ("hub", "bind"),
    ("hub", "swarm"),
    ("hub", "idle-timeout"),
)


def env_name(key: tuple[str, ...]) -> str:
    return ENV_PREFIX + "_".join(key).upper().replace("-", "_")


ENV_NAMES = {env_name(key): key for key in ENV_SETTINGS}


@dataclass(frozen=True)
class SettingsFile:
    """A settings file's data, the file, its text (for line numbers) and the section the settings are in."""

    data: Any  # a table when it is well formed; the schema says so when it is not
    path: Path
    text: str
    section: str  # "" for nbship.toml, "tool.nbship" in pyproject.toml


def settings_file(root: Path) -> SettingsFile | None:
    own = root / "nbship.toml"
    if own.is_file():
        data, text = load_toml(own, own.name)
        return SettingsFile(data, own, text, "")
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data, text = load_toml(pyproject, pyproject.name)
        tool = data.get("tool")
        section = tool.get("nbship") if isinstance(tool, dict) else None
        if section is not None:
            return SettingsFile(section, pyproject, text, "tool.nbship")
    return None


def variables_given(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in ENV_NAMES)


def load_settings(root: Path | None, environ: Mapping[str, str] | None = None) -> tuple[Settings, Path | None]:
    """The settings in effect for the project at `root` (None: no project folder), and the file they
    came from (None: none). NBSHIP_<OPTION> variables of `environ` (default: this process's
    environment) take precedence over the file; both over the defaults."""
    environ = os.environ if environ is None else environ
    layer: dict[str, Any] = {}
    if variables_given(environ):
        from nbship.settings_model import environment_layer

        layer = environment_layer(environ)  # before the file, as the variables' errors come first
    found = settings_file(root) if root is not None else None
    if found is None and not layer:
        return Settings(), None
    from nbship.settings_model import validated

    return validated(found, layer), found.path if found is not None else None
