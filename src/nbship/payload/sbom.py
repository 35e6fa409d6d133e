"""Writes the image's software bill of materials (SPDX 2.3, JSON) from what is really installed.

The last step of every image nbship builds runs this file (/opt/nbship/bin/nbship-sbom) with the
image's own python3 and writes its output to /opt/nbship/sbom.spdx.json. It reads the installed
metadata, not the project's wishes: the Python distributions of the environment and of the base
image's interpreter (their .dist-info), the conda packages (conda-meta/*.json), the R packages of
the project's library (DESCRIPTION), and the Debian packages (dpkg's status file). The project's
locks add what the installed metadata lacks: where a Python package came from and its hashes.

The document is deterministic: packages in a fixed order, no clock (the creation time is
SOURCE_DATE_EPOCH, else the Unix epoch), and a namespace derived from the content, so the same
installed environment gives the same bytes, and the step does not break a reproducible build.
Standard-library Python 3.8+ only: it runs on whatever interpreter the base image has.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.parser
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

NOASSERTION = "NOASSERTION"
NAMESPACE_BASE = "https://nbship.invalid/spdx"  # .invalid: the namespace is an id, never fetched
BASE_DIGEST_ENV = "NBSHIP_BASE_DIGEST"  # build arguments nbship build passes (contract.py)
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"
LOCK_FILES = ("requirements.lock", "nbship.lock", "Pipfile.lock")
LOCK_FOLDERS = ("", "binder", ".binder")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
# A license field that reads as an SPDX expression (ids joined by AND/OR/WITH, optional parentheses).
_SPDX_EXPRESSION = re.compile(r"^\(?[A-Za-z0-9.+-]+( (AND|OR|WITH) \(?[A-Za-z0-9.+-]+\)?)*\)?$")
_LOCK_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_LOCK_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_LOCK_URL = re.compile(r"^\s*-\s*pypi:\s*(\S+)")

# What the locks say, by canonical name: {"version": ..., "url": ..., "sha256": [...]}.
# For the type checker only: the image may run Python 3.8, where dict[...] is no expression.
if TYPE_CHECKING:
    LockFacts = dict[str, dict[str, Any]]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def license_expression(value: str | None) -> str | None:
    """The value when it is an SPDX expression (`MIT`, `BSD-3-Clause OR Apache-2.0`), else None."""
    if not value:
        return None
    text = " ".join(value.split())
    return text if len(text) <= 200 and _SPDX_EXPRESSION.match(text) else None


# -- What the locks say -----------------------------------------------------------------------
def read_requirements_lock(text: str) -> LockFacts:
    """requirements.lock (uv's pip-compile format): name==version and its accepted hashes."""
    facts: LockFacts = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        pin = _LOCK_PIN.match(line)
        if pin is not None:
            current = {"version": pin.group(2), "sha256": []}
            facts[canonical(pin.group(1))] = current
        elif not line.startswith((" ", "\t")):
            current = None
        if current is not None:
            current["sha256"].extend(_LOCK_HASH.findall(line))
    return facts


def _wheel_name_version(url: str) -> tuple[str, str] | None:
    filename = url.split("#", 1)[0].rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return (parts[0], parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip", ".tar.bz2"):
        if filename.endswith(suffix):
            name, _, version = filename[: -len(suffix)].rpartition("-")
            return (name, version) if name else None
    return None


def read_rattler_lock(text: str) -> LockFacts:
    """nbship.lock (rattler's lock): each PyPI package's URL, whose fragment is its sha256."""
    facts: LockFacts = {}
    for line in text.splitlines():
        found = _LOCK_URL.match(line)
        named = _wheel_name_version(found.group(1)) if found else None
        if found is None or named is None:
            continue
        url, _, fragment = found.group(1).partition("#")
        hashes = [fragment[len("sha256=") :]] if fragment.startswith("sha256=") else []
        facts[canonical(named[0])] = {"version": named[1], "url": url, "sha256": hashes}
    return facts


def read_pipfile_lock(text: str) -> LockFacts:
    facts: LockFacts = {}
    try:
        data = json.loads(text)
    except ValueError:
        return facts
    for section in ("default", "develop"):
        entries = data.get(section) if isinstance(data, dict) else None
        for name, entry in (entries or {}).items():
            if not isinstance(entry, dict) or not str(entry.get("version", "")).startswith("=="):
                continue
            hashes = [h.split(":", 1)[1] for h in entry.get("hashes", []) if str(h).startswith("sha256:")]
            facts.setdefault(canonical(name), {"version": entry["version"][2:], "sha256": hashes})
    return facts


_READERS = {"requirements.lock": read_requirements_lock, "nbship.lock": read_rattler_lock}


def lock_facts(content: Path) -> LockFacts:
    facts: LockFacts = {}
    for folder in LOCK_FOLDERS:
        for name in LOCK_FILES:
            path = content / folder / name
            if path.is_file() and not path.is_symlink():
                reader = _READERS.get(name, read_pipfile_lock)
                for key, value in reader(path.read_text(encoding="utf-8", errors="replace")).items():
                    facts.setdefault(key, value)
    return facts


# -- What is installed ------------------------------------------------------------------------
def _site_folders(prefix: Path) -> list[Path]:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    system = [Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")]
    # Debian's python3 keeps its packages (python3-pip's, say) in /usr/lib/python3/dist-packages,
    # on its path but in no sysconfig scheme.
    system += [Path(entry) for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")]
    ordered: list[Path] = []
    for folder in [*found, *system]:
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in ordered]:
            ordered.append(folder)
    return ordered


def conda_records(prefix: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name") and record.get("version"):
            records.append(record)
    return records


def python_distributions(prefix: Path, owned: set[str]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(site folder, metadata) of every installed distribution that no conda package installed."""
    for site in _site_folders(prefix):
        for info in sorted(site.glob("*.dist-info")) + sorted(site.glob("*.egg-info")):
            meta_file = info / ("METADATA" if info.suffix == ".dist-info" else "PKG-INFO")
            if not meta_file.is_file() or str(meta_file.resolve()) in owned:
                continue
            message = email.parser.Parser().parsestr(meta_file.read_text(encoding="utf-8", errors="replace"))
            if not message.get("Name") or not message.get("Version"):
                continue
            direct = info / "direct_url.json"
            url = None
            if direct.is_file():
                try:
                    url = json.loads(direct.read_text(encoding="utf-8")).get("url")
                except ValueError:
                    url = None
            yield (
                site,
                {
                    "name": message["Name"],
                    "version": message["Version"],
                    "license": message.get("License-Expression") or message.get("License"),
                    "homepage": message.get("Home-page"),
                    "url": url,
                },
            )


def r_libraries(project_library: str) -> list[str]:
    """The project's R library, then every library R itself searches (.libPaths(): Debian's
    site-library for apt.txt's r-cran-* packages, R's own library for base and recommended ones).
    No R in the image: the project's library alone."""
    folders = [project_library] if project_library else []
    try:
        found = subprocess.run(
            ["Rscript", "--vanilla", "-e", 'cat(.libPaths(), sep = "\\n")'],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return folders
    if found.returncode == 0:
        folders += [line for line in found.stdout.splitlines() if line.startswith("/") and line not in folders]
    return folders


def r_packages(library: Path, owned: set[str]) -> Iterator[dict[str, str]]:
    """The DESCRIPTION fields of every package in `library` that no conda package installed."""
    for description in sorted(library.glob("*/DESCRIPTION")):
        if str(description.resolve()) in owned:
            continue
        fields: dict[str, str] = {}
        key = ""
        for line in description.read_text(encoding="utf-8", errors="replace").splitlines():
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Version"):
            yield fields


def dpkg_packages(status: Path) -> Iterator[dict[str, str]]:
    if not status.is_file():
        return
    for block in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Version") and fields.get("Status", "").endswith(" installed"):
            yield fields


# -- The document -----------------------------------------------------------------------------
class Document:
    def __init__(self) -> None:
        self.packages: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def spdx_id(self, kind: str, name: str, version: str) -> str:
        base = "SPDXRef-" + _ID_UNSAFE.sub("-", f"{kind}-{name}-{version}").strip("-")
        candidate, number = base, 1
        while candidate in self.ids:
            number += 1
            candidate = f"{base}-{number}"
        self.ids.add(candidate)
        return candidate

    def add(
        self,
        kind: str,
        name: str,
        version: str,
        *,
        purl: str | None = None,
        url: str | None = None,
        sha256: list[str] | None = None,
        license_text: str | None = None,
        homepage: str | None = None,
        comment: str | None = None,
    ) -> str:
        package: dict[str, Any] = {
            "SPDXID": self.spdx_id(kind, name, version),
            "name": name,
            "versionInfo": version,
            "downloadLocation": url or NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": license_expression(license_text) or NOASSERTION,
            "copyrightText": NOASSERTION,
        }
        if license_text and package["licenseDeclared"] == NOASSERTION:
            package["licenseComments"] = " ".join(license_text.split())[:500]
        hashes = sorted(set(sha256 or ()))
        if len(hashes) == 1:
            package["checksums"] = [{"algorithm": "SHA256", "checksumValue": hashes[0]}]
        elif hashes:
            # The lock accepts several files (one per platform); which one was installed is not recorded.
            package["comment"] = "The lock accepts these files (sha256): " + ", ".join(hashes)
        if comment:
            package["comment"] = (package.get("comment", "") + " " + comment).strip()
        if homepage and homepage.startswith(("https://", "http://")):
            package["homepage"] = homepage
        if purl:
            package["externalRefs"] = [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}
            ]
        self.packages.append(package)
        return str(package["SPDXID"])


def _created(epoch: str | None) -> str:
    seconds = int(epoch) if epoch and epoch.strip().isdigit() else 0
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_document(args: argparse.Namespace) -> dict[str, Any]:
    prefix, doc = Path(args.prefix), Document()
    image_id = doc.add("image", args.name, args.nbship_version, comment="The image nbship built for this project.")
    contained: list[str] = []
    base_digest = args.base_digest or None
    base = doc.add(
        "base",
        args.base_image,
        base_digest or NOASSERTION,
        sha256=[base_digest.split(":", 1)[1]] if base_digest and base_digest.startswith("sha256:") else None,
        comment="The base image the image was built FROM.",
    )
    tool = doc.add("tool", "nbship", args.nbship_version, purl=f"pkg:pypi/nbship@{args.nbship_version}")
    records = conda_records(prefix)
    owned: set[str] = set()
    for record in sorted(records, key=lambda r: (canonical(r["name"]), r["version"], r.get("build", ""))):
        owned.update(str((prefix / f).resolve()) for f in record.get("files", ()) if isinstance(f, str))
        channel = str(record.get("channel") or "").rstrip("/")
        subdir = record.get("subdir")
        qualifiers = "&".join(
            f"{k}={v}" for k, v in (("build", record.get("build")), ("channel", channel), ("subdir", subdir)) if v
        )
        contained.append(
            doc.add(
                "conda",
                record["name"],
                record["version"],
                purl=f"pkg:conda/{record['name']}@{record['version']}" + (f"?{qualifiers}" if qualifiers else ""),
                url=record.get("url") or None,
                sha256=[record["sha256"]] if record.get("sha256") else None,
                license_text=record.get("license"),
            )
        )
    locked = lock_facts(Path(args.content)) if args.content else {}
    seen: set[tuple[str, str]] = set()
    for site, dist in sorted(
        python_distributions(prefix, owned), key=lambda item: (canonical(item[1]["name"]), item[1]["version"])
    ):
        key = (canonical(dist["name"]), dist["version"])
        if key in seen:
            continue
        seen.add(key)
        lock = locked.get(key[0]) or {}
        matches = lock.get("version") == dist["version"]
        env = str(site).startswith(str(prefix))
        contained.append(
            doc.add(
                "pypi",
                dist["name"],
                dist["version"],
                purl=f"pkg:pypi/{key[0]}@{dist['version']}",
                url=dist["url"] or (lock.get("url") if matches else None),
                sha256=lock.get("sha256") if matches else None,
                license_text=dist["license"],
                homepage=dist["homepage"],
                comment=None if env else f"Installed in the base image's Python ({site}).",
            )
        )
    for library in args.r_library:
        for fields in r_packages(Path(library), owned):
            base_r = fields.get("Priority") == "base"
            contained.append(
                doc.add(
                    "cran",
                    fields["Package"],
                    fields["Version"],
                    purl=None if base_r else f"pkg:cran/{fields['Package']}@{fields['Version']}",
                    license_text=fields.get("License"),
                    comment="Part of R itself."
                    if base_r
                    else (None if library == args.project_r_library else f"In the R library {library}."),
                )
            )
    for fields in sorted(
        dpkg_packages(Path(args.dpkg_status)), key=lambda f: (f["Package"], f.get("Architecture", ""))
    ):
        arch = fields.get("Architecture")
        contained.append(
            doc.add(
                "deb",
                fields["Package"],
                fields["Version"],
                purl=f"pkg:deb/debian/{fields['Package']}@{fields['Version']}" + (f"?arch={arch}" if arch else ""),
            )
        )
    relationships = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
    ]
    relationships.append({"spdxElementId": image_id, "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": base})
    relationships.append({"spdxElementId": tool, "relationshipType": "BUILD_TOOL_OF", "relatedSpdxElement": image_id})
    relationships += [
        {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": p} for p in contained
    ]
    body = {"packages": doc.packages, "relationships": relationships}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{args.name} (container image)",
        "documentNamespace": f"{NAMESPACE_BASE}/{_ID_UNSAFE.sub('-', args.name)}-{digest}",
        "creationInfo": {
            "created": _created(args.source_date_epoch),
            "creators": [f"Tool: nbship-{args.nbship_version}"],
        },
        **body,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbship-sbom", description="Print the image's SPDX 2.3 JSON SBOM.")
    parser.add_argument("--name", required=True, help="the project's name")
    parser.add_argument("--nbship-version", required=True)
    parser.add_argument("--base-image", required=True, help="the reference the image was built FROM")
    parser.add_argument("--base-digest", default=os.environ.get(BASE_DIGEST_ENV, ""))
    parser.add_argument("--source-date-epoch", default=os.environ.get(SOURCE_DATE_EPOCH_ENV, ""))
    # An image from the project's own Dockerfile has no nbship layout: its python3's environment,
    # no locks, and the libraries R itself searches.
    parser.add_argument("--prefix", default=sys.prefix, help="the environment (default: this Python's)")
    parser.add_argument("--content", default="", help="the project as the image has it (its locks)")
    parser.add_argument("--r-library", default="", help="the project's R library")
    parser.add_argument("--dpkg-status", default="/var/lib/dpkg/status")
    args = parser.parse_args(argv)
    args.project_r_library, args.r_library = args.r_library, r_libraries(args.r_library)
    json.dump(build_document(args), sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
