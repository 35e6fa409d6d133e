"""The build plan (Python choice, base image, JupyterLab, inputs) and the Dockerfile rendered from it."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from nbship import api
from nbship.errors import UsageError
from nbship.options import Installer
from nbship.project.detect import detect
from nbship.project.kinds.apt import AptInput
from nbship.project.kinds.postbuild import PostBuildInput
from nbship.project.kinds.requirements import RequirementsInput
from nbship.project.kinds.start import StartInput
from nbship.project.plan import JUPYTERLAB_REQUIREMENT, python_of
from nbship.project.python import DEFAULT_PYTHON

from .helpers import MakeProject, plan_of, render


def _pyproject(requires_python: str | None = None, dependencies: list[str] | None = None) -> str:
    text = '[project]\nname = "demo"\nversion = "1.0"\n'
    if requires_python is not None:
        text += f'requires-python = "{requires_python}"\n'
    if dependencies is not None:
        text += f"dependencies = {json.dumps(dependencies)}\n"
    return text


def position(text: str, needle: str) -> int:
    index = text.find(needle)
    assert index >= 0, f"{needle!r} is not in the Dockerfile"
    return index


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    result: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        result.append(pending + line)
        pending = ""
    return result


def copy_arguments(instruction: str) -> list[str]:
    """COPY's sources and destination as Docker reads them: a JSON array, else split on whitespace."""
    rest = instruction.split(None, 1)[1]
    words = rest.split()
    while words and words[0].startswith("--"):
        rest = rest.split(None, 1)[1]
        words = words[1:]
    if rest.lstrip().startswith("["):
        return list(json.loads(rest))
    return rest.split()


# ---------------------------------------------------------------------------------------------
# choose_python: setting > runtime.txt > requires-python > default
# ---------------------------------------------------------------------------------------------

