"""A second Docker daemon, chosen the ways users choose one: `docker context use` (Docker Desktop,
colima, a remote host), DOCKER_HOST, and DOCKER_CONTEXT with a TLS endpoint. Build, up, volume
export and push must all land on that daemon and none on the machine's default one. Contexts are
made in a DOCKER_CONFIG of the test's own, so the machine's default context never changes."""

from __future__ import annotations

import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import TEST_PREFIX, copy_project, free_port, run_cli
from engines import DOCKER, Dockerd, remove_docker_leftovers, second_dockerd
from registry_helpers import running_registry

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TAG = f"{TEST_PREFIX}/second-daemon-{uuid.uuid4().hex[:8]}:latest"


@pytest.fixture(scope="module")
def daemon(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    with second_dockerd(tmp_path_factory.mktemp("dockerd2")) as second:
        try:
            yield second
        finally:
            remove_docker_leftovers(second.socket)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project("tiny", tmp_path_factory.mktemp("second-daemon"))


def _default_has(*args: str) -> str:
    """What the machine's own daemon answers (addressed by its socket: the test's environment points elsewhere)."""
    command = [DOCKER, "-H", "unix:///var/run/docker.sock", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def _docker_cli(config: Path, *args: str) -> None:
    env = {"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr


def _everything_lands_on(
    daemon: Dockerd, project: Path, registry: str, tmp_path: Path, *, rebuild: bool, chosen_by: str
) -> None:
    built = run_cli("build", str(project), "-t", TAG, *(["--rebuild"] if rebuild else []))
    assert built.exit_code == 0, built.output + built.stderr
    assert "BuildKit via /usr/bin/docker" in built.stderr and f"at {daemon.socket} ({chosen_by})" in built.stderr
    assert daemon.has_image(TAG)
    assert not _default_has("images", "-q", TAG), "the build landed on the default daemon"

    port = free_port()
    up = run_cli("up", str(project), "-t", TAG, "--detach", "--port", str(port))
    assert up.exit_code == 0, up.output + up.stderr
    token = up.stdout.strip().splitlines()[-1].split("token=", 1)[1]
    try:
        assert requests.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=30).status_code == 200
        running = daemon.docker("ps", "--filter", "label=io.nbship.managed=true", "--format", "{{.Names}}").stdout
        assert running.strip(), "the server is not on the second daemon"
        assert running.split()[0] not in _default_has("ps", "-a", "--format", "{{.Names}}").split()
        volume = running.split()[0]  # the project's volume has the container's name
        assert daemon.docker("volume", "inspect", volume, check=False).returncode == 0
        assert volume not in _default_has("volume", "ls", "-q").split()
        listed = run_cli("status", "--json")  # status's own client, on the endpoint nbship resolved
        assert listed.exit_code == 0, listed.output + listed.stderr
        assert [(server["project"], server["container"]) for server in json.loads(listed.stdout)["servers"]] == [
            (str(project), volume)
        ]
    finally:
        down = run_cli("down", str(project))
        assert down.exit_code == 0, down.output + down.stderr

    archive = tmp_path / "work.tar"
    exported = run_cli("volume", "export", volume, str(archive))
    assert exported.exit_code == 0, exported.output + exported.stderr
    with tarfile.open(archive) as tar:
        assert "./tiny.ipynb" in tar.getnames()

    target = f"{registry}/second/tiny:{'again' if rebuild else 'first'}"
    pushed = run_cli("push", str(project), "-t", TAG, "--to", target)
    assert pushed.exit_code == 0, pushed.output + pushed.stderr
    name, tag = target.split("/", 1)[1].rsplit(":", 1)
    assert requests.get(f"http://{registry}/v2/{name}/tags/list", timeout=10).json()["tags"].count(tag) == 1
    assert daemon.has_image(target) and not _default_has("images", "-q", target)


def test_a_context_in_use_and_docker_host_both_reach_the_second_daemon(
    daemon: Dockerd, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_registry(tmp_path / "registry") as registry:
        config = tmp_path / "docker-config"
        config.mkdir()
        _docker_cli(config, "context", "create", "second", "--docker", f"host={daemon.socket}")
        _docker_cli(config, "context", "use", "second")
        assert json.loads((config / "config.json").read_text())["currentContext"] == "second"
        monkeypatch.delenv("DOCKER_HOST", raising=False)
        monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        _everything_lands_on(
            daemon, project, registry.host, tmp_path / "context", rebuild=False, chosen_by="docker context second"
        )

        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-contexts"))
        monkeypatch.setenv("DOCKER_HOST", daemon.socket)
        (tmp_path / "host").mkdir()
        _everything_lands_on(daemon, project, registry.host, tmp_path / "host", rebuild=True, chosen_by="DOCKER_HOST")


def test_docker_context_with_tls_material(
    daemon: Dockerd, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    certs = daemon.certs
    endpoint = f"host={daemon.tcp},ca={certs / 'ca.pem'},cert={certs / 'cert.pem'},key={certs / 'key.pem'}"
    _docker_cli(config, "context", "create", "tls", "--docker", endpoint)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("DOCKER_CONTEXT", "tls")
    # No config.json exists in this DOCKER_CONFIG: the SDK alone would miss the context here.
    assert not (config / "config.json").exists()
    listed = run_cli("volume", "create", f"{TEST_PREFIX}-over-tls")
    assert listed.exit_code == 0, listed.output + listed.stderr
    assert daemon.docker("volume", "inspect", f"{TEST_PREFIX}-over-tls", check=False).returncode == 0
    built = run_cli("build", str(project), "-t", TAG, "--rebuild")  # the CLI's BuildKit build, over TLS
    assert built.exit_code == 0, built.output + built.stderr
    listed = run_cli("status", "--json")  # status's own client over TLS, with the context's CA and key
    assert listed.exit_code == 0, listed.output + listed.stderr
    assert json.loads(listed.stdout)["servers"] == []
    removed = run_cli("volume", "rm", f"{TEST_PREFIX}-over-tls")
    assert removed.exit_code == 0, removed.output + removed.stderr

    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    missing = run_cli("volume", "ls")
    assert missing.exit_code == 4
    assert "The docker context 'missing' (DOCKER_CONTEXT=missing) does not exist" in missing.stderr
