"""requirements.txt / pyproject.toml → requirements.lock: exact versions with hashes for the
image's Python and platform, compiled on the host by uv. Builds then install it with
--require-hashes, so a package changed on the index fails the build instead of entering the image.

Like nbship.lock, the file starts with a digest of its inputs, so a changed requirements.txt is noticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbship.errors import LockError, ProjectError
from nbship.lock.header import LockHeader, read_header, relock_platforms
from nbship.options import DEFAULT_PLATFORM, Platform
from nbship.project.detect import Project
from nbship.project.kinds.package import PackageInput
from nbship.project.kinds.pip_lock import LOCK_NAME, lock_path
from nbship.project.kinds.pipfile import PipfileInput
from nbship.project.kinds.requirements import RequirementsInput
from nbship.project.plan import JUPYTER_PROVIDERS, jupyterlab_for
from nbship.project.text import read_text

# manylinux_2_28: wheels for glibc 2.28 and newer, which every supported base image has.
_UV_PLATFORMS = {"linux-64": "x86_64-manylinux_2_28", "linux-aarch64": "aarch64-manylinux_2_28"}

PipLockState = Literal["missing", "stale", "current"]


@dataclass(frozen=True)
class PipLockResult:
    path: Path
    solved: bool
    packages: int
    platforms: tuple[Platform, ...]


def pip_lock_path(project: Project) -> Path:
    return lock_path(project.config_dir)


def _pipfile(project: Project) -> PipfileInput | None:
    """A Pipfile that nbship locks: without a Pipfile.lock, which is the lock when there is one."""
    found = project.input(PipfileInput)
    return found if found is not None and found.lock is None else None


def has_pip_inputs(project: Project) -> bool:
    return any(project.input(kind) is not None for kind in (RequirementsInput, PackageInput)) or bool(_pipfile(project))


def lock_sources(project: Project) -> list[Path]:
    """The files a pip lock is made from, as the user names them: the Pipfile or requirements.txt first."""
    pipfile = _pipfile(project)
    requirements = project.input(RequirementsInput)
    package = project.input(PackageInput)
    first = [pipfile.files[0]] if pipfile is not None else []
    return first + [item.path for item in (requirements, package) if item is not None]


# What a path entry of a Pipfile is built from: its dependencies are locked, so they count too.
_PACKAGE_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def _pipfile_inputs(project: Project) -> tuple[list[Path], list[str]]:
    """The files a Pipfile's lock depends on, and the requirement lines uv compiles from it."""
    pipfile = _pipfile(project)
    if pipfile is None:
        return [], []
    files = [pipfile.files[0]]
    for local in pipfile.local:
        folder = project.root / local.path
        files.extend(folder / name for name in _PACKAGE_FILES if (folder / name).is_file())
    lines = [*pipfile.data.lines, *(" ".join(local.args()) for local in pipfile.local)]
    return files, lines


def _inputs(project: Project) -> list[Path]:
    files: list[Path] = _pipfile_inputs(project)[0]
    requirements = project.input(RequirementsInput)
    if requirements is not None:
        if requirements.needs_source:
            raise ProjectError(
                f"{project.rel(requirements.path)} installs a local folder ('.', '-e .' or a path), "
                "which has no fixed hash to lock. Lock the project's dependencies instead: list them in "
                "pyproject.toml (nbship installs the project itself after the lock), then run `nbship lock`."
            )
        files.extend(requirements.files)
    package = project.input(PackageInput)
    if package is not None:
        files.append(package.path)
    return files


def _jupyterlab(project: Project, python: str) -> str | None:
    requirements = project.input(RequirementsInput)
    package = project.input(PackageInput)
    pipfile = _pipfile(project)
    names = requirements.names if requirements else frozenset()
    package_names = package.dependency_names if package else frozenset()
    if (names | package_names | (pipfile.provides() if pipfile else frozenset())) & JUPYTER_PROVIDERS:
        return None
    return jupyterlab_for(python)


