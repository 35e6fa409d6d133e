"""Every change nbship-refresh (refresh.py) makes to the work folder, whole files or none, through
the folder's own temporary area; and how a path is, without following links.
Standard-library Python 3.8+ only."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable

if __package__:  # imported by nbship's tests as nbship.payload.refresh_disk
    from .refresh_delivery import RECORD, RECORD_DIR, TEMP_DIR
else:  # run as /opt/nbship/bin/nbship-refresh, whose folder holds its modules
    from refresh_delivery import RECORD, RECORD_DIR, TEMP_DIR  # type: ignore[import-not-found,no-redef]


def path_kind(path: str) -> str:
    """'missing', 'dir' (a real folder), 'file' (a regular file), 'link' or 'other'."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class Disk:
    """Every change the refresh makes goes through here, and `step` comes before each: the points
    where a start can be cut short (the tests cut it at each of them)."""

    def __init__(self, work: str) -> None:
        self.work = work
        self.temp = os.path.join(work, TEMP_DIR)

    def step(self) -> None:
        """Called before every change."""

    def do(self, change: Callable[..., object], *paths: str) -> None:
        """One change: os.mkdir, os.unlink, os.rmdir, os.symlink or os.rename of `paths`."""
        self.step()
        change(*paths)

    def chmod(self, path: str, mode: int) -> None:
        self.step()
        os.chmod(path, mode)

    def clear_temp(self) -> None:
        """Removes what a start cut short left in nbship's own folder."""
        if os.path.isdir(self.temp) and not os.path.islink(self.temp):
            for name in os.listdir(self.temp):
                path = os.path.join(self.temp, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    self.do(os.unlink, path)
            self.do(os.rmdir, self.temp)
        elif os.path.lexists(self.temp):
            self.do(os.unlink, self.temp)
        record_dir = os.path.join(self.work, RECORD_DIR)
        for name in os.listdir(record_dir):
            if name.startswith(".delivered-"):  # an earlier nbship's temporary record
                self.do(os.unlink, os.path.join(record_dir, name))

    def _temp_file(self, folder: str, prefix: str) -> str:
        if folder == self.temp and not os.path.isdir(self.temp):
            self.do(os.mkdir, self.temp)
        self.step()
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
        os.close(fd)
        return tmp

    def copy(self, source: str, target: str, mode: int | None) -> None:
        """Writes `target` from `source` whole or not at all, with `mode` (else the source's)."""
        try:
            self._copy_via(self.temp, "copy-", source, target, mode)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another filesystem mounted inside the work folder: the temporary file goes beside.
            self._copy_via(os.path.dirname(target), ".nbship-", source, target, mode)

    def _copy_via(self, folder: str, prefix: str, source: str, target: str, mode: int | None) -> None:
        tmp = self._temp_file(folder, prefix)
        try:
            self.step()  # a cut here leaves a partial copy in .nbship/tmp, never in the user's folders
            shutil.copy2(source, tmp)
            if mode is not None:
                os.chmod(tmp, mode)
            self.step()
            os.replace(tmp, target)
        except OSError:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def write_record(self, text: str) -> None:
        tmp = self._temp_file(self.temp, "record-")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        self.step()
        os.replace(tmp, os.path.join(self.work, RECORD))
