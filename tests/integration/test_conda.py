"""conda environments built for real: the tests' own channel served over HTTP on the docker
bridge, solved on the host into nbship.lock, installed by py-rattler in the build, served."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conda_channel import PLACEHOLDER, TEST_PACKAGES, Package, make_ca, serve, write_channel
from conftest import TEST_PREFIX, BuiltProject, free_port, run_cli, wait_until
from docker_helpers import bridge_gateway, docker, run_in
from sbom_helpers import listed, python_installed, sbom_of

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker

NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


@pytest.fixture(scope="session")
def channel_url(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = write_channel(tmp_path_factory.mktemp("conda-channel"), TEST_PACKAGES)
    with serve(folder, bridge_gateway()) as url:
        yield url


def environment(channel: str, *specs: str, pip: tuple[str, ...] = ()) -> str:
    lines = "".join(f"  - {spec}\n" for spec in specs)
    if pip:
        lines += "  - pip:\n" + "".join(f"    - {line}\n" for line in pip)
    return f"name: demo\nchannels:\n  - {channel}\ndependencies:\n{lines}"


def conda_project(root: Path, text: str) -> Path:
    root.mkdir(parents=True)
    (root / "environment.yml").write_text(text)
    (root / "analysis.ipynb").write_text(NOTEBOOK)
    return root


@pytest.fixture(scope="session")
def conda_built(channel_url: str, projects_dir: Path) -> tuple[BuiltProject, str]:
    project = conda_project(
        projects_dir / "conda-env", environment(channel_url, "relocatable", "greeting <2", pip=("six==1.16.0",))
    )
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/conda-env:latest")
    assert result.exit_code == 0, result.output + result.stderr
    return BuiltProject(project, f"{TEST_PREFIX}/conda-env:latest"), result.stderr


def test_build_locks_first_and_says_so(conda_built: tuple[BuiltProject, str]) -> None:
    built, stderr = conda_built
    assert "Locking environment.yml first (there is none)" in stderr
    lock = (built.path / "nbship.lock").read_text()
    assert "relocatable-1.0-0.tar.bz2" in lock and "greeting-1.0-0.tar.bz2" in lock


def test_environment_is_installed_with_prefixes_rewritten(conda_built: tuple[BuiltProject, str]) -> None:
    built, _ = conda_built
    out = run_in(
        built.image,
        "command -v where-am-i; where-am-i; cat /opt/nbship/env/etc/relocatable.conf; "
        "cat /opt/nbship/env/share/greeting/hello.txt; ls /opt/nbship/env/conda-meta; "
        'python -c "import six; print(six.__version__)"; command -v jupyter',
    )
    lines = out.splitlines()
    assert lines[0] == "/opt/nbship/env/bin/where-am-i"  # the environment is on PATH
    assert lines[1] == "/opt/nbship/env"  # the placeholder became the image's prefix
    assert lines[2] == "data_dir = /opt/nbship/env/share/greeting"
    assert lines[3] == "hello 1.0"  # greeting <2, as environment.yml asks
    assert "relocatable-1.0-0.json" in lines and "greeting-1.0-0.json" in lines
    assert "1.16.0" in lines  # the pip: section, in the same environment
    assert lines[-1] == "/opt/nbship/env/bin/jupyter"  # nbship added JupyterLab: none in the env or the base


def test_image_keeps_no_installer_cache_or_stripped_files(conda_built: tuple[BuiltProject, str]) -> None:
    built, _ = conda_built
    out = run_in(
        built.image,
        f"grep -rl {PLACEHOLDER} /opt/nbship/env || true; "
        "ls /opt/nbship; ls -a /opt/nbship/env/lib /opt/nbship/env/share/relocatable; "
        "find / -xdev \\( -name 'rattler*' -o -name 'pkgs' -o -name '*.tar.bz2' \\) -print 2>/dev/null | head",
    )
    assert PLACEHOLDER not in out
    assert "rattler" not in out and ".tar.bz2" not in out  # no py-rattler, no package cache
    assert "librelocatable.a" not in out and "app.js.map" not in out  # stripped: static library, source map
    assert "app.js" in out  # what the environment runs is kept
    report = json.loads(run_in(built.image, "cat /opt/nbship/env/conda-meta/nbship-strip.json"))
    assert report["files_removed"] >= 2 and report["packages"] == 2
    assert report["bytes_removed"] >= 4096 + 8192  # the static library and the source map, measured
    assert report["bytes_removed"] < report["bytes_before"]


def test_sbom_lists_the_conda_and_pip_packages_really_in_the_environment(conda_built: tuple[BuiltProject, str]) -> None:
    built, _ = conda_built
    document = sbom_of(built.image)
    # conda-meta/NAME-VERSION-BUILD.json is how conda itself records an installed package.
    records = run_in(built.image, "cd /opt/nbship/env/conda-meta && ls *.json").split()
    installed = {tuple(r[: -len(".json")].rsplit("-", 2)[:2]) for r in records if r != "nbship-strip.json"}
    assert installed and listed(document, "conda") == installed
    # Each conda package with the sha256 the lock pinned for its file.
    lock = (built.path / "nbship.lock").read_text()
    conda = [p for p in document["packages"] if p["SPDXID"].startswith("SPDXRef-conda-")]
    for package in conda:
        assert package["checksums"][0]["checksumValue"] in lock, package
        assert package["externalRefs"][0]["referenceLocator"].startswith(f"pkg:conda/{package['name']}@")
    # The pip: section's and nbship's own Python packages, each once, with the version it has.
    python = python_installed(built.image)
    assert ("six", "1.16.0") in python and python <= listed(document, "pypi"), sorted(python - listed(document))


def test_unchanged_conda_project_is_not_rebuilt_nor_relocked(conda_built: tuple[BuiltProject, str]) -> None:
    built, _ = conda_built
    result = run_cli("build", str(built.path), "-t", built.image)
    assert result.exit_code == 0
    assert "Locking" not in result.stderr and "up to date" in result.stderr


def test_changed_environment_is_relocked_and_rebuilt(channel_url: str, tmp_path: Path) -> None:
    project = conda_project(tmp_path / "proj", environment(channel_url, "greeting <2"))
    tag = f"{TEST_PREFIX}/conda-relock:latest"
    try:
        first = run_cli("build", str(project), "-t", tag)
        assert first.exit_code == 0, first.stderr
        assert run_in(tag, "cat /opt/nbship/env/share/greeting/hello.txt").strip() == "hello 1.0"
        (project / "environment.yml").write_text(environment(channel_url, "greeting >=2"))
        second = run_cli("build", str(project), "-t", tag)
        assert second.exit_code == 0, second.stderr
        assert "environment.yml changed since it was written" in second.stderr
        assert run_in(tag, "cat /opt/nbship/env/share/greeting/hello.txt").strip() == "hello 2.0"
    finally:
        docker("rmi", "-f", tag, check=False)


def test_unsolvable_environment_fails_before_building(channel_url: str, tmp_path: Path) -> None:
    project = conda_project(tmp_path / "proj", environment(channel_url, "relocatable", "needs-old-greeting"))
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/conda-unsolvable:latest")
    assert result.exit_code == ExitCode.PROJECT
    assert "environment.yml cannot be solved for linux-64" in result.stderr
    assert "needs-old-greeting" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "nbship.lock").exists()


@pytest.fixture(scope="session")
def jupyter_base(docker_daemon: str) -> str:
    """A base image that already serves Jupyter, as the Jupyter Docker Stacks images do."""
    tag = f"{TEST_PREFIX}/jupyter-base:latest"
    dockerfile = "FROM python:3.11-slim\nRUN python3 -m pip install --no-cache-dir -q jupyterlab==4.6.6\n"
    result = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"], input=dockerfile, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return tag


def test_jupyter_from_the_base_image_serves_the_environment(
    channel_url: str, jupyter_base: str, projects_dir: Path
) -> None:
    project = conda_project(projects_dir / "conda-on-jupyter", environment(channel_url, "relocatable"))
    tag = f"{TEST_PREFIX}/conda-on-jupyter:latest"
    built = run_cli("-v", "build", str(project), "-t", tag, "--base-image", jupyter_base)
    assert built.exit_code == 0, built.stderr
    assert "serving with the base image's /usr/local/bin/jupyter-lab" in built.stderr
    out = run_in(tag, "command -v jupyter; command -v where-am-i; ls /opt/nbship/env/bin")
    lines = out.splitlines()
    assert lines[0] == "/usr/local/bin/jupyter"  # the base image's server, not a second one
    assert lines[1] == "/opt/nbship/env/bin/where-am-i"
    assert "jupyter-lab" not in lines[2:]
    port = free_port()
    up = run_cli("up", str(project), "--detach", "--port", str(port), "--image", tag)
    try:
        assert up.exit_code == 0, up.stderr
        token = up.stdout.strip().split("token=", 1)[1]
        assert wait_until(
            lambda: requests.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5).ok, timeout=60
        )
    finally:
        run_cli("down", str(project))


def test_conda_project_dockerfile_needs_no_docker_or_lock(channel_url: str, tmp_path: Path) -> None:
    project = conda_project(tmp_path / "proj", environment(channel_url, "relocatable"))
    result = run_cli("dockerfile", str(project))
    assert result.exit_code == 0
    assert "FROM conda-tools AS conda-env" in result.stdout
    assert not (project / "nbship.lock").exists()
    shutil.rmtree(project)


def _unique_package(name: str) -> Package:
    """A package no earlier build has cached (the build's package cache outlives test runs)."""
    version = f"1.{uuid.uuid4().int % 10**9}"
    return Package(name, version, files={f"share/{name}/version.txt": f"{version}\n".encode()})


def test_private_channel_credentials_reach_the_build_but_no_layer(docker_daemon: str, tmp_path: Path) -> None:
    package = _unique_package("private-tool")
    folder = write_channel(tmp_path / "private-channel", [package])
    gateway = bridge_gateway()
    user, password = f"user-{uuid.uuid4().hex[:12]}", f"Sesame-{uuid.uuid4().hex}"
    tag = f"{TEST_PREFIX}/conda-private:latest"
    with serve(folder, gateway, credentials=f"{user}:{password}") as url:
        project = conda_project(tmp_path / "proj", environment(url, "private-tool"))
        denied = run_cli("lock", str(project))
        assert denied.exit_code == ExitCode.PROJECT
        assert "could not be read" in denied.stderr and "credentials" in denied.stderr
        # rattler's credentials file: host -> credentials
        auth = tmp_path / "credentials.json"
        auth.write_text(json.dumps({gateway: {"BasicHTTP": {"username": user, "password": password}}}))
        try:
            assert run_cli("lock", str(project), "--channel-auth", str(auth)).exit_code == 0
            refused = run_cli("build", str(project), "-t", tag)  # locked, but the build has no credentials
            assert refused.exit_code == ExitCode.BUILD_FAILED
            assert "The channel refused the download; give its credentials with --channel-auth" in refused.stderr
            built = run_cli("build", str(project), "-t", tag, "--channel-auth", str(auth))
            assert built.exit_code == 0, built.stderr
            version = run_in(tag, "cat /opt/nbship/env/share/private-tool/version.txt").strip()
            assert version == package.version  # downloaded by the build, with the credentials
            saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
            assert password.encode() not in saved
            assert user.encode() not in saved
            assert password not in (project / "nbship.lock").read_text()
        finally:
            docker("rmi", "-f", tag, check=False)


def test_local_channel_folder_is_handed_to_the_build(docker_daemon: str, tmp_path: Path) -> None:
    package = _unique_package("local-tool")
    folder = write_channel(tmp_path / "local-channel", [package])
    project = conda_project(tmp_path / "proj", environment(str(folder), "local-tool"))
    tag = f"{TEST_PREFIX}/conda-local:latest"
    try:
        built = run_cli("build", str(project), "-t", tag)
        assert built.exit_code == 0, built.stderr
        assert folder.as_uri() in (project / "nbship.lock").read_text()
        version = run_in(tag, "cat /opt/nbship/env/share/local-tool/version.txt").strip()
        assert version == package.version
    finally:
        docker("rmi", "-f", tag, check=False)


def test_init_locks_so_the_written_dockerfile_builds(conda_built: tuple[BuiltProject, str], tmp_path: Path) -> None:
    built, _ = conda_built
    project = conda_project(tmp_path / "owned", (built.path / "environment.yml").read_text())
    result = run_cli("init", str(project))
    assert result.exit_code == 0, result.stderr
    assert (project / "Dockerfile").is_file() and (project / "nbship.lock").is_file()
    tag = f"{TEST_PREFIX}/conda-owned:latest"
    try:
        own = run_cli("build", str(project), "-t", tag)
        assert own.exit_code == 0, own.stderr
        assert "own Dockerfile" in own.stderr
        assert run_in(tag, "where-am-i").strip() == "/opt/nbship/env"
    finally:
        docker("rmi", "-f", tag, check=False)


def test_https_channel_behind_a_private_ca_needs_the_ca_bundle_secret(
    docker_daemon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _unique_package("tls-tool")
    folder = write_channel(tmp_path / "tls-channel", [package])
    gateway = bridge_gateway()
    ca = make_ca(tmp_path / "ca", gateway)
    # What a company machine has: its usual roots plus the private CA, in one bundle.
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes() + ca.ca.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the host solve trusts it the usual way
    tag = f"{TEST_PREFIX}/conda-tls:latest"
    with serve(folder, gateway, tls=ca) as url:
        project = conda_project(tmp_path / "proj", environment(url, "tls-tool"))
        locked = run_cli("lock", str(project))
        assert locked.exit_code == 0, locked.stderr
        try:
            without = run_cli("build", str(project), "-t", tag)
            assert without.exit_code == ExitCode.BUILD_FAILED
            assert "--ca-bundle" in without.stderr and "Traceback" not in without.stderr
            with_ca = run_cli("build", str(project), "-t", tag, "--ca-bundle", str(bundle))
            assert with_ca.exit_code == 0, with_ca.stderr
            assert run_in(tag, "cat /opt/nbship/env/share/tls-tool/version.txt").strip() == package.version
            saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
            assert ca.ca.read_bytes().splitlines()[1] not in saved  # the bundle is in no layer
        finally:
            docker("rmi", "-f", tag, check=False)
