"""What a changed build loads before it hands over to the engine's build, against the real daemon:
the engine's questions on that path (does it answer, image inspect, info, the builder) go over
the standard library, so the docker SDK and requests stay unloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, copy_project

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
