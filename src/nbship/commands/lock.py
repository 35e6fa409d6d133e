"""Locking: the project's environment pinned to exact packages with hashes."""

from __future__ import annotations

from pathlib import Path

from nbship.lock.manage import LockOutcome, lock_project
from nbship.options import LockOptions
from nbship.project.detect import detect
from nbship.project.plan import python_of


def lock(*, path: Path, options: LockOptions | None = None) -> list[LockOutcome]:
    """Writes the project's locks (nbship.lock for environment.yml, requirements.lock for pip) unless
    current. A lock keeps every platform it covered, plus those asked for."""
    project = detect(path)
    return lock_project(project, options or LockOptions(), python=python_of(project).version)
