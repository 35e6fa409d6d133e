"""Podman's JSON and options in nbship's terms (no Podman needed): inspect output as Podman 4.3
prints it, how a container keeps a bind-mounted folder its user's, --mount values, registry
names as Docker reads them, and push output as progress events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.engine.base import ContainerSpec, HostUser, Mount
from nbship.engine.podman_values import (
    container_info,
    docker_hub_name,
    familiar_name,
    image_info,
    loopback_registry,
    mount_arg,
    push_events,
    resource_args,
    unique_sizes,
    user_args,
    version_tuple,
    volume_info,
)
from nbship.errors import RunError, UsageError
from nbship.resources import GpuRequest, Resources

# Trimmed from `podman container inspect`, `podman image inspect` and `podman volume inspect` (4.3.1).
CONTAINER = {
    "Id": "df287c9bcea42eedec2c89a226a9613005c608d93921509809170eb7f01a8a48",
    "Name": "t12sample",
    "Image": "d34f4e7def5667a9764a46e86b519690c87c460fc6bd989f9db763d405a33838",
    "ImageName": "docker.io/library/python:3.11-slim",
    "State": {"Status": "created", "Running": False, "ExitCode": 0},
    "Config": {
        "Env": [
            "JUPYTER_TOKEN=abc",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
        ],
        "Image": "docker.io/library/python:3.11-slim",
        "Labels": {"io.nbship.project-id": "p-1"},
        "User": "",
        "WorkingDir": "/",
    },
}
IMAGE = {
    "Id": "d34f4e7def5667a9764a46e86b519690c87c460fc6bd989f9db763d405a33838",
    "RepoTags": ["docker.io/library/python:3.11-slim"],
    "Size": 199005934,
    "Architecture": "amd64",
    "User": "",
    "Labels": None,
    "Config": {"Env": ["LANG=C.UTF-8"], "Cmd": ["/bin/bash"], "WorkingDir": None, "Labels": None, "User": None},
}
VOLUME = {
    "Name": "t12sample",
    "Driver": "local",
    "CreatedAt": "2026-12-01T11:10:06.431891608Z",
    "Labels": {"io.nbship.managed": "true"},
    "NeedsCopyUp": True,
}


def test_inspect_output_in_nbships_types() -> None:
    container = container_info(CONTAINER)
    assert (container.name, container.status, container.exit_code) == ("t12sample", "created", 0)
    assert container.env["JUPYTER_TOKEN"] == "abc" and container.labels == {"io.nbship.project-id": "p-1"}
    assert container.image == "docker.io/library/python:3.11-slim" and container.image_id == IMAGE["Id"]
    assert container_info({**CONTAINER, "State": {"Status": "configured"}}).status == "created"
    image = image_info(IMAGE)
    assert (image.id, image.size, image.workdir, image.user, image.labels) == (IMAGE["Id"], 199005934, "", "", {})
    assert image.env == {"LANG": "C.UTF-8"} and image.tags == ("python:3.11-slim",)
    assert volume_info(VOLUME).labels == {"io.nbship.managed": "true"}
    assert image_info({**IMAGE, "RepoTags": ["localhost/nbship/support:1"]}).tags == ("nbship/support:1",)
    assert image_info(IMAGE).cmd == ("/bin/bash",) and image_info(IMAGE).entrypoint == ()
    limited = container_info({**CONTAINER, "HostConfig": {"Memory": 100000000, "NanoCpus": 1500000000, "Devices": []}})
    assert (limited.resources.memory, limited.resources.cpus, limited.resources.gpus) == (100000000, 1.5, None)


@pytest.mark.parametrize(
    ("name", "familiar"),
    [
        ("localhost/t12/tiny:latest", "t12/tiny:latest"),
        ("docker.io/library/python:3.11-slim", "python:3.11-slim"),
        ("docker.io/alice/sst:1", "alice/sst:1"),
        ("127.0.0.1:5000/team/sst:1", "127.0.0.1:5000/team/sst:1"),
    ],
)
def test_names_as_docker_shows_them(name: str, familiar: str) -> None:
    assert familiar_name(name) == familiar


def _spec(uid: int = 1001, gid: int = 1001) -> ContainerSpec:
    return ContainerSpec(image="x", host_user=HostUser(uid, gid))


@pytest.mark.parametrize(
    ("image_user", "rootless", "version", "expected"),
    [
        # Rootless Podman 4.3+: the image's own numeric user becomes the host user.
        ("1000", True, (4, 3), ["--userns=keep-id:uid=1000,gid=1000"]),
        ("1000:100", True, (4, 9), ["--userns=keep-id:uid=1000,gid=100"]),
        # Older Podman, or a user by name: the host user's own uid in a keep-id namespace.
        ("1000", True, (4, 2), ["--userns=keep-id", "--user", "1001:1001"]),
        ("jovyan", True, (4, 3), ["--userns=keep-id", "--user", "1001:1001"]),
        ("", True, (4, 3), ["--userns=keep-id", "--user", "1001:1001"]),
        ("0", True, (4, 3), ["--userns=keep-id", "--user", "1001:1001"]),
        # Rootful Podman has no user namespace: the host user's uid as it is.
        ("1000", False, (4, 3), ["--user", "1001:1001"]),
    ],
)
def test_who_a_container_runs_as_for_a_bind_mount(
    image_user: str, rootless: bool, version: tuple[int, int], expected: list[str]
) -> None:
    assert user_args(_spec(), image_user, rootless=rootless, version=version) == expected


def test_no_host_user_no_user_options() -> None:
    assert user_args(ContainerSpec(image="x"), "1000", rootless=True, version=(4, 3)) == []


def test_mount_values() -> None:
    assert mount_arg(Mount("volume", "nbship-p-1", "/home/jovyan/work")) == (
        "type=volume,source=nbship-p-1,target=/home/jovyan/work"
    )
    assert mount_arg(Mount("anonymous", "", "/w")) == "type=volume,target=/w"
    assert (
        mount_arg(Mount("bind", "/home/me/p", "/w"), relabel=True)
        == "type=bind,source=/home/me/p,target=/w,relabel=shared"
    )
    assert mount_arg(Mount("volume", "v", "/w"), relabel=True) == "type=volume,source=v,target=/w"
    with pytest.raises(UsageError, match="comma"):
        mount_arg(Mount("bind", "/home/me/a,b", "/w"))


@pytest.mark.parametrize(
    ("reference", "qualified", "loopback"),
    [
        ("python:3.11-slim", "docker.io/library/python:3.11-slim", False),
        ("alice/sst:1.0", "docker.io/alice/sst:1.0", False),
        ("ghcr.io/alice/sst:1.0", "ghcr.io/alice/sst:1.0", False),
        ("127.0.0.1:5000/team/sst:1", "127.0.0.1:5000/team/sst:1", True),
        ("localhost:5000/sst", "localhost:5000/sst", True),
        ("alice/sst@sha256:" + "a" * 64, "docker.io/alice/sst@sha256:" + "a" * 64, False),
    ],
)
def test_registry_names_as_docker_reads_them(reference: str, qualified: str, loopback: bool) -> None:
    assert docker_hub_name(reference) == qualified
    assert loopback_registry(reference) is loopback


def test_push_output_as_progress_events() -> None:
    lines = [
        "Getting image source signatures",
        "Copying blob sha256:ec119289cdfde6a89de220dcb4f60f16f29a779ce7a7cad5a2e255429c8b8fc1",
        "Copying blob 3f1e2d4c5b6a skipped: already exists",
        "Copying config sha256:8d279c836db2dad3b81c26f3eb7dae5285adb8bb98e54892c2032b07d3e4ddb9",
        "Writing manifest to image destination",
    ]
    assert list(push_events(lines)) == [
        {"id": "ec119289cdfd", "status": "Pushed"},
        {"id": "3f1e2d4c5b6a", "status": "Layer already exists"},
    ]


@given(st.text(max_size=20))
def test_any_version_text_parses(text: str) -> None:
    major, minor = version_tuple(text)
    assert isinstance(major, int) and isinstance(minor, int)


def test_versions() -> None:
    assert version_tuple("4.3.1") == (4, 3)
    assert version_tuple("5.0.0-dev") == (5, 0)
    assert version_tuple("garbage") == (0, 0)


def test_resource_limits() -> None:
    assert resource_args(Resources(memory=512 * 1024**2, cpus=1.5), rootless=False, cgroups="v1") == [
        "--memory", "536870912", "--cpus", "1.5",
    ]  # fmt: skip
    assert resource_args(Resources(memory=512 * 1024**2), rootless=True, cgroups="v2") == ["--memory", "536870912"]
    with pytest.raises(RunError, match="cgroup v1"):
        resource_args(Resources(cpus=2), rootless=True, cgroups="v1")
    assert resource_args(Resources(gpus=GpuRequest(count=-1)), rootless=True, cgroups="v1") == [
        "--device", "nvidia.com/gpu=all",
    ]  # fmt: skip
    assert resource_args(Resources(gpus=GpuRequest(count=2)), rootless=False, cgroups="v2") == [
        "--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1",
    ]  # fmt: skip
    assert resource_args(Resources(gpus=GpuRequest(device_ids=("GPU-3a",))), rootless=False, cgroups="v2") == [
        "--device", "nvidia.com/gpu=GPU-3a",
    ]  # fmt: skip


# `podman system df --verbose` (4.3.1), its images table.
DF_TABLE = """\
Images space usage:

REPOSITORY                TAG         IMAGE ID      CREATED     SIZE        SHARED SIZE  UNIQUE SIZE  CONTAINERS
docker.io/library/python  3.11-slim   d34f4e7def56  3 hours     199MB       199MB        0B           0
<none>                    <none>      9200cfc169ba  8 minutes   43.81kB     42.05kB      1.763kB      0
<none>                    <none>      347c60808e4c  7 minutes   458.2MB     199.1MB      259.1MB      1

Containers space usage:

CONTAINER ID  IMAGE         COMMAND     LOCAL VOLUMES  SIZE        CREATED     STATUS      NAMES
"""


def test_unique_sizes_from_the_table() -> None:
    ids = ["d34f4e7def56" + "0" * 52, "9200cfc169ba" + "1" * 52, "347c60808e4c" + "2" * 52]
    assert unique_sizes(DF_TABLE, ids) == {ids[0]: 0, ids[1]: 1763, ids[2]: 259_100_000}
    assert unique_sizes("", ids) == {}
