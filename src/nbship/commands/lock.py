"""Locking: the project's environment pinned to exact packages with hashes."""

from __future__ import annotations

from nbship.lock.manage import LockOutcome, lock_project
from nbship.options import LockOptions
from nbship.project.plan import python_of
from nbship.reporter import Reporter
from nbship.sources.open import ProjectPath, open_project


def lock(
    *, path: ProjectPath, options: LockOptions | None = None, reporter: Reporter | None = None
) -> list[LockOutcome]:
    """Writes the project's locks (nbship.lock for environment.yml, requirements.lock for pip) unless
    current. A lock keeps every platform it covered, plus those asked for. For a fetched project
    they are written into nbship's copy of it, never into what was fetched."""
    project = open_project(path, reporter=reporter)
    return lock_project(project, options or LockOptions(), python=python_of(project).version)