def inputs_digest(project: Project, python: str, platforms: Sequence[str], exclude_newer: str | None) -> str:
    files = {project.rel(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in _inputs(project)}
    payload = {
        "files": files,
        "python": python,
        "platforms": sorted(platforms),
        "jupyterlab": _jupyterlab(project, python),
        "exclude_newer": exclude_newer,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _platforms(header: LockHeader | None) -> tuple[Platform, ...]:
    # Locks written before the platforms were recorded were for linux-64.
    return (header.platforms or (DEFAULT_PLATFORM,)) if header else ()


def pip_lock_state(project: Project, python: str) -> PipLockState:
    path = pip_lock_path(project)
    if not path.is_file():
        return "missing"
    header = read_header(path)
    if header is None:
        return "stale"
    digest = inputs_digest(project, python, _platforms(header), header.exclude_newer)
    return "current" if header.inputs == digest else "stale"


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency of nbship
        raise LockError("uv is not installed next to nbship; reinstall nbship (`pip install nbship`).") from None
    return str(find_uv_bin())


def write_pip_lock(
    project: Project,
    *,
    python: str,
    platforms: Sequence[Platform] = (DEFAULT_PLATFORM,),
    exclude_newer: str | None = None,
    update: bool = False,
) -> PipLockResult:
    """Compiles requirements.lock unless it is current; it keeps every platform it covered."""
    path = pip_lock_path(project)
    header = read_header(path) if path.is_file() else None
    wanted = relock_platforms(platforms, _platforms(header))
    if exclude_newer is None and not update and header is not None:
        exclude_newer = header.exclude_newer
    digest = inputs_digest(project, python, wanted, exclude_newer)
    if not update and header is not None and header.inputs == digest:
        return PipLockResult(path, False, _count(read_text(path, project.rel(path))), wanted)
    command = [uv_binary(), "pip", "compile", "--quiet", "--no-header", "--generate-hashes", "--python-version", python]
    # One platform: resolved exactly for it. Several: one universal resolution, with markers.
    command += ["--python-platform", _UV_PLATFORMS[wanted[0]]] if len(wanted) == 1 else ["--universal"]
    if exclude_newer:
        command += ["--exclude-newer", exclude_newer]
    if update:
        command.append("--upgrade")
    pipfile_files, pipfile_lines = _pipfile_inputs(project)
    command += [project.rel(file) for file in _inputs(project) if file not in pipfile_files]
    lab = _jupyterlab(project, python)
    # A Pipfile's specs and JupyterLab's pin are read from stdin: resolved with the rest, no temp path in the output.
    stdin = "".join(f"{line}\n" for line in (*pipfile_lines, *([lab] if lab else [])))
    if stdin:
        command.append("-")
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    with tempfile.TemporaryDirectory(prefix="nbship-piplock-") as tmp:
        output = Path(tmp) / LOCK_NAME
        if path.is_file() and not update:
            # uv keeps the versions already in its output file where the requirements still allow them.
            output.write_bytes(path.read_bytes())
        command += ["--output-file", str(output)]
        before = _egg_info(project.root)
        try:
            result = subprocess.run(
                command,
                cwd=project.root,
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=600,
            )
        finally:
            # Reading a setup.py's metadata makes setuptools write NAME.egg-info beside it: not the user's.
            for folder in _egg_info(project.root) - before:
                shutil.rmtree(folder, ignore_errors=True)
        body = _without_local(output.read_text(encoding="utf-8")) if result.returncode == 0 else ""
    if result.returncode != 0:
        message = _uv_error(result.stderr)
        read = [*lock_sources(project), *([path] if path.is_file() and not update else [])]
        sources = " and ".join(project.rel(file) for file in read)
        raise LockError(
            f"The pip requirements of {sources} could not be locked for Python {python}: {message[:900]}. Fix "
            "the version asked for (or the package name), then run `nbship lock` again."
        )
    written = LockHeader(inputs=digest, platforms=wanted, python=python, exclude_newer=exclude_newer)
    title = "Written by nbship: `nbship lock` refreshes it, `nbship build` installs it with --require-hashes."
    path.write_text("\n".join(written.lines(title)) + "\n" + body, encoding="utf-8")
    return PipLockResult(path, True, _count(body), wanted)


def _uv_error(stderr: str) -> str:
    """uv's error on one line: its own lines, and of a build's output (a setup.py's traceback, say)
    only the last line, which says what went wrong."""
    own: list[str] = []
    output: list[str] = []
    for line in stderr.splitlines():
        if line.strip() in {"[stdout]", "[stderr]"} or output:
            output.append(line)
        elif not line.startswith("hint:"):
            own.append(line)
    last = next((line.strip() for line in reversed(output) if line.strip() and not line.startswith(("hint:", "["))), "")
    return " ".join(" ".join([*own, last]).split()).removeprefix("error: ")


def _egg_info(root: Path) -> set[Path]:
    return {path for pattern in ("*.egg-info", "*/*.egg-info") for path in root.glob(pattern) if path.is_dir()}


def _without_local(body: str) -> str:
    """uv's output without the project's own paths (`-e .`): they have no hash, and are installed
    from the project's sources after the lock, with --no-deps."""
    kept: list[str] = []
    skipping = False
    for line in body.splitlines(keepends=True):
        if not line[:1].isspace():
            skipping = line.startswith(("-e ", ".", "/", "file:"))
        if not skipping:
            kept.append(line)
    return "".join(kept)


def _count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line[0].isspace() and "==" in line)
