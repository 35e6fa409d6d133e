"""Pipfile and Pipfile.lock with Binder's semantics: what is installed, what wins over what, which
Python, and how bad entries are reported. The payload converter and the host reader agree."""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nbship.errors import InputFileError, ProjectError
from nbship.payload import pipfile_lock
from nbship.project.detect import detect
from nbship.project.kinds.package import PackageInput
from nbship.project.kinds.pip_lock import PipLockInput
from nbship.project.kinds.pipfile import PipfileInput
from nbship.project.kinds.pipfile_read import pipfile_hash, read_pipfile, read_pipfile_lock
from nbship.project.kinds.requirements import RequirementsInput

from .helpers import MakeProject, plan_of, render

FIXTURES = Path(__file__).resolve().parents[1] / "projects"
LOCKED = FIXTURES / "pipfile-lock"  # binder/Pipfile and binder/Pipfile.lock, written by pipenv


def pipfile_of(root: Path) -> PipfileInput:
    found = detect(root).input(PipfileInput)
    assert found is not None
    return found


def reasons(root: Path) -> list[str]:
    return [item.reason for item in detect(root).ignored]


# -- what a Pipfile installs -------------------------------------------------------------------------

PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[[source]]
url = "https://pypi.example.org/simple"
verify_ssl = false
name = "extra"

[packages]
six = "*"
numpy = ">=1.26,<3"
requests = {version = "==2.32.3", extras = ["socks"]}
tomli = {version = "*", markers = "python_version < '3.11'"}
pywin = {version = "*", sys_platform = "== 'win32'"}
mylib = {git = "https://git.example.org/alice/mylib.git", ref = "v1.2"}
tool = {git = "https://git.example.org/alice/tool.git", editable = true, subdirectory = "py"}
wheel-file = {file = "https://files.example.org/wheel_file-1.0-py3-none-any.whl"}
proj = {path = ".", editable = true}

[dev-packages]
pytest = "~=8.0"
six = "==1.16.0"

[pipenv]
allow_prereleases = true

