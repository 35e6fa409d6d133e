"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from .helpers import MakeProject, write_files


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """make_project({"requirements.txt": "numpy\\n"}, name="proj") -> the project folder."""

    def make(files: Mapping[str, str | bytes] | None = None, *, name: str = "proj") -> Path:
        return write_files(tmp_path / name, files or {})

    return make
