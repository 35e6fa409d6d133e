"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest

from nbship.engine import builder_probe, docker_cli
from nbship.engine.docker import DockerEngine

from .helpers import MakeProject, write_files


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach Docker (daemon or CLI) fails the test loudly."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("Docker was reached")

    monkeypatch.setattr(DockerEngine, "sdk", property(refuse))
    monkeypatch.setattr(DockerEngine, "light", property(refuse))
    monkeypatch.setattr(DockerEngine, "connect", refuse)
    monkeypatch.setattr(docker_cli, "find_buildkit_cli", refuse)
    monkeypatch.setattr(builder_probe, "buildkit_cli", refuse)
    monkeypatch.setattr(docker_cli, "docker_cli", refuse)


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """make_project({"requirements.txt": "numpy\\n"}, name="proj") -> the project folder."""

    def make(files: Mapping[str, str | bytes] | None = None, *, name: str = "proj") -> Path:
        return write_files(tmp_path / name, files or {})

    return make
