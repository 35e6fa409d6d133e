"""Podman as nbship's engine, the way researchers on Fedora machines and login nodes run it:
rootless, as a user of their own (created by the tests), through the real `nbship` command.
Every command of the engine seam is exercised: build (cache mounts, the CA secret), up with a
volume and with the checkout, refresh of a volume after a rebuild, shell, logs, status, down,
volume export/import, check, login and push to a registry with a password, and compose."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import PROJECTS, TEST_PREFIX, free_port, wait_until
from engines import EngineUser, give_podman_base_image, make_test_user, remove_podman_leftovers
from registry_helpers import running_registry

from nbship.errors import ExitCode

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TAG = f"{TEST_PREFIX}/podman-tiny:latest"


@dataclass(frozen=True)
class Built:
    user: EngineUser
    path: Path
    image: str


@pytest.fixture(scope="module")
def podman_user(docker_daemon: str) -> Iterator[EngineUser]:
    user = make_test_user()
    give_podman_base_image(user)
    try:
        yield user
    finally:
        remove_podman_leftovers(user)


def _copy(user: EngineUser, name: str, folder: str) -> Path:
    dest = user.folder(folder) / name
    shutil.copytree(PROJECTS / name, dest, symlinks=True)
    return user.give(dest)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(podman_user: EngineUser) -> Built:
    """nbship's own Dockerfile built by rootless Podman (the slow one: a fresh uv cache)."""
    project = _copy(podman_user, "tiny", "podman-tiny")
    result = ok(podman_user.nbship("--engine", "podman", "build", str(project), "-t", TAG))
    assert "podman build (Buildah" in result.stderr
    return Built(podman_user, project, TAG)


def _inspect(user: EngineUser, reference: str) -> dict[str, object]:
    data: list[dict[str, object]] = json.loads(ok(user.run("podman", "image", "inspect", reference)).stdout)
    return data[0]


