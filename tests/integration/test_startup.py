"""What a changed build loads before it hands over to the engine's build, and what `up` loads on
its way to an answering server, against the real daemon: the engine's calls on those paths (does
it answer, image inspect, info, the builder; the volume, the container's creation, start, inspect
and log) go over the standard library, so the docker SDK and requests stay unloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, BuiltProject, copy_project, free_port, http_status, run_cli

pytestmark = pytest.mark.docker

# The build itself is replaced by a report of what is loaded by then: nothing is built.
_AT_BUILD = """
import sys
from nbship.cli import main
from nbship.engine.docker import DockerEngine
from nbship.errors import UsageError

def report(self, request, reporter):
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"docker", "requests"})
    print("loaded at build:", *loaded, file=sys.stderr)
    raise UsageError("stopped where the build starts")

DockerEngine.build = report
main(sys.argv[1:])
"""


def test_a_changed_build_reaches_the_engine_without_the_sdk(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("pipfile-lock", tmp_path)
    env = {**os.environ, "NBSHIP_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", _AT_BUILD, "build", str(project), "-t", f"{TEST_PREFIX}/startup:latest"]
    lines: list[str] = []
    # The first run may import the support image (once per daemon) and probes the builder; the
    # second is every later build after an edit.
    for _ in range(2):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=300)
        lines = [line for line in result.stderr.splitlines() if line.startswith("loaded at build:")]
        assert lines, result.stdout + result.stderr
    assert lines == ["loaded at build:"], result.stderr
    assert (tmp_path / "cache" / "builder-probe.json").is_file()


# `up` runs to its end (the server answers before it returns); what it loaded is reported then.
_AFTER_UP = """
import sys
from nbship.cli import main

try:
    main(sys.argv[1:])
finally:
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"docker", "requests"})
    print("loaded after up:", *loaded, file=sys.stderr)
"""


def test_up_reaches_an_answering_server_without_the_sdk(kinds_built: BuiltProject, tmp_path: Path) -> None:
    port, token = free_port(), "u" * 40
    env = {**os.environ, "NBSHIP_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", _AFTER_UP, "up", str(kinds_built.path), "-t", kinds_built.image, "-d"]
    try:
        result = subprocess.run(
            [*argv, "--port", str(port), "--token", token], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert http_status(f"http://127.0.0.1:{port}/api/status?token={token}") == 200
        lines = [line for line in result.stderr.splitlines() if line.startswith("loaded after up:")]
        assert lines == ["loaded after up:"], result.stderr
    finally:
        run_cli("down", str(kinds_built.path))


def test_the_sdk_path_creates_the_container_the_light_client_does(docker_daemon: str) -> None:
    # On ssh:// hosts every call goes through docker-py; the create request is the same JSON
    # (engine/docker_create.py) either way. Both containers are made, inspected and compared.
    from nbship.engine.base import ContainerSpec, Mount, PortBinding
    from nbship.engine.docker import DockerEngine
    from nbship.engine.docker_api import DockerApi
    from nbship.resources import Resources

    class OverSsh(DockerEngine):
        @property
        def light(self) -> DockerApi | None:
            return None

    names = [f"{TEST_PREFIX}-sdk-path", f"{TEST_PREFIX}-light-path"]
    engines = [OverSsh(), DockerEngine()]
    api = DockerApi()
    try:
        made = []
        for name, engine in zip(names, engines, strict=True):
            spec = ContainerSpec(
                image="debian:bookworm-slim",
                name=name,
                command=("sleep", "30"),
                labels={"io.nbship.test": TEST_PREFIX},
                env={"A": "1", "B": "two words"},
                ports=(PortBinding(8888, "127.0.0.1", free_port()),),
                mounts=(Mount(kind="volume", source="", target="/scratch"),),
                workdir="/tmp",
                resources=Resources(memory=256 * 1024 * 1024, cpus=0.5),
            )
            made.append(engine.create(spec))
        raw = [api._get(f"/containers/{name}/json", f"docker inspect {name}") for name in names]
        config = [{key: r["Config"][key] for key in ("Env", "Labels", "Cmd", "WorkingDir", "User")} for r in raw]
        assert config[0] == config[1] and "B=two words" in config[0]["Env"]
        keys = ("Memory", "NanoCpus", "SecurityOpt", "NetworkMode", "ReadonlyRootfs")
        hosts = [{key: r["HostConfig"][key] for key in keys} for r in raw]
        assert hosts[0] == hosts[1] and hosts[0]["SecurityOpt"] == ["no-new-privileges:true"]
        assert [m["Destination"] for m in raw[0]["Mounts"]] == ["/scratch"]
        assert [info.name.lstrip("/") for info in made] == names and made[0].status == "created"
        assert raw[0]["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostIp"] == "127.0.0.1"
    finally:
        for name in names:
            engines[1].remove_container(name)
