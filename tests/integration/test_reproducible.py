"""`nbship build --reproducible` for real: one committed project, copied into two folders with other
paths and file times, built from scratch twice (no build cache used), gives one image id."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, BuiltProject, copy_project, run_cli
from docker_helpers import docker, inspect

from nbship.errors import ExitCode

COMMIT_TIME = "2024-05-01T12:00:00Z"
COMMIT_EPOCH = 1714564800


def _committed(root: Path, *, mtime: int) -> Path:
    project = copy_project("tiny", root)
    (project / "analysis.py").write_text("print('the same analysis')\n")
    for path in [project, *project.rglob("*")]:
        os.utime(path, (mtime, mtime))  # another checkout, another time
    env = {**os.environ, "GIT_AUTHOR_DATE": COMMIT_TIME, "GIT_COMMITTER_DATE": COMMIT_TIME}
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(project), *args], check=True, env=env)
    return project


def test_one_commit_built_from_scratch_in_two_folders_gives_one_image_id(
    docker_daemon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = _committed(tmp_path / "alice", mtime=1_750_000_000)
    second = _committed(tmp_path / "bob" / "elsewhere", mtime=1_760_000_000)
    tags = [f"{TEST_PREFIX}/repro-{name}:1" for name in ("alice", "bob")]
    try:
        ids = []
        for project, tag in zip((first, second), tags, strict=True):
            result = run_cli("build", str(project), "-t", tag, "--reproducible", "--no-cache", "--json")
            assert result.exit_code == 0, result.output + result.stderr
            assert "Reproducible build: every time in the image is 2024-05-01T12:00:00Z" in result.stderr
            assert "not locked" not in result.stderr  # nothing from the Debian mirror: no caveat
            ids.append(json.loads(result.stdout)["id"])
        assert ids[0] == ids[1] == inspect(tags[0])["Id"] == inspect(tags[1])["Id"]
        config = inspect(tags[0])
        assert config["Created"].startswith("2024-05-01T12:00:00")
        assert config["Config"]["Labels"]["org.opencontainers.image.created"] == COMMIT_TIME
        # Rebuilding the unchanged project is a no-op: the fingerprint is the same in both folders.
        again = run_cli("build", str(second), "-t", tags[1], "--reproducible")
        assert again.exit_code == 0 and "is up to date" in again.stderr, again.stderr
        # The image runs: the refresh fills the work folder, the environment imports.
        out = docker("run", "--rm", tags[0], "sh", "-c", "ls; python -c 'import jupyterlab'").stdout
        assert "analysis.py" in out
    finally:
        for tag in tags:
            docker("rmi", "-f", tag, check=False)


def test_reproducible_without_a_clock_is_refused(
    docker_daemon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    project = copy_project("tiny", tmp_path)  # no git, no SOURCE_DATE_EPOCH
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/repro-none:1", "--reproducible")
    assert result.exit_code == ExitCode.USAGE, result.output + result.stderr
    assert "--reproducible needs a time every machine agrees on" in result.stderr
    assert "Traceback" not in result.stderr


def test_reproducible_build_of_an_apt_project_says_the_mirror_is_not_locked(
    kinds_built: BuiltProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(COMMIT_EPOCH))
    project = copy_project("binder-kinds", tmp_path)  # binder/apt.txt; kinds_built cached its layers
    tag = f"{TEST_PREFIX}/repro-apt:1"
    try:
        result = run_cli("build", str(project), "-t", tag, "--reproducible")
        assert result.exit_code == 0, result.output + result.stderr
        assert (
            "apt.txt's packages are not locked: this image is reproducible only while the Debian mirror serves "
            "the same versions of them"
        ) in " ".join(result.stderr.split())
    finally:
        docker("rmi", "-f", tag, check=False)
