"""Each user mistake or broken environment gets one paragraph, a named exit code and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project, run_cli

from nbship.errors import ExitCode


def _assert_clean(output: str) -> None:
    assert "Traceback" not in output


def test_daemon_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon-here.sock")
    result = run_cli("build", str(project))
    assert result.exit_code == ExitCode.DOCKER_UNAVAILABLE
    assert "Cannot reach the Docker daemon" in result.stderr and "dockerd" in result.stderr
    _assert_clean(result.stderr)
    status = run_cli("status")
    assert status.exit_code == ExitCode.DOCKER_UNAVAILABLE


def test_missing_project_folder(tmp_path: Path) -> None:
    for command in ("build", "up", "dockerfile", "down"):
        result = run_cli(command, str(tmp_path / "nope"))
        assert result.exit_code == ExitCode.PROJECT, command
        assert "does not exist" in result.stderr
        _assert_clean(result.stderr)


def test_invalid_image_name(tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    result = run_cli("build", str(project), "-t", "Not A Valid Name")
    assert result.exit_code == ExitCode.USAGE
    assert "'Not A Valid Name' is not a valid image name" in result.stderr
    _assert_clean(result.stderr)


def test_malformed_requirements_and_runtime(tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / "requirements.txt").write_text("numpy==2.1\npandas=2.2\n")
    result = run_cli("build", str(project))
    assert result.exit_code == ExitCode.PROJECT
    assert "requirements.txt, line 2" in result.stderr and "pandas==2.2" in result.stderr
    (project / "requirements.txt").unlink()
    (project / "runtime.txt").write_text("\npython-three\n")
    result = run_cli("up", str(project))
    assert result.exit_code == ExitCode.PROJECT
    assert "runtime.txt, line 2" in result.stderr
    _assert_clean(result.stderr)
