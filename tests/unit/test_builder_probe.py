"""The builder probe's remembered answer: reused while nothing it depends on changes, probed again
as soon as a client, a plugin, the config or the environment does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbship import contract as c
from nbship.engine import builder_probe, docker_cli
from nbship.engine.docker_cli import BuildkitCli


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[int]]:
    """A PATH with one fake docker client, a config folder of its own, and a counting probe."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    client = bin_dir / "docker"
    client.write_text("#!/bin/sh\nexit 1\n")
    client.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv(c.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    calls: list[int] = []

    def probe(env: docker_cli.FrozenEnv = ()) -> BuildkitCli | None:
        calls.append(1)
        return BuildkitCli(str(client), f"probe {len(calls)}") if client.exists() else None

    monkeypatch.setattr(docker_cli, "find_buildkit_cli", probe)
    return client, calls


def test_second_call_reuses_the_answer(setup: tuple[Path, list[int]]) -> None:
    client, calls = setup
    first = builder_probe.buildkit_cli()
    assert builder_probe.buildkit_cli() == first == BuildkitCli(str(client), "probe 1")
    assert len(calls) == 1


def test_no_buildkit_is_remembered_too(setup: tuple[Path, list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    _, calls = setup

    def none(env: docker_cli.FrozenEnv = ()) -> BuildkitCli | None:
        calls.append(1)
        return None

    monkeypatch.setattr(docker_cli, "find_buildkit_cli", none)
    assert builder_probe.buildkit_cli() is None
    assert builder_probe.buildkit_cli() is None
    assert len(calls) == 1


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("change", ["client", "plugin", "config", "docker_env", "pinned_env", "path", "gone"])
def test_any_change_probes_again(setup: tuple[Path, list[int]], monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    client, calls = setup
    builder_probe.buildkit_cli()
    config = Path(os.environ["DOCKER_CONFIG"])
    env: docker_cli.FrozenEnv = ()
    if change == "client":
        _touch_later(client)
    elif change == "plugin":
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-buildx").write_text("plugin")
    elif change == "config":
        config.mkdir(parents=True, exist_ok=True)
        (config / "config.json").write_text('{"currentContext": "remote"}')
    elif change == "docker_env":
        monkeypatch.setenv("DOCKER_CONTEXT", "remote")
    elif change == "pinned_env":
        env = (("DOCKER_HOST", "tcp://127.0.0.1:2375"),)
    elif change == "path":
        other = client.parent.parent / "other"
        other.mkdir()
        monkeypatch.setenv("PATH", f"{other}{os.pathsep}{client.parent}")
    else:
        client.unlink()  # the remembered client is gone: never answer with it
    builder_probe.buildkit_cli(env)
    assert len(calls) == 2
    builder_probe.buildkit_cli(env)
    assert len(calls) == 2


def test_a_damaged_record_is_made_again(setup: tuple[Path, list[int]]) -> None:
    _, calls = setup
    builder_probe.buildkit_cli()
    builder_probe.record_path().write_text("{not json")
    assert builder_probe.buildkit_cli() is not None
    assert len(calls) == 2
    assert builder_probe.buildkit_cli() is not None
    assert len(calls) == 2
