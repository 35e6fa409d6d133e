"""pip projects locked: `nbship lock` compiles requirements.txt with uv (PyPI, for real) into
requirements.lock with hashes; builds install it with --require-hashes and follow a changed
requirements.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, run_cli
from docker_helpers import docker, run_in

from nbship.errors import ExitCode

NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def pip_project(root: Path, requirements: str) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text(requirements)
    (root / "nb.ipynb").write_text(NOTEBOOK)
    return root


def test_lock_pins_every_package_with_hashes_for_the_image_python(tmp_path: Path) -> None:
    project = pip_project(tmp_path / "p", "six==1.16.0\n")
    (project / "runtime.txt").write_text("python-3.9\n")
    result = run_cli("lock", str(project), "--exclude-newer", "2026-11-01")
    assert result.exit_code == 0, result.stderr
    text = (project / "requirements.lock").read_text()
    assert "# nbship-python: 3.9" in text
    assert re.search(r"^six==1\.16\.0 \\\n    --hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
    assert re.search(r"^jupyterlab==4\.5\.11 ", text, re.MULTILINE)  # nbship's pin for 3.9, resolved with the rest
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            assert "==" in line, line  # every package at one exact version
    again = run_cli("lock", str(project))
    assert "is current" in again.stderr
    first = text
    (project / "requirements.lock").unlink()
    run_cli("lock", str(project), "--exclude-newer", "2026-11-01")
    assert (project / "requirements.lock").read_text() == first  # same inputs, same bytes


def test_local_path_requirements_cannot_be_hash_locked(tmp_path: Path) -> None:
    project = pip_project(tmp_path / "p", "-e .\n")
    result = run_cli("lock", str(project))
    assert result.exit_code == ExitCode.PROJECT
    assert "requirements.txt installs a local folder" in result.stderr


def test_unresolvable_requirement_is_one_paragraph(tmp_path: Path) -> None:
    project = pip_project(tmp_path / "p", "six==0.0.0.1\n")
    result = run_cli("lock", str(project))
    assert result.exit_code == ExitCode.PROJECT
    assert "could not be locked" in result.stderr and "six" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.docker
def test_build_installs_the_lock_with_hash_checking_and_follows_changes(docker_daemon: str, tmp_path: Path) -> None:
    project = pip_project(tmp_path / "p", "six==1.16.0\n")
    tag = f"{TEST_PREFIX}/pip-locked:latest"
    assert run_cli("lock", str(project)).exit_code == 0
    dockerfile = run_cli("dockerfile", str(project)).stdout
    assert "--require-hashes -r requirements.lock" in dockerfile
    try:
        built = run_cli("build", str(project), "-t", tag)
        assert built.exit_code == 0, built.stderr
        assert run_in(tag, "python -c 'import six; print(six.__version__)'").strip() == "1.16.0"

        (project / "requirements.txt").write_text("six==1.15.0\n")
        rebuilt = run_cli("build", str(project), "-t", tag)
        assert rebuilt.exit_code == 0, rebuilt.stderr
        assert "Locking again: the requirements changed" in rebuilt.stderr
        assert run_in(tag, "python -c 'import six; print(six.__version__)'").strip() == "1.15.0"

        # A package whose bytes differ from the locked hash never enters the image.
        lock = project / "requirements.lock"
        text = lock.read_text()
        block = re.search(r"^six==1\.15\.0 \\\n(    --hash=sha256:[0-9a-f]{64}( \\)?\n)+", text, re.MULTILINE)
        assert block is not None
        tampered = text.replace(block.group(0), re.sub(r"[0-9a-f]{64}", "0" * 64, block.group(0)))
        lock.write_text(tampered)
        failed = run_cli("build", str(project), "-t", tag)
        assert failed.exit_code == ExitCode.BUILD_FAILED
        assert "hash" in (failed.stderr + failed.output).lower()
    finally:
        docker("rmi", "-f", tag, check=False)


def test_locked_dockerfile_installs_jupyterlab_from_the_lock_only(tmp_path: Path) -> None:
    project = pip_project(tmp_path / "p", "six==1.16.0\n")
    (project / "requirements.lock").write_text("six==1.16.0 \\\n    --hash=sha256:" + "1" * 64 + "\n")
    text = run_cli("dockerfile", str(project)).stdout
    assert "jupyterlab==" not in text  # no unhashed install before the lock's
    assert "--require-hashes -r requirements.lock" in text


def test_a_relock_keeps_every_platform_the_lock_had(tmp_path: Path) -> None:
    """A changed requirements.txt is locked again for linux-64 and linux-aarch64 alike (the one relock rule)."""
    from nbship.lock.manage import ensure_locks
    from nbship.project.detect import detect
    from nbship.reporter import RecordingReporter

    project = pip_project(tmp_path / "p", "six==1.16.0\n")
    result = run_cli("lock", str(project), "--platform", "linux-64", "--platform", "linux-aarch64")
    assert result.exit_code == 0, result.stderr
    assert "# nbship-platforms: linux-64 linux-aarch64" in (project / "requirements.lock").read_text()
    (project / "requirements.txt").write_text("six==1.15.0\n")
    reporter = RecordingReporter()
    ensure_locks(detect(project), python="3.11", channel_auth=None, reporter=reporter)
    assert any("Locking again" in text for text in reporter.of("info"))
    text = (project / "requirements.lock").read_text()
    assert "# nbship-platforms: linux-64 linux-aarch64" in text
    assert "six==1.15.0" in text
    # A plain `nbship lock` afterwards keeps both too, and finds the lock current.
    again = run_cli("lock", str(project))
    assert "is current" in again.stderr and "linux-64+linux-aarch64" in again.stderr
