"""Podman's JSON and options in nbship's terms: what `podman ... inspect` says as nbship's engine
types, and the `podman run` options for a container spec. Nothing here runs a process, so all of
it is unit-tested."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nbship.engine.base import ContainerInfo, ContainerSpec, ImageInfo, Mount, VolumeInfo
from nbship.errors import UsageError
from nbship.references import split_reference

KEEP_ID_MAPPING = (4, 3)  # --userns=keep-id:uid=U,gid=G
_LOOPBACK = ("127.", "localhost", "[::1]")


def version_tuple(text: str) -> tuple[int, int]:
    parts = text.split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)


def _env(items: Any) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in items or [] if "=" in str(item))


def image_info(data: Mapping[str, Any]) -> ImageInfo:
    """An ImageInfo from one entry of `podman image inspect`."""
    config = data.get("Config") or {}
    return ImageInfo(
        id=str(data.get("Id") or ""),
        tags=tuple(data.get("RepoTags") or ()),
        labels=dict(config.get("Labels") or data.get("Labels") or {}),
        size=int(data.get("Size") or 0),
        env=_env(config.get("Env")),
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or data.get("User") or ""),
        architecture=str(data.get("Architecture") or ""),
    )


def container_info(data: Mapping[str, Any]) -> ContainerInfo:
    """A ContainerInfo from one entry of `podman container inspect`."""
    config = data.get("Config") or {}
    state = data.get("State") or {}
    status = str(state.get("Status") or "")
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
