"""End to end: the served example project's notebook shows in JupyterLab's file browser."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

import pytest

# browser.py sits beside this file; make it importable whatever pytest's import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from browser import visible_file_names  # noqa: E402


class ServedLab(Protocol):
    """What the ``served_example`` fixture (tests/conftest.py) provides."""

    @property
    def lab_url(self) -> str: ...

    @property
    def notebook_name(self) -> str: ...


@pytest.mark.e2e
def test_example_notebook_visible_in_file_browser(served_example: ServedLab, tmp_path: Path) -> None:
    shot = tmp_path / "jupyterlab-file-browser.png"
    names = visible_file_names(served_example.lab_url, timeout_s=90.0, screenshot=shot)
    name = served_example.notebook_name
    assert name in names, f"{name!r} not in the file browser's listing {names!r}; see {shot}"
    assert shot.is_file()
    assert shot.stat().st_size > 0
