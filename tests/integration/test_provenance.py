"""What proves an image years later, for real: the SBOM inside it lists what is installed,
an archive file loads back into the same image with no network, and a damaged one is refused."""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import TEST_PREFIX, BuiltProject, free_port, run_cli
from docker_helpers import docker, inspect, run_in
from sbom_helpers import dpkg_installed, listed, python_installed, sbom_of

from nbship import contract as c
from nbship.errors import ExitCode


def test_sbom_lists_the_packages_really_in_the_image(example_built: BuiltProject) -> None:
    document = sbom_of(example_built.image)
    packages = document["packages"]
    installed = python_installed(example_built.image)
    assert installed and installed <= listed(document, "pypi"), sorted(installed - listed(document, "pypi"))
    debs = set(dpkg_installed(example_built.image).items())
    assert debs and debs <= listed(document, "deb"), sorted(debs - listed(document, "deb"))
    # The lock's hashes are carried for the locked packages; nbship's version and the base are named.
    by_name = {p["name"]: p for p in packages}
    assert "checksums" in by_name["jupyterlab"] or "accepts these files" in by_name["jupyterlab"].get("comment", "")
    assert by_name["nbship"]["versionInfo"] == inspect(example_built.image)["Config"]["Labels"]["io.nbship.version"]
    base = [p for p in packages if p["SPDXID"].startswith("SPDXRef-base-")]
    assert len(base) == 1 and base[0]["versionInfo"].startswith("sha256:")


def test_sbom_of_the_project_is_the_file_in_the_image_byte_for_byte(example_built: BuiltProject) -> None:
    result = run_cli("sbom", str(example_built.path), "-t", example_built.image, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert (
        result.stdout
        == docker("run", "--rm", "--entrypoint", "cat", example_built.image, "/opt/nbship/sbom.spdx.json").stdout
    )
    assert "up to date" in result.stderr  # read from the image built before, nothing rebuilt


@pytest.fixture(scope="module")
def archived(example_built: BuiltProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An image of its own (the example's plus one label, so removing it removes nothing shared) and
    its archive."""
    tag = f"{TEST_PREFIX}/archived:1"
    # A project of its own too: serving it must not replace the example's server other tests use.
    labels = ("--label", "io.nbship.test=archive", "--label", f"{c.LABEL_PROJECT_ID}={TEST_PREFIX}-archived")
    docker("build", "-t", tag, *labels, "-", input=f"FROM {example_built.image}\n")
    output = tmp_path_factory.mktemp("archive") / "analysis.tar"
    result = run_cli("archive", "--image", tag, "-o", str(output), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Writing analysis.tar:" in result.stderr  # progress
    yield tag, output
    docker("rmi", "-f", tag, check=False)


def test_archive_carries_the_image_and_what_a_reader_needs(archived: tuple[str, Path]) -> None:
    tag, output = archived
    with tarfile.open(output) as tar:
        files = {member.name for member in tar.getmembers() if member.isfile()}
        sums = tar.extractfile("nbship-archive/SHA256SUMS")
        assert sums is not None
        listed = {line.split("  ", 1)[1] for line in sums.read().decode().splitlines()}
        record = tar.extractfile("nbship-archive/archive.json")
        assert record is not None
        info = json.loads(record.read())
    assert {"manifest.json", "nbship-archive/sbom.spdx.json", "nbship-archive/HOW-TO-RUN.txt"} <= files
    assert {"nbship-archive/locks/requirements.lock", "nbship-archive/README.md"} <= files
    assert listed == files - {"nbship-archive/SHA256SUMS"}
    assert info["image"] == tag and info["image_id"] == inspect(tag)["Id"]
    assert info["sbom_sha256"].startswith("sha256:")
    # The checksums are checkable without nbship.
    folder = output.parent / "unpacked"
    folder.mkdir()
    subprocess.run(["tar", "-xf", str(output), "-C", str(folder)], check=True)
    check = subprocess.run(["sha256sum", "--quiet", "-c", "nbship-archive/SHA256SUMS"], cwd=folder, check=False)
    assert check.returncode == 0


def test_archive_round_trip_through_docker_load_gives_the_same_image(archived: tuple[str, Path]) -> None:
    tag, output = archived
    image_id = inspect(tag)["Id"]
    docker("rmi", tag)
    assert docker("image", "inspect", image_id, check=False).returncode != 0
    loaded = docker("load", "-i", str(output))
    assert tag in loaded.stdout
    assert inspect(tag)["Id"] == image_id
    assert "SPDX-2.3" in run_in(tag, "cat /opt/nbship/sbom.spdx.json")


def test_up_archive_checks_loads_and_serves(archived: tuple[str, Path], tmp_path: Path) -> None:
    tag, output = archived
    image_id = inspect(tag)["Id"]
    docker("rmi", tag)
    port = free_port()
    try:
        result = run_cli("up", "--archive", str(output), "--port", str(port), "--detach")
        assert result.exit_code == 0, result.output + result.stderr
        assert "Checking analysis.tar:" in result.stderr and "Loading analysis.tar:" in result.stderr
        assert inspect(tag)["Id"] == image_id
        token = result.stdout.strip().split("token=", 1)[1]
        listing = requests.get(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10).json()
        assert listing["content"]
    finally:
        assert run_cli("down", "--image", tag, "--volumes").exit_code == 0


def _copy_with(source: Path, target: Path, *, cut: int | None = None, flip_at: float | None = None) -> Path:
    data = bytearray(source.read_bytes())
    if cut is not None:
        data = data[:cut]
    if flip_at is not None:
        data[int(len(data) * flip_at)] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def test_a_truncated_or_altered_archive_is_refused_before_loading(archived: tuple[str, Path], tmp_path: Path) -> None:
    _, output = archived
    size = output.stat().st_size
    for name, kwargs in (("cut.tar", {"cut": size // 2}), ("flipped.tar", {"flip_at": 0.5})):
        damaged = _copy_with(output, tmp_path / name, **kwargs)  # type: ignore[arg-type]
        result = run_cli("up", "--archive", str(damaged), "--detach")
        assert result.exit_code == ExitCode.PROJECT, result.output + result.stderr
        assert f"{damaged} is not a complete nbship archive" in result.stderr
        assert "Nothing was loaded" in result.stderr and "Traceback" not in result.stderr
