"""Serving JupyterLab from built images: token, loopback-only publishing, status, logs, shell, down."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from conftest import (
    TEST_PREFIX,
    BuiltProject,
    ServedLab,
    copy_project,
    free_port,
    http_status,
    nbship_exe,
    run_cli,
    wait_until,
)
from docker_helpers import docker, inspect

pytestmark = pytest.mark.docker


def test_token_is_enforced(served_example: ServedLab) -> None:
    base = f"http://127.0.0.1:{served_example.port}"
    assert http_status(f"{base}/api/status") == 403
    assert http_status(f"{base}/api/status?token=wrong-token") == 403
    assert http_status(f"{base}/api/status?token={served_example.token}") == 200
    assert len(bytes.fromhex(served_example.token)) >= 32
    contents = requests.get(f"{base}/api/contents?token={served_example.token}", timeout=10).json()
    assert "sst_analysis.ipynb" in {item["name"] for item in contents["content"]}
    data = requests.get(f"{base}/api/contents/data?token={served_example.token}", timeout=10).json()
    assert [item["name"] for item in data["content"]] == ["sst_monthly.nc"]  # data/ is served through its link


def test_published_on_loopback_only(served_example: ServedLab) -> None:
    name = _container_of(served_example.path)
    bindings = inspect(name)["HostConfig"]["PortBindings"]["8888/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(served_example.port)}]
    assert inspect(name)["Config"]["User"] in {"1000", ""}
    out = docker("exec", name, "sh", "-c", "id -u; ps -o args= -p 1 2>/dev/null || cat /proc/1/cmdline").stdout
    assert out.splitlines()[0] == "1000"
    cmdline = docker("exec", name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "dumb-init" in cmdline and "--allow-root" not in cmdline


def test_healthcheck_command_passes_on_a_served_image(served_example: ServedLab) -> None:
    name = _container_of(served_example.path)
    test = inspect(name)["Config"]["Healthcheck"]["Test"][1:]
    assert docker("exec", name, *test, check=False).returncode == 0


def test_status_lists_the_server(served_example: ServedLab) -> None:
    result = run_cli("status")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith(str(served_example.path)))
    assert served_example.lab_url in row and "running" in row


def test_status_reads_the_daemon_as_the_sdk_does(served_example: ServedLab) -> None:
    # status asks over the standard library's HTTP client (engine/docker_api.py); the SDK engine
    # does everything else. Both must see the same servers, containers and images.
    from nbship.engine.docker import DockerEngine
    from nbship.engine.docker_api import DockerApi
    from nbship.errors import DockerCommandError
    from nbship.runtime.servers import list_servers

    light, sdk = DockerApi(), DockerEngine()
    servers = list_servers(light)
    assert servers == list_servers(sdk)
    ours = next(server for server in servers if server.project_path == str(served_example.path))
    assert ours.token and ours.status == "running" and ours.url == served_example.lab_url
    labels = {"io.nbship.managed": "true"}
    assert light.containers(labels=labels, all=True) == sdk.containers(labels=labels, all=True)
    assert light.image(ours.image) == sdk.image(ours.image) is not None
    assert light.image(f"{TEST_PREFIX}/no-such-image:none") is None
    with pytest.raises(DockerCommandError) as refused:
        light._get("/containers/json", "docker ps --filter bogus=x", {"filters": '{"bogus": ["x"]}'})
    assert refused.value.returncode == 400 and "bogus" in refused.value.output


def test_logs_show_the_server_log(served_example: ServedLab) -> None:
    result = run_cli("logs", str(served_example.path))
    assert result.exit_code == 0
    assert "Jupyter Server" in result.stdout or "jupyterlab" in result.stdout.lower()


def test_shell_joins_the_running_container(served_example: ServedLab) -> None:
    result = subprocess.run(
        [nbship_exe(), "shell", str(served_example.path)],
        input="echo inside-$(hostname); pwd; ls\nexit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    container_id = inspect(_container_of(served_example.path))["Id"]
    assert f"inside-{container_id[:12]}" in result.stdout
    assert "/home/jovyan/work" in result.stdout and "sst_analysis.ipynb" in result.stdout


def test_shell_without_a_running_container_uses_a_new_one(kinds_built: BuiltProject) -> None:
    result = subprocess.run(
        [nbship_exe(), "shell", str(kinds_built.path), "-t", kinds_built.image],
        input="id -u; pwd; echo $NBSHIP_TEST_START; exit 3\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3  # the shell's own exit code comes back
    assert result.stdout.splitlines()[:3] == ["1000", "/home/jovyan/work", "start ran"]
    assert "new one" in result.stderr


def test_up_down_cycle_and_busy_port(kinds_built: BuiltProject, tmp_path: Path) -> None:
    port = free_port()
    result = run_cli(
        "up", str(kinds_built.path), "-t", kinds_built.image, "--detach", "--port", str(port), "--token", "a" * 40
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith(f"http://127.0.0.1:{port}/lab?token={'a' * 40}")
    assert http_status(f"http://127.0.0.1:{port}/api/status?token={'a' * 40}") == 200
    first = _container_of(kinds_built.path)
    first_id = inspect(first)["Id"]
    # `up` again with nothing changed leaves the running server alone
    again = run_cli("up", str(kinds_built.path), "-t", kinds_built.image, "--detach", "--port", str(port))
    assert again.exit_code == 0, again.stderr
    assert "already running" in again.stderr
    assert again.stdout.strip().endswith(f"token={'a' * 40}")
    assert inspect(_container_of(kinds_built.path))["Id"] == first_id
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        other = copy_project("tiny", tmp_path)
        refused = run_cli("up", str(other), "--image", kinds_built.image, "--detach", "--port", str(busy))
        assert refused.exit_code == 7
        assert f"Port {busy}" in refused.stderr and "--port" in refused.stderr
    down = run_cli("down", str(kinds_built.path))
    assert down.exit_code == 0 and "Stopped" in down.stderr
    assert not _project_containers(kinds_built.path)
    again = run_cli("down", str(kinds_built.path))
    assert again.exit_code == 0 and "No nbship server" in again.stderr


def test_bind_all_interfaces_warns(kinds_built: BuiltProject) -> None:
    port = free_port()
    result = run_cli(
        "up", str(kinds_built.path), "-t", kinds_built.image, "-d", "--port", str(port), "--bind", "0.0.0.0"
    )
    try:
        assert result.exit_code == 0, result.stderr
        assert "warning" in result.stderr and "other machines" in result.stderr
    finally:
        run_cli("down", str(kinds_built.path))


def test_foreground_up_streams_logs_and_ctrl_c_stops(kinds_built: BuiltProject) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [nbship_exe(), "up", str(kinds_built.path), "-t", kinds_built.image, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _wait_for_url(proc)
        assert _answers(port)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert url.startswith(f"http://127.0.0.1:{port}/lab?token=") and "Ctrl-C" in err
    assert not _project_containers(kinds_built.path)


def test_server_that_stops_by_itself_keeps_its_log(kinds_built: BuiltProject) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [nbship_exe(), "up", str(kinds_built.path), "-t", kinds_built.image, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_url(proc)
        docker("stop", _container_of(kinds_built.path))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 6
    assert "nbship logs" in err, err[-600:]
    logs = run_cli("logs", str(kinds_built.path))
    assert logs.exit_code == 0 and "Jupyter" in logs.stdout
    assert run_cli("down", str(kinds_built.path)).exit_code == 0
    assert not _project_containers(kinds_built.path)


def test_ctrl_c_during_start_leaves_no_container(kinds_built: BuiltProject, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    # An image whose start script takes a minute, so that Ctrl-C lands while nbship waits for the server.
    slow = f"{TEST_PREFIX}/slow-start:latest"
    docker(
        "build",
        "-t",
        slow,
        "-",
        input=f"FROM {kinds_built.image}\nENV NBSHIP_START=slow\nUSER root\n"
        "RUN printf '#!/bin/sh\\nsleep 60\\nexec \"$@\"\\n' > /opt/nbship/project/slow\n"
        "RUN chmod 755 /opt/nbship/project/slow\n"
        "USER 1000\n",
    )
    proc = subprocess.Popen(
        [nbship_exe(), "up", str(project), "--image", slow, "--port", str(free_port()), "--detach"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(lambda: bool(_project_containers(project)), timeout=60)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err.lower() and "Traceback" not in err
    assert not _project_containers(project)


def test_ctrl_c_during_build(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    # A postBuild that outlasts the test, and a file unique to this run so no cached image answers.
    (project / "postBuild").write_text("#!/bin/sh\nsleep 600\n")
    (project / "run-id.txt").write_text(f"{time.time_ns()}\n")
    proc = subprocess.Popen(
        [nbship_exe(), "up", str(project), "-t", f"{TEST_PREFIX}/interrupted:latest", "--detach"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # inside the build: at the latest, the postBuild step is sleeping
    assert proc.poll() is None, "the build ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err.lower() and "Traceback" not in err
    assert not _project_containers(project)
    assert docker("image", "inspect", f"{TEST_PREFIX}/interrupted:latest", check=False).returncode != 0


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    """Blocks until `nbship up` prints its URL on stdout, which it does once the server answers."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("http://127.0.0.1:"), f"nbship up printed {line!r} (exit {proc.poll()})"
    return line.strip()


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _project_containers(path: Path) -> list[str]:
    out = docker(
        "ps", "-a", "--filter", f"label=io.nbship.project-path={path.resolve()}", "--format", "{{.Names}}"
    ).stdout
    return out.split()


def _container_of(path: Path) -> str:
    names = _project_containers(path)
    assert len(names) == 1, names
    return names[0]
