"""The SBOM an image carries (through `nbship sbom`), and what the image's own tools say it holds,
so tests compare the document with the image rather than with a list written in the test."""

from __future__ import annotations

import json
from typing import Any

from conftest import run_cli
from docker_helpers import run_in

_DPKG_LIST = "dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n'"


def sbom_of(image: str) -> dict[str, Any]:
    result = run_cli("sbom", "--image", image)
    assert result.exit_code == 0, result.output + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["spdxVersion"] == "SPDX-2.3"
    return document


def listed(document: dict[str, Any], kind: str | None = None) -> set[tuple[str, str]]:
    """(name, version) of the document's packages, of one kind (its SPDX id's `SPDXRef-KIND-`) or all."""
    prefix = f"SPDXRef-{kind}-" if kind else "SPDXRef-"
    return {(p["name"], p["versionInfo"]) for p in document["packages"] if p["SPDXID"].startswith(prefix)}


def python_installed(image: str, python: str = "/opt/nbship/env/bin/python", *extra: str) -> set[tuple[str, str]]:
    script = (
        f"{python} -c 'import importlib.metadata as m, json; "
        'print(json.dumps(sorted([d.metadata["Name"], d.version] for d in m.distributions())))\''
    )
    return {(name, version) for name, version in json.loads(run_in(image, script, *extra))}


def dpkg_installed(image: str, *extra: str) -> dict[str, str]:
    """Package name to version, as dpkg itself reports what is installed (`extra`: docker run's options)."""
    lines = run_in(image, _DPKG_LIST, *extra).splitlines()
    return {name: version for name, version, state in (line.split(" ") for line in lines) if state == "installed"}
