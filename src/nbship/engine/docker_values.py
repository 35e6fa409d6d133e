"""The docker SDK's objects as the engine seam's values, and the engine's answers as nbship's errors:
what DockerEngine (docker.py) translates, kept apart from how it talks to the daemon."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nbship.engine.base import ContainerInfo, ImageInfo, NetworkInfo, VolumeInfo
from nbship.engine.docker_api import container_info as api_container_info
from nbship.engine.docker_api import image_info as api_image_info
from nbship.engine.docker_api import volume_info as api_volume_info
from nbship.errors import DockerCommandError, RunError, UsageError

if TYPE_CHECKING:  # the SDK is imported by the calls that use it (docker.py's sdk), never for a light one
    from docker.models.containers import Container
    from docker.models.images import Image
    from docker.models.networks import Network
    from docker.models.volumes import Volume


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def image_info(image: Image) -> ImageInfo:
    return api_image_info(image.attrs)


def container_info(container: Container) -> ContainerInfo:
    return api_container_info(container.attrs)


def volume_info(volume: Volume) -> VolumeInfo:
    return api_volume_info(volume.attrs)


NO_GPU_DRIVER = "could not select device driver"


def gpu_error(answer: str) -> RunError:
    """Docker's answer to --gpus on an engine without GPU support, as a message that says so."""
    return RunError(
        f"This Docker engine has no GPU support, so --gpus (or the `gpus` setting) cannot be met ({answer}). "
        "GPUs reach containers through the NVIDIA Container Toolkit on the machine that runs the engine: "
        "install it there and restart Docker, or run without --gpus."
    )


def refused_gpus(exc: DockerCommandError) -> bool:
    return NO_GPU_DRIVER in f"{exc.message} {exc.output}"


def network_info(network: Network) -> NetworkInfo:
    attrs = network.attrs
    return NetworkInfo(
        name=str(network.name), driver=str(attrs.get("Driver") or ""), labels=dict(attrs.get("Labels") or {})
    )


@contextlib.contextmanager
def env_file(env: Mapping[str, str]) -> Iterator[list[str]]:
    """`--env-file` arguments for the CLI: the values in a file only this user can read, never on a
    command line (which every user of the machine can see)."""
    if not env:
        yield []
        return
    for name, value in env.items():
        if "\n" in value or "\r" in value:
            raise UsageError(
                f"The value of {name} spans lines, which `docker exec` cannot take: run the command in a new "
                "container instead (stop the server first, or use `nbship run`)."
            )
    with tempfile.TemporaryDirectory(prefix="nbship-env-") as folder:
        path = Path(folder) / "env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in env.items())
        yield ["--env-file", str(path)]
