"""What never enters a build context: nbship's excludes always apply, after the project's own patterns."""

from __future__ import annotations

from pathlib import Path

import docker.utils.build
import pytest

from nbship.render.dockerignore import NBSHIP_EXCLUDES, ignore_patterns, project_patterns, render_dockerignore

from .helpers import MakeProject, write_files

MUST_EXCLUDE = [".git", "**/.env", "**/*.pem", "**/id_rsa*", ".venv", "venv", "**/__pycache__", "**/.ipynb_checkpoints"]


@pytest.mark.parametrize("pattern", MUST_EXCLUDE)
def test_nbship_excludes_cover_secrets_vcs_venvs_and_caches(pattern: str) -> None:
    assert pattern in NBSHIP_EXCLUDES


def test_without_a_project_dockerignore_only_nbship_patterns(tmp_path: Path) -> None:
    assert project_patterns(None) == []
    assert ignore_patterns(None) == list(NBSHIP_EXCLUDES)


@pytest.mark.parametrize(
    ("text", "own"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("*.csv\nresults/\n", ["*.csv", "results/"], id="patterns"),
        pytest.param("# big files\n\n  *.nc  \n\n!keep.nc\n", ["*.nc", "!keep.nc"], id="comments, blanks, spaces"),
        pytest.param("!.env\n!id_rsa\n", ["!.env", "!id_rsa"], id="attempted re-includes"),
    ],
)
def test_project_patterns_come_first(tmp_path: Path, text: str, own: list[str]) -> None:
    path = tmp_path / ".dockerignore"
    path.write_text(text, encoding="utf-8")
    assert project_patterns(path) == own
    assert ignore_patterns(path) == [*own, *NBSHIP_EXCLUDES]


def test_rendered_dockerignore_puts_nbship_patterns_last(tmp_path: Path) -> None:
    path = tmp_path / ".dockerignore"
    path.write_text("# mine\n*.csv\n!.env\n", encoding="utf-8")
    text = render_dockerignore(path)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["*.csv", "!.env", *NBSHIP_EXCLUDES]
    assert text.endswith("\n")
    assert text.startswith("# Written by nbship.")


def test_rendered_dockerignore_without_project_file() -> None:
    text = render_dockerignore(None)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == list(NBSHIP_EXCLUDES)
    assert "from the project's .dockerignore" not in text


def test_secrets_stay_out_of_the_context_even_when_reincluded(make_project: MakeProject) -> None:
    # docker's own exclusion logic (used for the classic builder's tarball): the last matching pattern wins.
    root = make_project(
        {
            "analysis.ipynb": "{}",
            "data/sst.csv": "1",
            "src/mod.py": "",
            ".env": "TOKEN=x",
            "sub/.env": "TOKEN=y",
            "id_rsa": "key",
            "keys/server.pem": "pem",
            ".git/config": "",
            ".venv/bin/python": "",
            "venv/bin/python": "",
            "src/__pycache__/mod.cpython-311.pyc": "",
            ".ipynb_checkpoints/analysis-checkpoint.ipynb": "{}",
            "results/big.csv": "1",
        }
    )
    write_files(root, {".dockerignore": "results/\n!.env\n!id_rsa\n!keys/server.pem\n"})
    included = set(docker.utils.build.exclude_paths(str(root), ignore_patterns(root / ".dockerignore")))
    assert {"analysis.ipynb", "data/sst.csv", "src/mod.py"} <= included
    leaked = {
        ".env",
        "sub/.env",
        "id_rsa",
        "keys/server.pem",
        ".git/config",
        ".venv/bin/python",
        "venv/bin/python",
        "src/__pycache__/mod.cpython-311.pyc",
        ".ipynb_checkpoints/analysis-checkpoint.ipynb",
        "results/big.csv",
    } & included
    assert leaked == set()
