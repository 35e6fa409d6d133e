"""nbship lock on a conda environment, solved for real by py-rattler against a local channel
(file://, written by the tests): stability, reuse, refresh, --exclude-newer, unsolvable specs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conda_channel import TEST_PACKAGES, write_channel

from nbship import api
from nbship.cli import main
from nbship.errors import ExitCode
from nbship.lock import conda as conda_lock
from nbship.lock import lockfile, worker
from nbship.lock.manage import ensure_locks
from nbship.payload import conda_install
from nbship.project.detect import detect
from nbship.project.kinds.environment_yml import CondaInput
from nbship.reporter import RecordingReporter

from .helpers import MakeProject, write_files


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_channel(tmp_path_factory.mktemp("channel"), TEST_PACKAGES)


def _env(channel: Path, *specs: str) -> str:
    lines = "".join(f"  - {spec}\n" for spec in specs)
    return f"channels:\n  - {channel.as_uri()}\ndependencies:\n{lines}"


def _cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stderr


def test_lock_is_exact_and_byte_identical_for_the_same_inputs(make_project: MakeProject, channel: Path) -> None:
    root = make_project({"environment.yml": _env(channel, "relocatable")})
    code, _ = _cli("lock", str(root))
    assert code == 0
    first = (root / "nbship.lock").read_bytes()
    text = first.decode()
    assert "relocatable-1.0-0.tar.bz2" in text and "greeting-2.0-0.tar.bz2" in text  # highest allowed
    assert "sha256: " in text and "md5: " in text
    # A second project with the same inputs, solved from scratch: the same bytes.
    other = write_files(root.parent / "other", {"environment.yml": _env(channel, "relocatable")})
    _cli("lock", str(other), "--update")
    assert (other / "nbship.lock").read_bytes() == first
    # The file is rattler's own format: rattler reads it back.
    assert any(url.endswith("noarch/greeting-2.0-0.tar.bz2") for url in conda_lock.locked_urls(root / "nbship.lock"))


def test_current_lock_is_reused_and_a_change_is_noticed(make_project: MakeProject, channel: Path) -> None:
    root = make_project({"binder/environment.yml": _env(channel, "greeting <2")})
    spec = detect(root).input(CondaInput)
    assert spec is not None
    assert conda_lock.lock_state(spec, python="3.11") == "missing"
    [outcome] = api.lock(path=root)
    assert outcome.written and outcome.path == root / "binder" / "nbship.lock"
    assert conda_lock.lock_state(spec, python="3.11") == "current"
    mtime = outcome.path.stat().st_mtime_ns
    code, err = _cli("lock", str(root))
    assert code == 0 and "is current" in err
    assert outcome.path.stat().st_mtime_ns == mtime  # not rewritten
    (root / "binder" / "environment.yml").write_text(_env(channel, "greeting <2", "relocatable"))
    changed = detect(root).input(CondaInput)
    assert changed is not None
    assert conda_lock.lock_state(changed, python="3.11") == "stale"
    api.lock(path=root)
    urls = conda_lock.locked_urls(outcome.path)
    # greeting stays at the version locked before: adding a package does not upgrade the others
    assert any(url.endswith("greeting-1.0-0.tar.bz2") for url in urls)
    assert any(url.endswith("relocatable-1.0-0.tar.bz2") for url in urls)


def test_update_takes_the_newest_allowed(make_project: MakeProject, channel: Path) -> None:
    root = make_project({"environment.yml": _env(channel, "greeting <2")})
    api.lock(path=root)
    (root / "environment.yml").write_text(_env(channel, "greeting"))
    api.lock(path=root)  # without --update, the locked 1.0 still satisfies "greeting"
    assert conda_lock.locked_urls(root / "nbship.lock")[0].endswith("greeting-1.0-0.tar.bz2")
    api.lock(path=root, options=api.LockOptions(update=True))
    assert conda_lock.locked_urls(root / "nbship.lock")[0].endswith("greeting-2.0-0.tar.bz2")


def test_exclude_newer_reproduces_a_past_solve(make_project: MakeProject, channel: Path) -> None:
    root = make_project({"environment.yml": _env(channel, "greeting")})
    code, _ = _cli("lock", str(root), "--exclude-newer", "2024-01-01")
    assert code == 0
    assert conda_lock.locked_urls(root / "nbship.lock")[0].endswith("greeting-1.0-0.tar.bz2")
    assert "# nbship-exclude-newer: 2024-01-01" in (root / "nbship.lock").read_text()
    code, err = _cli("lock", str(root), "--exclude-newer", "last tuesday")
    assert code == ExitCode.USAGE and "2024-05-31" in err


def test_both_platforms_on_request(make_project: MakeProject, channel: Path) -> None:
    root = make_project({"environment.yml": _env(channel, "greeting")})
    code, err = _cli("lock", str(root), "--platform", "linux-64", "--platform", "linux-aarch64")
    assert code == 0, err
    text = (root / "nbship.lock").read_text()
    assert "- name: linux-64" in text and "- name: linux-aarch64" in text


@pytest.mark.parametrize(
    ("specs", "fragments"),
    [
        pytest.param(("relocatable", "needs-old-greeting"), ["needs-old-greeting", "greeting"], id="conflict"),
        pytest.param(("no-such-package",), ["no-such-package"], id="missing"),
        pytest.param(("greeting >=3",), ["greeting >=3"], id="no such version"),
    ],
)
def test_unsolvable_spec_names_the_package_without_traceback(
    make_project: MakeProject, channel: Path, specs: tuple[str, ...], fragments: list[str]
) -> None:
    root = make_project({"environment.yml": _env(channel, *specs)})
    code, err = _cli("lock", str(root))
    assert code == ExitCode.PROJECT
    assert err.startswith("error environment.yml cannot be solved for linux-64: ")
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in err
    assert not (root / "nbship.lock").exists()


def test_unreachable_channel_is_one_paragraph(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project({"environment.yml": _env(tmp_path / "nowhere", "greeting")})
    code, err = _cli("lock", str(root))
    assert code == ExitCode.PROJECT
    assert "could not be read" in err and "Traceback" not in err


def test_lock_without_environment_says_what_it_locks(make_project: MakeProject) -> None:
    code, err = _cli("lock", str(make_project({"a.ipynb": "{}"})))
    assert code == ExitCode.PROJECT and "environment.yml" in err


def test_build_relocks_a_changed_environment_for_every_platform_it_had(
    make_project: MakeProject, channel: Path
) -> None:
    root = make_project({"environment.yml": _env(channel, "greeting")})
    api.lock(path=root, options=api.LockOptions(platforms=("linux-aarch64", "linux-64")))
    (root / "environment.yml").write_text(_env(channel, "greeting <2"))
    reporter = RecordingReporter()
    ensure_locks(detect(root), python="3.11", channel_auth=None, reporter=reporter)
    assert any("Locking environment.yml first (environment.yml changed" in text for _, text in reporter.events)
    assert set(conda_lock.locked_platforms(root / "nbship.lock")) == {"linux-64", "linux-aarch64"}
    assert conda_lock.locked_urls(root / "nbship.lock", "linux-aarch64")[0].endswith("greeting-1.0-0.tar.bz2")


def test_unreachable_host_has_its_own_exit_code(make_project: MakeProject) -> None:
    # Nothing listens on port 1 of this machine: the network, not the file, is what failed.
    root = make_project({"environment.yml": "channels:\n  - http://127.0.0.1:1/chan\ndependencies:\n  - greeting\n"})
    code, err = _cli("lock", str(root))
    assert code == ExitCode.NETWORK
    assert "could not be reached" in err and "Check your network" in err and "Traceback" not in err
    assert not (root / "nbship.lock").exists()


def test_unreachable_package_index_for_the_pip_section(make_project: MakeProject, channel: Path) -> None:
    text = _env(channel, "greeting") + "  - pip:\n    - --index-url http://127.0.0.1:1/simple\n    - six\n"
    code, err = _cli("lock", str(make_project({"environment.yml": text})))
    assert code == ExitCode.NETWORK
    assert "pip: section could not be reached" in err and "Traceback" not in err


def test_pip_section_and_jupyterlab_are_locked_with_hashes(make_project: MakeProject, channel: Path) -> None:
    # The tests' small channel has neither Python nor JupyterLab: nbship says so and pins its own.
    root = make_project({"environment.yml": _env(channel, "greeting") + "  - pip:\n    - six==1.16.0\n"})
    code, err = _cli("lock", str(root))
    assert code == 0, err
    assert "its channels have no Python 3.11: the environment uses the base image's Python" in err
    assert "nbship locks its JupyterLab from PyPI, hashed" in err
    pip = lockfile.packages(root / "nbship.lock", "linux-64")
    assert [url.rsplit("/", 1)[1].split("#")[0] for url in pip.pypi] == ["six-1.16.0-py2.py3-none-any.whl"]
    lab = lockfile.packages(root / "nbship.lock", "linux-64", environment=lockfile.JUPYTERLAB_ENVIRONMENT)
    names = {url.rsplit("/", 1)[1].split("-")[0].lower() for url in lab.pypi}
    assert "jupyterlab" in names and "six" not in names  # six is the pip: section's, not locked twice
    assert all(re.search(r"#sha256=[0-9a-f]{64}$", url) for url in (*pip.pypi, *lab.pypi))
    # what the build's installer makes of it: hashed requirements
    lab_requirements = conda_install.pip_requirements(root / "nbship.lock", "linux-64", lockfile.JUPYTERLAB_ENVIRONMENT)
    assert "\njupyterlab @ https://" in "\n" + lab_requirements
    # the installer, which cannot import nbship, names both lock environments as lockfile.py does
    installer = Path(conda_install.__file__).read_text()
    assert f'("{lockfile.DEFAULT_ENVIRONMENT}", "pip.txt")' in installer
    assert f'("{lockfile.JUPYTERLAB_ENVIRONMENT}", "jupyterlab.txt")' in installer
    requirements = conda_install.pip_requirements(root / "nbship.lock", "linux-64", lockfile.DEFAULT_ENVIRONMENT)
    assert re.fullmatch(
        r"six @ https://\S+/six-1\.16\.0-py2\.py3-none-any\.whl --hash=sha256:[0-9a-f]{64}\n", requirements
    )


@pytest.mark.parametrize(
    ("when", "code"),
    [pytest.param("after", 0, id="after its result"), pytest.param("before", ExitCode.PROJECT, id="before it")],
)
def test_a_solver_crash_never_reaches_the_user(
    make_project: MakeProject, channel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, code: int
) -> None:
    """py-rattler has crashed the interpreter at exit (SIGABRT, exit 134) after nbship's own message."""
    wrapper = tmp_path / "python-that-crashes"
    run = f'"{sys.executable}" "$@"; ' if when == "after" else ""
    wrapper.write_text(f"#!/bin/sh\n{run}echo 'Fatal Python error: PyGILState_Release' >&2; kill -ABRT $$\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(worker.sys, "executable", str(wrapper))
    root = make_project({"environment.yml": _env(channel, "greeting")})
    exit_code, err = _cli("lock", str(root))
    assert exit_code == code
    assert "Fatal Python error" not in err.split("\n")[0] and "Traceback" not in err
    assert (root / "nbship.lock").exists() == (when == "after")
    if when == "before":
        assert "stopped before it finished (exit -6)" in err