[requires]
python_version = "3.10"
"""


def test_a_pipfile_becomes_pip_lines(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": PIPFILE, "setup.py": "", "requirements.txt": "pandas\n"})
    item = pipfile_of(root)
    assert item.data.lines == (
        "--index-url https://pypi.org/simple",
        "--extra-index-url https://pypi.example.org/simple",
        "--trusted-host pypi.example.org",
        "--pre",
        "six",  # in both sections: the default section's entry wins
        "numpy>=1.26,<3",
        "requests[socks]==2.32.3",
        "tomli ; python_version < '3.11'",
        "pywin ; sys_platform == 'win32'",
        "mylib @ git+https://git.example.org/alice/mylib.git@v1.2",
        "-e git+https://git.example.org/alice/tool.git#egg=tool&subdirectory=py",
        "wheel-file @ https://files.example.org/wheel_file-1.0-py3-none-any.whl",
        "pytest~=8.0",
    )
    assert [(local.path, local.editable) for local in item.local] == [(".", True)]
    assert item.provides() >= {"six", "numpy", "requests", "proj", "pytest"}
    assert plan_of(root).python.version == "3.10"


def test_every_line_is_a_valid_pip_requirement(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": PIPFILE, "setup.py": ""})
    for line in pipfile_of(root).data.lines:
        if not line.startswith("-"):
            Requirement(line)


def test_the_dockerfile_installs_the_pipfile_and_the_project_it_names(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": '[packages]\nsix = "==1.16.0"\nproj = {path = ".", editable = true}\n'})
    (root / "setup.py").write_text("from setuptools import setup\nsetup(name='proj')\n")
    text = render(root)
    assert "printf '%s\\n' six==1.16.0 > /tmp/nbship/env/Pipfile.txt" in text
    assert "-r /tmp/nbship/env/Pipfile.txt" in text
    assert (
        "cd /opt/nbship/project; /opt/nbship/tools/bin/uv pip install --python /opt/nbship/env/bin/python -e ." in text
    )
    # the Pipfile names the project: it is installed once, by the Pipfile's entry
    assert detect(root).input(PackageInput) is None


# -- precedence, as on Binder ---------------------------------------------------------------------------


def test_pipfile_wins_over_requirements_txt_and_says_so(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": '[packages]\nsix = "*"\n', "requirements.txt": "pandas\n"})
    project = detect(root)
    assert project.input(RequirementsInput) is None
    assert any(r.startswith("requirements.txt is not used: Pipfile describes") for r in reasons(root))


def test_a_package_is_installed_only_when_the_pipfile_names_it(make_project: MakeProject) -> None:
    root = make_project(
        {"Pipfile": '[packages]\nsix = "*"\n', "pyproject.toml": '[project]\nname = "p"\nversion = "1"\n'}
    )
    assert detect(root).input(PackageInput) is None
    assert any("pyproject.toml is not installed" in r and 'path = "."' in r for r in reasons(root))
    assert "pip install" in render(root) and "--no-deps ." not in render(root)


def test_environment_yml_wins_over_a_pipfile(make_project: MakeProject) -> None:
    root = make_project(
        {"environment.yml": "channels: [conda-forge]\ndependencies: [numpy]\n", "Pipfile": '[packages]\nsix = "*"\n'}
    )
    assert detect(root).input(PipfileInput) is None
    assert any(r.startswith("Pipfile not used: environment.yml describes") for r in reasons(root))


def test_binder_folder_holds_the_pipfile(make_project: MakeProject) -> None:
    root = make_project({"binder/Pipfile": '[packages]\nsix = "*"\n', "Pipfile": '[packages]\nnumpy = "*"\n'})
    assert pipfile_of(root).data.names == {"six"}
    assert any(r.startswith("Pipfile at the root is not used: binder/ holds") for r in reasons(root))


def test_pipfile_lock_wins_and_is_installed_with_hashes(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(LOCKED, root)
    item = pipfile_of(root)
    assert item.lock == root / "binder" / "Pipfile.lock" and item.display == "binder/Pipfile.lock"
    assert item.data.hashed == 2 and item.data.lines == ()
    assert [(local.path, local.editable) for local in item.local] == [(".", True)]  # `..` from binder/
    text = render(root)
    assert "COPY binder/Pipfile.lock /tmp/nbship/env/Pipfile.lock" in text
    assert "--require-hashes -r Pipfile.lock.txt" in text
    assert "--no-deps -e ." in text  # its dependencies are in the lock
    assert "binder/requirements.txt" not in text
    assert not any("Pipfile changed" in r for r in reasons(root))  # the lock is current


def test_pipenv_and_nbship_agree_on_the_pipfile_hash() -> None:
    recorded = json.loads((LOCKED / "binder" / "Pipfile.lock").read_text())["_meta"]["hash"]["sha256"]
    assert pipfile_hash(LOCKED / "binder" / "Pipfile") == recorded


def test_a_pipfile_newer_than_its_lock_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(LOCKED, root)
    pipfile = root / "binder" / "Pipfile"
    pipfile.write_text(pipfile.read_text().replace('six = "==1.16.0"', 'six = "*"'))
    (found,) = [r for r in reasons(root) if "changed since" in r]
    assert "binder/Pipfile changed since binder/Pipfile.lock was locked" in found and "pipenv lock" in found
    assert pipfile_of(root).data.hashed == 2  # the lock is still what is installed


def test_requirements_lock_gives_way_to_pipfile_lock(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(LOCKED, root)
    (root / "binder" / "requirements.lock").write_text("six==1.16.0 --hash=sha256:aa\n")
    assert detect(root).input(PipLockInput) is None
    assert any(
        r.startswith("binder/requirements.lock is not used: binder/Pipfile.lock is the lock") for r in reasons(root)
    )


def test_requirements_lock_of_a_pipfile_is_used(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": '[packages]\nsix = "*"\nproj = {path = ".", editable = true}\n', "setup.py": ""})
    (root / "requirements.lock").write_text("six==1.16.0 --hash=sha256:aa\n")
    text = render(root)
    assert "--require-hashes -r requirements.lock" in text
    assert "Pipfile.txt" not in text  # the lock holds the Pipfile's packages
    assert "--no-deps -e ." in text


# -- the Python version ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "expected", "reason"),
    [
        ('python_version = "3.9"', "3.9", "Pipfile [requires] python_version"),
        ('python_full_version = "3.10.4"', "3.10", "Pipfile [requires] python_full_version"),
        ('python_version = "3"', "3.11", "Pipfile [requires] python_version"),
    ],
)
def test_requires_picks_the_python_before_runtime_txt(
    make_project: MakeProject, requires: str, expected: str, reason: str
) -> None:
    root = make_project({"Pipfile": f'[packages]\nsix = "*"\n\n[requires]\n{requires}\n', "runtime.txt": "python-3.12"})
    choice = plan_of(root).python
    assert (choice.version, choice.reason) == (expected, reason)


def test_without_requires_runtime_txt_decides(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": '[packages]\nsix = "*"\n', "runtime.txt": "python-3.12"})
    assert plan_of(root).python.version == "3.12"


def test_the_lock_s_python_comes_first(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(LOCKED, root)
    lock_file = root / "binder" / "Pipfile.lock"
    lock = json.loads(lock_file.read_text())
    lock["_meta"]["requires"] = {"python_version": "3.9"}
    lock_file.write_text(json.dumps(lock))
    assert plan_of(root).python.reason == "binder/Pipfile.lock _meta requires python_version"
    assert plan_of(root).python.version == "3.9"


def test_python_2_is_refused(make_project: MakeProject) -> None:
    root = make_project({"Pipfile": '[packages]\nsix = "*"\n[requires]\npython_version = "2.7"\n'})
    with pytest.raises(ProjectError, match=r"asks for Python 2\.7"):
        plan_of(root)


# -- bad entries, each reported with its file and line ---------------------------------------------------

BAD = [
    ("not toml", "[packages\nsix = 1\n", "Pipfile, line 1: this is not valid TOML"),
    ("version without operator", '[packages]\nnumpy = "1.26"\n', "Pipfile, line 2: '1.26' is not a version"),
    ("unknown key", '[packages]\nlib = {git = "https://x.org/a.git", commit = "abc"}\n', "keys pipenv does not know"),
    ("bad name", '[packages]\n"no spaces" = "*"\n', "is not a package name"),
    ("path outside", '[packages]\nother = {path = "../elsewhere"}\n', "outside the project folder"),
    ("missing path", '[packages]\nother = {path = "./missing"}\n', "does not exist"),
    ("credentials", '[[source]]\nurl = "https://u:p@pypi.example.org/simple"\nname = "x"\n', "credentials"),
    ("env in url", '[[source]]\nurl = "https://${TOKEN}@x.org/simple"\nname = "x"\n', "credentials"),
    ("bad markers", '[packages]\nsix = {version = "*", markers = "python_version <<< 3"}\n', "markers of 'six'"),
    ("extras not a list", '[packages]\nsix = {version = "*", extras = "socks"}\n', "extras of 'six'"),
    ("bad python", '[packages]\n[requires]\npython_version = "latest"\n', "line 3: python_version 'latest'"),
    ("section not a table", 'packages = "six"\n', "[packages] must be a table"),
]


def _lock(default: dict[str, Any], **meta: Any) -> str:
    return json.dumps({"_meta": {"sources": [], **meta}, "default": default, "develop": {}})


BAD_LOCKS = [
    ("not json", "{", "Pipfile.lock, line 1: this is not valid JSON"),
    ("no hashes", _lock({"six": {"version": "==1.16.0", "hashes": []}}), "'six' is not pinned with hashes"),
    ("not pinned", _lock({"six": {"version": ">=1", "hashes": ["sha256:ab"]}}), "'six' is not pinned"),
    ("bad hash", _lock({"six": {"version": "==1", "hashes": ["md5 ab"]}}), "hashes of 'six'"),
    ("a list", "[]", "Pipfile.lock must be a table"),
]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [pytest.param("Pipfile", t, m, id=c) for c, t, m in BAD]
    + [pytest.param("Pipfile.lock", t, m, id=f"lock {c}") for c, t, m in BAD_LOCKS],
)
def test_bad_files_name_the_file_and_the_problem(make_project: MakeProject, name: str, text: str, message: str) -> None:
    root = make_project({name: text})
    with pytest.raises(InputFileError) as info:
        detect(root)
    assert message in info.value.message
    assert info.value.message.startswith(name)


# -- the build's converter agrees with the host's reading ------------------------------------------------


def test_the_converter_writes_the_hashed_pins_of_both_sections() -> None:
    lock = json.loads((LOCKED / "binder" / "Pipfile.lock").read_text())
    lines = pipfile_lock.convert(lock)
    assert lines[0] == "--index-url https://pypi.org/simple"
    six = next(line for line in lines if line.startswith("six"))
    assert six.startswith("six==1.16.0 ; python_version >= '2.7'") and six.count("--hash=sha256:") == 2
    assert any(line.startswith("tomli==2.5.0") for line in lines)  # develop
    assert not any("pipfixture" in line for line in lines)  # a path: installed from the sources


_names = st.text(alphabet=string.ascii_lowercase + "-_.", min_size=1, max_size=8).map(lambda s: f"p{s}q")
_hashes = st.lists(st.text(alphabet="0123456789abcdef", min_size=4, max_size=8), min_size=1, max_size=3).map(
    lambda values: [f"sha256:{v}" for v in values]
)
_pins = st.fixed_dictionaries(
    {
        "version": st.lists(st.integers(0, 99), min_size=1, max_size=3).map(lambda v: "==" + ".".join(map(str, v))),
        "hashes": _hashes,
    },
    optional={"markers": st.just("python_version >= '3.8'"), "extras": st.lists(_names, max_size=2)},
)
_other = st.sampled_from(
    [{"git": "https://git.example.org/a/b.git", "ref": "v1"}, {"path": ".", "editable": True}, {"path": "."}]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    default=st.dictionaries(_names, st.one_of(_pins, _other), max_size=6),
    develop=st.dictionaries(_names, st.one_of(_pins, _other), max_size=6),
)
def test_lock_entries_are_never_lost(tmp_path: Path, default: dict[str, Any], develop: dict[str, Any]) -> None:
    """Every entry lands somewhere (a hashed pin in the build, a line, or a local path), once per
    name, and the converter writes exactly the pins the host counted."""
    lock = {"_meta": {"sources": [{"url": "https://pypi.org/simple", "name": "pypi"}]}, "default": default}
    lock["develop"] = develop
    path = tmp_path / "Pipfile.lock"
    path.write_text(json.dumps(lock))
    data = read_pipfile_lock(path, "Pipfile.lock", tmp_path)
    pins = pipfile_lock.convert(lock)[1:]
    everything = {canonicalize_name(n) for n in (*default, *develop)}
    assert data.names == everything
    assert data.hashed == len(pins)
    assert data.hashed + len(data.lines) + len(data.local) == len(everything)
    for line in pins:
        Requirement(line.split(" --hash=")[0])


_spec = st.one_of(
    st.just("*"),
    st.tuples(st.sampled_from(["==", ">=", "<=", "~=", "!="]), st.integers(0, 30), st.integers(0, 30)).map(
        lambda t: f"{t[0]}{t[1]}.{t[2]}"
    ),
    st.fixed_dictionaries(
        {"version": st.just("*")},
        optional={"extras": st.lists(_names, max_size=2), "markers": st.just("os_name == 'posix'")},
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(packages=st.dictionaries(_names, _spec, max_size=6), dev=st.dictionaries(_names, _spec, max_size=6))
def test_pipfile_entries_are_never_lost(tmp_path: Path, packages: dict[str, Any], dev: dict[str, Any]) -> None:
    path = tmp_path / "Pipfile"
    path.write_text(tomlkit.dumps({"packages": packages, "dev-packages": dev}))
    data = read_pipfile(path, "Pipfile", tmp_path)
    names = {canonicalize_name(n) for n in (*packages, *dev)}
    assert {canonicalize_name(Requirement(line).name) for line in data.lines} == names == data.names


def _refusal(read: Callable[[], object]) -> str | None:
    """None when the file was read; else nbship's message (any other exception fails the test)."""
    try:
        read()
    except InputFileError as exc:
        return exc.message
    return None


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(text=st.text(max_size=300))
def test_any_pipfile_text_is_read_or_refused_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Pipfile"
    path.write_text(text, encoding="utf-8")
    refusal = _refusal(lambda: read_pipfile(path, "Pipfile", tmp_path))
    assert refusal is None or refusal.startswith("Pipfile")


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    data=st.one_of(
        _json,
        st.fixed_dictionaries(
            {"default": st.dictionaries(_names, _json, max_size=3)}, optional={"_meta": _json, "develop": _json}
        ),
    )
)
def test_any_json_lock_is_read_or_refused_clearly(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "Pipfile.lock"
    path.write_text(json.dumps(data), encoding="utf-8")
    refusal = _refusal(lambda: read_pipfile_lock(path, "Pipfile.lock", tmp_path))
    assert refusal is None or refusal.startswith("Pipfile.lock")
