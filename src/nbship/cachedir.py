"""Where nbship keeps its own state: $NBSHIP_CACHE_DIR, else $XDG_CACHE_HOME/nbship, else ~/.cache/nbship.

Nothing of it is the user's: fetched sources (sources/cache.py) and the records of the last
builds (commands/fresh.py) and the rendered Dockerfiles (commands/rendered.py) can be deleted at
any time and are made again."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from nbship import contract as c


def cache_home() -> Path:
    explicit = os.environ.get(c.CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nbship"


@functools.cache
def own_digest() -> str:
    """What nbship's own installed files are, by their stats (an upgrade or an edit of an editable
    install changes it): part of the key of every cache entry that nbship's code decides."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(folder, name)
                line = f"{os.path.relpath(path, package)}\0{stat_key(path)}\n"
                digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def stat_key(path: str | Path) -> str:
    """A file as the caches key it (not through a link): its size, times, inode and mode; "-" when
    it is not there. Any write, replacement or chmod changes it."""
    try:
        st = os.lstat(path)
    except OSError:
        return "-"
    return f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_mode}"
