"""R projects: when nbship reads a project as R (runtime.txt, install.R, DESCRIPTION, as Binder
does), where packages come from, and the Dockerfile parts R gets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from nbship.errors import InputFileError
from nbship.project.detect import detect
from nbship.project.kinds.r import CRAN, RInput
from nbship.project.kinds.runtime import RRuntime

from .helpers import MakeProject, plan_of, render
from .test_plan_render import instructions, position

NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
DESCRIPTION = "Package: sstr\nVersion: 0.1.0\nImports: dplyr (>= 1.1.0), ggplot2\n"


def r_input(files: Mapping[str, str], make_project: MakeProject) -> RInput | None:
    return detect(make_project(files)).input(RInput)


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "install_r", "description"),
    [
        pytest.param({"runtime.txt": "r-4.2-2023-01-01\n"}, None, None, id="runtime.txt alone"),
        pytest.param({"install.R": "install.packages('x')\n"}, "install.R", None, id="install.R alone"),
        pytest.param({"DESCRIPTION": DESCRIPTION}, None, "DESCRIPTION", id="DESCRIPTION alone"),
        pytest.param(
            {"binder/runtime.txt": "r-4.2\n", "binder/install.R": "1\n"}, "binder/install.R", None, id="binder/"
        ),
        pytest.param(
            {"runtime.txt": "python-3.10\n", "install.R": "1\n", "DESCRIPTION": DESCRIPTION},
            "install.R",
            "DESCRIPTION",
            id="with a Python runtime",
        ),
    ],
)
def test_what_makes_a_project_r(
    make_project: MakeProject, files: Mapping[str, str], install_r: str | None, description: str | None
) -> None:
    project = detect(make_project(files))
    item = project.input(RInput)
    assert item is not None
    assert (project.rel(item.install_r) if item.install_r else None) == install_r
    assert (project.rel(item.description_path) if item.description_path else None) == description
    assert set(item.files) == {path for path in (item.install_r, item.description_path) if path is not None}


def test_a_python_project_is_not_r(make_project: MakeProject) -> None:
    assert r_input({"requirements.txt": "numpy\n", "runtime.txt": "python-3.11\n"}, make_project) is None


def test_description_is_read_at_the_root_of_a_project_without_binder_only(make_project: MakeProject) -> None:
    # As on Binder: with binder/, a root DESCRIPTION is one of the root files nbship does not read.
    project = detect(make_project({"DESCRIPTION": DESCRIPTION, "binder/install.R": "1\n"}))
    item = project.input(RInput)
    assert item is not None and item.description is None
    assert detect(make_project({"DESCRIPTION": "not: read\n", "binder/": ""}, name="b")).input(RInput) is None


def test_a_description_in_binder_is_reported_unused(make_project: MakeProject) -> None:
    project = detect(make_project({"binder/DESCRIPTION": DESCRIPTION, "binder/requirements.txt": "numpy\n"}))
    assert project.input(RInput) is None
    (ignored,) = project.ignored
    assert ignored.reason.startswith("binder/DESCRIPTION is not used: as on Binder, a DESCRIPTION is read only")


def test_an_r_runtime_leaves_python_to_the_other_files(make_project: MakeProject) -> None:
    plan = plan_of(
        make_project({"runtime.txt": "r-4.2\n", "pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'})
    )
    assert plan.python.version == "3.12"
    assert plan_of(make_project({"runtime.txt": "r-4.2\n"}, name="d")).python.reason == "default"


# -- the repository -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "repository", "reason"),
    [
        pytest.param(
            {"runtime.txt": "r-4.2-2023-01-01\n"},
            "https://packagemanager.posit.co/cran/2023-01-01",
            "the CRAN snapshot of 2023-01-01, from runtime.txt",
            id="snapshot date",
        ),
        pytest.param(
            {"binder/runtime.txt": "r-2019-04-10\n"},
            "https://packagemanager.posit.co/cran/2019-04-10",
            "the CRAN snapshot of 2019-04-10, from binder/runtime.txt",
            id="date only",
        ),
        pytest.param({"runtime.txt": "r-4.2\n"}, CRAN, "CRAN: no snapshot date in runtime.txt", id="no date"),
        pytest.param({"install.R": "1\n"}, CRAN, "CRAN: no snapshot date in runtime.txt", id="no runtime.txt"),
        pytest.param(
            {"runtime.txt": "r-4.2-2023-01-01\n", "nbship.toml": 'r-repository = "https://cran.example.org/"\n'},
            "https://cran.example.org",
            "the r-repository setting",
            id="the setting wins",
        ),
        pytest.param(
            {"runtime.txt": "r-2015-01-01\n", "nbship.toml": 'r-repository = "http://10.0.0.1:3939/cran"\n'},
            "http://10.0.0.1:3939/cran",
            "the r-repository setting",
            id="any date with the setting",
        ),
    ],
)
def test_where_packages_come_from(
    make_project: MakeProject, files: Mapping[str, str], repository: str, reason: str
) -> None:
    item = r_input(files, make_project)
    assert item is not None
    assert (item.repository, item.reason) == (repository, reason)


def test_no_snapshot_before_the_first_one(make_project: MakeProject) -> None:
    with pytest.raises(InputFileError) as info:
        detect(make_project({"runtime.txt": "r-3.4-2017-10-09\n"}))
    message = info.value.message
    assert message.startswith("runtime.txt: there is no dated CRAN snapshot of 2017-10-09")
    assert "r-repository in nbship.toml" in message
    item = r_input({"runtime.txt": "r-3.4-2017-10-10\n"}, make_project)
    assert item is not None and item.runtime == RRuntime("3.4", dt.date(2017, 10, 10))


# -- the Dockerfile -------------------------------------------------------------------------------


def test_r_only_adds_r_to_the_image(make_project: MakeProject) -> None:
    text = render(make_project({"runtime.txt": "r-4.2-2023-01-01\n", "a.ipynb": NOTEBOOK}))
    steps = instructions(text)
    install = next(step for step in steps if "r-base-core" in step)
    assert "r-cran-irkernel" in install and "--no-install-recommends" in install
    config = next(step for step in steps if "Rprofile.site" in step)
    assert "'options(repos = c(CRAN = \"https://packagemanager.posit.co/cran/2023-01-01\"))'" in config
    assert "install -d -o 1000 -g 1000 /opt/nbship/rlib" in config
    assert 'case "$have" in 4.2|4.2.*) ;;' in config and "nbship-note: runtime.txt asks for R 4.2;" in config
    # Nothing to build: no build stage, no build tools, no project copy.
    assert "r-build" not in text and "r-base-dev" not in text and "AS source" not in text
    assert "R_LIBS_USER=/opt/nbship/rlib" in text
    assert position(text, "r-base-core") < position(text, "useradd")  # in the system stage


def test_no_version_no_note(make_project: MakeProject) -> None:
    text = render(make_project({"runtime.txt": "r-2023-01-01\n"}))
    assert "nbship-note" not in text and "$have" in text


def test_packages_are_built_apart_and_only_the_library_reaches_the_image(make_project: MakeProject) -> None:
    root = make_project(
        {
            "runtime.txt": "r-4.2-2023-01-01\n",
            "install.R": "install.packages('dplyr')\n",
            "DESCRIPTION": DESCRIPTION,
            "apt.txt": "libxml2-dev\n",
            "postBuild": "echo done\n",
            "a.ipynb": NOTEBOOK,
        }
    )
    text = render(root)
    build = text.split("FROM system AS r-build\n", 1)[1].split("\nFROM ", 1)[0]
    steps = instructions(build)
    assert "r-base-dev" in steps[0]
    assert steps[3:6] == [
        "USER 1000",
        "ENV HOME=/home/jovyan LANGUAGE=en R_LIBS_USER=/opt/nbship/rlib",
        "WORKDIR /tmp/nbship/r",
    ]
    # install.R alone first, then the DESCRIPTION's dependencies, then the package from its sources.
    assert steps[6] == "COPY install.R /tmp/nbship/r/install.R"
    assert steps[7].endswith("Rscript /opt/nbship/build/nbship-r-install script install.R")
    assert steps[8].endswith("Rscript /opt/nbship/build/nbship-r-install deps 'dplyr (>= 1.1.0)' ggplot2")
    assert steps[9] == "COPY --from=source --chown=1000:1000 /opt/nbship/project /tmp/nbship/r/package"
    assert steps[10].startswith("RUN R CMD INSTALL --library=/opt/nbship/rlib package")
    for step in steps[7:9]:
        assert "--mount=type=secret,id=nbship-ca" in step and "CURL_CA_BUNDLE=$CA" in step
    # apt.txt comes first: install.R builds on it (the build stage starts from the system stage).
    assert position(text, "libxml2-dev") < position(text, "FROM system AS r-build")
    assert position(text, "FROM system AS source") < position(text, "FROM system AS r-build")
    copy = "COPY --from=r-build --chown=1000:1000 /opt/nbship/rlib /opt/nbship/rlib"
    # Before the content: a notebook edit leaves the library's layer alone. postBuild comes after it.
    assert position(text, "FROM system AS installed") < position(text, copy) < position(text, "COPY --from=content")
    assert position(text, copy) < position(text, "postBuild failed")


def test_install_r_in_binder_keeps_its_path(make_project: MakeProject) -> None:
    text = render(make_project({"binder/runtime.txt": "r-4.2\n", "binder/install.R": "1\n"}))
    assert "COPY binder/install.R /tmp/nbship/r/binder/install.R" in text
    assert "nbship-r-install script binder/install.R" in text
    assert "AS source" not in text and "R CMD INSTALL" not in text


def test_description_notes_are_quoted(make_project: MakeProject) -> None:
    text = render(make_project({"DESCRIPTION": "Imports: a1\nRemotes: o'brien/pkg, $(id)/x\n"}))
    steps = instructions(text)
    deps = next(step for step in steps if "nbship-r-install deps" in step)
    assert "printf 'nbship-note: %s\\n' 'DESCRIPTION lists Remotes (o'\"'\"'brien/pkg, $(id)/x)" in deps
    assert "DESCRIPTION names no Package, so only the dependencies it lists were installed." in deps
    assert "R CMD INSTALL" not in text  # no Package: nothing of its own to install


def test_classic_builder_gets_no_mounts(make_project: MakeProject) -> None:
    text = render(make_project({"install.R": "1\n", "DESCRIPTION": DESCRIPTION}), buildkit=False)
    assert "--mount" not in text and "nbship-r-install script install.R" in text