CHOICES = [
    ("nothing", {}, "3.11", "default"),
    ("setup.py only", {"setup.py": ""}, "3.11", "default"),
    ("pyproject without requires-python", {"pyproject.toml": _pyproject()}, "3.11", "default"),
    (
        "setting beats everything",
        {
            "nbship.toml": 'python = "3.9"\n',
            "runtime.txt": "python-3.10\n",
            "pyproject.toml": _pyproject(">=3.12"),
        },
        "3.9",
        "python = 3.9 in the settings",
    ),
    (
        "setting in [tool.nbship]",
        {"pyproject.toml": _pyproject(">=3.12") + '[tool.nbship]\npython = "3.13"\n'},
        "3.13",
        "python = 3.13 in the settings",
    ),
    (
        "runtime beats requires-python",
        {"runtime.txt": "python-3.10\n", "pyproject.toml": _pyproject(">=3.12")},
        "3.10",
        "runtime.txt",
    ),
    (
        "runtime python-3 gives the default",
        {"runtime.txt": "python-3\n", "pyproject.toml": _pyproject(">=3.12")},
        "3.11",
        "runtime.txt",
    ),
    ("binder runtime", {"binder/runtime.txt": "python-3.12.1\n"}, "3.12", "binder/runtime.txt"),
    ("requires-python allows the default", {"pyproject.toml": _pyproject(">=3.8")}, "3.11", "allows it"),
    ("requires-python upper bound allows the default", {"pyproject.toml": _pyproject(">=3.9,<4")}, "3.11", "allows it"),
    ("requires-python >=3.12", {"pyproject.toml": _pyproject(">=3.12")}, "3.12", "lowest version"),
    ("requires-python <3.10", {"pyproject.toml": _pyproject("<3.10")}, "3.8", "lowest version"),
    ("requires-python ==3.9.*", {"pyproject.toml": _pyproject("==3.9.*")}, "3.9", "lowest version"),
    ("requires-python one minor", {"pyproject.toml": _pyproject(">=3.10,<3.11")}, "3.10", "lowest version"),
    ("requires-python excludes the default", {"pyproject.toml": _pyproject(">=3.9,!=3.11.*")}, "3.9", "lowest"),
    (
        "build-system only pyproject",
        {"pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'},
        "3.11",
        "default",
    ),
    # A patch-level floor still allows that minor version (python:3.12-slim has the newest 3.12.x).
    ("requires-python >=3.12.1", {"pyproject.toml": _pyproject(">=3.12.1")}, "3.12", ""),
    ("requires-python >=3.11.4 allows 3.11", {"pyproject.toml": _pyproject(">=3.11.4")}, "3.11", ""),
    ("requires-python >=3.10.2,<3.11", {"pyproject.toml": _pyproject(">=3.10.2,<3.11")}, "3.10", ""),
    ("requires-python ~=3.10.2", {"pyproject.toml": _pyproject("~=3.10.2")}, "3.10", ""),
]


@pytest.mark.parametrize(
    ("files", "version", "reason"),
    [pytest.param(files, version, reason, id=case) for case, files, version, reason in CHOICES],
)
def test_choose_python(make_project: MakeProject, files: Mapping[str, str], version: str, reason: str) -> None:
    choice = python_of(detect(make_project(files)))
    assert choice.version == version
    assert reason in choice.reason


def test_default_python_is_3_11() -> None:
    assert DEFAULT_PYTHON == "3.11"


# ---------------------------------------------------------------------------------------------
# make_plan
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "options", "base_image"),
    [
        pytest.param({}, {}, "python:3.11-slim", id="default"),
        pytest.param({"runtime.txt": "python-3.9\n"}, {}, "python:3.9-slim", id="runtime 3.9"),
        pytest.param({"pyproject.toml": _pyproject(">=3.12")}, {}, "python:3.12-slim", id="requires-python"),
        pytest.param({"nbship.toml": 'base-image = "ghcr.io/x/py:1"\n'}, {}, "ghcr.io/x/py:1", id="setting"),
        pytest.param({}, {"base_image": "python:3.11-bookworm"}, "python:3.11-bookworm", id="option"),
        pytest.param({"nbship.toml": 'base-image = "a:1"\n'}, {"base_image": "b:2"}, "b:2", id="option beats setting"),
    ],
)
def test_base_image(
    make_project: MakeProject, files: Mapping[str, str], options: dict[str, str], base_image: str
) -> None:
    plan = plan_of(make_project(files), **options)
    assert plan.base_image == base_image
    text = render(make_project(files, name="again"), **options)
    assert f"FROM {base_image} AS system" in instructions(text)


@pytest.mark.parametrize(
    ("files", "adds_jupyterlab"),
    [
        pytest.param({}, True, id="no environment"),
        pytest.param({"requirements.txt": "numpy\n"}, True, id="requirements without lab"),
        pytest.param({"requirements.txt": "jupyterlab==4.2\n"}, False, id="requirements with jupyterlab"),
        pytest.param({"requirements.txt": "Jupyter\n"}, False, id="requirements with jupyter"),
        pytest.param({"requirements.txt": "-r lab.txt\n", "lab.txt": "jupyterlab\n"}, False, id="via include"),
        pytest.param({"binder/requirements.txt": "jupyterlab\n"}, False, id="binder requirements"),
        pytest.param({"pyproject.toml": _pyproject(dependencies=["JupyterLab>=4"])}, False, id="pyproject jupyterlab"),
        pytest.param({"pyproject.toml": _pyproject(dependencies=["jupyter"])}, False, id="pyproject jupyter"),
        pytest.param({"pyproject.toml": _pyproject(dependencies=["notebook", "numpy"])}, True, id="pyproject notebook"),
        pytest.param({"requirements.txt": "jupyterlab-git\n"}, True, id="extension only"),
        pytest.param({"setup.py": ""}, True, id="setup.py"),
    ],
)
def test_jupyterlab_added_unless_the_project_brings_it(
    make_project: MakeProject, files: Mapping[str, str], adds_jupyterlab: bool
) -> None:
    root = make_project(files)
    plan = plan_of(root)
    assert plan.jupyterlab == (JUPYTERLAB_REQUIREMENT if adds_jupyterlab else None)
    assert (JUPYTERLAB_REQUIREMENT in render(root)) is adds_jupyterlab


