"""Builds against the real daemon: the image contract, every Binder file kind, layers, rebuilds."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, BuiltProject, copy_project, run_cli
from docker_helpers import docker, inspect, layers, run_in
from sbom_helpers import dpkg_installed, listed, python_installed, sbom_of

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker


def test_example_image_contract(example_built: BuiltProject) -> None:
    out = run_in(
        example_built.image,
        "id -u; pwd; for c in python pip jupyter; do command -v $c; done; ls; "
        'python -c "import xarray, netCDF4, bottleneck, matplotlib"',
    )
    lines = out.splitlines()
    assert lines[0] == "1000"  # the notebook user, not root
    assert lines[1] == "/home/jovyan/work"
    assert lines[2:5] == ["/opt/nbship/env/bin/python", "/opt/nbship/env/bin/pip", "/opt/nbship/env/bin/jupyter"]
    assert "sst_analysis.ipynb" in lines and "data" in lines and "README.md" in lines


def test_example_image_metadata(example_built: BuiltProject) -> None:
    config = inspect(example_built.image)["Config"]
    labels = config["Labels"]
    for key in ("revision", "created", "title"):
        assert labels[f"org.opencontainers.image.{key}"]
    # No git remote: no source label, and no local path that a push would publish.
    assert "org.opencontainers.image.source" not in labels
    assert not any(str(example_built.path) in value or "file://" in value for value in labels.values())
    assert labels["io.nbship.version"]
    assert config["User"] == "1000"
    assert config["Healthcheck"]["Test"][0] == "CMD" and "/api" in " ".join(config["Healthcheck"]["Test"])
    assert config["Entrypoint"][0].endswith("dumb-init")
    assert "--allow-root" not in " ".join(config["Cmd"])


def test_example_image_is_stripped_and_still_works(example_built: BuiltProject) -> None:
    """The default build trims the environment (nbship.image.slim); every package still imports,
    the server's bytecode is there, and pip still installs (test below). Serving is tested in test_run."""
    site = "/opt/nbship/env/lib/python3.11/site-packages"
    out = run_in(
        example_built.image,
        f"cd {site}; ls -d pandas/tests numpy/_core/tests setuptools pkg_resources 2>&1 | grep -c 'No such'; "
        "ls jupyter_server/__pycache__/serverapp.*.pyc | wc -l; ls pandas/__pycache__ 2>/dev/null | wc -l; "
        "ls bottleneck/tests >/dev/null && echo bottleneck-tests-kept; "
        "find /opt/nbship -name '*.js.map' | wc -l; ls /opt/nbship/tools 2>&1 | grep -c 'No such'; "
        'python -c "import xarray, netCDF4, bottleneck, matplotlib.pyplot, pandas, numpy, cftime; '
        "import jupyterlab, jupyter_server.serverapp, ipykernel.kernelapp; print('imports ok')\"",
    )
    assert out.split() == ["4", "1", "0", "bottleneck-tests-kept", "0", "1", "imports", "ok"], out


# Run in the image with -B (nothing written): every module of the environment that importing the
# server's and the kernel's applications loaded, and those of them without valid bytecode beside
# their source (the header's time and size are the source's).
_START_IMPORTS = """
import importlib.util, os, sys
import jupyter_core.command, jupyterlab.labapp, jupyter_server.serverapp, ipykernel.kernelapp
import jupyter_lsp, jupyter_server_terminals, notebook_shim
loaded = missing = 0
for module in list(sys.modules.values()):
    source = getattr(module, "__file__", None) or ""
    if not source.startswith(sys.prefix) or not source.endswith(".py"):
        continue
    loaded += 1
    info = os.stat(source)
    try:
        with open(importlib.util.cache_from_source(source), "rb") as handle:
            header = handle.read(16)
    except OSError:
        header = b""
    valid = header[8:16] == (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (
        info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    missing += not valid
print(loaded, missing)
"""


