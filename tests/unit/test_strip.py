"""Stripping the environment: where the Dockerfile runs it, the switch that keeps everything, and what
nbship.image.slim removes and compiles (on a site-packages folder made here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship.contract import SLIM
from nbship.options import Installer
from nbship.payload import slim
from nbship.project.plan import BUILD_TOOLS

from .helpers import MakeProject, plan_of, render, write_files
from .test_plan_render import FULL_PROJECT, instructions

STRIP_STEP = f"/opt/nbship/env/bin/python {SLIM} /opt/nbship/env"


def _stage(text: str, name: str) -> list[str]:
    steps = instructions(text)
    start = next(i for i, s in enumerate(steps) if s.startswith("FROM ") and s.endswith(f" AS {name}"))
    end = next((i for i in range(start + 1, len(steps)) if steps[i].startswith("FROM ")), len(steps))
    return steps[start:end]


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("buildkit", [True, False])
def test_every_install_step_ends_with_the_strip(
    make_project: MakeProject, installer: Installer, buildkit: bool
) -> None:
    text = render(make_project(FULL_PROJECT), installer=installer, buildkit=buildkit)
    installs = [s for s in _stage(text, "env") if s.startswith("RUN ") and " install " in s]
    assert len(installs) == 2  # JupyterLab, then requirements.txt
    for step in installs:
        assert step.rstrip().endswith(STRIP_STEP)
    # Only in the env stage: the final image never holds the script or runs it.
    assert text.count(STRIP_STEP) == 2
    assert "COPY --from=nbship /build/ /opt/nbship/build/" in _stage(text, "env")
    assert not any("/build/" in step for step in _stage(text, "image"))


def test_the_project_package_stage_is_stripped_too(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[project]\nname = "demo"\nversion = "1.0"\n', "a.ipynb": "{}"})
    step = next(s for s in _stage(render(root), "env-project") if s.startswith("RUN "))
    assert step.rstrip().endswith(STRIP_STEP)


def test_layer_order_is_the_same_with_and_without_strip(make_project: MakeProject) -> None:
    root = make_project(FULL_PROJECT)

    def shape(text: str) -> list[str]:
        return [s.split()[0] + " " + s.split()[-1] for s in instructions(text) if not s.startswith("RUN")]

    stripped, kept = render(root), render(root, strip=False)
    assert shape(stripped) == shape(kept)
    assert SLIM not in kept


def test_strip_setting_and_the_switch(make_project: MakeProject) -> None:
    root = make_project({**FULL_PROJECT, "nbship.toml": "strip = false\n"})
    assert SLIM not in render(root)
    assert SLIM in render(root, strip=True)  # --strip on the command line wins over the setting
    assert SLIM not in render(make_project(FULL_PROJECT), strip=False)


def test_build_tools_the_project_names_are_kept(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "numpy\nSetupTools>=60\n"})
    assert plan_of(root).strip_keep == ("setuptools",)
    assert f"{STRIP_STEP} --keep setuptools" in render(root)


def test_the_build_tools_agree_with_the_strip() -> None:
    assert set(slim.BUILD_TOOLS) == BUILD_TOOLS


# --- nbship.image.slim on a folder laid out like site-packages ----------------------------------


def _dist(site: Path, name: str, requires: list[str], files: list[str], version: str = "1.0") -> None:
    info = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    record = "".join(f"{f},,\n" for f in [*files, f"{info}/METADATA", f"{info}/RECORD"])
    write_files(site, {f"{info}/METADATA": metadata, f"{info}/RECORD": record})
    write_files(site, {f: "VALUE = 1\n" for f in files if not (site / f).exists()})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "lib" / "python3" / "site-packages"
    _dist(site, "jupyterlab", ["jupyter-server>=2", "pytest; extra == 'test'"], ["jupyterlab/__init__.py"])
    _dist(site, "jupyter-server", ["jsonschema[format-nongpl]>=4"], ["jupyter_server/__init__.py"])
    _dist(site, "jsonschema", ["attrs", "isoduration; extra == 'format-nongpl'"], ["jsonschema/__init__.py"])
    _dist(site, "attrs", [], ["attrs/__init__.py"])
    _dist(site, "isoduration", [], ["isoduration/__init__.py"])
    _dist(site, "pytest", [], ["pytest/__init__.py"])
    _dist(site, "pandas", [], ["pandas/__init__.py", "pandas/tests/test_x.py", "pandas/core/tests/test_y.py"])
    _dist(site, "bottleneck", [], ["bottleneck/__init__.py", "bottleneck/tests/util.py", "bottleneck/_b.c"])
    (site / "bottleneck" / "__init__.py").write_text("from bottleneck.tests.util import get_functions\n")
    (site / "bottleneck" / "_b.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\0")
    write_files(
        site,
        {
            "cftime/_cftime.pyx": "x",
            "cftime/_cftime.cpython-311-x86_64-linux-gnu.so": "",
            "cftime/helper.c": "int x;",
            "tests/__init__.py": "",
            "lab/static/app.js.map": "{}",
        },
    )
    _dist(
        site, "setuptools", [], ["setuptools/__init__.py", "pkg_resources/__init__.py", "_distutils_hack/__init__.py"]
    )
    write_files(site, {"distutils-precedence.pth": "import os\n", "pandas/__pycache__/__init__.cpython-311.pyc": "x"})
    return site


def test_closure_follows_requirements_and_the_extras_they_ask_for(site: Path) -> None:
    dists = slim.installed(site)
    assert slim.closure(dists, ["jupyterlab", "notebook"]) == {
        "jupyterlab",
        "jupyter-server",
        "jsonschema",
        "attrs",
        "isoduration",
    }


@pytest.mark.parametrize(
    ("requirement", "extras", "name"),
    [
        ("jupyter_server (>=2.4)", (), "jupyter-server"),
        ("Send2Trash>=1.8.2; python_version >= '3.8'", (), "send2trash"),
        ("pytest; extra == 'test'", (), None),
        ('isoduration; extra == "format-nongpl"', ("format-nongpl",), "isoduration"),
    ],
)
def test_requirement_name(requirement: str, extras: tuple[str, ...], name: str | None) -> None:
    assert slim.requirement_name(requirement, extras) == name


def test_slim_removes_what_is_safe_and_compiles_the_server(site: Path) -> None:
    saved = slim.slim(site.parent.parent.parent, set(), site=site)
    assert not (site / "pandas" / "tests").exists() and not (site / "pandas" / "core" / "tests").exists()
    assert (site / "bottleneck" / "tests" / "util.py").exists()  # its __init__ imports them
    assert (site / "tests" / "__init__.py").exists()  # a top-level module, not a package's tests
    assert not (site / "cftime" / "_cftime.pyx").exists() and not (site / "bottleneck" / "_b.c").exists()
    assert (site / "cftime" / "helper.c").exists()  # no extension module was built from it
    assert not (site / "lab" / "static" / "app.js.map").exists()
    for gone in ("setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth"):
        assert not (site / gone).exists()
    assert not list(site.glob("setuptools-*.dist-info"))
    assert not (site / "pandas" / "__pycache__").exists()
    assert list((site / "jupyter_server" / "__pycache__").glob("__init__.*.pyc"))
    assert list((site / "isoduration" / "__pycache__").glob("__init__.*.pyc"))
    assert not (site / "pytest" / "__pycache__").exists()
    assert saved["tests"] > 0 and saved["build tools"] > 0 and saved["server bytecode added"] < 0
    assert slim.slim(site.parent.parent.parent, set(), site=site)["tests"] == 0  # a second run finds nothing


def test_slim_keeps_build_tools_asked_for_or_required(site: Path) -> None:
    slim.slim(site.parent.parent.parent, {"setuptools"}, site=site)
    assert (site / "setuptools").exists() and (site / "pkg_resources").exists()


def test_slim_keeps_a_build_tool_a_package_requires(site: Path) -> None:
    _dist(site, "oldpkg", ["setuptools>=40"], ["oldpkg/__init__.py"])
    slim.slim(site.parent.parent.parent, set(), site=site)
    assert (site / "setuptools").exists()