def test_plan_fields(make_project: MakeProject) -> None:
    root = make_project(
        {
            "binder/requirements.txt": "numpy\n-r base.txt\n-c pins.txt\n",
            "binder/base.txt": "pandas\n",
            "binder/pins.txt": "numpy==1.26\n",
            "binder/apt.txt": "curl ffmpeg\n",
            "binder/postBuild": "echo\n",
            "binder/start": 'exec "$@"\n',
            "data/x.csv": "1",
            "nbship.toml": 'name = "SST"\n',
        }
    )
    project = detect(root)
    requirements = project.input(RequirementsInput)
    assert requirements is not None and not requirements.needs_source
    assert [project.rel(f) for f in requirements.files] == [
        "binder/requirements.txt",
        "binder/base.txt",
        "binder/pins.txt",
    ]
    apt = project.input(AptInput)
    assert apt is not None and apt.packages == ("curl", "ffmpeg")
    assert project.input(PostBuildInput) is not None and project.input(StartInput) is not None
    plan = plan_of(root, user_id=4242, installer="pip", buildkit=False)
    assert plan.project_name == "SST"
    assert plan.stage("project") == ()
    assert [f.values.get("inputs") for f in plan.stage("env")] == [
        ("binder/requirements.txt", "binder/base.txt", "binder/pins.txt")
    ]
    # apt.txt, then the tools postBuild gets that apt.txt does not list already
    assert [f.values["packages"] for f in plan.stage("system")] == [("curl", "ffmpeg"), ("wget", "unzip")]
    assert [f.values["script"] for f in plan.stage("final")] == ["binder/postBuild"]
    assert plan.final_env == (("NBSHIP_START", "binder/start"),)
    assert plan.has_data is True
    assert (plan.uid, plan.user, plan.installer, plan.buildkit) == (4242, "jovyan", "pip", False)
    assert ("org.opencontainers.image.title", "SST") in plan.labels


@pytest.mark.parametrize(
    ("files", "need_source", "install_project"),
    [
        pytest.param({"requirements.txt": "numpy\n"}, False, False, id="plain requirements"),
        pytest.param({"requirements.txt": "-e .\n", "setup.py": ""}, True, True, id="-e . and setup.py"),
        pytest.param({"requirements.txt": "./pkg\n"}, True, False, id="local path"),
        pytest.param({"pyproject.toml": _pyproject()}, False, True, id="pyproject package"),
        pytest.param({}, False, False, id="nothing"),
    ],
)
def test_source_stage_needed(
    make_project: MakeProject, files: Mapping[str, str], need_source: bool, install_project: bool
) -> None:
    plan = plan_of(make_project(files))
    kinds = [f.template for f in plan.stage("project")]
    assert len(kinds) == int(need_source) + int(install_project)
    text = render(make_project(files, name="again"))
    assert ("FROM system AS source" in text) is (need_source or install_project)


def test_own_dockerfile_has_no_plan(make_project: MakeProject) -> None:
    with pytest.raises(UsageError):
        plan_of(make_project({"binder/Dockerfile": "FROM scratch\n"}))


# ---------------------------------------------------------------------------------------------
# The rendered Dockerfile
# ---------------------------------------------------------------------------------------------

FULL_PROJECT = {
    "requirements.txt": "numpy\n",
    "apt.txt": "ffmpeg\n",
    "postBuild": "#!/bin/bash\necho built\n",
    "data/sst.csv": "1,2\n",
    "analysis.ipynb": "{}",
}

VARIANTS = [
    pytest.param({"buildkit": True, "installer": "uv"}, id="buildkit-uv"),
    pytest.param({"buildkit": True, "installer": "pip"}, id="buildkit-pip"),
    pytest.param({"buildkit": False, "installer": "uv"}, id="classic-uv"),
    pytest.param({"buildkit": False, "installer": "pip"}, id="classic-pip"),
]


