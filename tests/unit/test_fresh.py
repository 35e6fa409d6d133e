"""The record of the last build (commands/fresh.py) without a daemon: which changes its state
sees, which it may ignore, that a file written just now keeps a run from recording, and that no
record, however broken, does anything but send the build down the full path."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.commands import fresh
from nbship.engine.base import ImageInfo
from nbship.options import BuildOptions
from nbship.reporter import RecordingReporter

IGNORE = ("scratch/", "*.tmp")


def _project(root: Path) -> Path:
    (root / "binder").mkdir(parents=True)
    (root / "analysis.ipynb").write_text('{"cells": []}\n')
    (root / "requirements.txt").write_text("six==1.16.0\n")
    (root / "binder" / "apt.txt").write_text("jq\n")
    (root / "scratch" / "deep").mkdir(parents=True)
    (root / "scratch" / "deep" / "notes.txt").write_text("x\n")
    return root


def _state(root: Path, options: BuildOptions | None = None, ignore: tuple[str, ...] = IGNORE) -> str:
    state = fresh._state(root, options or BuildOptions(), None, ignore)
    assert state is not None
    return state.digest


def _later(path: Path) -> None:
    """Rewrites `path` with the same bytes and a later mtime: only the stats say it changed."""
    data, st = path.read_bytes(), path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _renamed_over(path: Path) -> None:
    """The same bytes, written beside and renamed over it, as editors and lock writers do."""
    partial = path.with_suffix(".partial")
    partial.write_bytes(path.read_bytes())
    os.replace(partial, path)


def _git(root: Path) -> Path:
    heads = root / ".git" / "refs" / "heads"
    heads.mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (heads / "main").write_text("a" * 40 + "\n")
    return heads / "main"


CHANGES: dict[str, Callable[[Path], object]] = {
    "a notebook's content, same size": lambda root: (root / "analysis.ipynb").write_text('{"cells": {}}\n'),
    "a notebook touched": lambda root: _later(root / "analysis.ipynb"),
    "a new file": lambda root: (root / "data.csv").write_text("1\n"),
    "a removed file": lambda root: (root / "requirements.txt").unlink(),
    "a mode": lambda root: (root / "requirements.txt").chmod(0o755),
    "the .dockerignore": lambda root: (root / ".dockerignore").write_text("scratch/\n"),
    "the settings": lambda root: (root / "nbship.toml").write_text("port = 8899\n"),
    "a binder file": lambda root: (root / "binder" / "apt.txt").write_text("jq curl\n"),
    "a lock, renamed over": lambda root: _renamed_over(root / "requirements.txt"),
}


@pytest.mark.parametrize("change", CHANGES, ids=str)
def test_each_input_changes_the_state(tmp_path: Path, change: str) -> None:
    root = _project(tmp_path / "p")
    before = _state(root)
    assert _state(root) == before  # stable while nothing changes
    CHANGES[change](root)
    assert _state(root) != before


def test_options_environment_and_git_change_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path / "p")
    before = _state(root)
    assert _state(root, BuildOptions(tag="other:1")) != before
    assert _state(root, ignore=("scratch/",)) != before
    monkeypatch.setenv("NBSHIP_INSTALLER", "pip")
    assert _state(root) != before
    monkeypatch.delenv("NBSHIP_INSTALLER")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert _state(root) != before
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")
    assert _state(root) == before
    ref = _git(tmp_path)  # a repository above the project: its last commit is the build's clock
    with_git = _state(root)
    assert with_git != before
    ref.write_text("b" * 40 + "\n")
    os.utime(ref, ns=(0, ref.stat().st_mtime_ns + 1_000_000_000))
    assert _state(root) != with_git


def test_what_the_build_never_reads_does_not_change_the_state(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    before = _state(root)
    (root / "scratch" / "deep" / "notes.txt").write_text("a longer note\n")  # ignored, below the top
    (root / "scratch" / "deep" / "more.txt").write_text("y\n")
    assert _state(root) == before


def test_a_worktree_git_file_is_a_doubt(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (tmp_path / ".git").write_text("gitdir: /elsewhere/.git/worktrees/p\n")
    assert fresh._state(root, BuildOptions(), None, IGNORE) is None


def _outcome(engine: str = "docker") -> fresh.BuildOutcome:
    info = ImageInfo(id="sha256:1", tags=("p:latest",), labels={}, size=1, env={}, workdir="", user="")
    inputs = fresh.BuildInputs(IGNORE, "f" * 32, "python:3.11-slim", (), engine)
    return fresh.BuildOutcome("p:latest", "sha256:1", 1, "none", False, info, inputs=inputs)


def test_a_file_written_just_before_the_run_keeps_it_from_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBSHIP_CACHE_DIR", str(tmp_path / "cache"))
    root = _project(tmp_path / "p")
    started = os.stat(root / "analysis.ipynb").st_ctime_ns  # the run began as the file was written
    assert not fresh.remember(root, BuildOptions(), engine=None, outcome=_outcome(), started_ns=started)
    assert not (tmp_path / "cache").exists()


def test_nothing_is_recorded_for_podman_or_a_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSHIP_CACHE_DIR", str(tmp_path / "cache"))
    root = _project(tmp_path / "p")
    later = os.stat(root / "analysis.ipynb").st_ctime_ns + 10**10
    assert not fresh.remember(root, BuildOptions(), engine=None, outcome=_outcome("podman"), started_ns=later)
    options = BuildOptions(rebuild=True)
    assert not fresh.remember(root, options, engine=None, outcome=_outcome(), started_ns=later)
    assert fresh.lookup(root, options, engine=None, reporter=RecordingReporter()) is None


_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_FIELDS = ("format", "state", "ignore", "tag", "image_id", "fingerprint", "base_image", "base", "engine", "notices")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.one_of(_json, st.fixed_dictionaries({key: _json for key in _FIELDS})), matching=st.booleans())
def test_no_record_breaks_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Any, matching: bool
) -> None:
    # No daemon answers here: a record that gets as far as the engine also ends in the full path.
    monkeypatch.setenv("NBSHIP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-daemon.sock'}")
    root = tmp_path / "p"
    if not root.exists():
        _project(root)
    if matching and isinstance(record, dict):
        record = {**record, "format": fresh.RECORD_FORMAT, "ignore": list(IGNORE), "state": _state(root)}
    path = fresh._record_path(root.resolve(), BuildOptions(), "docker")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    reporter = RecordingReporter()
    assert fresh.lookup(root, BuildOptions(), engine="docker", reporter=reporter) is None
    assert reporter.events == []
