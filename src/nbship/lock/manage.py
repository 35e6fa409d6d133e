"""Locks for a detected project: which lock it has (conda's nbship.lock or pip's requirements.lock),
writing it on request or when a build finds it missing or stale, and the secrets a build of a
locked conda environment needs.

The conda modules (the rattler worker, YAML, the local channels' server, asyncio) are imported only
for a project with an environment.yml: every build of a pip project reads this module."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nbship import contract as c
from nbship.errors import InputFileError, ProjectError, UsageError
from nbship.lock import pip as pip_lock
from nbship.options import DEFAULT_PLATFORM, LockOptions
from nbship.project.detect import Project
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.project.kinds.environment_yml import LOCK_NAME, CondaInput
from nbship.project.kinds.pipfile import PipfileInput
from nbship.project.text import read_text
from nbship.reporter import Reporter


@dataclass(frozen=True)
class LockOutcome:
    path: Path
    source: str  # the file the lock was made from, as the project names it
    written: bool  # False: the lock was current and left as it was
    packages: dict[str, int]  # platform(s) -> number of locked packages
    notes: tuple[str, ...] = ()  # how nbship read the environment file, said once it is locked
    written_by: str = "nbship"  # a Pipfile.lock is pipenv's: nbship uses it and never writes it


def resolve_channel_auth(explicit: Path | None) -> Path | None:
    """--channel-auth, else the file rattler and pixi read credentials from (RATTLER_AUTH_FILE),
    checked to be what rattler reads: a JSON object of host → credentials."""
    from_env = os.environ.get(c.RATTLER_AUTH_ENV)
    if explicit is None and not from_env:
        return None
    path = (explicit or Path(from_env or "")).expanduser()
    given = f"--channel-auth {path}" if explicit is not None else f"{c.RATTLER_AUTH_ENV}={path}"
    if not path.is_file():
        raise UsageError(f"The channel credentials file {path} ({given}) does not exist or is not a file.")
    try:
        data = json.loads(read_text(path, str(path)))
    except InputFileError as exc:
        raise UsageError(f"The channel credentials file ({given}) cannot be read: {exc.message}") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(
            f"The channel credentials file {path} ({given}) is not valid JSON ({' '.join(str(exc).split())[:200]}). "
            'Write it as {"conda.example.org": {"BasicHTTP": {"username": "u", "password": "p"}}}.'
        ) from exc
    if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
        raise UsageError(
            f"The channel credentials file {path} ({given}) must map each host to its credentials, like "
            '{"conda.example.org": {"BasicHTTP": {"username": "u", "password": "p"}}}.'
        )
    return path


def lock_project(project: Project, options: LockOptions, *, python: str) -> list[LockOutcome]:
    conda = project.input(CondaInput)
    if conda is not None:
        from nbship.lock import conda as conda_lock

        result = conda_lock.write_lock(
            conda,
            python=python,
            platforms=options.platforms,
            exclude_newer=options.exclude_newer,
            update=options.update,
            auth_file=resolve_channel_auth(options.channel_auth),
        )
        return [LockOutcome(result.path, conda.display, result.solved, result.packages, result.notes)]
    pipfile = project.input(PipfileInput)
    if pipfile is not None and pipfile.lock is not None:
        # As on Binder, a Pipfile.lock is the lock: pipenv writes it, nbship installs it as it is.
        if options.update or options.exclude_newer:
            raise UsageError(
                f"{pipfile.display} is pipenv's lock, which nbship installs as it is and never rewrites: "
                "run `pipenv lock` to solve it again (or delete it, and `nbship lock` pins the Pipfile)."
            )
        counts = {"default+develop": pipfile.data.hashed}
        return [LockOutcome(pipfile.lock, pipfile.display, False, counts, written_by="pipenv")]
    if not pip_lock.has_pip_inputs(project):
        raise ProjectError(
            f"{project.root} has nothing to lock. nbship locks conda environments (environment.yml) and "
            "pip requirements (requirements.txt, a Pipfile, pyproject.toml or setup.py)."
        )
    pip = pip_lock.write_pip_lock(
        project, python=python, platforms=options.platforms, exclude_newer=options.exclude_newer, update=options.update
    )
    source = next(iter(pip_lock.lock_sources(project)))
    return [LockOutcome(pip.path, project.rel(source), pip.solved, {"+".join(pip.platforms): pip.packages})]


def _own_dockerfile_mentions(project: Project, text: str) -> bool:
    own = project.input(DockerfileInput)
    assert own is not None
    return text in own.path.read_text(encoding="utf-8", errors="replace")


def _uses_nbship_locks(project: Project) -> bool:
    # The project's own Dockerfile decides how its environment is installed; one written by
    # `nbship init` for a conda project installs nbship.lock, which is then kept current.
    return project.input(DockerfileInput) is None or _own_dockerfile_mentions(project, LOCK_NAME)


def ensure_locks(project: Project, *, python: str, channel_auth: Path | None, reporter: Reporter) -> None:
    """Builds install from locks: a missing or outdated one is written first, and the user told."""
    if not _uses_nbship_locks(project):
        return
    conda = project.input(CondaInput)
    if conda is not None:
        from nbship.lock import conda as conda_lock

        state = conda_lock.lock_state(conda, python=python)
        if state == "current":
            return
        why = "there is none" if state == "missing" else f"{conda.display} changed since it was written"
        reporter.info(f"Locking {conda.display} first ({why}).")
        result = conda_lock.write_lock(conda, python=python, auth_file=resolve_channel_auth(channel_auth))
        for note in result.notes:
            reporter.info(note)
        reporter.info(f"Wrote {project.rel(result.path)}: {result.packages.get(DEFAULT_PLATFORM, 0)} packages.")
    elif pip_lock.has_pip_inputs(project) and pip_lock.pip_lock_state(project, python) == "stale":
        # A pip project is locked once the user runs `nbship lock`; from then on the lock follows its inputs.
        # A requirements.lock with nothing to lock it from is the user's own: installed as it is.
        path = pip_lock.pip_lock_path(project)
        reporter.info(f"Locking again: the requirements changed since {project.rel(path)} was written.")
        written = pip_lock.write_pip_lock(project, python=python)
        reporter.info(f"Wrote {project.rel(written.path)}: {written.packages} packages.")


@contextlib.contextmanager
def build_secrets(
    project: Project, *, channel_auth: Path | None, gateway: Callable[[], str]
) -> Iterator[tuple[tuple[str, Path], ...]]:
    """The extra BuildKit secrets of this build, valid while the context is open."""
    conda = project.input(CondaInput)
    own = project.input(DockerfileInput) is not None and not _own_dockerfile_mentions(project, c.CHANNEL_AUTH_SECRET)
    if conda is None or own:
        yield ()
        return
    from nbship.lock import channels as conda_channels

    with conda_channels.conda_secrets(
        conda, lock_display=project.rel(conda.lock_path), auth_file=resolve_channel_auth(channel_auth), gateway=gateway
    ) as secrets:
        yield secrets
