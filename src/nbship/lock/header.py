"""The header nbship writes at the top of every lock (nbship.lock and requirements.lock), read
back through the same model: comment lines that rattler's and pip's parsers both skip.

    # Written by nbship ...
    # nbship-inputs: <sha256 of what the lock was solved from>
    # nbship-platforms: linux-64 linux-aarch64
    # nbship-python: 3.11
    # nbship-exclude-newer: 2024-05-31

A lock is current while the digest of its inputs is unchanged, so a build checks it offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbship.options import DEFAULT_PLATFORM, PLATFORMS, Platform

_PREFIX = "# nbship-"
_INPUTS = "inputs"
_PLATFORMS = "platforms"
_PYTHON = "python"
_EXCLUDE = "exclude-newer"


@dataclass(frozen=True)
class LockHeader:
    inputs: str  # the digest of the inputs
    platforms: tuple[Platform, ...] = ()  # () when an older lock did not say (then: the lock's own)
    python: str | None = None
    exclude_newer: str | None = None

    def lines(self, title: str) -> list[str]:
        lines = [f"# {title}", f"{_PREFIX}{_INPUTS}: {self.inputs}"]
        if self.platforms:
            lines.append(f"{_PREFIX}{_PLATFORMS}: {' '.join(self.platforms)}")
        if self.python:
            lines.append(f"{_PREFIX}{_PYTHON}: {self.python}")
        if self.exclude_newer:
            lines.append(f"{_PREFIX}{_EXCLUDE}: {self.exclude_newer}")
        return lines


def read_header(path: Path) -> LockHeader | None:
    """The header of the lock at `path`; None when there is no readable nbship header."""
    values: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.startswith("#"):
                    break
                if line.startswith(_PREFIX):
                    key, _, value = line[len(_PREFIX) :].partition(":")
                    values[key.strip()] = value.strip()
    except (OSError, UnicodeDecodeError):
        return None
    if _INPUTS not in values:
        return None
    named = set(values.get(_PLATFORMS, "").split())
    return LockHeader(
        inputs=values[_INPUTS],
        platforms=tuple(platform for platform in PLATFORMS if platform in named),
        python=values.get(_PYTHON) or None,
        exclude_newer=values.get(_EXCLUDE) or None,
    )


def relock_platforms(asked: Iterable[Platform], locked: Iterable[Platform]) -> tuple[Platform, ...]:
    """The one relock rule: a lock keeps every platform it covered, plus those asked for, with the
    default platform first (builds on amd64 daemons need it)."""
    wanted = {*asked, *locked} or {DEFAULT_PLATFORM}
    return tuple(platform for platform in PLATFORMS if platform in wanted)
