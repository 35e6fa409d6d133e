"""Where nbship keeps its own state: $NBSHIP_CACHE_DIR, else $XDG_CACHE_HOME/nbship, else ~/.cache/nbship.

Nothing of it is the user's: fetched sources (sources/cache.py) and the records of the last
builds (commands/fresh.py) can be deleted at any time and are made again."""

from __future__ import annotations

import os
from pathlib import Path

from nbship import contract as c


def cache_home() -> Path:
    explicit = os.environ.get(c.CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nbship"
