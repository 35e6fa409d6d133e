"""environment.yml: detection (root, binder/), strict parsing, errors with file and line."""

from __future__ import annotations

import pytest

from nbship.errors import ExitCode, InputFileError
from nbship.project.detect import detect
from nbship.project.kinds.environment_yml import CondaInput
from nbship.project.kinds.requirements import RequirementsInput

from .helpers import MakeProject, plan_of, render

GOOD = """\
name: analysis
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python=3.11
  - numpy >=1.26,<3
  - xarray
  - pip
  - pip:
    - requests==2.32.3
    - --index-url https://pypi.org/simple
"""


@pytest.mark.parametrize(
    "rel", ["environment.yml", "environment.yaml", "binder/environment.yml", ".binder/environment.yaml"]
)
def test_environment_is_detected(make_project: MakeProject, rel: str) -> None:
    conda = detect(make_project({rel: GOOD})).input(CondaInput)
    assert conda is not None
    assert conda.display == rel
    assert conda.channels == ("conda-forge",)  # nodefaults is conda's "only these", dropped
    assert conda.conda == ("python=3.11", "numpy >=1.26,<3", "xarray", "pip")
    assert conda.pip == ("requests==2.32.3", "--index-url https://pypi.org/simple")
    assert conda.has_python and not conda.brings_jupyter


def test_requirements_beside_environment_is_ignored_as_on_binder(make_project: MakeProject) -> None:
    project = detect(make_project({"environment.yml": GOOD, "requirements.txt": "numpy\n"}))
    assert project.input(RequirementsInput) is None
    assert [item.path.name for item in project.ignored] == ["requirements.txt"]
    assert "'pip:' section" in project.ignored[0].reason


def test_jupyter_in_environment_means_nbship_adds_none(make_project: MakeProject) -> None:
    root = make_project({"environment.yml": "channels: [conda-forge]\ndependencies:\n  - jupyterlab\n"})
    plan = plan_of(root)
    assert plan.jupyterlab is None
    assert [f.values["lock"] for f in plan.stage("stages")] == ["nbship.lock"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("channels: [conda-forge\n", 2, "not valid YAML", id="unclosed flow list"),
        pytest.param("channels: [x]\ndependencies:\n  - numpy\n   - scipy\n", 3, "'numpy - scipy'", id="indentation"),
        pytest.param("- numpy\n", 1, "must be a mapping", id="top-level list"),
        pytest.param("channels: [x]\ndependecies:\n  - numpy\n", 2, "unknown key 'dependecies'", id="typo key"),
        pytest.param("channels: [x]\nvariables:\n  A: 1\ndependencies: []\n", 2, "'start' script", id="variables"),
        pytest.param("channels: [x]\ndependencies:\n  - numpy\n  - numpy >>1\n", 4, "numpy >>1", id="bad spec"),
        pytest.param("channels: [x]\ndependencies:\n  - numpy 3\n", 3, "numpy 3", id="ambiguous version"),
        pytest.param("channels: [x]\ndependencies:\n  - pip:\n    - requests=2\n", 4, "requests=2", id="pip spec"),
        pytest.param("channels: [x]\ndependencies:\n  - foo:\n    - a\n", 3, "'foo:'", id="unknown section"),
        pytest.param("channels: [x]\ndependencies:\n  -\n", 3, "non-empty string", id="empty item"),
        pytest.param("channels: defaults\ndependencies: []\n", 1, "must be a list", id="channels scalar"),
        pytest.param("channels:\n  - defaults\ndependencies: []\n", 2, "'defaults' channel", id="defaults"),
        pytest.param("dependencies:\n  - numpy\n", 1, "no channel is named", id="no channel"),
        pytest.param(
            "channels:\n  - https://bob:pw@conda.example.org/private\ndependencies: []\n",
            2,
            "--channel-auth",
            id="creds",
        ),
        pytest.param("channels: [x]\nchannels: [y]\ndependencies: []\n", 2, "appears twice", id="duplicate key"),
        pytest.param("channels: [x]\n", None, "no 'dependencies:'", id="no dependencies"),
        pytest.param("", None, "the file is empty", id="empty"),
    ],
)
def test_malformed_environment_names_file_and_line(
    make_project: MakeProject, text: str, line: int | None, fragment: str
) -> None:
    root = make_project({"binder/environment.yml": text})
    with pytest.raises(InputFileError) as info:
        detect(root)
    assert info.value.path == "binder/environment.yml"
    assert info.value.line == line
    assert fragment in info.value.message
    assert info.value.exit_code == ExitCode.PROJECT
    where = f"binder/environment.yml, line {line}: " if line else "binder/environment.yml: "
    assert info.value.message.startswith(where)


def test_dockerfile_installs_the_lock_in_a_builder_stage(make_project: MakeProject) -> None:
    text = render(make_project({"binder/environment.yml": GOOD}), buildkit=True)
    assert "FROM system AS conda-tools" in text and "FROM conda-tools AS conda-env" in text
    assert "COPY binder/nbship.lock /tmp/nbship/conda/nbship.lock" in text
    assert "--mount=type=cache,target=/root/.cache/rattler" in text
    assert "--mount=type=secret,id=nbship-channel-auth" in text
    final = text[text.index("FROM system AS image") :]
    # the final stage gets the finished prefix only: no installer, no cache, no lock
    assert "rattler" not in final and "nbship.lock" not in final
    assert "COPY --from=conda-env /opt/nbship/env /opt/nbship/env" in text
    assert "requests==2.32.3" in text  # the pip: section, after the conda packages


def test_classic_dockerfile_has_no_mounts_for_conda(make_project: MakeProject) -> None:
    text = render(make_project({"environment.yml": GOOD}), buildkit=False)
    assert "--mount" not in text
    assert "nbship-conda-install \\\n      /tmp/nbship/conda/nbship.lock /opt/nbship/env" in text
