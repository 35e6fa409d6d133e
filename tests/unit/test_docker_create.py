"""The create request's JSON (engine/docker_create.py, which both the light client and the SDK path
send) against the JSON docker-py makes from its own keyword arguments for the same spec: an
independent translation, written here as a docker user would call `containers.run`. docker-py
computes its JSON without a daemon: its client is given a fixed API version and the one call that
would post the JSON is caught."""

from __future__ import annotations

import functools
from typing import Any

import docker
import docker.types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship import contract as c
from nbship.engine.base import ContainerSpec, Mount, PortBinding
from nbship.engine.docker_create import create_body
from nbship.resources import GpuRequest, Resources


def _sdk_mount(mount: Mount) -> docker.types.Mount:
    if mount.kind == "bind":
        return docker.types.Mount(mount.target, mount.source, type="bind")
    return docker.types.Mount(mount.target, mount.source or None, type="volume")


def _sdk_resources(resources: Resources) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if resources.memory is not None:
        kwargs["mem_limit"] = resources.memory
    if resources.cpus is not None:
        kwargs["nano_cpus"] = round(resources.cpus * 1e9)
    if resources.gpus is not None:
        gpus = resources.gpus
        request = docker.types.DeviceRequest(
            driver=gpus.driver,
            count=gpus.count,
            device_ids=list(gpus.device_ids) or None,
            capabilities=[list(gpus.capabilities)],
        )
        kwargs["device_requests"] = [request]
    return kwargs


def sdk_create_kwargs(spec: ContainerSpec, *, user: str | None) -> dict[str, Any]:
    """docker-py's keyword arguments for `spec`, as `docker run` options map onto them."""
    return {
        "command": list(spec.command) if spec.command is not None else None,
        "name": spec.name,
        "labels": dict(spec.labels),
        "environment": dict(spec.env),
        "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports} or None,
        "mounts": [_sdk_mount(mount) for mount in spec.mounts] or None,
        "user": user,
        "network_mode": None if spec.network else "none",
        "security_opt": [c.NO_NEW_PRIVILEGES] if spec.no_new_privileges else None,
        "working_dir": spec.workdir,
        "network": spec.network_name,
        **_sdk_resources(spec.resources),
    }


class _Posted(Exception):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__("posted")
        self.config = config


def _sdk_json(spec: ContainerSpec, *, user: str | None, detach: bool, tty: bool = False, stdin: bool = False) -> Any:
    client = docker.DockerClient(version="1.41")

    def post(config: dict[str, Any], name: str | None = None, platform: str | None = None) -> Any:
        raise _Posted(config)

    client.api.create_container_from_config = post  # type: ignore[method-assign]
    kwargs = {**sdk_create_kwargs(spec, user=user), "tty": tty, "stdin_open": stdin}
    make = functools.partial(client.containers.run, detach=True) if detach else client.containers.create
    with pytest.raises(_Posted) as posted:
        make(spec.image, **kwargs)
    config = dict(posted.value.config)
    # docker-py sends a named network as {"name": null}, which is no field of the API (the daemon
    # ignores it); both join the network through HostConfig.NetworkMode.
    config.pop("NetworkingConfig", None)
    # What docker-py's client itself sends: its JSON without the top-level nulls (APIClient._post_json).
    return {key: value for key, value in config.items() if value is not None}


_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_mounts = st.builds(
    Mount,
    kind=st.sampled_from(["volume", "bind"]),
    source=st.one_of(st.just(""), st.from_regex(r"/?[a-z0-9_]{1,10}", fullmatch=True)),
    target=st.from_regex(r"/[a-z]{1,8}(/[a-z]{1,8})?", fullmatch=True),
)
_gpus = st.builds(
    GpuRequest,
    count=st.integers(-1, 8),
    device_ids=st.lists(st.from_regex(r"[0-9]{1,2}", fullmatch=True), max_size=3).map(tuple),
    capabilities=st.lists(st.sampled_from(["gpu", "compute", "utility"]), min_size=1, max_size=3).map(tuple),
    driver=st.sampled_from(["", "nvidia"]),
)
_specs = st.builds(
    ContainerSpec,
    image=st.from_regex(r"[a-z0-9]{1,10}(/[a-z0-9]{1,10})?:[a-z0-9.]{1,8}", fullmatch=True),
    name=st.one_of(st.none(), _names),
    command=st.one_of(st.none(), st.lists(_values, max_size=4).map(tuple)),
    labels=st.dictionaries(_names, _values, max_size=4),
    env=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), _values, max_size=4),
    ports=st.lists(
        st.builds(
            PortBinding,
            container_port=st.integers(1, 65535),
            host_ip=st.sampled_from([c.LOOPBACK, "0.0.0.0", "::1"]),
            host_port=st.integers(0, 65535),
        ),
        max_size=2,
        unique_by=lambda port: port.container_port,
    ).map(tuple),
    mounts=st.lists(_mounts, max_size=3).map(tuple),
    network=st.booleans(),
    workdir=st.one_of(st.none(), st.from_regex(r"/[a-z]{1,8}", fullmatch=True)),
    resources=st.builds(
        Resources,
        memory=st.one_of(st.none(), st.integers(1 << 20, 1 << 36)),
        cpus=st.one_of(st.none(), st.floats(0.01, 64, allow_nan=False)),
        gpus=st.one_of(st.none(), _gpus),
    ),
    network_name=st.one_of(st.none(), _names),
    no_new_privileges=st.booleans(),
).filter(lambda spec: spec.network or spec.network_name is None)  # a named network with none: refused by both


