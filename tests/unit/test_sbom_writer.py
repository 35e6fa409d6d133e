"""The SBOM writer (payload/sbom.py) on made-up installed trees: what it reads, that it is
deterministic, and that its lock readers lose nothing and never raise."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.payload import sbom

_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,8}([-_.][a-z0-9]{1,4})?", fullmatch=True)
_VERSIONS = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True)
_HASHES = st.lists(st.from_regex(r"[0-9a-f]{64}", fullmatch=True), min_size=1, max_size=3)


def _dist(site: Path, name: str, version: str, license_line: str = "License-Expression: MIT") -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n{license_line}\n\n")


def _tree(root: Path) -> argparse.Namespace:
    prefix = root / "env"
    site = prefix / "lib" / "python3.11" / "site-packages"
    _dist(site, "six", "1.16.0")
    _dist(site, "Odd_Name", "2.0", "License: a licence of our own, see LICENSE")
    conda = prefix / "conda-meta"
    conda.mkdir(parents=True)
    _dist(site, "zlibwrap", "1.0")  # installed by the conda package below: listed once, as conda's
    record = {
        "name": "zlibwrap",
        "version": "1.0",
        "build": "h0_0",
        "channel": "https://conda.example/forge",
        "subdir": "linux-64",
        "url": "https://conda.example/forge/linux-64/zlibwrap-1.0-h0_0.conda",
        "sha256": "a" * 64,
        "license": "Zlib",
        "files": ["lib/python3.11/site-packages/zlibwrap-1.0.dist-info/METADATA"],
    }
    (conda / "zlibwrap-1.0-h0_0.json").write_text(json.dumps(record))
    content = root / "project"
    content.mkdir()
    (content / "requirements.lock").write_text(
        "# header\nsix==1.16.0 \\\n    --hash=sha256:" + "b" * 64 + "\n    # via -r requirements.txt\n"
    )
    rlib = root / "rlib" / "tibble"
    rlib.mkdir(parents=True)
    (rlib / "DESCRIPTION").write_text("Package: tibble\nVersion: 3.2.1\nLicense: MIT + file\n    LICENSE\n")
    # R's own library (base packages) and one a conda package installed, which is listed as conda's.
    for folder, text in (
        ("Rlib/stats", "Package: stats\nVersion: 4.2.2\nPriority: base\nLicense: Part of R 4.2.2\n"),
        ("Rlib/praise", "Package: praise\nVersion: 1.0.0\nLicense: MIT + file LICENSE\n"),
        ("env/lib/R/library/zlibwrap", "Package: zlibwrap\nVersion: 1.0\n"),
    ):
        (root / folder).mkdir(parents=True)
        (root / folder / "DESCRIPTION").write_text(text)
    record["files"].append("lib/R/library/zlibwrap/DESCRIPTION")
    (conda / "zlibwrap-1.0-h0_0.json").write_text(json.dumps(record))
    status = root / "status"
    status.write_text(
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
    )
    return argparse.Namespace(
        name="demo",
        nbship_version="0.1.0",
        base_image="python:3.11-slim",
        base_digest="sha256:" + "c" * 64,
        source_date_epoch="1700000000",
        prefix=str(prefix),
        content=str(content),
        r_library=[str(root / "rlib"), str(root / "Rlib"), str(prefix / "lib" / "R" / "library")],
        project_r_library=str(root / "rlib"),
        dpkg_status=str(status),
    )


def _by_name(document: dict[str, object]) -> dict[str, dict[str, object]]:
    packages = document["packages"]
    assert isinstance(packages, list)
    return {p["name"]: p for p in packages}


def test_the_document_lists_every_kind_of_package_with_what_is_known(tmp_path: Path) -> None:
    document = sbom.build_document(_tree(tmp_path))
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    packages = _by_name(document)
    assert packages["six"]["versionInfo"] == "1.16.0"
    assert packages["six"]["licenseDeclared"] == "MIT"
    assert packages["six"]["checksums"] == [{"algorithm": "SHA256", "checksumValue": "b" * 64}]
    assert packages["Odd_Name"]["licenseDeclared"] == "NOASSERTION"
    assert "licence of our own" in str(packages["Odd_Name"]["licenseComments"])
    conda = packages["zlibwrap"]
    assert conda["downloadLocation"].endswith("zlibwrap-1.0-h0_0.conda")
    assert str(conda["externalRefs"][0]["referenceLocator"]).startswith("pkg:conda/zlibwrap@1.0?build=h0_0")
    assert sum(1 for p in document["packages"] if p["name"] == "zlibwrap") == 1
    assert packages["tibble"]["versionInfo"] == "3.2.1"
    assert packages["stats"]["comment"] == "Part of R itself." and "externalRefs" not in packages["stats"]
    assert packages["praise"]["comment"] == f"In the R library {tmp_path / 'Rlib'}."
    assert packages["zlib1g"]["versionInfo"] == "1:1.2.13"
    assert "gone" not in packages
    assert packages["python:3.11-slim"]["versionInfo"] == "sha256:" + "c" * 64
    assert packages["nbship"]["versionInfo"] == "0.1.0"
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(ids) == len(set(ids))
    contained = {r["relatedSpdxElement"] for r in document["relationships"] if r["relationshipType"] == "CONTAINS"}
    assert {packages[n]["SPDXID"] for n in ("six", "zlibwrap", "tibble", "zlib1g")} <= contained


def test_the_document_is_the_same_bytes_each_time(tmp_path: Path) -> None:
    args = _tree(tmp_path)
    first = json.dumps(sbom.build_document(args), sort_keys=True)
    assert first == json.dumps(sbom.build_document(args), sort_keys=True)
    args.source_date_epoch = ""
    assert sbom.build_document(args)["creationInfo"]["created"] == "1970-01-01T00:00:00Z"


def test_license_expressions_are_told_from_free_text() -> None:
    assert sbom.license_expression("BSD-3-Clause OR Apache-2.0") == "BSD-3-Clause OR Apache-2.0"
    assert sbom.license_expression("MIT") == "MIT"
    assert sbom.license_expression("GPL (>= 2)") is None
    assert sbom.license_expression("") is None


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_NAMES.map(sbom.canonical), st.tuples(_VERSIONS, _HASHES), min_size=1, max_size=6))
def test_requirements_lock_reader_keeps_every_pin_and_hash(pins: dict[str, tuple[str, list[str]]]) -> None:
    lines = ["# Written by nbship"]
    for name, (version, hashes) in pins.items():
        lines.append(f"{name}=={version} \\")
        lines += [f"    --hash=sha256:{h} \\" for h in hashes[:-1]] + [f"    --hash=sha256:{hashes[-1]}"]
        lines.append("    # via something")
    facts = sbom.read_requirements_lock("\n".join(lines))
    for name, (version, hashes) in pins.items():
        assert facts[sbom.canonical(name)]["version"] == version
        assert facts[sbom.canonical(name)]["sha256"] == hashes


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_NAMES.map(sbom.canonical), st.tuples(_VERSIONS, _HASHES), min_size=1, max_size=6))
def test_rattler_lock_reader_keeps_every_pypi_url(pins: dict[str, tuple[str, list[str]]]) -> None:
    lines = ["version: 6", "environments:", "  default:", "    packages:", "      linux-64:"]
    for name, (version, hashes) in pins.items():
        wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        lines.append(f"      - pypi: https://files.example/{wheel}#sha256={hashes[0]}")
    facts = sbom.read_rattler_lock("\n".join(lines))
    for name, (version, hashes) in pins.items():
        found = facts[sbom.canonical(name)]
        assert (found["version"], found["sha256"]) == (version, [hashes[0]])
        assert str(found["url"]).endswith(".whl")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_lock_readers_never_raise_on_any_text(text: str) -> None:
    for reader in (sbom.read_requirements_lock, sbom.read_rattler_lock, sbom.read_pipfile_lock):
        assert isinstance(reader(text), dict)
