"""Locks for a detected project: which lock it has (conda's nbship.lock or pip's
requirements.lock), writing it on request or when a build finds it missing or stale, and the
secrets a build of a locked conda environment needs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nbship.conda import build_inputs as conda_build_inputs
from nbship.conda import lock as conda_lock
from nbship.errors import ProjectError
from nbship.pip import lock as pip_lock
from nbship.project.detect import Project
from nbship.reporter import Reporter


@dataclass(frozen=True)
class LockOptions:
    platforms: tuple[str, ...] = (conda_lock.DEFAULT_PLATFORM,)
    exclude_newer: str | None = None  # a date or ISO time: solve as if nothing newer had been published
    update: bool = False  # solve again even when the lock is current, taking the newest allowed versions
    channel_auth: Path | None = None  # conda channel credentials, rattler's JSON format


@dataclass(frozen=True)
class LockOutcome:
    path: Path
    source: str  # the file the lock was made from, as the project names it
    written: bool  # False: the lock was current and left as it was
    packages: dict[str, int]  # platform(s) -> number of locked packages


def resolve_channel_auth(explicit: Path | None) -> Path | None:
    """--channel-auth, else the file rattler and pixi read credentials from (RATTLER_AUTH_FILE)."""
    if explicit is not None:
        return explicit.expanduser()
    from_env = os.environ.get(conda_lock.AUTH_ENV)
    return Path(from_env).expanduser() if from_env else None


def _pip_source(project: Project) -> Path | None:
    if project.requirements is not None:
        return project.requirements.path
    return project.package.path if project.package is not None else None


def lock_project(project: Project, options: LockOptions) -> list[LockOutcome]:
    if project.conda is not None:
        result = conda_lock.write_lock(
            project.conda,
            platforms=options.platforms,
            exclude_newer=options.exclude_newer,
            update=options.update,
            auth_file=resolve_channel_auth(options.channel_auth),
        )
        return [LockOutcome(result.path, project.conda.display, result.solved, result.packages)]
    source = _pip_source(project)
    if source is None:
        raise ProjectError(
            f"{project.root} has nothing to lock. nbship locks conda environments (environment.yml) and "
            "pip requirements (requirements.txt, pyproject.toml or setup.py)."
        )
    pip = pip_lock.write_pip_lock(
        project, platforms=options.platforms, exclude_newer=options.exclude_newer, update=options.update
    )
    return [LockOutcome(pip.path, project.rel(source), pip.solved, {"+".join(options.platforms): pip.packages})]


def _own_dockerfile_mentions(project: Project, text: str) -> bool:
    assert project.dockerfile is not None
    return text in project.dockerfile.read_text(encoding="utf-8", errors="replace")


def ensure_locks(project: Project, *, channel_auth: Path | None, reporter: Reporter) -> None:
    """Builds install from locks: a missing or outdated one is written first, and the user told."""
    if project.dockerfile is not None and not _own_dockerfile_mentions(project, conda_lock.LOCK_NAME):
        # The project's own Dockerfile decides how its environment is installed; one written by
        # `nbship init` for a conda project installs nbship.lock, which is then kept current.
        return
    if project.ignored_requirements is not None and project.conda is not None:
        reporter.warn(
            f"{project.rel(project.ignored_requirements)} is not used: {project.conda.display} describes the "
            "environment (as on Binder). Put pip packages in its 'pip:' section."
        )
    if project.conda is not None:
        state = conda_lock.lock_state(project.conda)
        if state == "current":
            return
        why = "there is none" if state == "missing" else f"{project.conda.display} changed since it was written"
        reporter.info(f"Locking {project.conda.display} first ({why}).")
        # Relocking keeps every platform the lock covered, and adds the one builds need.
        covered = conda_lock.locked_platforms(conda_lock.lock_path(project.conda))
        platforms = tuple(dict.fromkeys((conda_lock.DEFAULT_PLATFORM, *covered)))
        result = conda_lock.write_lock(project.conda, platforms=platforms, auth_file=resolve_channel_auth(channel_auth))
        reporter.info(f"Wrote {project.rel(result.path)}: {result.packages.get('linux-64', 0)} packages.")
    elif pip_lock.pip_lock_state(project) == "stale":
        # A pip project is locked once the user runs `nbship lock`; from then on the lock follows its inputs.
        path = pip_lock.pip_lock_path(project)
        reporter.info(f"Locking again: the requirements changed since {project.rel(path)} was written.")
        written = pip_lock.write_pip_lock(project)
        reporter.info(f"Wrote {project.rel(written.path)}: {written.packages} packages.")


@contextlib.contextmanager
def build_secrets(
    project: Project, *, channel_auth: Path | None, gateway: Callable[[], str]
) -> Iterator[tuple[tuple[str, Path], ...]]:
    """The extra BuildKit secrets of this build, valid while the context is open."""
    own = project.dockerfile is not None and not _own_dockerfile_mentions(project, conda_build_inputs.AUTH_SECRET_ID)
    if project.conda is None or own:
        yield ()
        return
    lock_file = conda_lock.lock_path(project.conda)
    with conda_build_inputs.conda_secrets(
        lock_file, auth_file=resolve_channel_auth(channel_auth), gateway=gateway
    ) as secrets:
        yield secrets
