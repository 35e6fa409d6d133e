"""The no-change build's short cut (commands/fresh.py) against the real daemon: taken when nothing
the build read changed, never when any input did (a file's content at the same size, a new file,
.dockerignore, the settings, the lock, an option, the image itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_PREFIX, copy_project, free_port, run_cli
from docker_helpers import docker, inspect

pytestmark = pytest.mark.docker

TAG = f"{TEST_PREFIX}/fresh:latest"
BASE = "python:3.11-slim"


def _build(project: Path, *extra: str) -> dict[str, Any]:
    result = run_cli("build", str(project), "-t", TAG, "--json", *extra)
    assert result.exit_code == 0, result.output + result.stderr
    return {**json.loads(result.stdout), "stderr": result.stderr}


def _settled(project: Path, *extra: str) -> dict[str, Any]:
    """The first build that answers from the record. A run records what it read unless a file
    changed too shortly before it to tell by stats, so the second no-change run at the latest does."""
    for _ in range(3):
        time.sleep(0.1)  # past the racy window of a file just written
        outcome = _build(project, *extra)
        if outcome["from_record"]:
            return outcome
    raise AssertionError(f"no build of {project} answered from its record:\n{outcome['stderr']}")


def _same_size_edit(path: Path) -> None:
    text = path.read_text()
    changed = text.replace("binder/Pipfile.lock decides", "binder/Pipfile.lock DECIDES")
    assert changed != text and len(changed) == len(text)
    path.write_text(changed)


def _touch_forward(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # content and size unchanged


@pytest.fixture
def project(docker_daemon: str, tmp_path: Path) -> Path:
    return copy_project("pipfile-lock", tmp_path)  # pipenv's lock, in binder/


def test_a_no_change_build_answers_from_its_record(project: Path) -> None:
    first = _build(project)
    assert first["built"] or "is up to date" in first["stderr"]
    settled = _settled(project)
    assert settled["id"] == inspect(TAG)["Id"] == first["id"]
    assert not settled["built"] and settled["builder"] == "none"
    assert f"{TAG} is up to date" in settled["stderr"]

    # Answered before the build's machinery loads: none of it is imported (a process of its own).
    code = (
        "import sys\nfrom nbship.cli import main\ntry:\n"
        f"    main(['build', {str(project)!r}, '-t', {TAG!r}, '--json'])\nexcept SystemExit:\n    pass\n"
        "print('imported:', *sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    )
    heavy = ["docker", "requests", "rattler", "pydantic", "jinja2", "nbformat", "yaml", "packaging"]
    result = subprocess.run([sys.executable, "-c", code, *heavy], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.rsplit("imported:", 1)[0])["from_record"], result.stderr
    assert result.stdout.strip().endswith("imported:"), result.stdout


def test_up_from_a_standing_record_reads_only_which_project_it_is(project: Path) -> None:
    _settled(project)
    # In a process of its own: `up` answers from the record without detecting the project's inputs
    # (their parsers stay unloaded), and JupyterLab answers all the same.
    code = (
        "import sys\nfrom nbship.cli import main\ntry:\n"
        f"    main(['up', {str(project)!r}, '-t', {TAG!r}, '--detach', '--port', {str(free_port())!r}])\n"
        "except SystemExit as exc:\n    print('exit:', exc.code)\n"
        "print('imported:', *sorted(set(sys.modules) & set(sys.argv[1:])))"
    )
    unread = ["nbship.project.detect", "nbship.project.kinds", "packaging", "jinja2", "pydantic", "docker"]
    try:
        result = subprocess.run([sys.executable, "-c", code, *unread], capture_output=True, text=True, timeout=180)
        assert "exit: 0" in result.stdout, result.stdout + result.stderr
        assert f"{TAG} is up to date" in result.stderr, result.stderr
        assert "/lab?token=" in result.stdout + result.stderr
        assert result.stdout.strip().endswith("imported:"), result.stdout

        # A changed input takes the full path: detected, built again, served from the new image.
        _same_size_edit(project / "check_pipfile_lock.ipynb")
        again = run_cli("up", str(project), "-t", TAG, "--detach", "--port", str(free_port()))
        assert again.exit_code == 0, again.output + again.stderr
        assert "is up to date" not in again.stderr
        assert _settled(project)["id"] == inspect(TAG)["Id"]
        listed = docker("ps", "--filter", f"ancestor={inspect(TAG)['Id']}", "--format", "{{.Image}}")
        assert listed.stdout.strip(), "the server does not run from the image just built"
    finally:
        run_cli("down", str(project), "--volumes")


def test_every_input_takes_the_full_path(project: Path) -> None:
    _build(project)
    lock = project / "binder" / "Pipfile.lock"
    edits: dict[str, Callable[[], object]] = {
        "a notebook, same size": lambda: _same_size_edit(project / "check_pipfile_lock.ipynb"),
        "a new file": lambda: (project / "notes.txt").write_text("new\n"),
        ".dockerignore": lambda: (project / ".dockerignore").write_text("notes.txt\n"),
        "the settings": lambda: (project / "nbship.toml").write_text("port = 8899\n"),
        "the lock, touched": lambda: _touch_forward(lock),
    }
    for name, edit in edits.items():
        before = _settled(project)
        edit()
        after = _build(project)
        assert not after["from_record"], f"{name}: answered from the record"
        if after["built"]:
            assert after["id"] != before["id"], name

    # An option the image does not depend on still is one: each set of options has its own record,
    # so `build` and `up` (or two option sets) do not overwrite each other's.
    bundle = project.parent / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    _settled(project)
    assert not _build(project, "--ca-bundle", str(bundle))["from_record"]
    assert _settled(project, "--ca-bundle", str(bundle))["from_record"]
    assert _build(project)["from_record"]  # and back: the first options' record still stands
    (project / "notes.txt").write_text("changed\n")
    assert not _build(project)["from_record"]  # a change reaches every record
    assert not _build(project, "--ca-bundle", str(bundle))["from_record"]

    # --rebuild always builds.
    _settled(project)
    rebuilt = _build(project, "--rebuild")
    assert not rebuilt["from_record"] and rebuilt["built"]

    # The image: removed, or its tag moved to another image (the base image: always present).
    _settled(project)
    docker("rmi", TAG)
    again = _build(project)
    assert again["built"] and not again["from_record"]
    _settled(project)
    docker("tag", BASE, TAG)
    moved = _build(project)
    assert not moved["from_record"] and moved["built"], "a tag moved to another image is rebuilt"
    assert moved["id"] != inspect(BASE)["Id"]
