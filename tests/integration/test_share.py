"""Sharing a project: the compose file brought up by docker-compose, and pushes to a real registry."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from conftest import TEST_PREFIX, copy_project, free_port, http_status, run_cli, wait_until
from docker_helpers import docker
from registry_helpers import Registry, running_registry

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker

TAG = f"{TEST_PREFIX}/tiny-share:latest"


@pytest.fixture(scope="module")
def shared(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project("tiny", tmp_path_factory.mktemp("share"))
    result = run_cli("build", str(project), "-t", TAG)
    assert result.exit_code == 0, result.output + result.stderr
    return project


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry-auth"), user=("alice", "correct horse battery")) as r:
        yield r


def test_compose_file_runs_with_docker_compose(shared: Path, tmp_path: Path) -> None:
    project = tmp_path / "tiny"
    shutil.copytree(shared, project)
    port = free_port()
    result = run_cli("compose", str(project), "--image", TAG, "--port", str(port))
    assert result.exit_code == 0, result.output + result.stderr
    assert "added .env to .gitignore" in result.stderr
    compose_file = project / "compose.yaml"
    spec = yaml.safe_load(compose_file.read_text())
    service = spec["services"]["lab"]
    assert service["image"] == TAG and service["init"] is True
    assert service["ports"] == [f"127.0.0.1:{port}:8888"]
    assert "healthcheck" in service
    volume = spec["volumes"]["work"]
    assert volume["name"].startswith("nbship-tiny-") and "external" not in volume
    env = project / ".env"
    assert env.stat().st_mode & 0o777 == 0o600
    token = env.read_text().split("JUPYTER_TOKEN=", 1)[1].split()[0]
    assert token not in compose_file.read_text()
    assert ".env" in (project / ".gitignore").read_text().split()
    # Again: the token stays, the file is rewritten (it is nbship's), .gitignore is not touched twice.
    again = run_cli("compose", str(project), "--image", TAG, "--port", str(port))
    assert again.exit_code == 0 and "kept the token" in again.stderr
    assert (project / ".gitignore").read_text().count(".env") == 1
    name = f"nbshiptest{time.time_ns()}"
    compose = ["docker-compose", "-p", name, "-f", str(compose_file)]
    try:
        started = subprocess.run([*compose, "up", "-d"], capture_output=True, text=True, timeout=300, check=False)
        assert started.returncode == 0, started.stderr
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: http_status(f"{base}/api/status?token={token}") == 200, timeout=120)
        assert http_status(f"{base}/api/status") == 403
        listing = requests.get(f"{base}/api/contents?token={token}", timeout=10).json()
        assert "tiny.ipynb" in {item["name"] for item in listing["content"]}
    finally:
        subprocess.run([*compose, "down"], capture_output=True, timeout=300, check=False)
    # `down` without --volumes keeps the work; it is the volume `nbship up` uses for this project.
    assert docker("volume", "inspect", volume["name"], check=False).returncode == 0
    assert volume["name"] in run_cli("volume", "ls").stdout
    docker("volume", "rm", volume["name"])


def test_compose_leaves_a_foreign_compose_file_alone(shared: Path, tmp_path: Path) -> None:
    project = tmp_path / "tiny"
    shutil.copytree(shared, project)
    (project / "compose.yaml").write_text("services: {}\n")
    result = run_cli("compose", str(project), "--image", TAG)
    assert result.exit_code == 3 and "--force" in result.stderr
    assert (project / "compose.yaml").read_text() == "services: {}\n"


def test_push_then_run_from_the_registry_without_the_project(
    shared: Path, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"{registry.host}/team/tiny:1.0"
    pushed = run_cli("push", str(shared), "--to", target, "-t", TAG)
    assert pushed.exit_code == 0, pushed.output + pushed.stderr
    assert "layer " in pushed.stderr and "Pushed" in pushed.stderr
    assert pushed.stdout.strip().startswith(f"{target}@sha256:")
    tags = requests.get(f"http://{registry.host}/v2/team/tiny/tags/list", timeout=10).json()
    assert tags["tags"] == ["1.0"]
    docker("rmi", target)
    elsewhere = tmp_path / "colleague"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    port = free_port()
    try:
        result = run_cli("up", "--image", target, "--port", str(port), "--detach")
        assert result.exit_code == 0, result.output + result.stderr
        assert "pulling it from" in result.stderr
        token = result.stdout.strip().split("token=", 1)[1]
        listing = requests.get(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10).json()
        assert "tiny.ipynb" in {item["name"] for item in listing["content"]}
        assert list(elsewhere.iterdir()) == []  # nothing written where the colleague ran it
    finally:
        assert run_cli("down", "--image", target, "--volumes").exit_code == 0
        docker("rmi", target, check=False)
    # An image given as is is pushed without building anything.
    again = run_cli("push", "--image", TAG, "--to", f"{registry.host}/team/tiny:again")
    assert again.exit_code == 0 and "already in the registry" in again.stderr
    docker("rmi", f"{registry.host}/team/tiny:again", check=False)


def test_login_and_push_to_a_registry_with_basic_auth(
    shared: Path, auth_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    target = f"{auth_registry.host}/alice/tiny:1"
    refused = run_cli("push", "--image", TAG, "--to", target)
    assert refused.exit_code == ExitCode.REGISTRY and "nbship login" in refused.stderr, refused.stderr
    wrong = run_cli("login", auth_registry.host, "--username", "alice", "--password-stdin", input="wrong\n")
    assert wrong.exit_code == ExitCode.REGISTRY and "username or password is wrong" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert auth_registry.password is not None
    right = run_cli(
        "login", auth_registry.host, "--username", "alice", "--password-stdin", input=auth_registry.password + "\n"
    )
    assert right.exit_code == 0, right.stderr
    assert auth_registry.password not in right.stdout + right.stderr
    pushed = run_cli("push", "--image", TAG, "--to", target)
    assert pushed.exit_code == 0, pushed.stderr
    assert auth_registry.password not in pushed.stdout + pushed.stderr
    docker("rmi", target, check=False)


def test_unreachable_registry(shared: Path) -> None:
    target = f"127.0.0.1:{free_port()}/team/tiny:1"
    result = run_cli("push", "--image", TAG, "--to", target)
    assert result.exit_code == ExitCode.REGISTRY and "Cannot reach the registry" in result.stderr, result.stderr
    docker("rmi", target, check=False)
    pull = run_cli("up", "--image", target, "--detach")
    assert pull.exit_code == ExitCode.REGISTRY and "Cannot reach the registry" in pull.stderr, pull.stderr


def test_missing_image_in_the_registry(registry: Registry) -> None:
    result = run_cli("up", "--image", f"{registry.host}/team/never-pushed:1", "--detach")
    assert result.exit_code == 8 and "is not in the registry" in result.stderr, result.stderr
