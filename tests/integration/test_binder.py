"""Binder-ready repositories built and served unchanged: Pipfile and Pipfile.lock, start and
postBuild as Windows checkouts have them, Binder's environment, and a project's own minimal
Dockerfile. Each fixture project carries a notebook that asserts its convention, run by
`nbship check` inside the image."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import (
    TEST_PREFIX,
    BuiltWithLog,
    copy_project,
    free_port,
    http_status,
    run_cli,
)
from docker_helpers import docker, inspect, run_in

from nbship.project.detect import detect

pytestmark = pytest.mark.docker


def _check(built: BuiltWithLog) -> str:
    result = run_cli("check", str(built.path), "-t", built.image)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    return result.stdout


def _volume_exists(name: str) -> bool:
    return docker("volume", "inspect", name, check=False).returncode == 0


def _containers_of(project: Path) -> list[str]:
    name = f"nbship-{detect(project).project_id}"
    return docker("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Names}}").stdout.split()


# -- Pipfile and Pipfile.lock ---------------------------------------------------------------------


def test_pipfile_lock_is_installed_with_its_hashes(pipfile_lock_built: BuiltWithLog) -> None:
    _check(pipfile_lock_built)  # the locked six, the develop section, the project itself; no requirements.txt
    assert "binder/requirements.txt is not used" in pipfile_lock_built.log
    assert "binder/Pipfile.lock" in pipfile_lock_built.log
    dockerfile = run_cli("dockerfile", str(pipfile_lock_built.path)).stdout
    assert "--require-hashes -r Pipfile.lock.txt" in dockerfile and "--no-deps -e ." in dockerfile


def test_a_changed_hash_in_pipfile_lock_fails_the_build(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("pipfile-lock", tmp_path)
    lock_file = project / "binder" / "Pipfile.lock"
    lock = json.loads(lock_file.read_text())
    lock["default"]["six"]["hashes"] = ["sha256:" + "0" * 64]
    lock_file.write_text(json.dumps(lock, indent=4))
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/pipfile-tampered:latest")
    assert result.exit_code == 5, result.stderr
    assert "hash" in result.stderr.lower() and "six" in result.stderr
    assert "Traceback" not in result.stderr


def test_pipfile_without_a_lock(pipfile_only_built: BuiltWithLog) -> None:
    _check(pipfile_only_built)
    assert "requirements.txt is not used: Pipfile describes the environment" in pipfile_only_built.log
    assert "pyproject.toml is not installed" in pipfile_only_built.log


def test_nbship_lock_pins_a_pipfile(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("pipfile-only", tmp_path)
    locked = run_cli("lock", str(project))
    assert locked.exit_code == 0, locked.stderr
    assert "from Pipfile" in locked.stdout + locked.stderr
    text = (project / "requirements.lock").read_text()
    assert "six==1.16.0" in text and "--hash=sha256:" in text and "tomli==" in text
    tag = f"{TEST_PREFIX}/pipfile-locked:latest"
    built = run_cli("build", str(project), "-t", tag, "--check")
    assert built.exit_code == 0, built.stdout + built.stderr
    assert "--require-hashes -r requirements.lock" in run_cli("dockerfile", str(project)).stdout
    # A changed Pipfile is locked again at the next build, as requirements.txt is.
    pipfile = project / "Pipfile"
    pipfile.write_text(pipfile.read_text().replace('six = "==1.16.0"', 'six = "==1.17.0"'))
    relocked = run_cli("lock", str(project))
    assert relocked.exit_code == 0, relocked.stderr
    assert "six==1.17.0" in (project / "requirements.lock").read_text()


# -- start and postBuild, and Binder's environment ----------------------------------------------------


def test_scripts_without_the_executable_bit_and_with_crlf_run(binder_scripts_built: BuiltWithLog) -> None:
    _check(binder_scripts_built)  # REPO_DIR, NB_*, PATH, the tools postBuild made, start's variable
    project = binder_scripts_built.path
    assert b"\r\n" in (project / "binder" / "start").read_bytes()  # the user's files are left as they are
    assert (project / "binder" / "postBuild").stat().st_mode & 0o111 == 0
    out = run_in(
        binder_scripts_built.image,
        "bash -lc 'command -v home-tool repo-tool python'; echo $BINDER_START; cat $REPO_DIR/postbuild-saw.txt",
    )
    lines = out.splitlines()
    assert lines[:3] == ["/home/jovyan/.local/bin/home-tool", "/opt/nbship/project/.local/bin/repo-tool", lines[2]]
    assert lines[2] == "/opt/nbship/env/bin/python"  # login shells too
    assert lines[3] == "start ran"
    assert lines[4] == "postBuild saw NB_PYTHON_PREFIX=/opt/nbship/env (sys.prefix /opt/nbship/env) as jovyan (1000)"


def test_a_failed_postbuild_says_so_with_its_last_lines(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / "postBuild").write_text("echo fetching the data\nsvn checkout https://svn.example.invalid/data\n")
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/postbuild-fails:latest")
    assert result.exit_code == 5, result.stderr
    assert "postBuild failed (exit 127)" in result.stderr
    assert "'svn' is not in the image" in result.stderr and "apt.txt" in result.stderr
    assert "fetching the data" in result.stderr  # the script's last lines
    exit_three = project / "postBuild"
    exit_three.write_text("#!/bin/sh\necho almost there\nexit 3\n")
    again = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/postbuild-fails:latest")
    assert again.exit_code == 5
    assert "postBuild failed (exit 3)" in again.stderr and "almost there" in again.stderr
    assert "RUN " not in again.stderr.splitlines()[-3]  # not the generated RUN line as the message


# -- A project's own Dockerfile, served as Binder serves it -------------------------------------------


def test_own_minimal_dockerfile_is_served_with_its_jupyter(own_binder_built: BuiltWithLog) -> None:
    port = free_port()
    up = run_cli("up", str(own_binder_built.path), "-t", own_binder_built.image, "--detach", "--port", str(port))
    try:
        assert up.exit_code == 0, up.stderr
        assert "does not start Jupyter by itself" in up.stderr
        token = up.stdout.strip().rsplit("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        assert http_status(f"{base}/api/status?token={token}") == 200
        assert http_status(f"{base}/api/status") == 403
        container = _containers_of(own_binder_built.path)[0]
        assert "jupyter-lab" in " ".join(inspect(container)["Config"]["Cmd"])
    finally:
        run_cli("down", str(own_binder_built.path))
    _check(own_binder_built)  # the uid and user the build arguments gave


def test_own_image_without_jupyter_is_refused_before_anything_starts(docker_daemon: str, tmp_path: Path) -> None:
    project = tmp_path / "no-jupyter"
    project.mkdir()
    (project / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["python3"]\n')
    volume = f"nbship-{detect(project).project_id}"
    result = run_cli("up", str(project), "-t", f"{TEST_PREFIX}/no-jupyter:latest", "--port", str(free_port()))
    assert result.exit_code == 6, result.stderr
    assert "does not start Jupyter by itself (its command is `python3`)" in result.stderr
    assert "no Jupyter server on its PATH" in result.stderr
    assert not _volume_exists(volume) and not _containers_of(project)


def test_a_failed_start_removes_the_volume_it_made(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / "start").write_text('#!/bin/sh\necho "the start script gives up" >&2\nexit 1\nexec "$@"\n')
    volume = f"nbship-{detect(project).project_id}"
    result = run_cli("up", str(project), "-t", f"{TEST_PREFIX}/start-fails:latest", "--port", str(free_port()))
    assert result.exit_code == 6, result.stderr
    assert "the start script gives up" in result.stderr
    # The refresh had filled it with the image's files, and nothing else: it goes.
    assert not _volume_exists(volume)
    # A busy port fails before the container starts: the new, empty volume goes too...
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        again = run_cli("up", str(project), "-t", f"{TEST_PREFIX}/start-fails:latest", "--port", str(busy))
        assert again.exit_code == 7, again.stderr
        assert not _volume_exists(volume)
        # ...but a volume that was there before this start stays, whatever it holds.
        docker("volume", "create", "--label", "io.nbship.managed=true", volume)
        try:
            kept = run_cli("up", str(project), "-t", f"{TEST_PREFIX}/start-fails:latest", "--port", str(busy))
            assert kept.exit_code == 7
            assert _volume_exists(volume)
        finally:
            docker("volume", "rm", "-f", volume, check=False)
