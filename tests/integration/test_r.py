"""R projects built for real: R and IRkernel from Debian, install.R and DESCRIPTION installed from
a CRAN-like repository the tests serve over HTTPS with a private CA on the docker bridge (CRAN is
not reachable here), served by `nbship up` and checked by `nbship check`.

One image (tests/projects/r-project) serves every test but the failing builds, which reuse its
cached system and build-tool layers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conda_channel import make_ca, serve
from conftest import TEST_PREFIX, BuiltProject, copy_project, free_port, run_cli
from docker_helpers import bridge_gateway, docker, layers, run_in
from r_repository import TEST_R_PACKAGES, write_repository
from sbom_helpers import dpkg_installed, listed, sbom_of

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker

R_TAG = f"{TEST_PREFIX}/r-project:latest"


@dataclass(frozen=True)
class RRepository:
    url: str
    ca: Path  # the repository's private CA
    bundle: Path  # the machine's roots plus that CA: what --ca-bundle gets


@pytest.fixture(scope="session")
def r_repository(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RRepository]:
    root = tmp_path_factory.mktemp("r-repository")
    folder = write_repository(root / "repo", TEST_R_PACKAGES)
    gateway = bridge_gateway()
    ca = make_ca(root / "ca", gateway)
    bundle = root / "bundle.pem"
    bundle.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes() + ca.ca.read_bytes())
    with serve(folder, gateway, tls=ca) as url:
        yield RRepository(url, ca.ca, bundle)


def r_project(root: Path, repository: RRepository) -> Path:
    project = copy_project("r-project", root)
    (project / "nbship.toml").write_text(f'r-repository = "{repository.url}"\n')
    return project


@pytest.fixture(scope="session")
def r_built(r_repository: RRepository, projects_dir: Path) -> tuple[BuiltProject, str]:
    project = r_project(projects_dir, r_repository)
    result = run_cli("build", str(project), "-t", R_TAG, "--ca-bundle", str(r_repository.bundle))
    assert result.exit_code == 0, result.output + result.stderr
    return BuiltProject(project, R_TAG), result.stderr


def test_build_says_which_r_the_image_has(r_built: tuple[BuiltProject, str]) -> None:
    _, stderr = r_built
    # runtime.txt asks for 4.3; the stand-in base image is Debian 12, whose R is 4.2.
    assert "runtime.txt asks for R 4.3; this image has R 4.2." in stderr
    assert "Traceback" not in stderr


def test_packages_come_from_each_source_into_the_notebook_users_library(r_built: tuple[BuiltProject, str]) -> None:
    built, _ = r_built
    versions = run_in(
        built.image,
        'Rscript -e \'for (p in c("nbshipgreet", "nbshipstats", "nbshipcore", "sstr", "praise")) '
        'cat(p, format(packageVersion(p)), dirname(find.package(p)), "\\n")\'',
    )
    found = {line.split()[0]: line.split()[1:] for line in versions.splitlines()}
    # install.R and DESCRIPTION (with a dependency's own dependency) from the repository, into the
    # library the notebook user owns; apt.txt's r-cran-praise from Debian.
    assert found["nbshipgreet"] == ["1.0", "/opt/nbship/rlib"]
    assert found["nbshipstats"] == ["2.0", "/opt/nbship/rlib"]
    assert found["nbshipcore"] == ["1.2", "/opt/nbship/rlib"]
    assert found["sstr"] == ["0.1.0", "/opt/nbship/rlib"]
    assert found["praise"][1] == "/usr/lib/R/site-library"
    # postBuild ran after both, as the notebook user, in the project folder.
    assert run_in(built.image, "cat /opt/nbship/project/postbuild.txt").split() == ["hello,", "postBuild!", "42"]
    assert run_in(built.image, "stat -c %u /opt/nbship/rlib /opt/nbship/rlib/nbshipgreet").split() == ["1000"] * 2


def test_sbom_lists_the_r_and_apt_packages_really_in_the_image(r_built: tuple[BuiltProject, str]) -> None:
    built, _ = r_built
    document = sbom_of(built.image)
    table = run_in(
        built.image,
        'Rscript -e \'write.table(installed.packages()[, c("Package", "Version")], '
        "row.names = FALSE, col.names = FALSE, quote = FALSE)'",
    )
    # Every library R searches: the project's, Debian's site library (apt.txt's praise), R's own.
    installed = {(line.split()[0], line.split()[1]) for line in table.splitlines()}
    assert {"nbshipgreet", "praise", "stats"} <= {name for name, _ in installed}
    assert installed <= listed(document, "cran"), sorted(installed - listed(document, "cran"))
    debs = dpkg_installed(built.image)
    for name in ("r-cran-praise", "r-base-core", "r-cran-irkernel"):  # apt.txt's, and R's own
        assert (name, debs[name]) in listed(document, "deb")
    assert set(debs.items()) <= listed(document, "deb")


def test_image_keeps_the_repository_but_no_compiler_or_ca(
    r_built: tuple[BuiltProject, str], r_repository: RRepository
) -> None:
    built, _ = r_built
    settings = run_in(built.image, 'Rscript -e \'cat(getOption("repos")[["CRAN"]], .libPaths()[1], "\\n")\'')
    assert settings.split() == [r_repository.url, "/opt/nbship/rlib"]  # install.packages() in a notebook too
    assert run_in(built.image, "for t in gcc cc make gfortran; do command -v $t || true; done").strip() == ""
    saved = subprocess.run(["docker", "save", built.image], capture_output=True, check=True).stdout
    assert r_repository.ca.read_bytes().splitlines()[1] not in saved  # the CA bundle is in no layer


def test_up_offers_the_r_kernel(r_built: tuple[BuiltProject, str]) -> None:
    built, _ = r_built
    port = free_port()
    result = run_cli("up", str(built.path), "--detach", "--port", str(port), "-t", built.image)
    assert result.exit_code == 0, result.output + result.stderr
    try:
        token = result.stdout.strip().splitlines()[-1].split("token=", 1)[1]
        specs = requests.get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=10).json()
        assert specs["kernelspecs"]["ir"]["spec"]["language"] == "R"
        assert "python3" in specs["kernelspecs"]
    finally:
        run_cli("down", str(built.path))


def test_check_runs_the_r_notebook_with_the_r_kernel(r_built: tuple[BuiltProject, str]) -> None:
    built, _ = r_built
    result = run_cli("check", str(built.path), "-t", built.image, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    (notebook,) = json.loads(result.stdout)["notebooks"]
    assert (notebook["path"], notebook["status"], notebook["kernel"]) == ("analysis.ipynb", "passed", "ir")


def test_a_notebook_edit_leaves_the_r_library_layer_alone(
    r_built: tuple[BuiltProject, str], r_repository: RRepository, tmp_path: Path
) -> None:
    project = r_project(tmp_path, r_repository)
    tag = f"{TEST_PREFIX}/r-edit:latest"
    try:
        first = run_cli("build", str(project), "-t", tag, "--ca-bundle", str(r_repository.bundle))
        assert first.exit_code == 0, first.stderr
        before = layers(tag)
        notebook = json.loads((project / "analysis.ipynb").read_text())
        notebook["cells"][0]["source"] += "\n# edited"
        (project / "analysis.ipynb").write_text(json.dumps(notebook))
        second = run_cli("build", str(project), "-t", tag, "--ca-bundle", str(r_repository.bundle))
        assert second.exit_code == 0, second.stderr
        after = layers(tag)
        changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        # Only the content, postBuild (which runs after it), the manifest and the SBOM (which reads
        # what postBuild installed) are new: every layer before them, the R library's, is the same.
        assert changed == list(range(changed[0], changed[0] + 4))
    finally:
        docker("rmi", "-f", tag, check=False)


def _failing_build(project: Path, tag: str, *extra: str) -> str:
    try:
        result = run_cli("build", str(project), "-t", tag, *extra)
        assert result.exit_code == ExitCode.BUILD_FAILED, result.output + result.stderr
        assert "Traceback" not in result.stderr
        return result.stderr
    finally:
        docker("rmi", "-f", tag, check=False)


def test_a_package_install_r_cannot_install_fails_the_build(
    r_built: tuple[BuiltProject, str], r_repository: RRepository, tmp_path: Path
) -> None:
    project = r_project(tmp_path, r_repository)
    (project / "install.R").write_text('install.packages(c("nbshipgreet", "nbshipmissing"))\n')
    stderr = _failing_build(project, f"{TEST_PREFIX}/r-missing:latest", "--ca-bundle", str(r_repository.bundle))
    # R quotes names with typographic quotes in a UTF-8 locale.
    assert "install.R did not install every package (package \u2018nbshipmissing\u2019 is not available" in stderr


def test_the_repository_is_trusted_only_with_the_ca_bundle(
    r_built: tuple[BuiltProject, str], r_repository: RRepository, tmp_path: Path
) -> None:
    project = r_project(tmp_path, r_repository)
    # Another install.R than the fixture's, so the build runs it rather than reusing its layer.
    with (project / "install.R").open("a") as handle:
        handle.write("# without the CA bundle\n")
    stderr = _failing_build(project, f"{TEST_PREFIX}/r-no-ca:latest")
    assert "install.R did not install every package" in stderr
    assert "give nbship your CA bundle with --ca-bundle FILE" in stderr
