"""Where the image's records are made (the manifest in the content stage, the SBOM in a stage of
its own, or both after a postBuild) and how the env stage makes the tools and the environment."""

from __future__ import annotations

import os
import re

import pytest

from nbship import contract as c
from nbship.project.plan import DUMB_INIT_REQUIREMENT, UV_REQUIREMENT, UV_VERSION, UV_WHEELS

from .helpers import MakeProject, plan_of, render
from .test_plan_render import instructions

PROJECT = {"requirements.txt": "numpy\n", "data/a.csv": "1\n", "analysis.ipynb": "{}"}
MANIFEST_STEP = f"split {c.CONTENT_DIR} "  # the manifest, then the copy sorted into layers
LATE_MANIFEST_STEP = f"manifest {c.CONTENT_DIR} "  # after a postBuild: the manifest alone


def stages(text: str) -> dict[str, list[str]]:
    """Each stage's instructions by the stage's name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for step in instructions(text):
        if step.startswith("FROM "):
            current = found.setdefault(step.rsplit(" ", 1)[-1], [])
        current.append(step)
    return found


@pytest.mark.parametrize(("buildkit", "mount_context"), [(True, True), (True, False), (False, False)])
def test_without_postbuild_an_edit_reruns_one_step(
    make_project: MakeProject, buildkit: bool, mount_context: bool
) -> None:
    text = render(make_project(PROJECT), buildkit=buildkit, mount_context=mount_context)
    parts = stages(text)
    content, sbom, image = parts["content"], parts["sbom"], parts["image"]
    last = "/tmp/nbship/content/last"
    stable = "/tmp/nbship/content/stable"
    step = content[-1]
    assert [s for s in content if s.startswith("RUN ")] == [step]
    if mount_context:
        # BuildKit: no COPY step; the one RUN copies the mounted context without data/ (which it
        # links), writes the manifest and sorts the copy into its layers.
        assert not any(s.startswith("COPY ") for s in content)
        assert "--mount=type=bind,source=.,target=/tmp/nbship/context" in step
        copy = "split --from /tmp/nbship/context --skip data --skip .nbship-image --data-link /opt/nbship/data --"
        assert copy in step
        split = f"-- {c.CONTENT_DIR} proj {last}/manifest.json {stable} {last}/project requirements.txt"
    else:
        # One RUN after the copy: the trim of the copy, the manifest of what is left, then the copy
        # sorted into its layers (the specs apart, the notebooks with the manifest).
        assert f"COPY . {c.CONTENT_DIR}/" in content and f"rm -rf {c.CONTENT_DIR}/data" in step
        split = f"split {c.CONTENT_DIR} proj {last}/manifest.json {stable} {last}/project requirements.txt"
    assert " ".join(step.split()).endswith(split)
    assert ("--mount=type=bind,from=nbship" in step) is buildkit
    assert sbom[0] == "FROM installed AS sbom" and sbom[-1].startswith(f"RUN python3 {c.SBOM_WRITER} ")
    assert "COPY requirements.txt" not in "\n".join(sbom)  # no lock here: nothing to copy
    # The image stage runs nothing: it copies the SBOM, the specs, the rest of the project, then the
    # notebooks with the manifest; data/ is the first layer of the installed stage.
    assert next(s for s in parts["installed"] if s.startswith("COPY ")) == f"COPY data/ {c.DATA_DIR}/"
    assert not any(s.startswith("RUN ") for s in image)
    copies = [s for s in image if s.startswith("COPY ")]
    assert copies == [
        f"COPY --from=sbom {c.SBOM} {c.SBOM}",
        f"COPY --from=content --chown=1000:1000 /tmp/nbship/content/stable/ {c.CONTENT_DIR}/",
        f"COPY --from=content --chown=1000:1000 {c.NBSHIP_DIR}/ {c.NBSHIP_DIR}/",
        f"COPY --from=content --chown=1000:1000 {last}/ {c.NBSHIP_DIR}/",
    ]
    # The build's clock reaches the SBOM's RUN only, so no other step's cache depends on it.
    for name, steps in parts.items():
        has_arg = any(s == f"ARG {c.SOURCE_DATE_EPOCH_ENV}" for s in steps)
        assert has_arg is (name == "sbom"), name


def test_after_a_postbuild_both_records_follow_it(make_project: MakeProject) -> None:
    text = render(make_project({**PROJECT, "postBuild": "#!/bin/bash\necho hi > made.txt\n"}))
    parts = stages(text)
    assert "sbom" not in parts
    assert not any(MANIFEST_STEP in s or LATE_MANIFEST_STEP in s for s in parts["content"])
    image = parts["image"]
    post = next(i for i, s in enumerate(image) if "postBuild" in s)
    manifest = next(i for i, s in enumerate(image) if LATE_MANIFEST_STEP in s)
    sbom = next(i for i, s in enumerate(image) if s.startswith(f"RUN python3 {c.SBOM_WRITER} "))
    assert post < manifest < sbom
    assert f"--content {c.CONTENT_DIR}" in image[sbom]
    assert f"COPY --from=content --chown=1000:1000 {c.CONTENT_DIR} {c.CONTENT_DIR}" in image


def test_the_sbom_stage_gets_the_locks_the_project_copy_holds(make_project: MakeProject) -> None:
    root = make_project(
        {
            "binder/requirements.txt": "numpy\n",
            "requirements.lock": "numpy==2.0.0\n",
            "binder/Pipfile.lock": "{}",
            "binder/nbship.lock": "version: 6\n",
            "notes/requirements.lock": "not where the SBOM looks\n",
            ".dockerignore": "binder/nbship.lock\n",
            "a.ipynb": "{}",
        }
    )
    assert plan_of(root).sbom_locks == ("requirements.lock", "binder/Pipfile.lock")
    sbom = stages(render(root))["sbom"]
    assert "COPY requirements.lock /tmp/nbship/locks/requirements.lock" in sbom
    assert "COPY binder/Pipfile.lock /tmp/nbship/locks/binder/Pipfile.lock" in sbom
    assert sbom[-1].count("--content /tmp/nbship/locks ") == 1


def test_a_lock_the_build_writes_is_planned_before_it_exists(make_project: MakeProject) -> None:
    root = make_project({"environment.yml": "dependencies:\n  - python=3.11\n", "a.ipynb": "{}"})
    before = render(root)
    assert plan_of(root).sbom_locks == ("nbship.lock",)
    (root / "nbship.lock").write_text("version: 6\n")
    assert render(root) == before  # so the build's up-to-date check does not see a change


def test_linked_locks_are_not_followed(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "numpy\n", "elsewhere/requirements.lock": "numpy==2.0.0\n"})
    os.symlink("elsewhere/requirements.lock", root / "requirements.lock")
    os.symlink("elsewhere", root / "binder")
    assert plan_of(root).sbom_locks == ()


@pytest.mark.parametrize(
    ("python", "seeds"), [("3.8", "pip setuptools"), ("3.11", "pip setuptools"), ("3.12", "pip"), ("3.14", "pip")]
)
def test_the_environment_is_made_without_ensurepip(make_project: MakeProject, python: str, seeds: str) -> None:
    root = make_project({"requirements.txt": "numpy\n", "runtime.txt": f"python-{python}\n"})
    parts = stages(render(root))
    env, tools = " ".join(parts["env"]), " ".join(parts["tools"])
    assert f"{c.TOOLS_DIR}/bin/uv venv -q " in env and "-m venv" not in env
    # The wheels the base Python ships, as `python3 -m venv` installs them (the index only without them).
    assert f"--python {c.ENV_PREFIX}/bin/python $(python3 {c.SEED_WHEELS} {seeds});" in env
    # The tools in a stage of their own, from the base image, beside the system stage.
    assert parts["tools"][0].startswith("FROM python:") and f"COPY --from=tools {c.TOOLS_DIR}/ {c.TOOLS_DIR}/" in env
    assert f"--target {c.TOOLS_DIR} " in tools
    assert tools.count("python3 -m venv ") == 1  # only the fallback for a base image without pip
    assert "has no python3; pick a Python base image" in tools  # the same message as the system stage's


def test_uv_comes_from_its_pinned_wheel_and_dumb_init_from_a_stage_beside_it(make_project: MakeProject) -> None:
    parts = stages(render(make_project({"requirements.txt": "numpy\n"})))
    tools, init = " ".join(parts["tools"]), " ".join(parts["dumb-init"])
    # the wheel for this machine from its address, pinned by hash; the index when there is none or it fails
    for machine, url in UV_WHEELS.items():
        assert f"{machine}) W='uv @ {url}';;" in tools
        assert re.fullmatch(
            rf"https://files\.pythonhosted\.org/packages/\S+/uv-{UV_VERSION}-py3-none-\S+\.whl#sha256=[0-9a-f]{{64}}",
            url,
        )
    assert f"uv=={UV_VERSION}" == UV_REQUIREMENT
    assert re.search(rf"rm -rf {c.TOOLS_DIR}; \S.* --target {c.TOOLS_DIR} {UV_REQUIREMENT}; +fi$", tools)
    assert "dumb-init" not in tools and f"--target {c.TOOLS_DIR} {DUMB_INIT_REQUIREMENT}" in init and "uv" not in init
    installed = " ".join(parts["installed"])
    assert f"COPY --from=dumb-init {c.TOOLS_DIR}/bin/dumb-init {c.DUMB_INIT}" in installed


def test_without_uv_there_is_no_tools_stage(make_project: MakeProject) -> None:
    parts = stages(render(make_project({"requirements.txt": "numpy\n"}), installer="pip"))
    assert "tools" not in parts and "--from=tools" not in " ".join(parts["env"])
    assert f"COPY --from=dumb-init {c.TOOLS_DIR}/bin/dumb-init {c.DUMB_INIT}" in " ".join(parts["installed"])


def test_the_servers_bytecode_is_compiled_with_a_fixed_hash_seed(make_project: MakeProject) -> None:
    env = " ".join(stages(render(make_project({"requirements.txt": "numpy\n"})))["env"])
    assert f"PYTHONHASHSEED=0 {c.ENV_PREFIX}/bin/python -m {c.ASSEMBLE_MODULE} " in env


def test_pip_as_installer_keeps_python_venv(make_project: MakeProject) -> None:
    env = " ".join(stages(render(make_project({"requirements.txt": "numpy\n"}), installer="pip"))["env"])
    assert f"python3 -m venv {c.ENV_PREFIX};" in env and "uv venv" not in env
