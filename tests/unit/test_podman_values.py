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
    image_info,
    loopback_registry,
    mount_arg,
    push_events,
    user_args,
    version_tuple,
    volume_info,
)
from nbship.errors import UsageError

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
    assert image.env == {"LANG": "C.UTF-8"} and image.tags == ("docker.io/library/python:3.11-slim",)
    assert volume_info(VOLUME).labels == {"io.nbship.managed": "true"}


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
