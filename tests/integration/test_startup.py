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
