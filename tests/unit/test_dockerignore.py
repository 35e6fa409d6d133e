"""What a build's context leaves out: the project's own patterns first, the environment files
they hide put back for the build (and kept out of the image), then nbship's excludes, which
nothing re-includes."""

from __future__ import annotations

import pytest

from nbship import ignore
from nbship.errors import ProjectError
from nbship.project.detect import detect
from nbship.render.dockerignore import (
    NBSHIP_EXCLUDES,
    NBSHIP_PATTERNS,
    context_entries,
    context_patterns,
    render_dockerignore,
)

from .helpers import MakeProject, plan_of, render, write_files

MUST_EXCLUDE = [".git", "**/.env", "**/*.pem", "**/id_rsa*", ".venv", "venv", "**/__pycache__", "**/.ipynb_checkpoints"]


@pytest.mark.parametrize("pattern", MUST_EXCLUDE)
def test_nbship_excludes_cover_secrets_vcs_venvs_and_caches(pattern: str) -> None:
    assert pattern in NBSHIP_EXCLUDES


def test_without_a_project_dockerignore_only_nbship_patterns(make_project: MakeProject) -> None:
    assert context_patterns(detect(make_project({"requirements.txt": "numpy\n"}))) == NBSHIP_PATTERNS


@pytest.mark.parametrize(
    ("text", "own"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("*.csv\nresults/\n", ["*.csv", "results"], id="patterns"),
        pytest.param("# big files\n\n  *.nc  \n\n!keep.nc\n", ["*.nc", "!keep.nc"], id="comments, blanks, spaces"),
        pytest.param("!.env\n!id_rsa\n", ["!.env", "!id_rsa"], id="attempted re-includes"),
        pytest.param("\ufeff*.csv\r\nresults\r\n", ["*.csv", "results"], id="BOM and CRLF"),
    ],
)
def test_project_patterns_come_first(make_project: MakeProject, text: str, own: list[str]) -> None:
    project = detect(make_project({".dockerignore": text}))
    assert ignore.lines(context_patterns(project)) == (*own, *NBSHIP_EXCLUDES)


def test_environment_files_hidden_by_the_project_are_sent_and_kept_out_of_the_image(make_project: MakeProject) -> None:
    root = make_project(
        {
            ".dockerignore": "binder/\n",
            "binder/requirements.txt": "-r extra.txt\n",
            "binder/extra.txt": "six\n",
            "binder/apt.txt": "less\n",
            "binder/postBuild": "echo hi\n",
            "binder/start": 'exec "$@"\n',
        }
    )
    project = detect(root)
    lines = ignore.lines(context_patterns(project))
    back = [line for line in lines if line.startswith("!")]
    assert lines[0] == "binder"
    assert set(back) == {
        f"!binder/{name}" for name in ("requirements.txt", "extra.txt", "apt.txt", "postBuild", "start")
    }
    assert lines[len(back) + 1 :] == NBSHIP_EXCLUDES
    sent = {entry.path for entry in context_entries(root, context_patterns(project))}
    assert {"binder/requirements.txt", "binder/extra.txt", "binder/postBuild", "binder/start"} <= sent
    # The image runs postBuild and start; the rest goes from its copy of the project.
    assert plan_of(root).hidden == ("binder/requirements.txt", "binder/extra.txt", "binder/apt.txt")
    assert (
        "rm -rf /opt/nbship/project/data /opt/nbship/project/.nbship-image /opt/nbship/project/binder/requirements.txt"
        in render(root)
    )


def test_the_conda_lock_is_an_environment_file_too(make_project: MakeProject) -> None:
    root = make_project({".dockerignore": "*.lock\n", "environment.yml": "dependencies:\n  - pip:\n    - six\n"})
    assert "!nbship.lock" in ignore.lines(context_patterns(detect(root)))


