"""The docker SDK's objects as the engine seam's values, and the SDK's keyword arguments made from
the seam's specs: what DockerEngine (docker.py) translates, kept apart from how it talks to the daemon."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker.types
from docker.models.containers import Container
from docker.models.images import Image
from docker.models.networks import Network
from docker.models.volumes import Volume

from nbship.engine.base import ContainerInfo, ImageInfo, Mount, NetworkInfo, VolumeInfo
from nbship.errors import DockerCommandError, RunError, UsageError
from nbship.resources import GpuRequest, Resources

# Engine API 1.40 is Docker 19.03, the oldest release with BuildKit's secrets and cache mounts.
MIN_API = (1, 40)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def env_pairs(items: Any) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in items or [] if "=" in str(item))


def image_info(image: Image) -> ImageInfo:
    config = image.attrs.get("Config") or {}
    return ImageInfo(
        id=str(image.id),
        tags=tuple(image.tags),
        labels=dict(config.get("Labels") or {}),
        size=int(image.attrs.get("Size") or 0),
        env=env_pairs(config.get("Env")),
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        architecture=str(image.attrs.get("Architecture") or ""),
        entrypoint=tuple(str(word) for word in config.get("Entrypoint") or ()),
        cmd=tuple(str(word) for word in config.get("Cmd") or ()),
        repo_digests=tuple(str(digest) for digest in image.attrs.get("RepoDigests") or ()),
    )


def container_info(container: Container) -> ContainerInfo:
    attrs = container.attrs
    config = attrs.get("Config") or {}
    code = (attrs.get("State") or {}).get("ExitCode")
    host = attrs.get("HostConfig") or {}
    requests = host.get("DeviceRequests") or []
    resources = Resources(
        memory=int(host["Memory"]) if host.get("Memory") else None,
        cpus=int(host["NanoCpus"]) / 1e9 if host.get("NanoCpus") else None,
        gpus=GpuRequest(count=int(requests[0].get("Count") or 0), text="(set)") if requests else None,
    )
    return ContainerInfo(
        id=str(container.id),
        name=str(container.name),
        image=str(config.get("Image") or ""),
        image_id=str(attrs.get("Image") or ""),
        labels=dict(config.get("Labels") or container.labels or {}),
        status=str(container.status),
        env=env_pairs(config.get("Env")),
        exit_code=int(code) if code is not None else None,
        resources=resources,
    )


def volume_info(volume: Volume) -> VolumeInfo:
    return VolumeInfo(
        name=str(volume.name),
        labels=dict(volume.attrs.get("Labels") or {}),
        created=str(volume.attrs.get("CreatedAt") or ""),
    )


def sdk_mount(mount: Mount) -> docker.types.Mount:
    if mount.kind == "bind":
        return docker.types.Mount(mount.target, mount.source, type="bind")
    # An empty source makes an anonymous volume, which goes with its container (remove v=True).
    return docker.types.Mount(mount.target, mount.source or None, type="volume")


def device_request(gpus: GpuRequest) -> docker.types.DeviceRequest:
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


def api_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (0, 0)


def api_refusal(server: str, where: str) -> str | None:
    """The one-paragraph refusal of a daemon whose Engine API is older than nbship needs; None when new enough."""
    if api_version(server) >= MIN_API:
        return None
    return (
        f"The Docker daemon at {where} speaks Engine API {server}; nbship needs {MIN_API[0]}.{MIN_API[1]} or "
        "later (Docker 19.03 or later). Upgrade Docker, or use Podman with --engine podman."
    )


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
