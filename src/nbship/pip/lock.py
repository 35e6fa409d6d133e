"""requirements.txt / pyproject.toml → requirements.lock: exact versions with hashes for the
image's Python and platform, compiled on the host by uv. Builds then install it with
--require-hashes, so a package changed on the index fails the build instead of entering the image.

Like nbship.lock, the file starts with a digest of its inputs, so a changed requirements.txt is noticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbship.errors import LockError, ProjectError
from nbship.project.detect import Project
from nbship.project.plan import JUPYTERLAB_FOR_OLD_PYTHON, JUPYTERLAB_REQUIREMENT, PIP_LOCK_NAME, choose_python

_HEADER = "# nbship-inputs: "
# manylinux_2_28: wheels for glibc 2.28 and newer, which every supported base image has.
_UV_PLATFORMS = {"linux-64": "x86_64-manylinux_2_28", "linux-aarch64": "aarch64-manylinux_2_28"}

PipLockState = Literal["missing", "stale", "current"]


@dataclass(frozen=True)
class PipLockResult:
    path: Path
    solved: bool
    packages: int


def pip_lock_path(project: Project) -> Path:
    return project.config_dir / PIP_LOCK_NAME


def _inputs(project: Project) -> list[Path]:
    files: list[Path] = []
    if project.requirements is not None:
        if project.requirements.needs_source:
            raise ProjectError(
                f"{project.rel(project.requirements.path)} installs a local folder ('.', '-e .' or a path), "
                "which has no fixed hash to lock. Lock the project's dependencies instead: list them in "
                "pyproject.toml (nbship installs the project itself after the lock), then run `nbship lock`."
            )
        files.append(project.requirements.path)
        files.extend(project.requirements.includes)
    if project.package is not None:
        files.append(project.package.path)
    return files


def _jupyterlab(project: Project, python: str) -> str | None:
    names = project.requirements.names if project.requirements else frozenset()
    package_names = project.package.dependency_names if project.package else frozenset()
    if (names | package_names) & {"jupyterlab", "jupyter"}:
        return None
    return JUPYTERLAB_FOR_OLD_PYTHON.get(python, JUPYTERLAB_REQUIREMENT)


def inputs_digest(project: Project, platforms: Sequence[str], exclude_newer: str | None) -> str:
    python = choose_python(project).version
    files = {project.rel(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in _inputs(project)}
    payload = {
        "files": files,
        "python": python,
        "platforms": sorted(platforms),
        "jupyterlab": _jupyterlab(project, python),
        "exclude_newer": exclude_newer,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _header(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            if line.startswith("# nbship-"):
                key, _, value = line[2:].partition(": ")
                values[key] = value.strip()
    return values


def pip_lock_state(project: Project) -> PipLockState:
    path = pip_lock_path(project)
    if not path.is_file():
        return "missing"
    header = _header(path)
    platforms = header.get("nbship-platforms", "linux-64").split()
    digest = inputs_digest(project, platforms, header.get("nbship-exclude-newer"))
    return "current" if header.get("nbship-inputs") == digest else "stale"


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency of nbship
        raise LockError("uv is not installed next to nbship; reinstall nbship (`pip install nbship`).") from None
    return str(find_uv_bin())


def write_pip_lock(
    project: Project,
    *,
    platforms: Sequence[str] = ("linux-64",),
    exclude_newer: str | None = None,
    update: bool = False,
) -> PipLockResult:
    path = pip_lock_path(project)
    wanted = sorted(dict.fromkeys(platforms))
    if exclude_newer is None and not update and path.is_file():
        exclude_newer = _header(path).get("nbship-exclude-newer")
    digest = inputs_digest(project, wanted, exclude_newer)
    if not update and path.is_file() and _header(path).get("nbship-inputs") == digest:
        return PipLockResult(path, False, _count(path.read_text(encoding="utf-8")))
    python = choose_python(project).version
    command = [_uv(), "pip", "compile", "--quiet", "--no-header", "--generate-hashes", "--python-version", python]
    # One platform: resolved exactly for it. Several: one universal resolution, with markers.
    command += ["--python-platform", _UV_PLATFORMS[wanted[0]]] if len(wanted) == 1 else ["--universal"]
    if exclude_newer:
        command += ["--exclude-newer", exclude_newer]
    if update:
        command.append("--upgrade")
    command += [project.rel(file) for file in _inputs(project)]
    lab = _jupyterlab(project, python)
    if lab:
        command.append("-")  # JupyterLab's pin, read from stdin: resolved with the rest, no temp path in the output
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    with tempfile.TemporaryDirectory(prefix="nbship-piplock-") as tmp:
        output = Path(tmp) / PIP_LOCK_NAME
        if path.is_file() and not update:
            # uv keeps the versions already in its output file where the requirements still allow them.
            output.write_bytes(path.read_bytes())
        command += ["--output-file", str(output)]
        result = subprocess.run(
            command, cwd=project.root, input=lab, capture_output=True, text=True, env=env, check=False, timeout=600
        )
        body = output.read_text(encoding="utf-8") if result.returncode == 0 else ""
    if result.returncode != 0:
        message = " ".join(result.stderr.split())
        message = message.removeprefix("error: ")
        raise LockError(
            f"The pip requirements could not be locked for Python {python}: {message[:900]}. Fix the version "
            "asked for (or the package name), then run `nbship lock` again."
        )
    header = [
        "# Written by nbship: `nbship lock` refreshes it, `nbship build` installs it with --require-hashes.",
        f"{_HEADER}{digest}",
        f"# nbship-platforms: {' '.join(wanted)}",
        f"# nbship-python: {python}",
    ]
    if exclude_newer:
        header.append(f"# nbship-exclude-newer: {exclude_newer}")
    path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    return PipLockResult(path, True, _count(body))


def _count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line[0].isspace() and "==" in line)