def _lab_url(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:") and "token=" in url, result.stdout
    return url.split("/lab?", 1)[0], url.split("token=", 1)[1]


def _put(base: str, token: str, name: str, text: str) -> None:
    response = requests.put(
        f"{base}/api/contents/{name}",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": text},
        timeout=30,
    )
    assert response.status_code in {200, 201}, response.text


def test_the_build_is_podmans_own_and_not_repeated(built: Built) -> None:
    info = _inspect(built.user, built.image)
    labels = (info.get("Config") or {}).get("Labels") or {}  # type: ignore[union-attr]
    assert labels["io.nbship.project-id"].startswith("tiny-")  # type: ignore[index]
    assert info.get("Healthcheck") or (info.get("Config") or {}).get("Healthcheck")  # type: ignore[union-attr]
    again = ok(built.user.nbship("--engine", "podman", "build", str(built.path), "-t", built.image))
    assert "is up to date" in again.stderr


def test_secret_and_cache_mounts_reach_a_podman_build(podman_user: EngineUser) -> None:
    project = _copy(podman_user, "build-mounts", "podman-mounts")
    bundle = podman_user.folder("podman-ca") / "ca.pem"
    marker = f"nbship-secret-marker-{TEST_PREFIX}"
    bundle.write_text(f"# {marker}\n" + Path("/etc/ssl/certs/ca-certificates.crt").read_text()[:2000])
    podman_user.give(bundle)
    tag = f"{TEST_PREFIX}/podman-mounts:latest"
    ok(podman_user.nbship("--engine", "podman", "build", str(project), "-t", tag, "--ca-bundle", str(bundle)))
    first = ok(podman_user.run("podman", "run", "--rm", tag)).stdout.splitlines()
    assert first[0] == hashlib.sha256(bundle.read_bytes()).hexdigest()  # the step saw the secret
    saved = subprocess.run(
        podman_user.command(["podman", "save", tag]), capture_output=True, timeout=300, check=True
    ).stdout
    assert marker.encode() not in saved, "the CA bundle is in a layer of the image"
    ok(podman_user.nbship("--engine", "podman", "build", str(project), "-t", tag, "--no-cache"))
    second = ok(podman_user.run("podman", "run", "--rm", tag)).stdout.splitlines()
    assert second[0] == "none"  # same Dockerfile, no secret given
    assert any(line.startswith("build-") for line in second[1:]), "the cache mount kept nothing between builds"


def test_up_with_a_volume_refresh_logs_status_shell_and_down(built: Built) -> None:
    user, path = built.user, built.path
    port = free_port()
    up = ok(user.nbship("--engine", "podman", "up", str(path), "-t", built.image, "--detach", "--port", str(port)))
    base, token = _lab_url(up)
    _put(base, token, "mine.txt", "kept")
    status = ok(user.nbship("--engine", "podman", "status")).stdout
    assert str(path) in status and f"127.0.0.1:{port}" in status
    assert "ServerApp" in ok(user.nbship("--engine", "podman", "logs", str(path))).stdout
    probe = "cat mine.txt; echo; id -u; grep NoNewPrivs /proc/1/status; exit 3\n"
    shell = user.nbship("--engine", "podman", "shell", str(path), input=probe)
    assert shell.returncode == 3, shell.stdout + shell.stderr
    # The server's process (pid 1 of the container) can gain no privileges, as on Docker.
    assert shell.stdout.split()[:4] == ["kept", "1000", "NoNewPrivs:", "1"], shell.stdout + shell.stderr
    ok(user.nbship("--engine", "podman", "down", str(path)))
    assert str(path) not in ok(user.nbship("--engine", "podman", "status")).stdout

    # A rebuild with a changed notebook: the next start brings it into the volume, the user's file stays.
    notebook = path / "tiny.ipynb"
    notebook.write_text(notebook.read_text().replace('"source": [', '"source": ["# changed on the host\\n", ', 1))
    ok(user.nbship("--engine", "podman", "build", str(path), "-t", built.image))
    up = ok(user.nbship("--engine", "podman", "up", str(path), "-t", built.image, "--detach", "--port", str(port)))
    base, token = _lab_url(up)
    headers = {"Authorization": f"token {token}"}
    served = requests.get(f"{base}/api/contents/tiny.ipynb?type=file&format=text", headers=headers, timeout=30)
    assert "# changed on the host" in served.json()["content"]
    assert requests.get(f"{base}/api/contents/mine.txt", headers=headers, timeout=30).status_code == 200
    # No container running: shell starts a new one on the project's volume.
    ok(user.nbship("--engine", "podman", "down", str(path)))
    probe = "cat mine.txt; echo; grep NoNewPrivs /proc/self/status\n"
    shell = user.nbship("--engine", "podman", "shell", str(path), "-t", built.image, input=probe)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert shell.stdout.split()[-3:] == ["kept", "NoNewPrivs:", "1"], shell.stdout


def test_mount_host_leaves_the_users_own_files(built: Built) -> None:
    user = built.user
    port = free_port()
    up = ok(
        user.nbship(
            "--engine",
            "podman",
            "up",
            str(built.path),
            "-t",
            built.image,
            "--mount",
            "host",
            "--detach",
            "--port",
            str(port),
        )
    )
    try:
        base, token = _lab_url(up)
        _put(base, token, "written-in-lab.txt", "hello")
        made = requests.post(
            f"{base}/api/contents", headers={"Authorization": f"token {token}"}, json={"type": "directory"}, timeout=30
        )
        assert made.status_code == 201
    finally:
        ok(user.nbship("--engine", "podman", "down", str(built.path)))
    owners = {(p.name, p.stat().st_uid, p.stat().st_gid) for p in [built.path, *built.path.rglob("*")]}
    assert {(uid, gid) for _, uid, gid in owners} == {(user.uid, user.gid)}, owners
    assert (built.path / "written-in-lab.txt").read_text() == "hello"


def test_volume_export_import_and_check(built: Built) -> None:
    user = built.user
    listed = ok(user.nbship("--engine", "podman", "volume", "ls")).stdout
    volume = next(line.split()[0] for line in listed.splitlines() if str(built.path) in line)
    archive = user.folder("podman-export") / "work.tar.gz"
    ok(user.nbship("--engine", "podman", "volume", "export", volume, str(archive)))
    copy = f"{TEST_PREFIX}-podman-copy"
    ok(user.nbship("--engine", "podman", "volume", "import", copy, str(archive)))
    try:
        copied = archive.with_name("copy.tar")
        ok(user.run("podman", "volume", "export", "--output", str(copied), copy))
        with tarfile.open(copied) as tar:
            assert "mine.txt" in tar.getnames()  # written in the lab in an earlier test, carried over
    finally:
        ok(user.nbship("--engine", "podman", "volume", "rm", copy))
    _import_is_screened_and_exports_into_a_folder(user)
    check = ok(user.nbship("--engine", "podman", "check", str(built.path), "-t", built.image))
    assert "1 passed" in check.stdout


def _import_is_screened_and_exports_into_a_folder(user: EngineUser) -> None:
    folder = user.folder("podman-odd")
    odd = folder / "odd.tar"
    with tarfile.open(odd, "w") as tar:
        program = tarfile.TarInfo("run-me")
        program.mode, program.size, program.uid = 0o4755, 10, 0
        tar.addfile(program, io.BytesIO(b"#!/bin/sh\n"))
        pipe = tarfile.TarInfo("pipe")
        pipe.type = tarfile.FIFOTYPE
        tar.addfile(pipe)
    user.give(folder)
    name = f"{TEST_PREFIX}-podman-odd"
    imported = ok(user.nbship("--engine", "podman", "volume", "import", name, str(odd)))
    try:
        said = imported.stdout + imported.stderr
        assert "FIFO: 1 (pipe)" in said and "setuid/setgid bit from 1 file(s): run-me" in said, said
        inside = folder / "inside.tar"
        ok(user.run("podman", "volume", "export", "--output", str(inside), name))
        with tarfile.open(inside) as tar:
            members = {relative: tar.getmember(relative) for relative in tar.getnames()}
        assert "pipe" not in members and "./pipe" not in members, members
        program = members.get("run-me") or members["./run-me"]
        assert program.mode & 0o7777 == 0o755 and program.uid == 1000, oct(program.mode)  # no setuid; not root's
        out = folder / "out"
        ok(user.nbship("--engine", "podman", "volume", "export", name, str(out)))
        info = (out / "run-me").stat()
        assert info.st_mode & 0o7777 == 0o755 and info.st_uid == user.uid, oct(info.st_mode)
        assert sorted(p.name for p in out.iterdir()) == ["run-me"]
    finally:
        ok(user.nbship("--engine", "podman", "volume", "rm", name))


def test_login_push_and_up_from_the_registry(built: Built, tmp_path: Path) -> None:
    user = built.user
    with running_registry(tmp_path / "registry", user=("alice", "s3cret-pass")) as reg:
        target = f"{reg.host}/team/podman-tiny:1"
        refused = user.nbship("--engine", "podman", "push", str(built.path), "-t", built.image, "--to", target)
        assert refused.returncode == ExitCode.REGISTRY and "nbship login" in refused.stderr
        login = user.nbship(
            "--engine", "podman", "login", reg.host, "-u", "alice", "--password-stdin", input="s3cret-pass\n"
        )
        assert login.returncode == 0, login.stderr
        auth = user.runtime_dir / "containers" / "auth.json"
        assert reg.host in json.loads(auth.read_text())["auths"]  # Podman's own auth file
        pushed = ok(user.nbship("--engine", "podman", "push", str(built.path), "-t", built.image, "--to", target))
        assert pushed.stdout.strip().startswith(f"{target}@sha256:")
        ok(user.run("podman", "rmi", target))
        port = free_port()
        up = ok(user.nbship("--engine", "podman", "up", "--image", target, "--detach", "--port", str(port)))
        try:
            base, token = _lab_url(up)
            assert requests.get(f"{base}/api/status?token={token}", timeout=30).status_code == 200
        finally:
            ok(user.nbship("--engine", "podman", "down", "--image", target))


def test_archive_round_trip_and_up_archive(built: Built) -> None:
    """podman save and podman load behind the seam: the archive gives back the same image id."""
    user = built.user
    target = "localhost/podman-archived:1"
    ok(user.run("podman", "tag", built.image, target))
    output = user.home / "podman-archived.tar"
    try:
        ok(user.nbship("--engine", "podman", "archive", "--image", target, "-o", str(output)))
        image_id = str(_inspect(user, target)["Id"])
        ok(user.run("podman", "rmi", target))
        port = free_port()
        up = ok(user.nbship("--engine", "podman", "up", "--archive", str(output), "--detach", "--port", str(port)))
        assert str(_inspect(user, target)["Id"]) == image_id
        base, token = _lab_url(up)
        assert requests.get(f"{base}/api/status?token={token}", timeout=30).status_code == 200
    finally:
        user.nbship("--engine", "podman", "down", "--image", target, "--volumes")
        user.run("podman", "rmi", target)
        output.unlink(missing_ok=True)


def test_compose_file_runs_with_podman_compose(built: Built) -> None:
    user = built.user
    assert shutil.which("podman-compose"), "podman-compose is not installed (scripts/setup-test-machine.sh)"
    port = free_port()
    written = ok(user.nbship("--engine", "podman", "compose", str(built.path), "-t", built.image, "--port", str(port)))
    assert "podman-compose -f" in written.stderr
    token = next(line.split("=", 1)[1] for line in (built.path / ".env").read_text().splitlines() if "=" in line)
    ok(user.run("podman-compose", "-f", "compose.yaml", "up", "-d", cwd=built.path))
    try:
        url = f"http://127.0.0.1:{port}/api/status?token={token}"
        assert wait_until(lambda: _status(url) == 200, timeout=90)
        started = ok(user.run("podman", "ps", "-q", "--filter", "label=io.podman.compose.project")).stdout.split()
        assert len(started) == 1
        security = ok(user.run("podman", "inspect", "--format", "{{.HostConfig.SecurityOpt}}", started[0])).stdout
        assert "no-new-privileges" in security  # the compose file's security_opt reached Podman
    finally:
        ok(user.run("podman-compose", "-f", "compose.yaml", "down", cwd=built.path))


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return 0


def test_auto_uses_podman_when_no_docker_daemon_answers(built: Built) -> None:
    # The test user may not use the machine's Docker socket: Docker does not answer for them.
    result = ok(built.user.nbship("build", str(built.path), "-t", built.image))
    assert "Using Podman" in result.stderr and "(rootless)" in result.stderr
    assert "no Docker daemon answers at" in result.stderr
    chosen = ok(built.user.nbship("build", str(built.path), "-t", built.image, env={"NBSHIP_ENGINE": "podman"}))
    assert "Using Podman" not in chosen.stderr  # chosen, so nothing to explain
    no_docker = built.user.nbship("--engine", "docker", "status")
    assert no_docker.returncode == ExitCode.DOCKER_UNAVAILABLE
    assert "Cannot reach the Docker daemon at" in no_docker.stderr and "Traceback" not in no_docker.stderr
    # JupyterHub's spawners speak the Docker API only: the hub refuses Podman and says what to use.
    hub = built.user.nbship("--engine", "podman", "hub", "status")
    assert hub.returncode == ExitCode.USAGE, hub.stdout + hub.stderr
    assert "nbship hub needs Docker" in hub.stderr and "--engine docker" in hub.stderr
    assert "Traceback" not in hub.stderr


def test_run_resources_and_clean(built: Built) -> None:
    user = built.user
    script = "import os, sys; print(os.environ['GREETING'], os.getcwd()); sys.exit(4)"
    project = ["--engine", "podman", "run", str(built.path), "-t", built.image]
    ran = user.nbship(*project, "-e", "GREETING=hi", "--", "python3", "-c", script)
    assert ran.returncode == 4, ran.stdout + ran.stderr
    assert ran.stdout.split() == ["hi", "/home/jovyan/work"]
    # This machine has cgroup v1, where rootless Podman ignores limits: nbship refuses instead.
    limited = user.nbship(*project, "--memory", "512m", "--", "true")
    assert limited.returncode == ExitCode.RUN_FAILED and "cgroup v1" in limited.stderr, limited.stderr
    gpus = user.nbship(*project, "--gpus", "all", "--", "true")
    assert gpus.returncode == ExitCode.RUN_FAILED and "nvidia-ctk cdi generate" in gpus.stderr, gpus.stderr
    leftovers = ok(user.run("podman", "ps", "-a", "--format", "{{.Names}}")).stdout.split()
    assert not [name for name in leftovers if name.startswith("nbship-run-")]
    cleaned = ok(user.nbship("--engine", "podman", "clean", str(built.path)))
    assert built.image in cleaned.stdout + cleaned.stderr
    assert user.run("podman", "image", "exists", built.image, check=False).returncode != 0