@settings(max_examples=300, deadline=None)
@given(spec=_specs, user=st.one_of(st.none(), st.just("0:0"), st.just("1000:1000")))
def test_the_light_json_is_what_the_sdk_sends_for_a_detached_server(spec: ContainerSpec, user: str | None) -> None:
    assert create_body(spec, user=user) == _sdk_json(spec, user=user, detach=True)


@settings(max_examples=100, deadline=None)
@given(spec=_specs, tty=st.booleans(), stdin=st.booleans())
def test_the_light_json_is_what_the_sdk_sends_for_an_attached_run(spec: ContainerSpec, tty: bool, stdin: bool) -> None:
    expected = _sdk_json(spec, user=None, detach=False, tty=tty, stdin=stdin)
    assert create_body(spec, user=None, attach=True, tty=tty, stdin=stdin) == expected


def test_every_field_of_a_server_spec_reaches_the_json() -> None:
    spec = ContainerSpec(
        image="nbship-demo:latest",
        name="nbship-demo",
        command=("jupyter", "lab"),
        labels={c.LABEL_MANAGED: "true"},
        env={c.TOKEN_ENV: "t" * 64, "EXTRA": "a=b"},
        ports=(PortBinding(c.CONTAINER_PORT, c.LOOPBACK, 8890),),
        mounts=(Mount("volume", "nbship-demo-work", "/home/jovyan/work"), Mount("bind", "/srv/data", "/data")),
        workdir="/home/jovyan",
        resources=Resources(memory=1 << 30, cpus=1.5, gpus=GpuRequest(count=-1, driver="nvidia")),
        network_name="nbship-hub",
    )
    body = create_body(spec, user="1000:100")
    host = body["HostConfig"]
    assert body["Image"] == spec.image and body["Cmd"] == ["jupyter", "lab"]
    assert body["Labels"] == {c.LABEL_MANAGED: "true"} and body["User"] == "1000:100"
    assert body["Env"] == [f"{c.TOKEN_ENV}={'t' * 64}", "EXTRA=a=b"] and body["WorkingDir"] == "/home/jovyan"
    assert body["ExposedPorts"] == {f"{c.CONTAINER_PORT}/tcp": {}}
    assert host["PortBindings"] == {f"{c.CONTAINER_PORT}/tcp": [{"HostIp": c.LOOPBACK, "HostPort": "8890"}]}
    assert [(m["Type"], m["Source"], m["Target"]) for m in host["Mounts"]] == [
        ("volume", "nbship-demo-work", "/home/jovyan/work"),
        ("bind", "/srv/data", "/data"),
    ]
    assert host["SecurityOpt"] == [c.NO_NEW_PRIVILEGES] and host["NetworkMode"] == "nbship-hub"
    assert (host["Memory"], host["NanoCpus"]) == (1 << 30, 1_500_000_000)
    assert host["DeviceRequests"][0]["Count"] == -1 and host["DeviceRequests"][0]["Driver"] == "nvidia"
    assert not body["AttachStdout"] and not body["Tty"]


def test_no_network_and_an_anonymous_volume() -> None:
    body = create_body(ContainerSpec(image="i:1", network=False, mounts=(Mount("volume", "", "/scratch"),)), user=None)
    assert body["HostConfig"]["NetworkMode"] == "none"
    assert body["HostConfig"]["Mounts"] == [{"Target": "/scratch", "Source": None, "Type": "volume", "ReadOnly": False}]
    assert "Cmd" not in body and "User" not in body and "ExposedPorts" not in body
