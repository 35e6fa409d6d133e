"""Podman's JSON and options in nbship's terms: what `podman ... inspect` says as nbship's engine
types, and the `podman run` options for a container spec. Nothing here runs a process, so all of
it is unit-tested."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nbship.engine.base import ContainerInfo, ContainerSpec, ImageInfo, Mount, VolumeInfo
from nbship.errors import RunError, UsageError
from nbship.references import split_reference
from nbship.resources import GpuRequest, Resources

KEEP_ID_MAPPING = (4, 3)  # --userns=keep-id:uid=U,gid=G
GPU_DEVICE = "nvidia.com/gpu"  # the CDI name NVIDIA's toolkit gives GPUs (`nvidia-ctk cdi generate`)
_LOOPBACK = ("127.", "localhost", "[::1]")


def version_tuple(text: str) -> tuple[int, int]:
    parts = text.split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)


MIN_VERSION = (4, 0)
INSTALL_HINT = (
    "Install Podman 4 or later (Debian/Ubuntu: `sudo apt install podman`, Fedora/RHEL: `sudo dnf install "
    "podman`), or use Docker with --engine docker."
)


def version_refusal(version: str, program: str, why: str = "") -> str | None:
    """The one-paragraph refusal of a Podman older than nbship needs, naming the program found
    (`why`: how it was chosen); None when it is recent enough."""
    if version_tuple(version) >= MIN_VERSION:
        return None
    return (
        f"Podman {version}{why} is too old: nbship needs Podman {MIN_VERSION[0]}.{MIN_VERSION[1]} or later "
        f"(found {program}). {INSTALL_HINT}"
    )


def _env(items: Any) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in items or [] if "=" in str(item))


def familiar_name(reference: str) -> str:
    """A name as Docker shows it: Podman's `localhost/` (its own builds) and Docker Hub's prefixes
    dropped, so names compare the same on both engines."""
    for prefix in ("localhost/", "docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def image_info(data: Mapping[str, Any]) -> ImageInfo:
    """An ImageInfo from one entry of `podman image inspect`."""
    config = data.get("Config") or {}
    return ImageInfo(
        id=str(data.get("Id") or ""),
        tags=tuple(familiar_name(str(tag)) for tag in data.get("RepoTags") or ()),
        labels=dict(config.get("Labels") or data.get("Labels") or {}),
        size=int(data.get("Size") or 0),
        env=_env(config.get("Env")),
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or data.get("User") or ""),
        architecture=str(data.get("Architecture") or ""),
        entrypoint=tuple(str(word) for word in config.get("Entrypoint") or ()),
        cmd=tuple(str(word) for word in config.get("Cmd") or ()),
    )


def container_info(data: Mapping[str, Any]) -> ContainerInfo:
    """A ContainerInfo from one entry of `podman container inspect`."""
    config = data.get("Config") or {}
    state = data.get("State") or {}
    status = str(state.get("Status") or "")
    host = data.get("HostConfig") or {}
    devices = [str(item.get("PathOnHost") or item) for item in host.get("Devices") or []]
    resources = Resources(
        memory=int(host["Memory"]) if host.get("Memory") else None,
        cpus=int(host["NanoCpus"]) / 1e9 if host.get("NanoCpus") else None,
        gpus=GpuRequest(text="(set)") if any(GPU_DEVICE in device for device in devices) else None,
    )
    return ContainerInfo(
        id=str(data.get("Id") or ""),
        name=str(data.get("Name") or "").lstrip("/"),
        image=str(data.get("ImageName") or config.get("Image") or ""),
        image_id=str(data.get("Image") or ""),
        labels=dict(config.get("Labels") or {}),
        # Podman says "configured" where Docker says "created"; callers know Docker's words.
        status="created" if status == "configured" else status,
        env=_env(config.get("Env")),
        exit_code=int(state["ExitCode"]) if state.get("ExitCode") is not None else None,
        resources=resources,
    )


def volume_info(data: Mapping[str, Any]) -> VolumeInfo:
    return VolumeInfo(
        name=str(data.get("Name") or ""),
        labels=dict(data.get("Labels") or {}),
        created=str(data.get("CreatedAt") or ""),
    )


def mount_arg(mount: Mount, *, relabel: bool = False) -> str:
    """One --mount value. Podman splits it on commas with no quoting, so a comma is refused."""
    if mount.kind == "anonymous":
        return f"type=volume,target={mount.target}"
    if "," in mount.source or "," in mount.target:
        raise UsageError(
            f"Podman cannot mount {mount.source or mount.target}: its --mount option does not allow a comma in a "
            "path. Rename the folder, or use a named volume (the default --mount volume)."
        )
    kind = "bind" if mount.kind == "bind" else "volume"
    # On SELinux hosts a bind-mounted folder must be labelled for containers to read it (":z").
    extra = ",relabel=shared" if relabel and mount.kind == "bind" else ""
    return f"type={kind},source={mount.source},target={mount.target}{extra}"


def user_args(spec: ContainerSpec, image_user: str, *, rootless: bool, version: tuple[int, int]) -> list[str]:
    """How a container runs so that its files on bind mounts belong to `spec.host_user`."""
    host = spec.host_user
    if host is None:
        return []
    if not rootless:
        return ["--user", f"{host.uid}:{host.gid}"]
    uid, _, gid = image_user.partition(":")
    if version >= KEEP_ID_MAPPING and uid.isdigit() and (not gid or gid.isdigit()) and uid != "0":
        # The image's own user becomes the host user: HOME and the environment stay the image's.
        return [f"--userns=keep-id:uid={uid},gid={gid or uid}"]
    return ["--userns=keep-id", "--user", f"{host.uid}:{host.gid}"]


def docker_hub_name(reference: str) -> str:
    """The reference as Docker reads it: a name without a registry is on Docker Hub."""
    if split_reference(reference).domain:
        return reference
    name = reference.split("@", 1)[0].split(":", 1)[0]
    return f"docker.io/{reference}" if "/" in name else f"docker.io/library/{reference}"


def loopback_registry(reference: str) -> bool:
    domain = split_reference(reference).domain or ""
    return domain.startswith(_LOOPBACK)


def push_events(lines: Sequence[str]) -> Iterator[dict[str, Any]]:
    """`podman push` output as Docker's progress events. Podman does not say which layers the
    registry had already (it prints the same line either way), so every layer counts as pushed."""
    for line in lines:
        if line.startswith("Copying blob "):
            blob = line.removeprefix("Copying blob ").split()[0].removeprefix("sha256:")
            status = "Layer already exists" if "skipped: already exists" in line else "Pushed"
            yield {"id": blob[:12], "status": status}


def resource_args(resources: Resources, *, rootless: bool, cgroups: str) -> list[str]:
    """`podman run` options for the limits; a limit Podman would ignore here is refused instead."""
    args: list[str] = []
    if resources.memory is not None or resources.cpus is not None:
        if rootless and cgroups == "v1":
            raise RunError(
                "Rootless Podman cannot limit memory or CPUs on this machine: it uses cgroup v1, where Podman "
                "ignores the limits without failing. Run without --memory and --cpus (or the settings), or use a "
                "machine booted with cgroup v2 (systemd.unified_cgroup_hierarchy=1)."
            )
        if resources.memory is not None:
            args += ["--memory", str(resources.memory)]
        if resources.cpus is not None:
            args += ["--cpus", f"{resources.cpus:g}"]
    if resources.gpus is not None:
        gpus = resources.gpus
        names = list(gpus.device_ids) or ([str(i) for i in range(gpus.count)] if gpus.count > 0 else ["all"])
        for name in names:
            args += ["--device", f"{GPU_DEVICE}={name}"]
    return args


def gpu_error(answer: str) -> RunError:
    """Podman's answer to GPU devices it does not know, as a message that says what to do."""
    return RunError(
        f"Podman here has no GPUs to give a container, so --gpus (or the `gpus` setting) cannot be met ({answer}). "
        "Podman reaches NVIDIA GPUs as CDI devices: install the NVIDIA Container Toolkit and run "
        "`sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`, or run without --gpus."
    )


_SIZE = re.compile(r"^([\d.]+)([kMGTP]?B)$")
_UNIT = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "PB": 1000**5}


def unique_sizes(table: str, full_ids: Sequence[str]) -> dict[str, int]:
    """Each image's bytes no other image shares, from `podman system df --verbose` (whose JSON
    output Podman 4 does not have): the table's IMAGE ID and UNIQUE SIZE columns, sizes in
    decimal units as Podman prints them, ids made full again from `full_ids`."""
    sizes: dict[str, int] = {}
    header: list[str] | None = None
    for line in table.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if "IMAGE ID" in cells and "UNIQUE SIZE" in cells:
            header = cells
            continue
        if header is None or len(cells) != len(header):
            header = None if not line.strip() else header
            continue
        row = dict(zip(header, cells, strict=True))
        match = _SIZE.match(row["UNIQUE SIZE"].replace(" ", ""))
        short = row["IMAGE ID"]
        full = next((item for item in full_ids if item.startswith(short)), None)
        if match and full:
            sizes[full] = int(float(match.group(1)) * _UNIT[match.group(2)])
    return sizes
