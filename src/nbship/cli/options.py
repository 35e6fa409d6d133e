"""The options several commands share, as click decorators, and the option values they make.

`image_options` are what changes the Dockerfile (`dockerfile` and `init` take only these);
`build_options` are those plus how a build runs, for every command that builds when needed;
`container_options` are what every container nbship starts for the user takes (environment
variables and resource limits, as `docker run` spells them). An option that is not given is None:
then NBSHIP_<OPTION>, the settings file, or nbship's default decide (nbship.settings).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nbship import contract as c
from nbship.options import BuildOptions, Env, ImageOptions
from nbship.resources import Resources, parse_cpus, parse_gpus, parse_memory

if TYPE_CHECKING:
    from nbship.sources.refs import ProjectPath

F = TypeVar("F", bound=Callable[..., Any])


class ProjectParam(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """PATH: a project folder, or a link to one (a git URL with an optional @ref, a DOI, a Zenodo,
    Figshare or Dataverse record, an archive URL or a local archive file)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> ProjectPath:
        # Here, not at the top: the link parser's patterns are start-up that a no-change build does not need.
        from nbship.sources.refs import SourceRef, is_archive_name, parse_reference

        if isinstance(value, Path | SourceRef):
            return value
        text = str(value)
        # Errors here are nbship's (UsageError), shown as one paragraph by the group like any other.
        reference = parse_reference(text)
        if reference is not None:
            return reference
        path = Path(text)
        if is_archive_name(text) and path.is_file():
            return SourceRef("archive", path.resolve().as_uri())
        return path


PROJECT = ProjectParam()
project_arg = click.argument("path", type=PROJECT, default=".", required=False)
optional_path_arg = click.argument("path", type=PROJECT, required=False)

_IMAGE = [
    click.option("--base-image", help="Base image (default: python:X.Y-slim for the project's Python)."),
    click.option(
        "--user-id", type=int, help=f"Uid of the notebook user (default {c.DEFAULT_UID}, or `user-id` in the settings)."
    ),
    click.option(
        "--installer",
        type=click.Choice(["uv", "pip"]),
        help="Installs packages with uv (faster; the default) or pip.",
    ),
    click.option(
        "--strip/--no-strip",
        default=None,
        help="Leave test suites, build tools, C sources and most bytecode out of the image "
        "(default: on, or `strip` in the settings).",
    ),
]
_CHANNEL_AUTH = click.option(
    "--channel-auth",
    type=click.Path(path_type=Path, dir_okay=False),
    help="conda channel credentials (rattler's JSON; default $RATTLER_AUTH_FILE), a build secret only.",
)
_BUILD = [
    click.option("-t", "--tag", help="Image name (default: from the project's name)."),
    click.option(
        "--builder",
        type=click.Choice(["auto", "buildkit", "classic"]),
        help="auto (the default): BuildKit when available, else the classic builder.",
    ),
    click.option(
        "--ca-bundle",
        type=click.Path(path_type=Path, dir_okay=False),
        help="CA bundle (PEM) trusted during the build only, e.g. for a TLS-intercepting proxy.",
    ),
    _CHANNEL_AUTH,
    click.option("--no-cache", is_flag=True, help="Build every layer anew."),
    click.option("--rebuild", is_flag=True, help="Build even when nothing changed since the last build."),
    click.option(
        "--reproducible/--no-reproducible",
        default=None,
        help="The same commit gives the same image id on any machine (times from SOURCE_DATE_EPOCH or the "
        "last commit; default: `reproducible` in the settings).",
    ),
]


_CONTAINER = [
    click.option(
        "-e",
        "--env",
        "env",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable in the container (NAME alone: your own NAME); repeatable.",
    ),
    click.option(
        "--env-file",
        "env_files",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Read NAME=VALUE lines from this file, as docker run does; repeatable, -e wins.",
    ),
    click.option("--memory", metavar="SIZE", help="Memory the container may use, e.g. 4g (setting `memory`)."),
    click.option("--cpus", metavar="N", help="CPUs the container may use, e.g. 1.5 (setting `cpus`)."),
    click.option("--gpus", metavar="GPUS", help="GPUs for the container, as docker run takes them: all, 2, device=0."),
]


def _apply(fn: F, decorators: Sequence[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def image_options(fn: F) -> F:
    return _apply(fn, _IMAGE)


def channel_auth_option(fn: F) -> F:
    return _CHANNEL_AUTH(fn)


def build_options(fn: F) -> F:
    return _apply(fn, [*_IMAGE, *_BUILD])


_WORK_FOLDER = [
    click.option(
        "--mount",
        type=click.Choice(["volume", "host", "none"]),
        help="The work folder: the project's named volume (the default, or `mount` in the settings), the "
        "project folder itself (host), or a throwaway one (none).",
    ),
    click.option("--volume", "volume_name", help="Use this existing named volume for the work folder."),
]


def work_folder_options(fn: F) -> F:
    return _apply(fn, _WORK_FOLDER)


def container_options(fn: F) -> F:
    return _apply(fn, _CONTAINER)


def env_from(kwargs: dict[str, Any]) -> Env:
    """Takes -e and --env-file out of a command's keyword arguments: files first, then -e."""
    from nbship import envvars

    return envvars.collect(kwargs.pop("env"), kwargs.pop("env_files"), environ=os.environ)


def resources_from(kwargs: dict[str, Any]) -> Resources:
    """Takes --memory, --cpus and --gpus out of a command's keyword arguments."""
    memory, cpus, gpus = kwargs.pop("memory"), kwargs.pop("cpus"), kwargs.pop("gpus")
    return Resources(
        memory=parse_memory(memory) if memory is not None else None,
        cpus=parse_cpus(cpus) if cpus is not None else None,
        gpus=parse_gpus(gpus) if gpus is not None else None,
    )


def image_options_from(kwargs: dict[str, Any]) -> ImageOptions:
    """Takes the image options out of a command's keyword arguments."""
    return ImageOptions(
        base_image=kwargs.pop("base_image"),
        user_id=kwargs.pop("user_id"),
        installer=kwargs.pop("installer"),
        strip=kwargs.pop("strip"),
    )


def build_options_from(kwargs: dict[str, Any]) -> BuildOptions:
    """Takes the build options out of a command's keyword arguments."""
    return BuildOptions(
        image=image_options_from(kwargs),
        tag=kwargs.pop("tag"),
        builder=kwargs.pop("builder"),
        ca_bundle=kwargs.pop("ca_bundle"),
        channel_auth=kwargs.pop("channel_auth"),
        no_cache=kwargs.pop("no_cache"),
        rebuild=kwargs.pop("rebuild"),
        reproducible=kwargs.pop("reproducible"),
    )
