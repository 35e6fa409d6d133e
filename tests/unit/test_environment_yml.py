"""environment.yml: detection (root, binder/), strict parsing, errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.errors import ExitCode, InputFileError
from nbship.project.detect import detect
from nbship.project.kinds.environment_yml import DEFAULTS_CHANNELS, CondaInput, parse_environment
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
        pytest.param("channels: [x]\ndependencies:\n  - numpy\n  - numpy >>1\n", 4, "numpy >>1", id="bad spec"),
        pytest.param("channels: [x]\ndependencies:\n  - numpy 3\n", 3, "numpy 3", id="ambiguous version"),
        pytest.param("channels: [x]\ndependencies:\n  - pip:\n    - requests=2\n", 4, "requests=2", id="pip spec"),
        pytest.param("channels: [x]\ndependencies:\n  - foo:\n    - a\n", 3, "'foo:'", id="unknown section"),
        pytest.param("channels: [x]\ndependencies:\n  -\n", 3, "non-empty string", id="empty item"),
        pytest.param("channels: defaults\ndependencies: []\n", 1, "must be a list", id="channels scalar"),
        pytest.param(
            "channels:\n  - https://bob:pw@conda.example.org/private\ndependencies: []\n",
            2,
            "--channel-auth",
            id="creds",
        ),
        pytest.param("channels: [x]\nchannels: [y]\ndependencies: []\n", 2, "appears twice", id="duplicate key"),
        pytest.param("channels: [x]\n", None, "no 'dependencies:'", id="no dependencies"),
        pytest.param("", None, "the file is empty", id="empty"),
        pytest.param("dependencies: []\nvariables: [A]\n", 2, "'variables' must be a mapping", id="variables list"),
        pytest.param("dependencies: []\nvariables:\n  2X: a\n", 3, "'2X' is not a name", id="variable name"),
        pytest.param("dependencies: []\nvariables:\n  PATH: /x\n", 3, "set by the image itself", id="PATH"),
        pytest.param("dependencies: []\nvariables:\n  A: [1]\n", 3, "single value", id="variable list value"),
        pytest.param('dependencies: []\nvariables:\n  A: "x\\ny"\n', 3, "line break", id="multi-line value"),
        pytest.param("dependencies:\n  - pip:\n    - -e ../../elsewhere\n", 3, "outside the project", id="pip outside"),
        pytest.param("dependencies:\n  - pip:\n    - -e /opt/pkg\n", 3, "outside the project", id="pip absolute"),
        pytest.param("dependencies:\n  - numpy=1.2=a=b\n", 2, "numpy=1.2=a=b", id="four parts"),
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
    installed = text[text.index("FROM system AS installed") : text.index("FROM installed AS sbom")]
    final = installed + text[text.index("FROM installed AS image") :]
    # the final stage gets the finished prefix only: no installer, no cache, no lock (the SBOM's
    # stage reads the lock; only the SBOM reaches the image)
    assert "rattler" not in final and "nbship.lock" not in final
    assert "COPY binder/nbship.lock /tmp/nbship/locks/binder/nbship.lock" in text
    assert "COPY --from=conda-env /opt/nbship/env /opt/nbship/env" in text
    # the pip: section comes from the lock, hashed: none of its lines is in the Dockerfile
    assert "requests" not in text
    assert "--require-hashes --no-deps -r /opt/nbship/build/conda-pip/pip.txt" in text


def test_classic_dockerfile_has_no_mounts_for_conda(make_project: MakeProject) -> None:
    text = render(make_project({"environment.yml": GOOD}), buildkit=False)
    assert "--mount" not in text
    assert "nbship-conda-install \\\n      /tmp/nbship/conda/nbship.lock /opt/nbship/env" in text


EXPORTED = """\
name: analysis
channels:
  - conda-forge
  - defaults
dependencies:
  - _libgcc_mutex=0.1=conda_forge
  - bzip2=1.0.8=h7f98852_4
  - python=3.10.6=ha86cf86_0_cpython
  - numpy=1.26
  - pip:
    - tabulate==0.9.0
