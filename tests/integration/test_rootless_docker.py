"""Rootless Docker, as on a shared server: dockerd-rootless.sh run by a user the tests create, and
the real `nbship` command run by that user against it (DOCKER_HOST, as the setup tool tells
users). Its user namespace maps every container uid but root onto a sub-uid, so a checkout
mounted with --mount host must still only get files the user owns."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import PROJECTS, TEST_PREFIX, free_port
from engines import EngineUser, make_test_user, remove_docker_leftovers, rootless_dockerd

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TAG = f"{TEST_PREFIX}/rootless-tiny:latest"


@dataclass(frozen=True)
class Rootless:
    user: EngineUser
    host: str
    path: Path

    def nbship(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self.user.nbship(*args, env={"DOCKER_HOST": self.host}, input=input)
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def rootless(docker_daemon: str) -> Iterator[Rootless]:
    user = make_test_user()
    with rootless_dockerd(user) as host:
        project = user.folder("rootless") / "tiny"
        shutil.copytree(PROJECTS / "tiny", project)
        try:
            yield Rootless(user, host, user.give(project))
        finally:
            remove_docker_leftovers(host)


def _url(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    url = result.stdout.strip().splitlines()[-1]
    return url.split("/lab?", 1)[0], url.split("token=", 1)[1]


def _write(base: str, token: str, name: str) -> None:
    response = requests.put(
        f"{base}/api/contents/{name}",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": "from the lab"},
        timeout=30,
    )
    assert response.status_code in {200, 201}, response.text


def test_build_on_the_rootless_daemon(rootless: Rootless) -> None:
    built = rootless.nbship("build", str(rootless.path), "-t", TAG)
    assert "BuildKit" in built.stderr and "(rootless) at " + rootless.host in built.stderr
    assert (
        subprocess.run(
            ["/usr/bin/docker", "-H", rootless.host, "image", "inspect", TAG], capture_output=True, check=False
        ).returncode
        == 0
    )
    # Built on the user's daemon, not on the machine's.
    assert subprocess.run(["docker", "image", "inspect", TAG], capture_output=True, check=False).returncode != 0


def test_mount_host_keeps_the_checkout_the_users(rootless: Rootless) -> None:
    port = free_port()
    up = rootless.nbship("up", str(rootless.path), "-t", TAG, "--mount", "host", "--detach", "--port", str(port))
    try:
        base, token = _url(up)
        assert base == f"http://127.0.0.1:{port}"  # published on loopback through rootlesskit
        _write(base, token, "written-in-lab.txt")
        folder = requests.post(
            f"{base}/api/contents", headers={"Authorization": f"token {token}"}, json={"type": "directory"}, timeout=30
        )
        assert folder.status_code == 201
    finally:
        rootless.nbship("down", str(rootless.path))
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [rootless.path, *rootless.path.rglob("*")]}
    assert owners == {(rootless.user.uid, rootless.user.gid)}, owners
    assert (rootless.path / "written-in-lab.txt").read_text() == "from the lab"


def test_the_work_volume_persists(rootless: Rootless) -> None:
    port = free_port()
    base, token = _url(rootless.nbship("up", str(rootless.path), "-t", TAG, "--detach", "--port", str(port)))
    _write(base, token, "kept.txt")
    rootless.nbship("down", str(rootless.path))
    base, token = _url(rootless.nbship("up", str(rootless.path), "-t", TAG, "--detach", "--port", str(port)))
    try:
        kept = requests.get(f"{base}/api/contents/kept.txt", headers={"Authorization": f"token {token}"}, timeout=30)
        assert kept.status_code == 200 and kept.json()["content"] == "from the lab"
    finally:
        rootless.nbship("down", str(rootless.path), "--volumes")
