"""The solve of an environment.yml with py-rattler (in the lock worker's process only, see
lock/worker.py): Python and JupyterLab added from the channels when the file names none, and the
PyPI distributions each solved package installs, read from its own metadata (the dist-info
folders its info/paths.json lists), so that the pip: section can leave them out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import rattler
from packaging.utils import canonicalize_name
from rattler import BuildString, Channel, GenericVirtualPackage, LockFile, PackageName
from rattler import Version as CondaVersion
from rattler.exceptions import FetchRepoDataError, GatewayError, ParseCondaLockError, SolverError

from nbship.errors import LockError, NetworkError
from nbship.lock import lockfile
from nbship.project.kinds.environment_yml import CondaInput

# What the image's system offers the solver: glibc and kernel at least as old as any supported base.
_VIRTUAL = {"__unix": "0", "__linux": "4.18", "__glibc": "2.28"}
_ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}
# How rattler and uv say that a host could not be reached (as opposed to a channel that is not there).
NETWORK_FAILURE = re.compile(
    r"error sending request|tcp connect error|dns error|failed to lookup address|Connection refused|"
    r"Connection reset|timed out|Network is unreachable|No route to host|connection closed before",
    re.IGNORECASE,
)
_DIST_INFO = re.compile(r"(?:^|/)site-packages/([^/]+?)-([^-/]+?)(?:-py\d+\.\d+)?\.(?:dist-info|egg-info)(?:/|$)")
_SERVER = "jupyterlab"


@dataclass
class Previous:
    """What an earlier lock had: kept where the new specs allow it (without --update)."""

    conda: dict[str, list[rattler.RepoDataRecord]] = field(default_factory=dict)
    pypi: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, platforms: Sequence[str]) -> Previous:
        if not path.is_file() or not lockfile.readable(path):
            return cls()
        try:
            environment = LockFile.from_path(path).default_environment()
        except (ParseCondaLockError, OSError):
            return cls()
        if environment is None:
            return cls()
        records = environment.conda_repodata_records()
        pypi = {platform: lockfile.packages(path, platform).pypi for platform in platforms}
        return cls({platform: list(records.get(platform, [])) for platform in platforms}, pypi)


@dataclass
class Solution:
    records: dict[str, list[rattler.RepoDataRecord]]
    notes: list[str]
    python: dict[str, str | None]  # platform -> the locked Python's version, None: the base image's
    jupyterlab: dict[str, bool]  # platform -> the conda packages include JupyterLab
    provided: dict[str, dict[str, str]]  # platform -> PyPI name -> version the conda packages install


def _virtual_packages(platform: str) -> list[GenericVirtualPackage]:
    packages = [
        GenericVirtualPackage(PackageName(name), CondaVersion(version), BuildString("0"))
        for name, version in _VIRTUAL.items()
    ]
    packages.append(GenericVirtualPackage(PackageName("__archspec"), CondaVersion("1"), BuildString(_ARCH[platform])))
    return packages


def channel_error(display: str, platform: str, exc: Exception) -> LockError | NetworkError:
    text = " ".join(str(exc).split())
    if NETWORK_FAILURE.search(text):
        return NetworkError(
            f"The channels of {display} could not be reached for {platform}: {text}. Check your network "
            "(and proxy settings), then run the command again: the environment file itself may be fine."
        )
    return LockError(
        f"The channels of {display} could not be read for {platform}: {text}. "
        "Check the channel names and URLs, and for a private channel its credentials."
    )


def _solve_error(spec: CondaInput, platform: str, exc: Exception) -> LockError:
    text = " ".join(str(exc).split())
    text = re.sub(r"^Cannot solve the request because of:\s*", "", text).rstrip(".")
    return LockError(
        f"{spec.display} cannot be solved for {platform}: {text}. Change the version asked for in "
        f"{spec.display} (or add the channel that has it), then run `nbship lock` again."
    )


async def _has(gateway: rattler.Gateway, channels: list[Channel], platform: str, spec: str) -> bool:
    found = await gateway.query(channels, [rattler.Subdir(platform), rattler.Subdir("noarch")], [spec], recursive=False)
    return any(len(records) for records in found)


async def _additions(
    spec: CondaInput, gateway: rattler.Gateway, channels: list[Channel], platform: str, python: str
) -> tuple[list[str], list[str]]:
    """The specs nbship adds for a file without Python or JupyterLab (when the channels have
    them), and what it says about it."""
    wanted: list[tuple[str, str, str]] = []  # (spec, said when added, said when the channels lack it)
    if "python" not in spec.conda_names:
        wanted.append(
            (
                f"python {python}.*",
                f"{spec.display} names no Python: nbship adds python {python} from its channels.",
                f"{spec.display} names no Python and its channels have no Python {python}: the environment "
                "uses the base image's Python.",
            )
        )
    if not spec.brings_jupyter:
        wanted.append(
            (
                _SERVER,
                f"{spec.display} names no JupyterLab: nbship adds jupyterlab from its channels.",
                f"{spec.display} names no JupyterLab and its channels have none: nbship locks its JupyterLab "
                "from PyPI, hashed (used unless the base image serves Jupyter).",
            )
        )
    added: list[str] = []
    notes: list[str] = []
    for match_spec, when_added, when_missing in wanted:
        found = await _has(gateway, channels, platform, match_spec)
        added += [match_spec] if found else []
        notes.append(when_added if found else when_missing)
    return added, notes


async def solve(
    spec: CondaInput,
    channel_urls: list[str],
    platforms: Sequence[str],
    exclude_newer: dt.datetime | None,
    previous: Previous,
    *,
    python: str,
) -> Solution:
    # The default client carries rattler's authentication middleware (RATTLER_AUTH_FILE, keyring).
    client = rattler.Client.default_client()
    gateway = rattler.Gateway(client=client)
    channels = [Channel(url) for url in channel_urls]
    solution = Solution({}, [], {}, {}, {})
    for platform in platforms:
        added: list[str] = []
        try:
            added, notes = await _additions(spec, gateway, channels, platform, python) if spec.conda else ([], [])
            records = await _solve(spec, gateway, channels, platform, exclude_newer, previous, added)
        except SolverError as exc:
            if not added:
                raise _solve_error(spec, platform, exc) from exc
            try:  # what nbship added conflicts with the file's own specs: the file's specs win
                records = await _solve(spec, gateway, channels, platform, exclude_newer, previous, [])
            except SolverError as again:
                raise _solve_error(spec, platform, again) from again
            notes = [f"nbship could not add {' and '.join(added)} to {spec.display} (they conflict with its specs)."]
        except (FetchRepoDataError, GatewayError) as exc:
            raise channel_error(spec.display, platform, exc) from exc
        if platform == platforms[0]:
            solution.notes.extend(notes)
        records = sorted(records, key=lambda record: (record.name.normalized, record.url))
        solution.records[platform] = records
        by_name = {record.name.normalized: record for record in records}
        solution.python[platform] = str(by_name["python"].version) if "python" in by_name else None
        solution.jupyterlab[platform] = _SERVER in by_name
        if spec.pip or _SERVER not in by_name:
            solution.provided[platform] = await provided_distributions(records, client)
    return solution


async def _solve(
    spec: CondaInput,
    gateway: rattler.Gateway,
    channels: list[Channel],
    platform: str,
    exclude_newer: dt.datetime | None,
    previous: Previous,
    added: list[str],
) -> list[rattler.RepoDataRecord]:
    if not spec.conda:
        return []
    records = await rattler.solve(
        sources=channels,
        specs=[*spec.conda, *added],
        gateway=gateway,
        platforms=[rattler.Subdir(platform), rattler.Subdir("noarch")],
        locked_packages=previous.conda.get(platform) or None,
        virtual_packages=_virtual_packages(platform),
        exclude_newer=exclude_newer,
        timestamp_policy="allow-missing",
        channel_relations="disabled",
        add_pip_as_python_dependency=True,  # as conda does: an environment with Python has pip
    )
    return list(records)


def _is_python_package(record: rattler.RepoDataRecord) -> bool:
    if record.name.normalized == "python":
        return False
    if str(record.noarch) == "python":
        return True
    return any(dep.split()[0] in {"python", "python_abi"} for dep in record.depends)


async def _package_paths(record: rattler.RepoDataRecord, client: rattler.Client) -> list[str]:
    """The files a conda package installs, from its info/paths.json (fetched alone where the
    server allows it: a .conda archive keeps its metadata apart)."""
    from rattler import PathsJson
    from rattler.package_streaming import download_bytes, fetch_raw_package_file_from_url

    url = record.url
    if url.startswith("file://"):
        archive = Path(unquote(urlsplit(url).path))
        return [str(entry.relative_path) for entry in PathsJson.from_package_archive(archive).paths]
    try:
        document = json.loads(await fetch_raw_package_file_from_url(client, url, "info/paths.json"))
        return [str(entry["_path"]) for entry in document.get("paths", [])]
    except Exception:
        data = await download_bytes(client, url)
        with tempfile.TemporaryDirectory(prefix="nbship-meta-") as tmp:
            archive = Path(tmp) / url.rsplit("/", 1)[1]
            archive.write_bytes(data)
            return [str(entry.relative_path) for entry in PathsJson.from_package_archive(archive).paths]


async def provided_distributions(records: Sequence[rattler.RepoDataRecord], client: rattler.Client) -> dict[str, str]:
    """PyPI name → version of every Python distribution the conda packages install."""
    limit = asyncio.Semaphore(8)

    async def listing(record: rattler.RepoDataRecord) -> list[str]:
        async with limit:
            return await _package_paths(record, client)

    listings = await asyncio.gather(*(listing(record) for record in records if _is_python_package(record)))
    provided: dict[str, str] = {}
    for files in listings:
        for path in files:
            match = _DIST_INFO.search(path)
            if match:
                provided[canonicalize_name(match.group(1))] = match.group(2)
    return provided
