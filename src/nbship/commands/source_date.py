"""The clock of a build: SOURCE_DATE_EPOCH when set, else the project's last git commit time.

Every time an image records (the SBOM's creation time, and with --reproducible every file time and
the image's own dates) comes from here, so that the same commit gives the same image anywhere."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nbship import contract as c
from nbship.errors import UsageError


def git(root: Path, *args: str) -> str | None:
    """git's answer in `root`, or None (no git, not a repository, a refusal)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


@dataclass(frozen=True)
class SourceDate:
    epoch: int  # seconds since 1970-01-01 UTC
    origin: str  # where it came from, for messages: "SOURCE_DATE_EPOCH" or "the last git commit"


def source_date(root: Path) -> SourceDate | None:
    """SOURCE_DATE_EPOCH, else the commit time of HEAD in `root`; None when neither exists."""
    given = os.environ.get(c.SOURCE_DATE_EPOCH_ENV, "").strip()
    if given:
        if not given.isdigit():
            raise UsageError(
                f"{c.SOURCE_DATE_EPOCH_ENV}={given!r} is not a time: give seconds since 1970-01-01 UTC "
                f"(for example `export {c.SOURCE_DATE_EPOCH_ENV}=$(git log -1 --format=%ct)`), or unset it."
            )
        return SourceDate(int(given), c.SOURCE_DATE_EPOCH_ENV)
    committed = git(root, "log", "-1", "--format=%ct")
    if committed and committed.isdigit():
        return SourceDate(int(committed), "the last git commit")
    return None
