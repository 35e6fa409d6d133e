"""This repository's machine scripts: a daemon started by scripts/start-dockerd.sh outlives a Ctrl-C
in the terminal that started it, and `bash scripts/demo.sh` stops its server on Ctrl-C and leaves
the daemon running. Also `nbship clean --all`, which may only run where it removes nobody else's
images: on the private daemon those tests start.

The private daemon has its own socket, data and bridge (`--bridge none` would make dockerd delete
the machine's docker0, which the default daemon uses), and is stopped by its pid when done.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker as docker_sdk
import pytest
from conftest import REPO, TEST_PREFIX, free_port, http_status, run_cli
from docker_helpers import docker

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class PrivateDaemon:
    host: str  # DOCKER_HOST
    log: Path
    pid: int

    def docker(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["/usr/bin/docker", *args],
            env={**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1"},
            input=input,
            capture_output=True,
            timeout=300,
            check=check,
        )


def _free_subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    for third in range(13, 250):
        subnet = ipaddress.ip_network(f"10.213.{third}.0/24")
        if f"10.213.{third}." not in used:
            return subnet
    raise AssertionError("no free 10.213.x.0/24 for the private daemon's bridge")


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def private_daemon(docker_daemon: str) -> Iterator[PrivateDaemon]:
    """A second dockerd started by scripts/start-dockerd.sh from a foreground job that then gets
    Ctrl-C (SIGINT to its whole process group), as a terminal running scripts/demo.sh would."""
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        pytest.fail("these tests start a dockerd of their own: they need dockerd and root")
    # Short paths: dockerd's containerd sockets live under the exec root, and socket paths are short.
    root = Path(tempfile.mkdtemp(prefix="nbd-", dir="/tmp"))
    bridge = f"nbt{os.getpid() % 100000}"
    subnet = _free_subnet()
    subprocess.run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"{next(subnet.hosts())}/{subnet.prefixlen}", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    host = f"unix://{root}/d.sock"
    args = (
        f"--host {host} --data-root {root}/data --exec-root {root}/x --pidfile {root}/pid "
        f"--bridge {bridge} --iptables=false --ip-masq=false"
    )
    env = {**os.environ, "DOCKER_HOST": host, "NBSHIP_DOCKERD_LOG": f"{root}/dockerd.log", "NBSHIP_DOCKERD_ARGS": args}
    job = subprocess.Popen(
        ["bash", "-c", 'bash scripts/start-dockerd.sh && echo "daemon up" && sleep 120'],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own: the terminal's foreground job
    )
    pid = 0
    try:
        assert job.stdout is not None
        assert job.stdout.readline() == "daemon up\n", (root / "dockerd.log").read_text()
        pid = int((root / "pid").read_text())
        os.killpg(job.pid, signal.SIGINT)  # Ctrl-C
        job.wait(timeout=30)
        time.sleep(1)
        yield PrivateDaemon(host, root / "dockerd.log", pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        if pid:
            _stop(pid)
        subprocess.run(["ip", "link", "del", bridge], check=False)
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_ctrl_c_in_the_terminal_leaves_the_daemon_running(private_daemon: PrivateDaemon) -> None:
    os.kill(private_daemon.pid, 0)  # the process is there
    assert private_daemon.docker("info", "--format", "{{.ServerVersion}}").returncode == 0
    assert "Processing signal 'interrupt'" not in private_daemon.log.read_text()
    # The machine's own bridge is untouched by the second daemon.
    assert subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, check=False).returncode == 0


def test_clean_all_removes_only_what_nbship_made(
    private_daemon: PrivateDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = docker_save("debian:bookworm-slim")
    private_daemon.docker("load", input=saved)
    monkeypatch.setenv("DOCKER_HOST", private_daemon.host)
    work = tmp_path / "work"
    work.mkdir()
    (work / "result.csv").write_text("a,b\n")
    assert run_cli("volume", "import", "kept-work", str(work)).exit_code == 0  # nbship's helper image + a volume
    foreign_volume = private_daemon.docker("volume", "create", "not-nbships").stdout.decode().strip()
    private_daemon.docker("create", "--name", "not-nbships", "debian:bookworm-slim", "true")
    for name, step in (("ours", "mkdir -p /opt/nbship && echo 1 > /opt/nbship/probe"), ("theirs", "echo 2 > /probe")):
        context = tmp_path / name
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM debian:bookworm-slim\nRUN {step}\n")
        private_daemon.docker("build", "-q", "-t", f"probe-{name}:1", str(context))
    private_daemon.docker("rmi", "probe-ours:1", "probe-theirs:1")  # their steps stay in the build cache

    listed = run_cli("volume", "ls", "--json")
    assert [v["name"] for v in json.loads(listed.stdout)["volumes"]] == ["kept-work"]
    kept = run_cli("clean", "--all", "--json")
    assert kept.exit_code == 0, kept.stderr
    first = json.loads(kept.stdout)
    assert [image["image"] for image in first["images"]] == ["nbship/volume-helper:1"]
    assert first["volumes"] == [] and first["build_cache"] > 0
    result = run_cli("clean", "--all", "--volumes", "--json")
    assert result.exit_code == 0, result.stderr
    assert "Removing 1 volume(s), with the work in them: kept-work." in result.stderr
    assert json.loads(result.stdout)["volumes"] == ["kept-work"]
    volumes = private_daemon.docker("volume", "ls", "-q").stdout.decode().split()
    assert volumes == [foreign_volume]
    assert private_daemon.docker("image", "inspect", "debian:bookworm-slim", check=False).returncode == 0
    assert private_daemon.docker("container", "inspect", "not-nbships", check=False).returncode == 0
    client = docker_sdk.DockerClient(base_url=private_daemon.host)
    try:
        descriptions = " ".join(str(r.get("Description")) for r in client.api.df().get("BuildCache") or [])
    finally:
        client.close()
    assert "echo 2 > /probe" in descriptions and "/opt/nbship/probe" not in descriptions


def docker_save(image: str) -> bytes:
    return subprocess.run(["docker", "save", image], capture_output=True, timeout=300, check=True).stdout


def test_ctrl_c_on_the_demo_stops_the_server_and_not_the_daemon(docker_daemon: str) -> None:
    daemon_pid = Path("/var/run/docker.pid").read_text().strip() if Path("/var/run/docker.pid").exists() else ""
    example = REPO / "examples" / "sea-surface-temperature"
    tag = f"{TEST_PREFIX}/demo-sst:latest"
    port = free_port()
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh", "-t", tag, "-p", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # the terminal's foreground job
    )
    try:
        assert demo.stdout is not None
        url = demo.stdout.readline().strip()
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token="), url
        token = url.split("token=", 1)[1]
        assert http_status(f"http://127.0.0.1:{port}/api/status?token={token}") == 200
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        demo.wait(timeout=120)
        left = docker("ps", "-aq", "--filter", f"label=io.nbship.project-path={example}").stdout.split()
        assert left == []  # the server stopped and its container is gone
        assert docker("info", "--format", "{{.ServerVersion}}").returncode == 0
        if daemon_pid:
            assert Path("/var/run/docker.pid").read_text().strip() == daemon_pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
        run_cli("down", str(example), "--volumes")
        docker("rmi", tag, check=False)
