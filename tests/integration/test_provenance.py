"""What proves an image years later, for real: the SBOM inside it lists what is installed,
an archive file loads back into the same image with no network, and a damaged one is refused."""

from __future__ import annotations

import json

from conftest import BuiltProject, run_cli
from docker_helpers import docker, inspect, run_in

# What the image's own tools say is installed: its environment's Python and dpkg.
_PYTHON_LIST = (
    "/opt/nbship/env/bin/python -c 'import importlib.metadata as m, json; "
    'print(json.dumps(sorted([d.metadata["Name"], d.version] for d in m.distributions())))\''
)
_DPKG_LIST = "dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n'"


def _sbom(image: str) -> dict[str, object]:
    result = run_cli("sbom", "--image", image)
    assert result.exit_code == 0, result.output + result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_sbom_lists_the_packages_really_in_the_image(example_built: BuiltProject) -> None:
    document = _sbom(example_built.image)
    assert document["spdxVersion"] == "SPDX-2.3"
    packages = document["packages"]
    assert isinstance(packages, list)
    listed = {(p["name"], p["versionInfo"]) for p in packages}
    installed = {tuple(pair) for pair in json.loads(run_in(example_built.image, _PYTHON_LIST))}
    assert installed and installed <= listed, sorted(installed - listed)
    debs = {
        (name, version)
        for name, version, state in (line.split(" ") for line in run_in(example_built.image, _DPKG_LIST).splitlines())
        if state == "installed"
    }
    assert debs and debs <= listed, sorted(debs - listed)
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
