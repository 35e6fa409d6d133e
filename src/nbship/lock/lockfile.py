"""Reading nbship.lock on the host: the file is YAML (rattler's lock format, the one pixi reads), so
what nbship needs from it is read with a YAML parser. py-rattler writes it, in a process of its
own (lock/worker.py): nbship's own process never starts rattler's runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nbship.errors import LockError
from nbship.options import PLATFORMS, Platform

DEFAULT_ENVIRONMENT = "default"
# The PyPI packages of nbship's own JupyterLab, for an environment whose channels have none:
# installed only when neither the environment nor the base image has a server.
JUPYTERLAB_ENVIRONMENT = "nbship-jupyterlab"


@dataclass(frozen=True)
class LockedPackages:
    conda: tuple[str, ...]  # package URLs
    pypi: tuple[str, ...]  # URLs with their #sha256= fragment


def _document(path: Path, display: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise LockError(
            f"{display} is not a lock file nbship can read ({exc}). Run `nbship lock --update` to write it anew."
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("environments"), dict):
        raise LockError(f"{display} is not a lock file nbship can read. Run `nbship lock --update` to write it anew.")
    return document


def packages(path: Path, platform: str, *, environment: str = DEFAULT_ENVIRONMENT, display: str = "") -> LockedPackages:
    document = _document(path, display or path.name)
    entry = _mapping(document["environments"].get(environment))
    listed = _mapping(entry.get("packages")).get(platform)
    listed = listed if isinstance(listed, list) else []
    conda = tuple(_url(str(item["conda"]), path) for item in listed if isinstance(item, dict) and "conda" in item)
    pypi = tuple(str(item["pypi"]) for item in listed if isinstance(item, dict) and "pypi" in item)
    return LockedPackages(conda, pypi)


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _url(location: str, lock: Path) -> str:
    """rattler writes a package of a local channel as a path (relative to the lock, or absolute)."""
    if "://" in location:
        return location
    return (lock.parent / location).resolve().as_uri()


def readable(path: Path) -> bool:
    """Whether the lock parses as YAML with environments (rattler's own parser takes half a minute
    to give up on a file nested a hundred thousand deep: this check comes first)."""
    try:
        _document(path, path.name)
    except LockError:
        return False
    return True


def conda_hashes(path: Path, *, display: str = "") -> dict[str, str]:
    """The sha256 the lock records for each conda package, by URL (as `packages` gives them)."""
    listed = _document(path, display or path.name).get("packages")
    return {
        _url(str(item["conda"]), path): item["sha256"]
        for item in (listed if isinstance(listed, list) else [])
        if isinstance(item, dict) and "conda" in item and isinstance(item.get("sha256"), str)
    }


def platforms(path: Path) -> tuple[Platform, ...]:
    """The platforms the lock covers (none when there is no readable lock)."""
    if not path.is_file():
        return ()
    try:
        document = _document(path, path.name)
    except LockError:
        return ()
    listed = document.get("platforms")
    named = {str(item.get("name")) for item in listed if isinstance(item, dict)} if isinstance(listed, list) else set()
    for entry in document["environments"].values():
        named.update(str(key) for key in _mapping(_mapping(entry).get("packages")))
    return tuple(platform for platform in PLATFORMS if platform in named)
