"""conda environments as conda-forge ships them, proven on a channel built like conda-forge
(tests/forge_channel.py: Python from the channel, noarch: python packages from real wheels,
JupyterLab and its kernel, compiled packages with shared libraries and prefix placeholders),
served over HTTP on the docker bridge, solved on the host, installed by py-rattler in the build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conda_channel import serve
from conftest import PROJECTS, REPO, TEST_PREFIX, BuiltProject, free_port, run_cli, wait_until
from docker_helpers import run_in
from test_conda import bridge_gateway

from nbship.lock import lockfile

pytestmark = pytest.mark.docker

STATE_DIR = Path(os.environ.get("NBSHIP_STATE_DIR", "/var/lib/nbship-test"))


@pytest.fixture(scope="session")
def forge_folder(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The channel, built once per machine (cached under the setup script's state folder)."""
    cache = STATE_DIR / "forge-channel" if os.access(STATE_DIR, os.W_OK) else tmp_path_factory.mktemp("forge")
    started = time.monotonic()
    built = subprocess.run(
        [sys.executable, str(REPO / "tests" / "forge_channel.py"), str(cache)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    print(f"conda-forge-like channel ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def forge_url(forge_folder: Path) -> Iterator[str]:
    # Served below /conda-forge/ too, so that a channel name resolves to it through CONDA_CHANNEL_ALIAS.
    root = forge_folder.parent / "served"
    root.mkdir(exist_ok=True)
    link = root / "conda-forge"
    if link.is_symlink() and link.resolve() != forge_folder:
        link.unlink()
    if not link.exists():
        link.symlink_to(forge_folder)
    with serve(root, bridge_gateway()) as url:
        yield url


def _project(dest: Path, channel: str) -> Path:
    shutil.copytree(PROJECTS / "conda-forge-like", dest)
    env = dest / "environment.yml"
    env.write_text(env.read_text().replace("CHANNEL", channel))
    return dest


@pytest.fixture(scope="session")
def forge_built(forge_url: str, projects_dir: Path) -> tuple[BuiltProject, str]:
    project = _project(projects_dir / "conda-forge-like", f"{forge_url}/conda-forge")
    tag = f"{TEST_PREFIX}/conda-forge-like:latest"
    started = time.monotonic()
    result = run_cli("-v", "build", str(project), "-t", tag)
    assert result.exit_code == 0, result.output + result.stderr
    print(f"conda-forge-like image built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return BuiltProject(project, tag), result.stderr


def test_lock_takes_python_and_jupyter_from_the_channel(forge_built: tuple[BuiltProject, str]) -> None:
    built, _ = forge_built
    lock = built.path / "nbship.lock"
    conda = lockfile.packages(lock, "linux-64").conda
    names = {url.rsplit("/", 1)[1].rsplit("-", 2)[0] for url in conda}
    assert {"python", "pip", "jupyterlab", "ipykernel", "jupyter_server", "numpy", "matplotlib-base"} <= names
    assert {"python-tzdata", "nbprobe", "python_abi"} <= names
    # The pip: section, hashed, without what conda installs: pytz-deprecation-shim needs tzdata,
    # which conda's python-tzdata provides under another name.
    pypi = lockfile.packages(lock, "linux-64").pypi
    assert sorted(url.rsplit("/", 1)[1].split("-")[0] for url in pypi) == ["pytz_deprecation_shim", "tabulate"]
    assert not lockfile.packages(lock, "linux-64", environment=lockfile.JUPYTERLAB_ENVIRONMENT).pypi


def test_server_kernel_and_packages_all_come_from_the_environment(forge_built: tuple[BuiltProject, str]) -> None:
    built, _ = forge_built
    script = (
        "import json, sys, sysconfig, importlib;"
        "mods = ['numpy', 'pandas', 'xarray', 'matplotlib', 'jupyterlab', 'jupyter_server', 'ipykernel', 'tzdata',"
        " 'tabulate', 'pytz_deprecation_shim', 'nbprobe', 'os'];"
        "print(json.dumps({'exe': sys.executable, 'prefix': sys.prefix, 'path': sys.path,"
        " 'files': {m: importlib.import_module(m).__file__ for m in mods},"
        " 'config_prefix': sysconfig.get_config_var('prefix'), 'purelib': sysconfig.get_paths()['purelib'],"
        " 'probe': importlib.import_module('nbprobe').prefix()}))"
    )
    out = run_in(built.image, f'python -c "{script}"; command -v jupyter-lab; nbprobe; jupyter kernelspec list --json')
    first, rest = out.split("\n", 1)
    facts = json.loads(first)
    assert facts["exe"] == "/opt/nbship/env/bin/python" and facts["prefix"] == "/opt/nbship/env"
    assert all(path.startswith("/opt/nbship/env/") for path in facts["files"].values()), facts["files"]
    assert not any(entry.startswith("/usr") for entry in facts["path"])  # nothing of the base image's Python
    assert facts["config_prefix"] == "/opt/nbship/env"  # a text placeholder in Python's sysconfig data, rewritten
    assert facts["purelib"] == "/opt/nbship/env/lib/python3.11/site-packages"  # pip installs into the environment
    assert facts["probe"] == "/opt/nbship/env"  # a binary placeholder, in a shared library
    lines = rest.splitlines()
    assert lines[0] == "/opt/nbship/env/bin/jupyter-lab"  # an entry point the installer wrote
    assert lines[1:3] == ["/opt/nbship/env", "/opt/nbship/env/share"]  # the program's own placeholder
    kernels = json.loads("\n".join(lines[3:]))["kernelspecs"]
    assert list(kernels) == ["python3"]
    assert kernels["python3"]["resource_dir"].startswith("/opt/nbship/env/share/jupyter/kernels")
    assert run_in(built.image, "printenv ANALYSIS_MODE").strip() == "full"


def test_strip_is_measured_and_keeps_what_runs(forge_built: tuple[BuiltProject, str]) -> None:
    built, stderr = forge_built
    report = json.loads(run_in(built.image, "cat /opt/nbship/env/conda-meta/nbship-strip.json"))
    assert report["packages"] > 90 and 0 < report["bytes_removed"] < report["bytes_before"]
    assert "nbship-slim: removed tests" in stderr  # the environment's own trim ran on the conda packages too
    out = run_in(
        built.image,
        "ls /opt/nbship/env/lib/python3.11/site-packages/pandas/tests 2>&1 | head -1; "
        "ls -d /opt/nbship/env/lib/python3.11/site-packages/bottleneck/tests; "
        "find /opt/nbship/env -name '*.a' | head -1; "
        "python -c 'import bottleneck, pandas; print(bottleneck.move_mean([1.0, 2.0, 3.0], 2)[-1])'",
    )
    lines = out.splitlines()
    assert "No such file" in lines[0]  # a test suite no import reaches: gone
    assert lines[1].endswith("bottleneck/tests")  # bottleneck imports its tests: kept
    assert lines[2] == "2.5"


def test_check_runs_the_notebook_in_the_environment(forge_built: tuple[BuiltProject, str]) -> None:
    built, _ = forge_built
    result = run_cli("check", "--image", built.image)
    assert result.exit_code == 0, result.output + result.stderr
    assert "passed" in result.stdout and "analysis.ipynb" in result.stdout


def test_up_serves_jupyterlab_with_the_environment_kernel(forge_built: tuple[BuiltProject, str]) -> None:
    built, _ = forge_built
    port = free_port()
    up = run_cli("up", str(built.path), "--detach", "--port", str(port), "-t", built.image)
    try:
        assert up.exit_code == 0, up.stderr
        token = up.stdout.strip().split("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: requests.get(f"{base}/api/status?token={token}", timeout=5).ok, timeout=60)
        specs = requests.get(f"{base}/api/kernelspecs?token={token}", timeout=10).json()
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert argv[0] in {"python", "/opt/nbship/env/bin/python"}  # resolved on the environment's PATH
        lab = requests.get(f"{base}/lab?token={token}", timeout=10)
        assert lab.ok and "JupyterLab" in lab.text
    finally:
        run_cli("down", str(built.path))


def test_a_file_without_python_or_jupyterlab_gets_them_from_the_channel(forge_url: str, tmp_path: Path) -> None:
    project = tmp_path / "minimal"
    project.mkdir()
    (project / "environment.yml").write_text(f"channels:\n  - {forge_url}/conda-forge\ndependencies:\n  - numpy\n")
    result = run_cli("lock", str(project))
    assert result.exit_code == 0, result.stderr
    assert "names no Python: nbship adds python 3.11 from its channels" in result.stderr
    assert "names no JupyterLab: nbship adds jupyterlab from its channels" in result.stderr
    names = {
        url.rsplit("/", 1)[1].rsplit("-", 2)[0] for url in lockfile.packages(project / "nbship.lock", "linux-64").conda
    }
    assert {"python", "jupyterlab", "numpy", "ipykernel"} <= names
    assert not lockfile.packages(project / "nbship.lock", "linux-64").pypi  # nothing from PyPI


def test_exported_and_channel_less_files_lock(forge_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`conda env export` output (build strings, a prefix), and a file naming no channel, read through
    a conda-forge mirror (CONDA_CHANNEL_ALIAS) as conda reads them."""
    monkeypatch.setenv("CONDA_CHANNEL_ALIAS", forge_url)
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "environment.yml").write_text(
        "name: sst\nchannels:\n  - conda-forge\n  - defaults\n  - nodefaults\ndependencies:\n"
        "  - python=3.11.2=h0_0_cpython\n  - python_abi=3.11=8_cp311\n  - numpy=2.4.6=py311h0_0\n"
        "  - pip:\n    - tabulate==0.9.0\nprefix: /home/someone/miniconda3/envs/sst\n"
    )
    result = run_cli("lock", str(exported))
    assert result.exit_code == 0, result.stderr
    conda = lockfile.packages(exported / "nbship.lock", "linux-64").conda
    assert any(url.endswith("/linux-64/numpy-2.4.6-py311h0_0.conda") for url in conda)
    assert all(url.startswith(forge_url) for url in conda)  # defaults dropped by nodefaults
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "environment.yml").write_text("dependencies:\n  - numpy\n")
    result = run_cli("lock", str(bare))
    assert result.exit_code == 0, result.stderr
    assert "names no channel: nbship uses conda-forge, as Binder does" in result.stderr
    assert any("/numpy-" in url for url in lockfile.packages(bare / "nbship.lock", "linux-64").conda)
