"""The pip: section of environment.yml, hash-locked with uv into nbship.lock's PyPI packages.

The PyPI distributions the conda packages already install (their own metadata says which,
lock/solver.py) are constraints of the resolution at the versions conda has, and left out of the
lock: pip never reinstalls what conda installed. What remains is pinned per platform to one file
with its sha256, and installed without dependency resolution. For an environment whose channels
have no JupyterLab, nbship's JupyterLab is locked the same way, as a set of its own (installed only
when neither the environment nor the base image has a server).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from packaging import tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from nbship.errors import LockError, NetworkError
from nbship.lock.pip import uv_binary
from nbship.lock.solver import NETWORK_FAILURE
from nbship.project.kinds.environment_yml import CondaInput
from nbship.project.plan import jupyterlab_for

_UV_PLATFORMS = {"linux-64": "x86_64-manylinux_2_28", "linux-aarch64": "aarch64-manylinux_2_28"}
_ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    url: str
    sha256: str

    @property
    def location(self) -> str:
        """The URL with its hash as a fragment: how nbship.lock records a PyPI file."""
        return f"{self.url}#sha256={self.sha256}"


@dataclass(frozen=True)
class PipPins:
    pip: tuple[Pin, ...] = ()  # the pip: section's packages, beyond what conda provides
    jupyterlab: tuple[Pin, ...] = ()  # nbship's JupyterLab, beyond those: for channels without one
    notes: tuple[str, ...] = field(default_factory=tuple)


def _supported_tags(python: str, platform: str) -> list[tags.Tag]:
    major, minor = (int(part) for part in python.split(".")[:2])
    arch = _ARCH[platform]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    platforms: list[str] = []
    for glibc in range(28, 4, -1):
        platforms.append(f"manylinux_2_{glibc}_{arch}")
        if glibc in legacy:
            platforms.append(f"{legacy[glibc]}_{arch}")
    interpreter = f"cp{major}{minor}"
    return [
        *tags.cpython_tags((major, minor), abis=[interpreter, "abi3", "none"], platforms=platforms),
        *tags.compatible_tags((major, minor), interpreter=interpreter, platforms=platforms),
    ]


def _best_wheel(wheels: Sequence[Mapping[str, Any]], supported: list[tags.Tag]) -> Mapping[str, Any] | None:
    rank = {tag: index for index, tag in enumerate(supported)}
    best: tuple[int, Mapping[str, Any]] | None = None
    for wheel in wheels:
        try:
            _, _, _, wheel_tags = parse_wheel_filename(str(wheel["url"]).rsplit("/", 1)[1])
        except InvalidWheelFilename:
            continue
        score = min((rank[tag] for tag in wheel_tags if tag in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, wheel)
    return best[1] if best else None


def _pins(document: Mapping[str, Any], python: str, platform: str, display: str) -> list[Pin]:
    supported = _supported_tags(python, platform)
    pins = []
    for package in document.get("packages", []):
        name, version = canonicalize_name(package["name"]), str(package.get("version", ""))
        if "directory" in package:
            continue  # a folder of the project ('-e .'): installed from its sources, its dependencies are here
        if "vcs" in package:
            raise LockError(
                f"The pip: section of {display} installs {name} from version control, which has no fixed hash "
                "to lock. Name a released version instead (or a URL of an archive), then run `nbship lock`."
            )
        chosen = _best_wheel(package.get("wheels", []), supported) or package.get("sdist") or package.get("archive")
        if not chosen or "sha256" not in chosen.get("hashes", {}):
            raise LockError(
                f"uv gave no file with a sha256 for {name} {version} ({display}'s pip: section) for {platform}: "
                "nbship cannot hash-lock it. Pin another version, then run `nbship lock`."
            )
        pins.append(Pin(name, version, str(chosen["url"]), str(chosen["hashes"]["sha256"])))
    return pins


def _constraints(provided: Mapping[str, str], pinned: Iterable[Pin]) -> str:
    lines = []
    for name, version in sorted(provided.items()):
        try:
            Version(version)
        except InvalidVersion:
            continue  # not a PyPI version: the name is still left out of the lock
        lines.append(f"{name}=={version}")
    lines += [f"{pin.name}=={pin.version}" for pin in pinned]
    return "\n".join(lines) + "\n"


def _compile(
    requirements: str,
    *,
    cwd: Path,
    python: str,
    platform: str,
    constraints: str,
    leave_out: Iterable[str],
    exclude_newer: str | None,
    display: str,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nbship-condapip-") as tmp:
        constraints_file = Path(tmp) / "constraints.txt"
        constraints_file.write_text(constraints, encoding="utf-8")
        output = Path(tmp) / "pylock.toml"
        command = [uv_binary(), "pip", "compile", "-", "--quiet", "--no-header", "--format", "pylock.toml"]
        command += ["--python-version", python, "--python-platform", _UV_PLATFORMS[platform]]
        command += ["-c", str(constraints_file), "-o", str(output)]
        for name in sorted(set(leave_out)):
            command += ["--no-emit-package", name]
        if exclude_newer:
            command += ["--exclude-newer", exclude_newer]
        result = subprocess.run(
            command,
            cwd=cwd,
            input=requirements,
            capture_output=True,
            text=True,
            env={**os.environ, "UV_NO_PROGRESS": "1"},
            check=False,
            timeout=600,
        )
        if result.returncode != 0:
            message = " ".join(result.stderr.split()).removeprefix("error: ")[:900]
            if NETWORK_FAILURE.search(message):
                raise NetworkError(
                    f"The package index for {display}'s pip: section could not be reached: {message}. Check your "
                    "network (and proxy settings), then run the command again."
                )
            raise LockError(
                f"The pip: section of {display} could not be locked for Python {python} ({platform}) together "
                f"with its conda packages: {message}. Change the versions asked for, then run `nbship lock`."
            )
        document: dict[str, Any] = tomllib.loads(output.read_text(encoding="utf-8"))
        return document


def _named(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"


def lock_pip(
    spec: CondaInput,
    *,
    python: str,
    platform: str,
    provided: Mapping[str, str],
    needs_jupyterlab: bool,
    exclude_newer: str | None,
    previous: Sequence[str] = (),
) -> PipPins:
    """The pip: section (and nbship's JupyterLab, when `needs_jupyterlab`) pinned for `platform`."""
    compile_args: dict[str, Any] = {
        "cwd": spec.path.parent,
        "python": python,
        "platform": platform,
        "exclude_newer": exclude_newer,
        "display": spec.display,
    }
    pip: list[Pin] = []
    if spec.pip:
        kept = _previous_pins(previous)
        try:  # the versions locked before, where the section still allows them
            document = _compile(
                _named(spec.pip), constraints=_constraints(provided, kept), leave_out=provided, **compile_args
            )
        except LockError:
            if not kept:
                raise
            document = _compile(
                _named(spec.pip), constraints=_constraints(provided, ()), leave_out=provided, **compile_args
            )
        pip = _pins(document, python, platform, spec.display)
    lab: list[Pin] = []
    names_lab = bool({"jupyterlab", "jupyter"} & spec.pip_names)
    if needs_jupyterlab and not names_lab:
        pin = jupyterlab_for(".".join(python.split(".")[:2]))
        # nbship's pin is newer than any --exclude-newer cutoff may allow: the cutoff is for the file's packages.
        document = _compile(
            _named([pin]),
            constraints=_constraints(provided, pip),
            leave_out=[*provided, *(p.name for p in pip)],
            **{**compile_args, "exclude_newer": None},
        )
        lab = _pins(document, python, platform, spec.display)
    return PipPins(tuple(pip), tuple(lab))


_LOCATION = re.compile(r"/(?P<file>[^/#]+)#sha256=[0-9a-f]{64}$")


def _previous_pins(locations: Sequence[str]) -> list[Pin]:
    """The pins of an earlier lock, from the file names of their locations."""
    pins = []
    for location in locations:
        match = _LOCATION.search(location)
        if not match:
            continue
        filename = match.group("file")
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        url, _, sha = location.partition("#sha256=")
        pins.append(Pin(canonicalize_name(name), str(version), url, sha))
    return pins