@pytest.mark.parametrize("options", VARIANTS)
def test_layer_order(make_project: MakeProject, options: dict[str, object]) -> None:
    text = render(make_project(FULL_PROJECT), **options)
    order = [
        "FROM python:3.11-slim AS system",
        "apt-get",
        "useradd",
        "FROM system AS env",
        "COPY requirements.txt /tmp/nbship/env/requirements.txt",
        "-r requirements.txt",
        "nbship_build.assemble",
        "FROM system AS content",
        "FROM system AS installed",
        "COPY data/ /opt/nbship/data/",
        "COPY --from=env /opt/nbship/layers/1/ /",
        "\nUSER 1000\n",
        "FROM installed AS image",
        "COPY --from=content --chown=1000:1000 /opt/nbship/project /opt/nbship/project",
        "./postBuild",
        "\nHEALTHCHECK ",
        "\nENTRYPOINT [",
        "\nCMD [",
    ]
    positions = [position(text, needle) for needle in order]
    assert positions == sorted(positions), "Dockerfile layers are out of order"


@pytest.mark.parametrize("options", VARIANTS)
def test_security_and_runtime_invariants(make_project: MakeProject, options: dict[str, object]) -> None:
    text = render(make_project(FULL_PROJECT), **options)
    steps = instructions(text)
    assert "--allow-root" not in text
    users = [step for step in steps if step.startswith("USER ")]
    assert users[-1] == "USER 1000"
    assert [step for step in steps if step.startswith("ENTRYPOINT")] == [
        'ENTRYPOINT ["/opt/nbship/bin/dumb-init", "--", "/bin/sh", "/opt/nbship/bin/entrypoint"]'
    ]
    (healthcheck,) = [step for step in steps if step.startswith("HEALTHCHECK")]
    assert "http://127.0.0.1:8888/api" in healthcheck
    assert "EXPOSE 8888" in steps
    assert "WORKDIR /home/jovyan/work" in steps
    assert text.startswith("# Generated by nbship")
    assert text.endswith("\n")
    assert not text.endswith("\n\n")


@pytest.mark.parametrize("uid", [1000, 1234, 65000])
def test_notebook_user_has_the_given_uid(make_project: MakeProject, uid: int) -> None:
    text = render(make_project(FULL_PROJECT), user_id=uid)
    assert f"useradd --create-home --non-unique --uid {uid} --user-group --shell /bin/bash jovyan" in text
    steps = instructions(text)
    last_user = [step for step in steps if step.startswith("USER ")][-1]
    assert last_user == f"USER {uid}"
    assert "COPY data/ /opt/nbship/data/" in steps  # root-owned: read-only for the notebook user
    after_user = steps[steps.index(last_user) :]
    assert not any(step.startswith("USER ") and step != last_user for step in after_user)


def test_buildkit_variant_has_cache_and_secret_mounts(make_project: MakeProject) -> None:
    text = render(make_project(FULL_PROJECT), buildkit=True)
    assert "--mount=type=cache,target=/root/.cache/uv" in text
    assert "--mount=type=cache,target=/var/cache/apt" in text
    assert "--mount=type=secret,id=nbship-ca,mode=0444,required=false" in text
    assert "DOCKER_BUILDKIT=1 docker build" in text


def test_buildkit_pip_variant_caches_pip(make_project: MakeProject) -> None:
    text = render(make_project(FULL_PROJECT), buildkit=True, installer="pip")
    assert "--mount=type=cache,target=/root/.cache/pip" in text
    assert "/root/.cache/uv" not in text


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_classic_variant_has_no_mounts(make_project: MakeProject, installer: Installer) -> None:
    text = render(make_project(FULL_PROJECT), buildkit=False, installer=installer)
    assert "--mount" not in text
    assert "/run/secrets" not in text
    assert "nbship-ca" not in text
    assert "DOCKER_BUILDKIT" not in text


def test_uv_installer(make_project: MakeProject) -> None:
    text = render(make_project(FULL_PROJECT), installer="uv")
    assert "uv==" in text
    assert "/opt/nbship/tools/bin/uv pip install --python /opt/nbship/env/bin/python -r requirements.txt" in text
    assert "/opt/nbship/env/bin/python -m pip install" not in text