def test_the_servers_start_finds_its_bytecode_and_only_that_is_compiled(example_built: BuiltProject) -> None:
    """Only the server's modules that its start reaches get bytecode (payload/bytecode.py): nearly
    all that the applications import find it valid, and the server's other modules have none."""
    loaded, missing = map(int, run_in(example_built.image, f"python -B -c '{_START_IMPORTS}'").split())
    assert loaded > 500 and missing <= loaded // 20, (loaded, missing)
    site = "/opt/nbship/env/lib/python3.11/site-packages"
    # nbconvert's exporters load on the first export, not at start
    counts = run_in(
        example_built.image,
        f"cd {site}; ls nbconvert/exporters/*.py | wc -l; ls nbconvert/exporters/__pycache__ 2>/dev/null | wc -l",
    )
    assert int(counts.split()[0]) > 5 and counts.split()[1] == "0", counts


def test_login_shell_keeps_the_environment_first(example_built: BuiltProject) -> None:
    assert run_in(example_built.image, "bash -lc 'command -v python'").strip() == "/opt/nbship/env/bin/python"


def test_environment_belongs_to_the_notebook_user(example_built: BuiltProject) -> None:
    out = run_in(
        example_built.image, "pip install -q --no-deps six==1.16.0 && python -c 'import six; print(six.__file__)'"
    )
    assert out.strip().startswith("/opt/nbship/env/")


def test_unchanged_project_is_not_rebuilt(example_built: BuiltProject) -> None:
    before = inspect(example_built.image)["Id"]
    result = run_cli("build", str(example_built.path), "-t", example_built.image)
    assert result.exit_code == 0
    assert "up to date" in result.stderr
    assert inspect(example_built.image)["Id"] == before
    assert result.stdout.strip().startswith(example_built.image)  # ends with name and size


def test_binder_folder_kinds(kinds_built: BuiltProject) -> None:
    out = run_in(
        kinds_built.image,
        'echo "$NBSHIP_TEST_START"; python -c "import sys, six, tomli; print(sys.version_info[:2])"; '
        "jq --version; cat postbuild-ran.txt postbuild-six.txt; ls sub",
    )
    lines = out.splitlines()
    assert lines[0] == "start ran"  # binder/start ran before the command
    assert lines[1] == "(3, 11)"  # binder/runtime.txt, not the root's python-3.9
    assert lines[2].startswith("jq-")  # binder/apt.txt
    assert lines[3] == "postBuild ran as 1000 in /opt/nbship/project"
    assert lines[4] == "1.16.0"  # postBuild sees the project's environment
    assert "more.ipynb" in lines
    # The SBOM names binder/apt.txt's package with the version dpkg installed.
    assert ("jq", dpkg_installed(kinds_built.image)["jq"]) in listed(sbom_of(kinds_built.image), "deb")


def test_project_package_data_and_excludes(package_built: BuiltProject) -> None:
    out = run_in(
        package_built.image,
        "python -c 'import sstkit; print(sstkit.celsius_to_kelvin(0))'; ls -A; ls data/ data/sub; "
        "test -w data/measurements.csv || echo data-read-only",
    )
    assert out.splitlines()[0] == "273.15"
    listing = out.split()
    assert "nb.ipynb" in listing and "measurements.csv" in listing and "note.txt" in listing
    for never in (".env", "id_rsa", "scratch", "server.pem"):
        assert never not in listing
    # served from the image, read-only: a write fails instead of vanishing with the container
    assert "data-read-only" in listing
    # and not anywhere in the image either
    found = run_in(
        package_built.image, "find / -xdev \\( -name id_rsa -o -name .env -o -name server.pem \\) 2>/dev/null | head"
    )
    assert found.strip() == ""


def test_data_is_its_own_layer_and_stored_once(package_built: BuiltProject) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", package_built.image).stdout
    data_rows = [row for row in history.splitlines() if "data/ /opt/nbship/data/" in row]
    assert len(data_rows) == 1
    out = run_in(package_built.image, "du -sk /opt/nbship/data /opt/nbship/project | cut -f1")
    data_kb, project_kb = (int(x) for x in out.split())
    assert data_kb >= 250 and project_kb < 100  # the project copy holds a link to data, not a second copy


