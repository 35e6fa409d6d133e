"""Everyday use against the real daemon: `nbship run`, the docker-run options (-e, --env-file,
--memory, --cpus, --gpus, -p), --json of build, up, status and volume ls, and `nbship clean`.

One small image (tests/projects/tiny) serves every test here; `clean` gets a copy of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, BuiltProject, copy_project, free_port, http_status, nbship_exe, run_cli
from docker_helpers import docker, inspect

pytestmark = pytest.mark.docker

TAG = f"{TEST_PREFIX}/everyday:latest"


@pytest.fixture(scope="module")
def tiny(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    project = copy_project("tiny", tmp_path_factory.mktemp("everyday"))
    result = run_cli("build", str(project), "-t", TAG)
    assert result.exit_code == 0, result.output + result.stderr
    return BuiltProject(project, TAG)


def nbship_run(tiny: BuiltProject, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command (it attaches the terminal's streams, so not click's runner)."""
    return subprocess.run(
        [nbship_exe(), "run", str(tiny.path), "-t", tiny.image, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_containers() -> list[str]:
    return docker("ps", "-aq", "--filter", "label=io.nbship.run").stdout.split()


def test_run_streams_output_and_exits_with_the_commands_code(tiny: BuiltProject, tmp_path: Path) -> None:
    before = run_containers()
    env_file = tmp_path / "vars.env"
    env_file.write_text("# settings for the run\nFROM_FILE=file value\nBOTH=file\n")
    script = 'echo "out $FROM_FLAG|$FROM_FILE|$BOTH"; pwd; id -u; ls; echo "to stderr" >&2; exit 7'
    result = nbship_run(
        tiny, "-e", "FROM_FLAG=flag", "--env-file", str(env_file), "-e", "BOTH=flag", "--", "sh", "-c", script
    )
    assert result.returncode == 7, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["out flag|file value|flag", "/home/jovyan/work", "1000"]
    assert "tiny.ipynb" in lines  # the work folder holds the project, as for `up`
    assert "to stderr" in result.stderr and "to stderr" not in result.stdout
    assert run_containers() == before  # removed afterwards
    # No value given with -e reaches a command line: the container is made through the API.
    assert "flag" not in " ".join(docker("ps", "-a", "--no-trunc", "--format", "{{.Command}}").stdout.split())


def test_run_works_in_the_projects_volume_or_nowhere(tiny: BuiltProject) -> None:
    assert nbship_run(tiny, "--", "sh", "-c", "echo kept > result.txt").returncode == 0
    assert nbship_run(tiny, "--", "cat", "result.txt").stdout == "kept\n"
    throwaway = nbship_run(tiny, "--mount", "none", "--", "sh", "-c", "ls; echo gone > other.txt")
    assert throwaway.returncode == 0 and "tiny.ipynb" in throwaway.stdout and "result.txt" not in throwaway.stdout
    assert nbship_run(tiny, "--", "ls").stdout.split().count("other.txt") == 0


def test_run_passes_stdin_with_i(tiny: BuiltProject) -> None:
    assert nbship_run(tiny, "-i", "--", "sh", "-c", "tr a-z A-Z", input="hello\n").stdout == "HELLO\n"
    # Without -i (and no terminal) the command gets no input, as with docker run.
    assert nbship_run(tiny, "--", "sh", "-c", "cat; echo done", input="hello\n").stdout == "done\n"


def test_run_limits_memory_and_cpus(tiny: BuiltProject) -> None:
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"
    )
    result = nbship_run(tiny, "--memory", "300m", "--cpus", "0.5", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(300 * 1024 * 1024), "50000"]


def test_run_and_up_say_clearly_when_the_engine_has_no_gpus(tiny: BuiltProject) -> None:
    runtimes = docker("info", "--format", "{{json .Runtimes}}").stdout
    if "nvidia" in runtimes:
        pytest.skip("this engine has GPU support; the message is for engines without it")

    # Other tests' servers of this project may be running: only a container this test made counts.
    def containers() -> set[str]:
        return set(docker("ps", "-aq", "--filter", f"name=nbship-{tiny.path.name}").stdout.split())

    before = containers()
    result = nbship_run(tiny, "--gpus", "all", "--", "true")
    assert result.returncode == 6
    assert "This Docker engine has no GPU support" in result.stderr
    assert "NVIDIA Container Toolkit" in result.stderr
    up = run_cli("up", str(tiny.path), "-t", tiny.image, "--detach", "-p", str(free_port()), "--gpus", "all")
    assert up.exit_code == 6
    assert "This Docker engine has no GPU support" in up.stderr and "Traceback" not in up.output
    assert containers() <= before


def test_ctrl_c_stops_the_command_and_leaves_no_container(tiny: BuiltProject) -> None:
    before = run_containers()
    process = subprocess.Popen(
        [nbship_exe(), "run", str(tiny.path), "-t", tiny.image, "--", "sh", "-c", "echo started; sleep 300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground job
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert time.monotonic() - started < 30
    assert "the container was stopped and removed" in err
    assert run_containers() == before


def test_build_json(tiny: BuiltProject) -> None:
    # New content (BuildKit's cache is keyed on content, and is shared with earlier runs).
    (tiny.path / "notes.py").write_text(f"x = {time.time_ns()}\n")
    result = run_cli("build", str(tiny.path), "-t", tiny.image, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["image"] == tiny.image and document["built"] is True
    assert document["id"] == inspect(tiny.image)["Id"] and document["size"] > 0
    stages = {step["stage"] for step in document["rebuilt"]}
    # A new code file rebuilds the content and what follows it, never the environment.
    assert "content" in stages and "env" not in stages
    assert document["cached_steps"] > 0
    again = json.loads(run_cli("build", str(tiny.path), "-t", tiny.image, "--json").stdout)
    assert (again["built"], again["rebuilt"], again["id"]) == (False, [], document["id"])


def test_up_detach_json_status_json_and_volume_ls_json(tiny: BuiltProject) -> None:
    port = free_port()
    result = run_cli(
        "up", str(tiny.path), "-t", tiny.image, "-d", "-p", str(port), "--json", "-e", "ANALYSIS_MODE=fast"
    )
    assert result.exit_code == 0, result.stderr
    try:
        server = json.loads(result.stdout)
        assert set(server) >= {"url", "port", "token", "container", "volume", "image", "project", "bind"}
        assert server["port"] == port and server["bind"] == "127.0.0.1"
        assert http_status(f"http://127.0.0.1:{port}/api/status?token={server['token']}") == 200
        assert server["url"] == f"http://127.0.0.1:{port}/lab?token={server['token']}"
        env = docker("exec", server["container"], "printenv", "ANALYSIS_MODE").stdout
        assert env == "fast\n"
        listed = json.loads(run_cli("status", "--json").stdout)["servers"]
        assert server in listed
        volumes = json.loads(run_cli("volume", "ls", "--json").stdout)["volumes"]
        ours = next(volume for volume in volumes if volume["name"] == server["volume"])
        assert ours["project"] == str(tiny.path) and server["container"] in ours["used_by"]
        # Another -e is another server: up replaces the running one.
        again = run_cli("up", str(tiny.path), "-t", tiny.image, "-d", "-p", str(port), "-e", "ANALYSIS_MODE=slow")
        assert again.exit_code == 0 and "already running" not in again.stderr
        assert docker("exec", server["container"], "printenv", "ANALYSIS_MODE").stdout == "slow\n"
    finally:
        run_cli("down", str(tiny.path))


def test_settings_choose_the_port_and_the_mount(tiny: BuiltProject, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("NBSHIP_PORT", str(port))
    monkeypatch.setenv("NBSHIP_MOUNT", "none")
    result = run_cli("up", str(tiny.path), "-t", tiny.image, "-d", "--json")
    try:
        assert result.exit_code == 0, result.stderr
        server = json.loads(result.stdout)
        assert (server["port"], server["mount"], server["volume"]) == (port, "none", None)
    finally:
        run_cli("down", str(tiny.path))


def test_clean_removes_what_nbship_made_for_the_project_and_nothing_else(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    tag = f"{TEST_PREFIX}/clean-me:latest"
    assert run_cli("build", str(project), "-t", tag).exit_code == 0
    also = f"{TEST_PREFIX}/clean-me-pushed:1"
    docker("tag", tag, also)  # a second name of the same image (as `push` gives it)
    up = run_cli("up", str(project), "-t", tag, "-d", "-p", str(free_port()), "--json")
    assert up.exit_code == 0, up.stderr
    server = json.loads(up.stdout)
    docker("stop", server["container"])  # a stopped server of the project
    foreign_container = f"{TEST_PREFIX}-foreign-{time.time_ns()}"
    docker("create", "--name", foreign_container, tag, "true")  # made by hand from the same image
    foreign_volume = f"{TEST_PREFIX}-foreign-{time.time_ns()}"
    docker("volume", "create", foreign_volume)
    try:
        kept = run_cli("clean", str(project), "--json")
        assert kept.exit_code == 0, kept.stderr
        outcome = json.loads(kept.stdout)
        assert outcome["containers"] == [server["container"]]
        assert outcome["volumes"] == []
        # Its image is used by a container nbship did not make: it stays whole, and nbship says so.
        assert any(tag in reason and foreign_container in reason for reason in outcome["kept"])
        assert outcome["images"] == []
        assert docker("image", "inspect", also, check=False).returncode == 0
        docker("rm", foreign_container)
        result = run_cli("clean", str(project), "--volumes")
        assert result.exit_code == 0, result.stderr
        assert f"Removing 1 volume(s), with the work in them: {server['volume']}." in result.stderr
        assert result.stdout.startswith("freed ")
        assert (
            f"removed the image {also}, {tag}" in result.stderr or f"removed the image {tag}, {also}" in result.stderr
        )
        assert docker("image", "inspect", tag, check=False).returncode != 0
        assert docker("volume", "inspect", server["volume"], check=False).returncode != 0
        assert docker("volume", "inspect", foreign_volume, check=False).returncode == 0
        assert docker("image", "inspect", "python:3.11-slim", check=False).returncode == 0
    finally:
        docker("rm", "-f", foreign_container, check=False)
        docker("volume", "rm", foreign_volume, check=False)
        docker("rmi", tag, also, check=False)