def test_pip_installer(make_project: MakeProject) -> None:
    text = render(make_project(FULL_PROJECT), installer="pip")
    assert "uv pip" not in text
    assert "uv==" not in text
    assert "/opt/nbship/env/bin/python -m pip install -r requirements.txt" in text
    assert f"/opt/nbship/env/bin/python -m pip install {JUPYTERLAB_REQUIREMENT}" in text
    assert "packages install with pip" in text


@pytest.mark.parametrize("buildkit", [True, False])
def test_apt_step_only_with_apt_txt(make_project: MakeProject, buildkit: bool) -> None:
    without = render(make_project({"requirements.txt": "numpy\n"}, name="without"), buildkit=buildkit)
    assert "apt-get" not in without
    with_apt = render(make_project({"apt.txt": "ffmpeg libgdal-dev\n"}, name="with"), buildkit=buildkit)
    assert "apt-get" in with_apt
    assert "--no-install-recommends" in with_apt
    assert "ffmpeg libgdal-dev" in with_apt
    assert position(with_apt, "apt-get") < position(with_apt, "useradd")


def test_empty_apt_txt_gives_no_apt_step(make_project: MakeProject) -> None:
    assert "apt-get" not in render(make_project({"apt.txt": "# nothing yet\n"}))


@pytest.mark.parametrize("buildkit", [True, False])
def test_plain_requirements_install_in_the_env_stage(make_project: MakeProject, buildkit: bool) -> None:
    text = render(
        make_project({"requirements.txt": "numpy\n-r extra/base.txt\n", "extra/base.txt": "pandas\n"}),
        buildkit=buildkit,
    )
    steps = instructions(text)
    assert "COPY requirements.txt /tmp/nbship/env/requirements.txt" in steps
    assert "COPY extra/base.txt /tmp/nbship/env/extra/base.txt" in steps
    assert "cd /tmp/nbship/env; /opt/nbship/tools/bin/uv pip install" in text
    assert "FROM system AS source" not in text
    assert "env-project" not in text
    assert (
        position(text, "COPY extra/base.txt")
        < position(text, "-r requirements.txt")
        < position(text, "FROM system AS content")
    )


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"requirements.txt": "numpy\n-e .\n", "setup.py": ""}, id="-e . with setup.py"),
        pytest.param({"requirements.txt": "-e .\n"}, id="-e . alone"),
        pytest.param({"requirements.txt": "./vendored/pkg\n"}, id="local path"),
    ],
)
def test_requirements_with_local_paths_install_from_the_source_stage(
    make_project: MakeProject, files: Mapping[str, str]
) -> None:
    text = render(make_project(files))
    steps = instructions(text)
    assert "COPY requirements.txt /tmp/nbship/env/requirements.txt" not in steps
    source = position(text, "FROM system AS source")
    env_project = position(text, "FROM env AS env-project")
    install = position(text, "-r requirements.txt")
    assert source < env_project < install < position(text, "FROM system AS content")
    assert "COPY --from=source /opt/nbship/project /opt/nbship/project" in steps
    # The environment is laid out in layers by the last step of env-project, after the project's install.
    assert "nbship_build.assemble" in instructions(text[env_project : position(text, "FROM system AS content")])[-1]
    assert "COPY --from=env-project /opt/nbship/layers/1/ /" in steps
    assert text.count("-r requirements.txt") == 1


def test_package_is_installed_from_the_source_stage(make_project: MakeProject) -> None:
    text = render(make_project({"pyproject.toml": _pyproject(">=3.10", ["numpy"])}))
    assert position(text, "FROM env AS env-project") < position(
        text, "/opt/nbship/tools/bin/uv pip install --python /opt/nbship/env/bin/python /opt/nbship/project"
    )


def test_binder_paths_in_the_dockerfile(make_project: MakeProject) -> None:
    root = make_project(
        {"binder/requirements.txt": "numpy\n", "binder/postBuild": "echo\n", "binder/start": 'exec "$@"\n'}
    )
    text = render(root)
    steps = instructions(text)
    assert "COPY binder/requirements.txt /tmp/nbship/env/binder/requirements.txt" in steps
    assert "-r binder/requirements.txt" in text
    assert "./binder/postBuild" in text
    assert "NBSHIP_START=binder/start" in text


