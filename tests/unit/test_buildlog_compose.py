"""What a build did (the --json `rebuilt` list), read from BuildKit's plain log; and compose.yaml
from its typed model, validated by the real docker-compose against the Compose Specification."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nbship.cli import main
from nbship.engine.buildlog import BuildkitLog
from nbship.render.compose import ComposeSpec, compose_model, render_compose

from .helpers import MakeProject

BUILDKIT_LOG = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [system 1/3] FROM docker.io/library/python:3.11-slim
#4 CACHED
#5 [system 2/3] RUN command -v python3
#5 CACHED
#6 [internal] load build context
#6 DONE 0.0s
#7 [content 1/2] COPY . /opt/project/
#7 DONE 0.1s
#8 [content 2/2] RUN set -eu; rm -rf data
#8 0.210 removed
#8 DONE 0.3s
#9 [image 2/6] COPY --from=content /opt/project /opt/project
#9 CACHED
#10 exporting to image
"""


def test_the_report_names_what_ran_and_counts_what_was_cached() -> None:
    log = BuildkitLog()
    for line in BUILDKIT_LOG.splitlines():
        log.feed(line)
    report = log.report()
    assert [(s.stage, s.instruction) for s in report.rebuilt] == [
        ("content", "COPY . /opt/project/"),
        ("content", "RUN set -eu; rm -rf data"),
    ]
    assert [s.instruction for s in report.steps if s.cached] == [
        "RUN command -v python3",
        "COPY --from=content /opt/project /opt/project",
    ]


SPEC = ComposeSpec(
    title='a "tricky": name #1',
    image="ghcr.io/alice/sst:1.0",
    port=8890,
    container_port=8888,
    workdir="/home/jovyan/work",
    volume="nbship-sst-1234abcd",
    labels={"io.nbship.project-path": "/home/alice/my: project"},
)


def test_the_model_is_what_the_file_holds() -> None:
    document = yaml.safe_load(render_compose(SPEC))
    assert document == compose_model(SPEC).document()
    lab = document["services"]["lab"]
    assert list(lab) == ["image", "init", "security_opt", "restart", "ports", "environment", "volumes", "healthcheck"]
    assert lab["security_opt"] == ["no-new-privileges:true"]
    assert lab["volumes"] == [{"type": "volume", "source": "work", "target": "/home/jovyan/work"}]
    assert document["volumes"]["work"]["labels"] == {"io.nbship.project-path": "/home/alice/my: project"}


def _compose_cli() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        message = "docker-compose is not installed (scripts/setup-test-machine.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _config(folder: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_compose_cli(), "-f", str(folder / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=folder,
        env=dict(env),
    )


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """`docker-compose config` validates against the Compose Specification, with no daemon."""
    (tmp_path / "compose.yaml").write_text(render_compose(SPEC))
    (tmp_path / ".env").write_text("JUPYTER_TOKEN=" + "t" * 48 + "\n")
    result = _config(tmp_path, os.environ)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    lab = resolved["services"]["lab"]
    assert lab["environment"]["JUPYTER_TOKEN"] == "t" * 48
    assert lab["image"] == SPEC.image
    assert resolved["volumes"]["work"]["name"] == SPEC.volume
    # Without the token the file refuses to start, naming the fix.
    (tmp_path / ".env").unlink()
    refused = _config(tmp_path, {"PATH": os.environ["PATH"]})
    assert refused.returncode != 0 and "set JUPYTER_TOKEN in the .env file" in refused.stderr


def test_compose_with_an_image_needs_no_daemon(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"requirements.txt": "numpy\n", "a.ipynb": "{}"}, name="offline")
    result = CliRunner().invoke(main, ["compose", str(root), "--image", "ghcr.io/alice/offline:1", "-p", "8899"])
    assert result.exit_code == 0, result.output
    lab = yaml.safe_load((root / "compose.yaml").read_text())["services"]["lab"]
    assert lab["image"] == "ghcr.io/alice/offline:1"
    assert lab["ports"] == ["127.0.0.1:8899:8888"]
    assert lab["volumes"][0]["target"] == "/home/jovyan/work"
