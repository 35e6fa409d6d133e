"""The options of nbship's commands, as frozen values: the CLI fills them, the API takes them.

Each is decided once, at the command line (or by a Python caller), and passed down unchanged. An
option left at None was not given: its value comes from the settings (settings.load_settings
layers NBSHIP_<OPTION> variables over nbship.toml over nbship's defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nbship.resources import Resources

Installer = Literal["uv", "pip"]
BuilderChoice = Literal["auto", "buildkit", "classic"]
MountChoice = Literal["volume", "host", "none"]
EngineChoice = Literal["auto", "docker", "podman"]  # auto: Docker when it answers, else Podman
Env = tuple[tuple[str, str], ...]  # environment variables for a container, in order (nbship.envvars)
Platform = Literal["linux-64", "linux-aarch64"]
PLATFORMS: tuple[Platform, ...] = ("linux-64", "linux-aarch64")
DEFAULT_PLATFORM: Platform = "linux-64"


@dataclass(frozen=True)
class ImageOptions:
    """What changes the Dockerfile (so `nbship dockerfile` and `nbship init` take only these)."""

    base_image: str | None = None  # None: the `base-image` setting, else python:X.Y-slim
    user_id: int | None = None  # None: the `user-id` setting (default 1000)
    installer: Installer | None = None  # None: the `installer` setting (default uv)
    strip: bool | None = None  # None: the `strip` setting (default on); False keeps everything


@dataclass(frozen=True)
class BuildOptions:
    """How `build` (and every command that builds when needed) builds the image."""

    image: ImageOptions = field(default_factory=ImageOptions)
    tag: str | None = None
    builder: BuilderChoice | None = None  # None: the `builder` setting (default auto)
    ca_bundle: Path | None = None  # trusted during the build only (a BuildKit secret)
    channel_auth: Path | None = None  # conda channel credentials (rattler's JSON format), a build secret only
    no_cache: bool = False
    rebuild: bool = False  # build even when no input changed
    reproducible: bool | None = None  # the same commit, the same image id anywhere; None: the setting


@dataclass(frozen=True)
class LockOptions:
    platforms: tuple[Platform, ...] = (DEFAULT_PLATFORM,)
    exclude_newer: str | None = None  # a date or ISO time: solve as if nothing newer had been published
    update: bool = False  # solve again even when the lock is current, taking the newest allowed versions
    channel_auth: Path | None = None  # conda channel credentials, rattler's JSON format


@dataclass(frozen=True)
class UpOptions:
    image: str | None = None  # run this image as given instead of building the project
    port: int | None = None
    token: str | None = None
    bind: str | None = None  # None: the `bind` setting (default 127.0.0.1)
    mount: MountChoice | None = None  # None: the `mount` setting (default volume)
    volume: str | None = None  # an existing named volume to use instead of the project's own
    ready_timeout: float | None = None  # None: the `ready-timeout` setting (default 180 s)
    env: Env = ()
    resources: Resources = field(default_factory=Resources)  # each limit not given: the settings'


@dataclass(frozen=True)
class RunOptions:
    """`nbship run`: a command in a new container of the image, in the work folder."""

    command: tuple[str, ...] = ()
    image: str | None = None  # run in this image as given instead of building the project
    mount: MountChoice | None = None  # None: the `mount` setting (default volume)
    volume: str | None = None
    env: Env = ()
    resources: Resources = field(default_factory=Resources)
    stdin: bool = False  # attach nbship's standard input (-i; on by itself on a terminal)
    tty: bool = False  # a terminal for the command (when nbship's own input and output are one)


@dataclass(frozen=True)
class CheckOptions:
    image: str | None = None  # check this image as it is: its own notebooks and settings
    notebooks: tuple[str, ...] = ()  # only these, in this order (default: [check] notebooks, else all)
    timeout: int | None = None  # seconds per cell (default: [check] timeout, else 600)
    network: bool = False
    compare: bool = False
    tolerance: float | None = None  # numbers in compared text may differ by this much (implies compare)
    output_dir: Path | None = None  # keep the executed notebooks here
    html_dir: Path | None = None  # write a report to open in a browser here (index.html)
    env: Env = ()
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class ComposeOptions:
    image: str | None = None  # the image the file runs (default: the project's, built when needed)
    port: int | None = None
    token: str | None = None
    force: bool = False  # replace a compose.yaml nbship did not write


@dataclass(frozen=True)
class HubOptions:
    """`nbship hub up`: JupyterHub serving the project's image to many users."""

    image: str | None = None  # serve this image as given (made hub-ready) instead of building the project
    port: int | None = None  # None: the [hub] port setting, else 8000
    bind: str | None = None  # None: the [hub] bind setting, else the `bind` setting (127.0.0.1)
    users: tuple[str, ...] = ()  # None given: the [hub] users setting, else the users of the last `hub up`
    admins: tuple[str, ...] = ()
    swarm: bool | None = None  # None: the [hub] swarm setting (default off)
    idle_timeout: int | None = None  # seconds; None: the [hub] idle-timeout setting (default 3600); 0: never
    new_passwords: bool = False  # a new password for every user named, not only for new users
    ready_timeout: float | None = None  # None: the `ready-timeout` setting (default 180 s)
    env: Env = ()  # for each user's server
    resources: Resources = field(default_factory=Resources)  # each user's server's limits (memory, CPUs)
