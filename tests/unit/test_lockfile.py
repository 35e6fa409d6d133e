"""nbship.lock read on the host as YAML: every shape of file gives packages or a LockError."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.errors import LockError
from nbship.lock import conda as conda_lock
from nbship.lock import lockfile

LOCK = """\
# nbship-inputs: x
version: 7
platforms:
- name: linux-64
environments:
  default:
    channels:
    - url: file:///srv/channel/
    packages:
      linux-64:
      - conda: /srv/channel/noarch/a-1-0.conda
      - conda: https://conda.example.org/main/linux-64/b-1-0.conda
      - pypi: https://files.example.org/c-1-py3-none-any.whl#sha256=00
  nbship-jupyterlab:
    packages:
      linux-64:
      - pypi: https://files.example.org/jupyterlab-4-py3-none-any.whl#sha256=11
"""


def test_packages_by_environment_and_local_paths_as_urls(tmp_path: Path) -> None:
    path = tmp_path / "nbship.lock"
    path.write_text(LOCK)
    locked = lockfile.packages(path, "linux-64")
    # rattler writes a local channel's package as a path: read back as the file:// URL it was locked from
    assert locked.conda == (
        "file:///srv/channel/noarch/a-1-0.conda",
        "https://conda.example.org/main/linux-64/b-1-0.conda",
    )
    assert locked.pypi == ("https://files.example.org/c-1-py3-none-any.whl#sha256=00",)
    assert lockfile.packages(path, "linux-64", environment=lockfile.JUPYTERLAB_ENVIRONMENT).pypi[0].endswith("=11")
    assert lockfile.platforms(path) == ("linux-64",)
    assert lockfile.packages(path, "linux-aarch64").conda == ()


def test_channel_names_follow_the_conda_channel_alias(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert conda_lock.channel_url("conda-forge", tmp_path) == "https://conda.anaconda.org/conda-forge/"
    monkeypatch.setenv("CONDA_CHANNEL_ALIAS", "https://mirror.example.org/conda")
    assert conda_lock.channel_url("conda-forge", tmp_path) == "https://mirror.example.org/conda/conda-forge/"
    assert conda_lock.channel_url("https://other.example.org/x", tmp_path) == "https://other.example.org/x/"


_YAML = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
_KEYS = st.sampled_from(["version", "platforms", "environments", "default", "packages", "linux-64", "conda", "pypi"])
_SHAPED = st.recursive(
    st.none() | st.text(max_size=8) | st.integers(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=16,
)


@given(document=st.one_of(_YAML, _SHAPED), raw=st.booleans(), text=st.text(max_size=40))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_file_reads_or_is_refused(tmp_path: Path, document: object, raw: bool, text: str) -> None:
    path = tmp_path / "nbship.lock"
    path.write_text(text if raw else yaml.safe_dump(document), encoding="utf-8")
    assert isinstance(lockfile.platforms(path), tuple)
    try:
        locked: lockfile.LockedPackages | LockError = lockfile.packages(path, "linux-64")
    except LockError as exc:
        locked = exc
    if isinstance(locked, LockError):
        assert "nbship.lock" in str(locked)  # a message naming the file, never an unexpected exception
    else:
        assert all(isinstance(url, str) for url in (*locked.conda, *locked.pypi))