prefix: /home/someone/miniconda3/envs/analysis
"""


def test_conda_env_export_is_read_as_the_solver_takes_it(make_project: MakeProject) -> None:
    conda = detect(make_project({"environment.yml": EXPORTED})).input(CondaInput)
    assert conda is not None
    assert conda.conda == (
        "_libgcc_mutex ==0.1 conda_forge",
        "bzip2 ==1.0.8 h7f98852_4",
        "python ==3.10.6 ha86cf86_0_cpython",
        "numpy=1.26",
    )
    assert conda.has_python and conda.pip == ("tabulate==0.9.0",)
    # defaults is what conda means by it, and the note about its terms is there
    assert conda.channels == ("conda-forge", *DEFAULTS_CHANNELS)
    assert any("terms of service" in note for note in conda.notes)


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        pytest.param("  - defaults\n  - conda-forge\n", (*DEFAULTS_CHANNELS, "conda-forge"), id="defaults first"),
        pytest.param("  - conda-forge\n  - defaults\n  - nodefaults\n", ("conda-forge",), id="nodefaults drops it"),
        pytest.param("  - nodefaults\n  - conda-forge\n", ("conda-forge",), id="nodefaults alone"),
        pytest.param("  - ./local\n  - conda-forge\n  - conda-forge\n", ("./local", "conda-forge"), id="deduplicated"),
    ],
)
def test_channels_are_read_as_conda_reads_them(
    make_project: MakeProject, channels: str, expected: tuple[str, ...]
) -> None:
    text = f"channels:\n{channels}dependencies:\n  - numpy\n"
    conda = detect(make_project({"environment.yml": text})).input(CondaInput)
    assert conda is not None and conda.channels == expected
    assert any("terms of service" in note for note in conda.notes) == (DEFAULTS_CHANNELS[0] in expected)


def test_a_file_without_channels_uses_conda_forge_and_says_so(make_project: MakeProject) -> None:
    conda = detect(make_project({"binder/environment.yml": "dependencies:\n  - numpy\n"})).input(CondaInput)
    assert conda is not None and conda.channels == ("conda-forge",)
    assert conda.notes == ("binder/environment.yml names no channel: nbship uses conda-forge, as Binder does.",)


def test_variables_are_set_in_the_image(make_project: MakeProject) -> None:
    text = "dependencies: []\nvariables:\n  ANALYSIS_MODE: full\n  RETRIES: 3\n  EMPTY:\n  ODD: 'a b \"$HOME\"'\n"
    root = make_project({"environment.yml": text})
    conda = detect(root).input(CondaInput)
    assert conda is not None
    assert conda.variables == (("ANALYSIS_MODE", "full"), ("RETRIES", "3"), ("EMPTY", ""), ("ODD", 'a b "$HOME"'))
    final = render(root)[render(root).index("FROM system AS installed") :]
    assert "ANALYSIS_MODE=full" in final and "RETRIES=3" in final
    assert 'ODD="a b \\"\\$HOME\\""' in final  # literal, as conda sets it: no expansion


def test_pip_local_folder_is_installed_from_the_sources(make_project: MakeProject) -> None:
    text = "dependencies:\n  - python=3.11\n  - pip:\n    - -e .\n    - tabulate\n"
    root = make_project({"binder/environment.yml": text, "pyproject.toml": "[project]\nname='x'\nversion='1'\n"})
    conda = detect(root).input(CondaInput)
    assert conda is not None and conda.pip_local == ("-e .",)
    dockerfile = render(root)
    project_stage = dockerfile[dockerfile.index("FROM env AS env-project") :]
    assert "cd /opt/nbship/project/binder; " in project_stage and "--no-deps -e ." in project_stage


_SCALARS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_ITEMS = st.one_of(
    st.sampled_from(["numpy", "numpy=1.26", "python=3.11", "x=1=b", "numpy >=1,<2", "pip", "bad >>", "-e ."]),
    _SCALARS,
)


@given(
    channels=st.lists(st.one_of(st.sampled_from(["conda-forge", "defaults", "nodefaults"]), _SCALARS), max_size=4),
    conda=st.lists(_ITEMS, max_size=6),
    pip=st.lists(_ITEMS, max_size=4),
    variables=st.dictionaries(_SCALARS, _SCALARS, max_size=3),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_environment_parses_or_fails_with_its_file_named(
    tmp_path: Path, channels: list[str], conda: list[str], pip: list[str], variables: dict[str, str]
) -> None:
    document: dict[str, object] = {"dependencies": [*conda, {"pip": pip}] if pip else conda}
    if channels:
        document["channels"] = channels
    if variables:
        document["variables"] = variables
    path = tmp_path / "environment.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        parsed = parse_environment(path, "environment.yml", tmp_path)
    except InputFileError as exc:
        refused: InputFileError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.message.startswith("environment.yml")  # one paragraph naming the file
        return
    # nothing is lost: every dependency and variable is in what nbship read
    assert len(parsed.conda) == len(conda) and parsed.pip == tuple(item.strip() for item in pip)
    assert dict(parsed.variables) == {key.strip(): value for key, value in variables.items()}
    named = [c.strip() for c in channels if c.strip() not in {"defaults", "nodefaults"}]
    assert set(named) <= set(parsed.channels) or not parsed.conda
    if "defaults" in channels and "nodefaults" not in channels:
        assert set(DEFAULTS_CHANNELS) <= set(parsed.channels)
