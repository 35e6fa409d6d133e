"""Hardening against the real daemon: a .dockerignore that hides binder/, environment files saved
on Windows, a git remote with credentials, a name Docker would expand, and a build context that is
the same whichever builder sends it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import TEST_PREFIX, copy_project, run_cli
from docker_helpers import docker, inspect, run_in

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker

TOKEN = "s3cr3t-TOKEN-4711"
NAME = 'hidden $HOME "q" \\ `x`'


@dataclass(frozen=True)
class HiddenBuild:
    path: Path
    image: str
    commands: list[list[str]]  # every command line nbship ran during the build


@pytest.fixture(scope="module")
def hidden_built(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> HiddenBuild:
    project = copy_project("binder-hidden", tmp_path_factory.mktemp("hidden"))
    (project / "binder" / "requirements.txt").write_bytes(b"\xef\xbb\xbfsix==1.16.0\r\n# pinned\r\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    remote = f"https://ci-user:{TOKEN}@example.org/lab/hidden.git"
    subprocess.run(["git", "-C", str(project), "remote", "add", "origin", remote], check=True)
    commands: list[list[str]] = []
    real = subprocess.Popen

    class Recorded(real):  # type: ignore[misc, valid-type]
        def __init__(self, args: list[str], *rest: object, **kwargs: object) -> None:
            commands.append([str(arg) for arg in args])
            super().__init__(args, *rest, **kwargs)

    tag = f"{TEST_PREFIX}/binder-hidden:latest"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", Recorded)
        result = run_cli("build", str(project), "-t", tag)
    assert result.exit_code == 0, result.output + result.stderr
    return HiddenBuild(project, tag, commands)


def test_environment_files_hidden_by_dockerignore_are_used_and_kept_out(hidden_built: HiddenBuild) -> None:
    out = run_in(
        hidden_built.image,
        'python -c "import six; print(six.__version__)"; ls -A /opt/nbship/project/binder; '
        'cat postbuild-ran.txt; echo "$NBSHIP_TEST_START"',
    )
    # requirements.txt (BOM, CRLF) was installed; the image keeps only what it runs. (CRLF in apt.txt:
    # tests/unit/test_broken_input.py; an apt step here would cost this build its shared env stage.)
    assert out.splitlines() == ["1.16.0", "postBuild", "start", "postBuild ran", "start ran"]


def test_labels_carry_the_name_exactly_and_no_credentials(hidden_built: HiddenBuild) -> None:
    labels = inspect(hidden_built.image)["Config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == NAME
    assert labels["org.opencontainers.image.source"] == "https://example.org/lab/hidden.git"
    assert TOKEN not in json.dumps(inspect(hidden_built.image))
    assert TOKEN not in docker("history", "--no-trunc", hidden_built.image).stdout


def test_no_label_or_secret_is_on_a_command_line(hidden_built: HiddenBuild) -> None:
    builds = [command for command in hidden_built.commands if "build" in command]
    assert builds, hidden_built.commands
    for command in hidden_built.commands:
        assert TOKEN not in " ".join(command)
        assert "--label" not in command


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_a_dockerfile_copying_a_hidden_file_is_explained(docker_daemon: str, tmp_path: Path, builder: str) -> None:
    project = tmp_path / f"own-{builder}"
    (project / "config").mkdir(parents=True)
    (project / "config" / "packages.txt").write_text("six\n")
    (project / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY config/packages.txt /tmp/\n")
    (project / ".dockerignore").write_text("# configuration stays out\nconfig/\n")
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/own-hidden-{builder}:latest", "--builder", builder)
    assert result.exit_code == ExitCode.BUILD_FAILED, result.output
    # BuildKit names the missing folder, the classic builder the file.
    copied = "config" if builder == "buildkit" else "config/packages.txt"
    assert (
        f"The build copies {copied}, but the project's .dockerignore leaves it out of the build "
        f"context (line 2: 'config'). Remove that line, or add the line '!{copied}' after it."
    ) in result.stderr


def test_both_builders_send_the_same_context(docker_daemon: str, tmp_path: Path) -> None:
    project = tmp_path / "context"
    files = ["a.txt", "b.tmp", "data/drop.csv", "data/keep.csv", "src/cache/x", "src/m.py", "notes/#1.md", ".env"]
    for rel in files:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(rel)
    (project / "empty").mkdir()
    (project / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nCOPY . /ctx\nRUN cd /ctx && find . -mindepth 1 | sort > /list.txt\n"
    )
    (project / ".dockerignore").write_text("data\n!data/keep.csv\n*.tmp\n**/cache\n\\#*\nnotes/\\#*\n")
    listings = {}
    for builder in ("buildkit", "classic"):
        tag = f"{TEST_PREFIX}/context-{builder}:latest"
        result = run_cli("build", str(project), "-t", tag, "--builder", builder)
        assert result.exit_code == 0, result.output + result.stderr
        listings[builder] = set(docker("run", "--rm", tag, "cat", "/list.txt").stdout.split()) - {
            "./.nbship.Dockerfile"
        }
    assert listings["buildkit"] == listings["classic"]
    assert {"./a.txt", "./data/keep.csv", "./src/m.py", "./empty", "./Dockerfile", "./.dockerignore"} <= listings[
        "buildkit"
    ]
    assert not {"./b.tmp", "./data/drop.csv", "./src/cache", "./notes/#1.md", "./.env"} & listings["buildkit"]


def test_compose_reads_every_value_literally(docker_daemon: str, tmp_path: Path) -> None:
    project = tmp_path / "cost $HOME ${X:?}"
    project.mkdir()
    (project / "requirements.txt").write_text("six\n")
    result = run_cli("compose", str(project), "--image", "python:3.11-slim")
    assert result.exit_code == 0, result.output + result.stderr
    config = subprocess.run(
        ["docker-compose", "-f", str(project / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
    )
    # Interpolated, `${X:?}` would have stopped compose ("X is missing a value"); `config` writes `$` as `$$`.
    assert config.returncode == 0, config.stderr
    document = yaml.safe_load(config.stdout)
    assert document["volumes"]["work"]["labels"]["io.nbship.project-path"].replace("$$", "$") == str(project)
    assert list(document["services"]) == ["lab"]
