"""A container spec as the body of the Engine API's `POST /containers/create`: what nbship sends
for `up`, `run` and the volume helper, through the light client (docker_api) or, on ssh:// hosts,
through docker-py's low-level `create_container_from_config`: one translation for both.

tests/unit/test_docker_create.py checks it against the JSON docker-py itself makes from its
keyword arguments for the same intent, field by field, for the whole range of specs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbship import contract as c

if TYPE_CHECKING:
    from nbship.engine.base import ContainerSpec, Mount
    from nbship.resources import Resources


def mount_json(mount: Mount) -> dict[str, Any]:
    # An empty source makes an anonymous volume, which goes with its container (DELETE v=1).
    source = mount.source if mount.kind == "bind" else mount.source or None
    return {
        "Target": mount.target,
        "Source": source,
        "Type": mount.kind if mount.kind == "bind" else "volume",
        "ReadOnly": False,
    }


def resources_json(resources: Resources) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if resources.memory is not None:
        limits["Memory"] = resources.memory
    if resources.cpus is not None:
        limits["NanoCpus"] = round(resources.cpus * 1e9)
    gpus = resources.gpus
    if gpus is not None:
        limits["DeviceRequests"] = [
            {
                "Driver": gpus.driver,
                "Count": gpus.count,
                "DeviceIDs": list(gpus.device_ids),
                "Capabilities": [list(gpus.capabilities)],
                "Options": {},
            }
        ]
    return limits


def create_body(
    spec: ContainerSpec, *, user: str | None, attach: bool = False, tty: bool = False, stdin: bool = False
) -> dict[str, Any]:
    """The create request's JSON. `user`: who the engine runs it as (its decision from
    `spec.host_user`); `attach`: output attached (an interactive run), `stdin` kept open too."""
    ports = {f"{port.container_port}/tcp": port for port in spec.ports}
    host: dict[str, Any] = {
        # A named network is joined through the mode, as the docker CLI's --network does.
        "NetworkMode": spec.network_name or ("default" if spec.network else "none"),
        **resources_json(spec.resources),
    }
    if ports:
        host["PortBindings"] = {
            key: [{"HostIp": port.host_ip, "HostPort": str(port.host_port)}] for key, port in ports.items()
        }
    if spec.mounts:
        host["Mounts"] = [mount_json(mount) for mount in spec.mounts]
    if spec.no_new_privileges:
        host["SecurityOpt"] = [c.NO_NEW_PRIVILEGES]
    body: dict[str, Any] = {
        "Image": spec.image,
        "Cmd": list(spec.command) if spec.command is not None else None,
        "Labels": dict(spec.labels),
        "Env": [f"{name}={value}" for name, value in spec.env.items()] or None,
        "ExposedPorts": {key: {} for key in ports} or None,
        "User": user,
        "WorkingDir": spec.workdir,
        "Tty": tty,
        "OpenStdin": stdin,
        "StdinOnce": attach and stdin,
        "AttachStdin": attach and stdin,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "NetworkDisabled": False,
        "HostConfig": host,
    }
    # Absent rather than null, as the SDK sends them: the daemon reads a missing field as the image's.
    return {key: value for key, value in body.items() if value is not None}