def test_no_data_no_postbuild_no_start(make_project: MakeProject) -> None:
    text = render(make_project({"requirements.txt": "numpy\n"}))
    assert "/opt/nbship/data/" not in text
    assert "ln -s /opt/nbship/data" not in text
    assert "postBuild" not in text
    assert "NBSHIP_START=" not in text


def test_data_is_its_own_layer(make_project: MakeProject) -> None:
    root = make_project({"data/a.csv": "1"})
    text = render(root)  # BuildKit: the copy from the mounted context leaves data/ out and links it
    assert "split --from /tmp/nbship/context --skip data --skip .nbship-image --data-link /opt/nbship/data" in text
    copied = render(root, mount_context=False)  # Buildah, the classic builder: COPY ., then a trim
    assert "ln -s /opt/nbship/data /opt/nbship/project/data" in copied
    assert "rm -rf /opt/nbship/project/data" in copied


def test_label_title_is_json_quoted(make_project: MakeProject) -> None:
    text = render(make_project({"nbship.toml": 'name = "Sea \\"SST\\" study"\n'}))
    assert 'org.opencontainers.image.title="Sea \\"SST\\" study"' in text


@pytest.mark.parametrize("name", ["base.txt", "sub dir/my reqs.txt"], ids=["plain", "with spaces"])
def test_env_inputs_are_copied_intact(make_project: MakeProject, name: str) -> None:
    # Docker splits a non-JSON COPY on whitespace (quotes are not special): names with spaces need the JSON form.
    root = make_project({"requirements.txt": f"numpy\n-r {name}\n", name: "six\n"})
    copies = [step for step in instructions(render(root)) if step.startswith("COPY") and "/tmp/nbship/env" in step]
    assert [copy_arguments(copy) for copy in copies] == [
        ["requirements.txt", "/tmp/nbship/env/requirements.txt"],
        [name, f"/tmp/nbship/env/{name}"],
    ]


def test_python_check_names_the_chosen_version(make_project: MakeProject) -> None:
    text = render(make_project({"runtime.txt": "python-3.10\n"}))
    assert 'v == "3.10"' in text
    assert "the project asks for 3.10 (runtime.txt)" in text
    assert "FROM python:3.10-slim AS system" in text


def test_support_files_come_from_the_support_stage(make_project: MakeProject) -> None:
    text = render(make_project())
    steps = instructions(text)
    assert steps[0].startswith("FROM nbship/support:") and steps[0].endswith(" AS nbship")
    assert "COPY --from=nbship /bin/ /opt/nbship/bin/" in steps
    assert "COPY --from=nbship /build/ /opt/nbship/build/" in steps
    assert "printf" not in text.split("FROM system AS env")[1]  # no program written out line by line
    assert len(text.splitlines()) < 155  # 14 environment layers, one COPY each; uv and dumb-init apart


# ---------------------------------------------------------------------------------------------
# The project's own Dockerfile is used as is
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["Dockerfile", "binder/Dockerfile", ".binder/Dockerfile"])
def test_own_dockerfile_used_as_is(make_project: MakeProject, rel: str) -> None:
    own = "FROM quay.io/jupyter/base-notebook:latest\n# keep me exactly\nCOPY . /home/jovyan/\n"
    root = make_project({rel: own, "requirements.txt": "numpy\n"})
    assert api.dockerfile(path=root) == own
    assert api.dockerfile(path=root, buildkit=False) == own


def test_api_dockerfile_renders_when_there_is_none(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "numpy\n"})
    assert api.dockerfile(path=root) == render(root)
    assert api.dockerfile(path=root, buildkit=False) == render(root, buildkit=False)
    options = api.ImageOptions(base_image="python:3.11-bookworm", user_id=2000, installer="pip")
    assert api.dockerfile(path=root, options=options) == render(
        root, base_image="python:3.11-bookworm", user_id=2000, installer="pip"
    )
