"""Shared fixtures: the real Docker daemon, images built once per session, the CLI in-process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
import requests
from click.testing import CliRunner, Result

from nbship.cli import main

REPO = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "projects"
EXAMPLE = REPO / "examples" / "sea-surface-temperature"
# Separate checkouts testing on one daemon at once set their own prefix, so their images never collide.
TEST_PREFIX = os.environ.get("NBSHIP_TEST_PREFIX", "nbship-test")

# The property tests check what comes out, not how fast: on a loaded 2-core machine (the suite
# builds images beside them) one slow example would fail a test that found nothing wrong. Loaded
# here, before the test modules, so every @settings inherits it.
hypothesis.settings.register_profile("nbship", deadline=None)
hypothesis.settings.load_profile("nbship")


def run_cli(*args: str, input: str | None = None) -> Result:
    """The real `nbship` entry point, in-process."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def nbship_exe() -> str:
    exe = Path(sys.executable).parent / "nbship"
    assert exe.exists(), f"nbship is not installed next to {sys.executable}"
    return str(exe)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_project(name: str, dest_root: Path) -> Path:
    """A fixture project copied out of the repo, so tests never write into the checkout."""
    dest = dest_root / name
    shutil.copytree(PROJECTS / name, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def docker_daemon() -> str:
    """The daemon must answer. Under CI=true a missing daemon fails the run; elsewhere it skips."""
    result = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (
            "no Docker daemon answers (run `bash scripts/setup-test-machine.sh` as root first): "
            + result.stderr.strip()[:300]
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return result.stdout.strip()


@pytest.fixture(scope="session", autouse=True)
def _remove_test_volumes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Volumes that nbship made for this session's copies of projects go when the session ends."""
    yield
    base = str(tmp_path_factory.getbasetemp())
    listed = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", "label=io.nbship.managed=true"],
        capture_output=True,
        text=True,
        check=False,
    )
    for name in listed.stdout.split():
        path = subprocess.run(
            ["docker", "volume", "inspect", "-f", '{{index .Labels "io.nbship.project-path"}}', name],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if path.startswith(base):
            subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True, check=False)


@dataclass(frozen=True)
class BuiltProject:
    path: Path
    image: str


def _build(path: Path, tag: str, *extra: str) -> BuiltProject:
    result = run_cli("build", str(path), "-t", tag, *extra)
    assert result.exit_code == 0, f"build of {path.name} failed:\n{result.output}\n{result.stderr}"
    return BuiltProject(path, tag)


@pytest.fixture(scope="session")
def projects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("projects")


@pytest.fixture(scope="session")
def example_built(docker_daemon: str, projects_dir: Path) -> BuiltProject:
    dest = projects_dir / "sea-surface-temperature"
    shutil.copytree(EXAMPLE, dest)
    return _build(dest, f"{TEST_PREFIX}/sst:latest")


@pytest.fixture(scope="session")
def kinds_built(docker_daemon: str, projects_dir: Path) -> BuiltProject:
    """One project using binder/ with requirements (+ an include), runtime, apt, postBuild, start."""
    return _build(copy_project("binder-kinds", projects_dir), f"{TEST_PREFIX}/binder-kinds:latest")


@pytest.fixture(scope="session")
def package_built(docker_daemon: str, projects_dir: Path) -> BuiltProject:
    """A project that is itself a package (pyproject.toml), with data/ and a .dockerignore."""
    project = copy_project("package-project", projects_dir)
    # Secret-looking files are made here rather than kept in the repository.
    (project / ".env").write_text("API_TOKEN=not-a-real-secret\n")
    (project / "id_rsa").write_text("not a real key\n")
    (project / "keys").mkdir()
    (project / "keys" / "server.pem").write_text("not a real certificate\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return _build(project, f"{TEST_PREFIX}/package-project:latest")


@dataclass(frozen=True)
class ServedLab:
    path: Path
    port: int
    token: str
    lab_url: str
    notebook_name: str


def wait_until(predicate: object, timeout: float = 60.0, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture(scope="session")
def served_example(example_built: BuiltProject) -> Iterator[ServedLab]:
    port = free_port()
    result = run_cli("up", str(example_built.path), "--detach", "--port", str(port), "-t", example_built.image)
    assert result.exit_code == 0, result.output + result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
    token = url.split("token=", 1)[1]
    try:
        yield ServedLab(example_built.path, port, token, url, "sst_analysis.ipynb")
    finally:
        run_cli("down", str(example_built.path))


def http_status(url: str) -> int:
    """The HTTP status, or 0 while nothing answers (a published port resets until the server listens)."""
    try:
        return requests.get(url, timeout=10).status_code
    except requests.ConnectionError:
        return 0


@dataclass(frozen=True)
class BuiltWithLog:
    path: Path
    image: str
    log: str  # what the build said (its warnings), for tests of what nbship reports


def _build_logged(name: str, projects_dir: Path, *, plain: tuple[str, ...] = ()) -> BuiltWithLog:
    """`plain`: files made non-executable first, whatever mode the checkout gave them."""
    path = copy_project(name, projects_dir)
    for rel in plain:
        (path / rel).chmod(0o644)
    tag = f"{TEST_PREFIX}/{name}:latest"
    result = run_cli("build", str(path), "-t", tag)
    assert result.exit_code == 0, f"build of {name} failed:\n{result.output}\n{result.stderr}"
    return BuiltWithLog(path, tag, result.stderr)


@pytest.fixture(scope="session")
def pipfile_lock_built(docker_daemon: str, projects_dir: Path) -> BuiltWithLog:
    """binder/Pipfile.lock as pipenv wrote it (a path entry for the project), beside a requirements.txt."""
    return _build_logged("pipfile-lock", projects_dir)


@pytest.fixture(scope="session")
def pipfile_only_built(docker_daemon: str, projects_dir: Path) -> BuiltWithLog:
    """A Pipfile without a lock, beside a requirements.txt and a pyproject.toml that it does not name."""
    return _build_logged("pipfile-only", projects_dir)


@pytest.fixture(scope="session")
def binder_scripts_built(docker_daemon: str, projects_dir: Path) -> BuiltWithLog:
    """binder/start and binder/postBuild without the executable bit, with CRLF line endings."""
    return _build_logged("binder-scripts", projects_dir, plain=("binder/start", "binder/postBuild"))


@pytest.fixture(scope="session")
def own_binder_built(docker_daemon: str, projects_dir: Path) -> BuiltWithLog:
    """A minimal Binder Dockerfile: ARG NB_USER / NB_UID without defaults, no command of its own."""
    return _build_logged("own-dockerfile-binder", projects_dir)
