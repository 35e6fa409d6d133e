"""Fuzzing the offline entry points: `nbship dockerfile`, `init` and `lock` on generated projects,
through the CLI in-process. Whatever the files hold (valid, near-valid, random text or bytes, a
byte-order mark, CRLF, control characters, deep nesting, links that loop or lead out), a failure
is one paragraph from nbship that names a file or a value, never an unexpected exception, and a
command that fails leaves the project as it was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conda_channel import TEST_PACKAGES, write_channel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.cli import main

from .test_broken_input import tree


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_channel(tmp_path_factory.mktemp("fuzz-channel"), TEST_PACKAGES)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # uv resolves from its cache only: a lock of unknown packages fails at once instead of asking PyPI.
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.delenv("RATTLER_AUTH_FILE", raising=False)


SEEDS: dict[str, list[str]] = {
    "requirements.txt": [
        "numpy==1.26\n-r extra.txt\n",
        "-e .\n",
        "--index-url https://u:p@h/simple\nsix\n",
        "jupyterlab\n",
    ],
    "extra.txt": ["pandas>=2\n", "-r requirements.txt\n", "-c extra.txt\nsix\n"],
    "runtime.txt": ["python-3.10\n", "python-3\n", "r-4.2-2023-01-01\n", "python-3.99\n"],
    "apt.txt": ["less\nlibgomp1\n", "# tools\nlibgdal-dev=3.6.2\n"],
    "environment.yml": [
        "channels:\n  - CHANNEL\ndependencies:\n  - greeting\n  - pip:\n    - six\n",
        "dependencies:\n  - pip:\n    - six\n",
        "channels: [CHANNEL]\ndependencies: [relocatable >=1]\n",
    ],
    "nbship.toml": [
        'name = "x"\npython = "3.10"\n[check]\ntimeout = 5\n',
        'base-image = "python:3.11-slim"\nstrip = false\n',
    ],
    "pyproject.toml": [
        '[project]\nname = "p"\nversion = "1"\nrequires-python = ">=3.10"\ndependencies = ["six"]\n',
        "[tool.nbship]\nport = 9000\n",
    ],
    "setup.py": ["from setuptools import setup\nsetup()\n"],
    "postBuild": ["#!/bin/bash\necho hi\n"],
    "start": ['#!/bin/bash\nexec "$@"\n', "echo no exec\n"],
    "Dockerfile": ["FROM python:3.11-slim\nCOPY . /srv\n"],
    ".dockerignore": ["data\n!data/keep.csv\n*.csv\n", "binder/\n", "[oops\n"],
    "requirements.lock": ["# nbship-inputs: 0\nsix==1.16.0 --hash=sha256:00\n"],
    "nbship.lock": ["version: 6\n"],
    "Pipfile": [
        '[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = false\n[packages]\nsix = "*"\n'
        'local = {path = ".", editable = true}\n[requires]\npython_version = "3.11"\n',
        '[packages]\nrequests = {version = ">=2", extras = ["socks"]}\npkg = {git = "https://h/a/b", ref = "v1"}\n',
    ],
    "Pipfile.lock": [
        '{"_meta": {"hash": {"sha256": "00"}, "requires": {"python_version": "3.11"}, "sources": [{"url": '
        '"https://pypi.org/simple"}]}, "default": {"six": {"version": "==1.16.0", "hashes": ["sha256:'
        + "a" * 64
        + '"]}}, "develop": {"w": {"file": "https://h/w-1-py3-none-any.whl"}}}\n',
    ],
    "install.R": ["install.packages('dplyr')\n"],
    "DESCRIPTION": ["Package: abc\nVersion: 0.1.0\nImports: dplyr (>= 1.0),\n  tidyr\nRemotes: a/b\n", "Imports: x\n"],
    "data/keep.csv": ["1,2\n"],
    "analysis.ipynb": ["{}"],
}

_line = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@st.composite
def contents(draw: st.DrawFn, name: str, channel: Path) -> bytes:
    seed = draw(st.sampled_from(SEEDS[name])).replace("CHANNEL", str(channel))
    how = draw(st.sampled_from(["seed", "seed", "line", "text", "bytes", "bom-crlf", "deep", "control"]))
    if how == "line":
        lines = seed.splitlines(keepends=True)
        lines.insert(draw(st.integers(0, len(lines))), draw(_line) + "\n")
        seed = "".join(lines)
    elif how == "text":
        seed = draw(st.text(max_size=80))
    elif how == "bytes":
        return draw(st.binary(max_size=80))
    elif how == "bom-crlf":
        return b"\xef\xbb\xbf" + seed.replace("\n", "\r\n").encode()
    elif how == "deep":
        toml = name.endswith(".toml") or name == "Pipfile"
        seed = "x = " + "[" * 3000 + "]" * 3000 if toml else "[" * 3000 + "]" * 3000
    elif how == "control":
        seed = seed.replace("\n", draw(st.sampled_from(["\x00", "\x1b[31m", "\u2028", "\r", "\x0b"])), 1)
    return seed.encode("utf-8", errors="surrogatepass")


@st.composite
def projects(draw: st.DrawFn, channel: Path) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    prefix = draw(st.sampled_from(["", "", "binder/", ".binder/"]))
    names = draw(st.lists(st.sampled_from(sorted(SEEDS)), min_size=1, max_size=6, unique=True))
    files = {}
    for name in names:
        where = name if name in {"data/keep.csv", "analysis.ipynb", ".dockerignore"} else prefix + name
        files[where] = draw(contents(name, channel))
    links = draw(
        st.lists(
            st.sampled_from(
                [
                    ("loop", "loop"),
                    (f"{prefix}requirements.txt", "/etc/hostname"),
                    ("up", ".."),
                    (f"{prefix}extra.txt", "extra.txt"),
                ]
            ),
            max_size=2,
            unique=True,
        )
    )
    return files, links


def _write(root: Path, files: dict[str, bytes], links: list[tuple[str, str]]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for rel, target in links:
        path = root / rel
        if not path.exists() and not path.is_symlink():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, path)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), command=st.sampled_from(["dockerfile", "dockerfile", "init", "lock"]))
def test_offline_commands_fail_only_with_nbship_errors(
    channel: Path, no_docker: None, data: st.DataObject, command: str
) -> None:
    files, links = data.draw(projects(channel))
    with tempfile.TemporaryDirectory(prefix="nbship-fuzz-") as tmp:
        root = Path(tmp) / "proj"
        root.mkdir()
        _write(root, files, links)
        before = tree(root)
        result = CliRunner().invoke(main, [command, str(root)])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 0:
            return
        message = result.stderr.strip()
        assert message.startswith("error "), message
        assert "bug in nbship" not in message and "Traceback" not in result.output
        first = message.splitlines()[0]
        named = [*files, *(rel for rel, _ in links), root.name, "PATH", "--"]
        assert any(Path(name).name in first for name in named) or "'" in first or '"' in first, first
        assert tree(root) == before, "a command that failed changed the project"