def test_a_project_dockerfile_gets_docker_rules_as_they_are(make_project: MakeProject) -> None:
    root = make_project({".dockerignore": "binder/\n", "binder/Dockerfile": "FROM x\n", "binder/requirements.txt": ""})
    assert ignore.lines(context_patterns(detect(root))) == ("binder", *NBSHIP_EXCLUDES)


def test_an_environment_file_nbship_never_sends_is_an_error_naming_pattern_and_file(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "-r .cache/pinned.txt\n", ".cache/pinned.txt": "six\n"})
    with pytest.raises(ProjectError, match=r"^\.cache/pinned\.txt is part of .* matching '\*\*/\.cache'"):
        context_patterns(detect(root))


def test_data_left_out_by_the_project_is_not_copied(make_project: MakeProject) -> None:
    root = make_project({".dockerignore": "data\n", "data/big.nc": "x", "requirements.txt": "six\n"})
    assert plan_of(root).has_data is False
    assert "COPY data/" not in render(root)
    write_files(root, {".dockerignore": "data\n!data/small.csv\n", "data/small.csv": "1"})
    assert plan_of(root).has_data is True


def test_secrets_stay_out_of_the_context_even_when_reincluded(make_project: MakeProject) -> None:
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
            ".dockerignore": "results/\n!.env\n!id_rsa\n!keys/server.pem\n",
        }
    )
    included = {entry.path for entry in context_entries(root, context_patterns(detect(root)))}
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


def test_rendered_dockerignore_puts_nbship_patterns_last() -> None:
    own = ignore.compile_lines(ignore.parse("# mine\n*.csv\n!.env\n  #x\n"))
    text = render_dockerignore(own)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["*.csv", "!.env", "/#x", *NBSHIP_EXCLUDES]
    assert text.endswith("\n")
    assert text.startswith("# Written by nbship.")


def test_rendered_dockerignore_without_project_file() -> None:
    text = render_dockerignore()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == list(NBSHIP_EXCLUDES)
    assert "from the project's .dockerignore" not in text


@pytest.mark.parametrize(
    ("files", "pattern", "expected"),
    [
        pytest.param(
            {"binder/Pipfile": "[packages]\nsix = '*'\n", "binder/runtime.txt": "python-3.11\n"},
            "binder/",
            {"binder/Pipfile", "binder/runtime.txt"},
            id="Pipfile",
        ),
        pytest.param(
            {
                "Pipfile": "[packages]\nsix = '*'\n",
                "Pipfile.lock": '{"_meta": {}, "default": {"six": {"version": "==1.16.0", "hashes": ["sha256:'
                + "a" * 64
                + '"]}}, "develop": {}}',
            },
            "Pipfile*",
            {"Pipfile", "Pipfile.lock"},
            id="Pipfile.lock",
        ),
        pytest.param(
            {"binder/install.R": "install.packages('x')\n", "binder/runtime.txt": "r-4.2-2023-01-01\n"},
            "binder",
            {"binder/install.R", "binder/runtime.txt"},
            id="R in binder/",
        ),
        pytest.param(
            {"DESCRIPTION": "Package: abc\nVersion: 0.1\nImports: dplyr\n", "install.R": ""},
            "*",
            {"DESCRIPTION", "install.R"},
            id="DESCRIPTION",
        ),
    ],
)
def test_the_environment_files_of_every_kind_are_sent_whatever_the_ignore_list(
    make_project: MakeProject, files: dict[str, str], pattern: str, expected: set[str]
) -> None:
    root = make_project({".dockerignore": pattern + "\n", "notebook.ipynb": "{}", **files})
    project = detect(root)
    sent = {entry.path for entry in context_entries(root, context_patterns(project))}
    assert expected <= sent
    assert "notebook.ipynb" not in sent or pattern.startswith(("binder", "Pipfile"))
    # Sent for the build only: the image's copy of the project leaves them out, as the user asked.
    assert set(plan_of(root).hidden) == expected
