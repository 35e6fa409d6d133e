"""The docker SDK's objects as the engine seam's values, and the SDK's keyword arguments made from
the seam's specs: what DockerEngine (docker.py) translates, kept apart from how it talks to the daemon."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbship import contract as c
from nbship.engine.base import ContainerInfo, ContainerSpec, ImageInfo, Mount, NetworkInfo, VolumeInfo
from nbship.engine.docker_api import container_info as api_container_info
from nbship.engine.docker_api import image_info as api_image_info
from nbship.engine.docker_api import volume_info as api_volume_info
from nbship.errors import DockerCommandError, RunError, UsageError
from nbship.resources import GpuRequest, Resources

if TYPE_CHECKING:  # the SDK is imported by the calls that use it (docker.py's sdk), never for a light one
    import docker.types
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


def sdk_mount(mount: Mount) -> docker.types.Mount:
    import docker.types

    if mount.kind == "bind":
        return docker.types.Mount(mount.target, mount.source, type="bind")
    # An empty source makes an anonymous volume, which goes with its container (remove v=True).
    return docker.types.Mount(mount.target, mount.source or None, type="volume")


def sdk_create_kwargs(spec: ContainerSpec, *, user: str | None) -> dict[str, Any]:
    """docker-py's keyword arguments for creating `spec` (the SDK path; docker_create.py is the light one's JSON)."""
    return {
        "command": list(spec.command) if spec.command is not None else None,
        "name": spec.name,
        "labels": dict(spec.labels),
        "environment": dict(spec.env),
        "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports} or None,
        "mounts": [sdk_mount(mount) for mount in spec.mounts] or None,
        "user": user,
        "network_mode": None if spec.network else "none",
        "security_opt": [c.NO_NEW_PRIVILEGES] if spec.no_new_privileges else None,
        "working_dir": spec.workdir,
        "network": spec.network_name,
        **resource_kwargs(spec.resources),
    }


def device_request(gpus: GpuRequest) -> docker.types.DeviceRequest:
    import docker.types

    return docker.types.DeviceRequest(
        driver=gpus.driver,
        count=gpus.count,
        device_ids=list(gpus.device_ids) or None,
        capabilities=[list(gpus.capabilities)],
    )


def resource_kwargs(resources: Resources) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if resources.memory is not None:
        kwargs["mem_limit"] = resources.memory
    if resources.cpus is not None:
        kwargs["nano_cpus"] = round(resources.cpus * 1e9)
    if resources.gpus is not None:
        kwargs["device_requests"] = [device_request(resources.gpus)]
    return kwargs


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