def test_notebook_edit_rebuilds_only_the_content(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("package-project", tmp_path)
    tag = f"{TEST_PREFIX}/package-edit:latest"
    first = run_cli("build", str(project), "-t", tag)
    assert first.exit_code == 0, first.stderr
    before = layers(tag)
    before_id = inspect(tag)["Id"]
    notebook = project / "nb.ipynb"
    notebook.write_text(notebook.read_text().replace("hello from nbship", "edited"))
    second = run_cli("build", str(project), "-t", tag)
    assert second.exit_code == 0, second.stderr
    after = layers(tag)
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    # The environment, the package, the specs, data/ and the rest of the project are shared: the
    # last layer alone differs, the notebooks with the manifest, so a push after an edit is small.
    # (WORKDIR's empty layer may follow it.)
    assert len(changed) == 1 and changed[0] >= len(after) - 2
    assert _created_by(tag)[-1].endswith("COPY /tmp/nbship/content/last/ /opt/nbship/ # buildkit")
    assert "edited" in run_in(tag, "cat nb.ipynb")
    # the replaced image does not linger as a dangling one
    assert docker("image", "inspect", before_id, check=False).returncode != 0


def test_project_copy_is_layered_by_how_often_it_changes(example_built: BuiltProject, tmp_path: Path) -> None:
    """data/ before the environment, the specs and the lock (150 kB here) after it, the rest of the
    project, the notebooks with the manifest last: an edit re-pushes only what it touched."""
    rows = _created_by(example_built.image)
    specs = next(i for i, row in enumerate(rows) if "COPY /tmp/nbship/content/stable/ /opt/nbship/project/" in row)
    data = next(i for i, row in enumerate(rows) if "data/ /opt/nbship/data/" in row)
    env = next(i for i, row in enumerate(rows) if "/opt/nbship/layers/1/ /" in row)
    assert data < env < specs < len(rows) - 2
    assert rows[-1].endswith("COPY /tmp/nbship/content/last/ /opt/nbship/ # buildkit")
    script = "cd /opt/nbship/project && ls -A && stat -c '%U %a' requirements.lock sst_analysis.ipynb"
    names = ["README.md", "data", "make_data.py", "requirements.lock", "requirements.txt", "sst_analysis.ipynb"]
    assert run_in(example_built.image, script).split() == [*names, "jovyan", "644", "jovyan", "644"]
    project = tmp_path / "sst"
    shutil.copytree(example_built.path, project)
    tag = f"{TEST_PREFIX}/sst-readme-edit:latest"
    assert run_cli("build", str(project), "-t", tag).exit_code == 0
    before = layers(tag)
    (project / "README.md").write_text("# Edited\n")
    result = run_cli("build", str(project), "-t", tag)
    assert result.exit_code == 0, result.stderr
    after = layers(tag)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 2 and changed[1] == changed[0] + 1 and changed[1] >= len(after) - 2
    assert run_in(tag, "cat /opt/nbship/project/README.md").strip() == "# Edited"
    docker("image", "rm", tag, check=False)


def _created_by(image: str) -> list[str]:
    rows = docker("history", "--no-trunc", "--format", "{{.Size}}|{{.CreatedBy}}", image).stdout.splitlines()
    # docker history lists newest first and includes empty (metadata) layers; keep the ones with content
    return [row for row in reversed(rows) if not row.startswith("0B|")]


def test_own_dockerfile_is_used_as_is(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("own-dockerfile", tmp_path)
    tag = f"{TEST_PREFIX}/own-dockerfile:latest"
    result = run_cli("build", str(project), "-t", tag, "--rebuild")
    assert result.exit_code == 0, result.stderr
    assert "own Dockerfile as is" in result.stderr
    assert docker("run", "--rm", tag).stdout.strip() == "built from the project's own Dockerfile"


def test_own_dockerfile_image_gets_an_sbom_and_keeps_its_config(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("own-dockerfile", tmp_path)
    (project / "Dockerfile").write_text(
        (project / "Dockerfile").read_text()
        + 'USER nobody\nENV OWN=1\nENTRYPOINT ["/bin/sh", "-c"]\nCMD ["cat /own-marker"]\n'
    )
    tag = f"{TEST_PREFIX}/own-sbom:latest"
    try:
        result = run_cli("build", str(project), "-t", tag)
        assert result.exit_code == 0, result.output + result.stderr
        assert "no SBOM" not in result.stderr
        config = inspect(tag)["Config"]
        assert (config["User"], config["Entrypoint"], config["Cmd"]) == (
            "nobody",
            ["/bin/sh", "-c"],
            ["cat /own-marker"],
        )
        assert "OWN=1" in config["Env"]
        assert docker("run", "--rm", tag).stdout.strip() == "built from the project's own Dockerfile"
        document = sbom_of(tag)
        plain = ("--entrypoint", "")  # past the image's own entrypoint, which would take `sh -c` as its script
        debs = set(dpkg_installed(tag, *plain).items())
        assert debs and debs <= listed(document, "deb"), sorted(debs - listed(document, "deb"))
        python = python_installed(tag, "python3", *plain)
        assert python <= listed(document, "pypi"), sorted(python - listed(document, "pypi"))
        base = [p for p in document["packages"] if p["SPDXID"].startswith("SPDXRef-base-")]
        assert base[0]["name"] == "python:3.11-slim" and base[0]["versionInfo"].startswith("sha256:")
        # One layer on top, and no image without the SBOM left behind.
        history = docker("images", "--filter", "dangling=true", "--format", "{{.ID}}").stdout.split()
        assert inspect(tag)["Id"].split(":")[1][:12] not in history
        again = run_cli("build", str(project), "-t", tag)
        assert again.exit_code == 0 and "up to date" in again.stderr, again.stderr
    finally:
        docker("rmi", "-f", tag, check=False)


def test_own_dockerfile_image_without_python_says_why_it_has_no_sbom(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("own-dockerfile", tmp_path)
    (project / "Dockerfile").write_text('FROM debian:bookworm-slim\nCMD ["true"]\n')
    tag = f"{TEST_PREFIX}/own-nosbom:latest"
    try:
        result = run_cli("build", str(project), "-t", tag)
        assert result.exit_code == 0, result.output + result.stderr
        stderr = " ".join(result.stderr.split())
        assert "The image of Dockerfile has no SBOM (/opt/nbship/sbom.spdx.json): it has no python3." in stderr
        assert "Traceback" not in stderr
        sbom = run_cli("sbom", "--image", tag)
        assert sbom.exit_code == ExitCode.NOT_FOUND, sbom.output + sbom.stderr
        assert "has no SBOM" in sbom.stderr and "python3" in sbom.stderr
    finally:
        docker("rmi", "-f", tag, check=False)


def test_runtime_txt_selects_the_python_version(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("python39", tmp_path)
    tag = f"{TEST_PREFIX}/python39:latest"
    result = run_cli("build", str(project), "-t", tag)
    assert result.exit_code == 0, result.stderr
    assert run_in(tag, "python --version").strip().startswith("Python 3.9.")
    assert inspect(tag)["Config"]["Labels"]["io.nbship.version"]


def test_classic_builder_and_user_id(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / ".env").write_text("API_TOKEN=not-a-real-secret\n")  # nbship's excludes apply here too
    (project / ".dockerignore").write_text("private/\n")
    (project / "private").mkdir()
    (project / "private" / "notes.txt").write_text("left out by the project's own .dockerignore\n")
    tag = f"{TEST_PREFIX}/tiny-classic:latest"
    result = run_cli("build", str(project), "-t", tag, "--builder", "classic", "--user-id", "4321", "--rebuild")
    assert result.exit_code == 0, result.stderr
    assert "classic builder" in result.stderr
    out = run_in(tag, "id -u; stat -c %u /opt/nbship/env/bin/python; jupyter lab --version")
    uid, owner, _version = out.split()
    assert uid == "4321" and owner == "4321"
    assert run_in(tag, "ls -A").split() == [".dockerignore", ".nbship", "tiny.ipynb"]


def test_ca_bundle_is_used_and_left_out_of_every_layer(docker_daemon: str, tmp_path: Path) -> None:
    # A base image like the official ones: it does not trust the TLS-intercepting proxy here.
    base = f"{TEST_PREFIX}/python-noca:3.11"
    docker("build", "-t", base, "-", input="FROM python:3.11-slim\nRUN update-ca-certificates --fresh >/dev/null\n")
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    base_bundle = docker("run", "--rm", base, "cat", "/etc/ssl/certs/ca-certificates.crt").stdout
    extra = [line for line in host_bundle.read_text().splitlines() if len(line) == 64 and line not in base_bundle]
    if not extra:
        pytest.fail("the host bundle holds no certificate beyond Debian's: this machine has no proxy CA to test with")
    project = copy_project("tiny", tmp_path)
    (project / "requirements.txt").write_text("six==1.16.0\n")
    tag = f"{TEST_PREFIX}/tiny-ca:latest"
    without = run_cli("build", str(project), "-t", tag, "--base-image", base, "--no-cache")
    assert without.exit_code == 5, without.stderr
    assert "--ca-bundle" in without.stderr  # the failure says what to do
    with_ca = run_cli("build", str(project), "-t", tag, "--base-image", base, "--ca-bundle", str(host_bundle))
    assert with_ca.exit_code == 0, with_ca.stderr
    assert run_in(tag, "python -c 'import six; print(six.__version__)'").strip() == "1.16.0"
    added = _layers_added_on(base, tag, tmp_path)
    assert added, "nbship added no layers?"
    for blob in added:
        for line in extra[:5]:
            assert line.encode() not in blob
    for blob in added[1:]:  # the layers: no file of the secret's, wherever it would be
        with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
            assert not [name for name in layer.getnames() if "nbship-ca" in name or name.startswith("run/secrets")]


def _layers_added_on(base: str, image: str, tmp_path: Path) -> list[bytes]:
    """The uncompressed layer tarballs (and the config) that `image` adds on top of `base`."""
    archive = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "-o", str(archive), image], check=True)
    skip = len(layers(base))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        names = [manifest["Config"], *manifest["Layers"][skip:]]
        return [tar.extractfile(name).read() for name in names]  # type: ignore[union-attr]


def test_build_failure_names_the_missing_package(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("missing-package", tmp_path)
    result = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/missing:latest")
    assert result.exit_code == 5
    assert "nbship-surely-not-a-real-package-xyz" in result.stderr
    assert "requirements.txt" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_ca_bundle_needs_buildkit(tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    result = run_cli("build", str(project), "--builder", "classic", "--ca-bundle", "/etc/ssl/certs/ca-certificates.crt")
    assert result.exit_code == 2
    assert "needs BuildKit" in result.stderr


def test_init_hands_the_dockerfile_over(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / ".dockerignore").write_text("notes/\n")
    result = run_cli("init", str(project))
    assert result.exit_code == 0, result.stderr
    assert (project / "Dockerfile").read_text().startswith("# Generated by nbship")
    assert (project / ".dockerignore").read_text() == "notes/\n"  # the user's file is left alone
    (project / "Dockerfile").write_text((project / "Dockerfile").read_text() + 'LABEL edited.by="the user"\n')
    tag = f"{TEST_PREFIX}/tiny-init:latest"
    built = run_cli("build", str(project), "-t", tag)
    assert built.exit_code == 0, built.stderr
    assert "own Dockerfile as is" in built.stderr
    assert inspect(tag)["Config"]["Labels"]["edited.by"] == "the user"
    assert run_in(tag, "id -u; ls").split() == ["1000", "Dockerfile", "tiny.ipynb"]
    again = run_cli("init", str(project))
    assert again.exit_code == 3
    assert "--force" in again.stderr


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_init_output_builds_with_plain_docker_build(docker_daemon: str, tmp_path: Path, builder: str) -> None:
    """What `nbship init` writes is all a plain `docker build` of the folder needs: the support
    files come from .nbship-image/, and the image starts, refreshes its work folder and serves."""
    project = copy_project("tiny", tmp_path)
    (project / "requirements.txt").write_text("six==1.16.0\n")
    result = run_cli("init", str(project), "--builder", builder)
    assert result.exit_code == 0, result.stderr
    assert (project / ".nbship-image" / "bin" / "nbship-refresh").is_file()
    tag = f"{TEST_PREFIX}/tiny-plain-{builder}:latest"
    env = {"DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0", "PATH": "/usr/bin:/bin"}
    built = subprocess.run(
        ["/usr/bin/docker", "build", "-q", "-t", tag, str(project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    try:
        out = run_in(tag, "id -u; ls -A; cat .nbship/delivered.json | head -c 200; python -c 'import six'")
        lines = out.splitlines()
        assert lines[0] == "1000"
        assert "tiny.ipynb" in lines and ".nbship-image" not in lines
        assert '"files"' in out  # the refresh filled the work folder and recorded it
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout
        assert "nbship/support" not in history  # no image of nbship's was needed
    finally:
        docker("rmi", "-f", tag, check=False)


def test_support_image_is_made_once_and_shared(example_built: BuiltProject) -> None:
    from nbship.render.support import support_image

    reference = support_image()
    first = inspect(reference)
    assert first["Size"] < 500_000  # nbship's own files, no base image under them
    assert len(first["RootFS"]["Layers"]) == 1
    result = run_cli("build", str(example_built.path), "-t", example_built.image, "--rebuild")
    assert result.exit_code == 0, result.stderr
    assert inspect(reference)["Id"] == first["Id"]  # reused, not made again
    listing = run_in(example_built.image, "ls /opt/nbship/bin; ls /opt/nbship/build 2>&1 | head -1")
    assert listing.split()[:3] == ["dumb-init", "entrypoint", "nbship-refresh"]
    assert {"refresh_delivery.py", "refresh_disk.py", "refresh_merge.py"} <= set(listing.split())  # its modules
    assert "No such file" in listing  # the build-time helpers stay in the build stages


def test_example_notebook_runs_in_its_image(example_built: BuiltProject) -> None:
    out = run_in(
        example_built.image,
        "jupyter nbconvert --to notebook --execute sst_analysis.ipynb --output /tmp/run.ipynb "
        "--ExecutePreprocessor.timeout=300 >/dev/null 2>&1 && echo executed; "
        "cat /opt/nbship/env/share/jupyter/lab/settings/overrides.json",
    )
    assert out.splitlines()[0] == "executed"
    assert '"fetchNews":"false"' in out


def test_setup_py_project_installed_editable_from_requirements(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    (project / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='tinytools', version='0.1', py_modules=['tinytools'])\n"
    )
    (project / "tinytools.py").write_text("ANSWER = 42\n")
    (project / "requirements.txt").write_text("-e .\nsix==1.16.0\n")
    tag = f"{TEST_PREFIX}/tiny-setup-py:latest"
    result = run_cli("build", str(project), "-t", tag)
    assert result.exit_code == 0, result.stderr
    # run from another folder so the import comes from the environment, not the working directory
    out = run_in(tag, "cd /tmp && python -c 'import tinytools, six; print(tinytools.ANSWER, tinytools.__file__)'")
    answer, location = out.split()
    assert answer == "42"
    assert location.startswith("/opt/nbship/")


def test_base_image_without_python_is_named(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("tiny", tmp_path)
    result = run_cli(
        "build", str(project), "-t", f"{TEST_PREFIX}/no-python:latest", "--base-image", "debian:bookworm-slim"
    )
    assert result.exit_code == 5
    assert "has no python3" in result.stderr and "--base-image" in result.stderr
    mismatch = run_cli("build", str(project), "-t", f"{TEST_PREFIX}/mismatch:latest", "--base-image", "python:3.9-slim")
    assert mismatch.exit_code == 5
    assert "has Python 3.9, the project asks for 3.11" in mismatch.stderr
