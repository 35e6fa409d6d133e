"""The three-way merge of nbship-refresh (refresh.py), file by file: what the image delivers now,
what it delivered before, and what is in the work folder; and the report of what it did.
Standard-library Python 3.8+ only."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

if __package__:  # imported by nbship's tests as nbship.payload.refresh_merge
    from .refresh_delivery import NOT_DELIVERED, Delivery, clean_rel, file_hash
    from .refresh_disk import Disk, path_kind, why
else:  # run as /opt/nbship/bin/nbship-refresh, whose folder holds its modules
    from refresh_delivery import NOT_DELIVERED, Delivery, clean_rel, file_hash  # type: ignore[import-not-found,no-redef]
    from refresh_disk import Disk, path_kind, why  # type: ignore[import-not-found,no-redef]

_MAX_LINES = 20  # report lines of one kind, before "and N more"


def beside_name(rel: str, taken: Callable[[str], bool]) -> str:
    """Where the image's version of a file the user changed goes: README.md -> README.from-image.md."""
    folder, _, name = rel.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as .env
        stem, dot, suffix = name, "", ""
    number = 1
    while True:
        tag = ".from-image" if number == 1 else f".from-image-{number}"
        candidate = f"{stem}{tag}{dot}{suffix}"
        candidate = f"{folder}/{candidate}" if folder else candidate
        if not taken(candidate):
            return candidate
        number += 1


class Report:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[str] = []
        self.removed: list[str] = []
        self.kept: list[str] = []  # the user's version kept, the image's beside it
        self.not_restored: list[str] = []
        self.problems: list[str] = []
        self.fill = ""  # "new": a first fill, which copies without comment; "resumed": one cut short before

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.fill == "resumed":
            out.append(
                f"finished filling the work folder, which an earlier start left half done: {len(self.added)} added"
            )
        elif self.fill != "new" and (self.added or self.updated or self.removed):
            out.append(
                f"refreshed the work folder from the image: {len(self.added)} added, "
                f"{len(self.updated)} updated, {len(self.removed)} removed (files you never changed)"
            )
        deleted = [
            f"{rel}: the image has a new version, but you deleted this file, so it stays deleted"
            for rel in self.not_restored
        ]
        for group in (self.kept, deleted, self.problems):
            out.extend(group[:_MAX_LINES])
            if len(group) > _MAX_LINES:
                out.append(f"... and {len(group) - _MAX_LINES} more like the line above")
        return out


def _parents(rel: str) -> list[str]:
    """a/b/c -> [a, a/b]"""
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class Merge:
    """One refresh of `work` from the image's `content`, given what was delivered `before`."""

    def __init__(self, content: str, work: str, now: Delivery, before: Delivery, disk: Disk, report: Report) -> None:
        self.content = content
        self.work = work
        self.now = now
        self.before = before
        self.disk = disk
        self.report = report
        self.reserved = frozenset(now.files)
        self.keep_before: set[str] = set()  # merged next time again: the record keeps what it had
        self.blocked: dict[str, list[str]] = {}  # a folder that is a link or a file -> items under it
        self._real_dirs: set[str] = set()

    def path(self, rel: str) -> str:
        return os.path.join(self.work, *rel.split("/"))

    def blocker(self, rel: str) -> str | None:
        """The first folder on the way to `rel` that is not a real folder (a link, a file)."""
        for prefix in _parents(rel):
            if prefix in self._real_dirs:
                continue
            kind = path_kind(self.path(prefix))
            if kind == "missing":
                return None
            if kind != "dir":
                return prefix
            self._real_dirs.add(prefix)
        return None

    def make_parents(self, rel: str) -> None:
        for prefix in _parents(rel):
            if prefix not in self._real_dirs:
                if path_kind(self.path(prefix)) == "missing":
                    self.disk.do(os.mkdir, self.path(prefix))
                self._real_dirs.add(prefix)

    def run(self) -> None:
        dropped = sorted(set(self.before.files) - set(self.now.files))
        if self.before.project == self.now.project:
            for rel in dropped:
                self.item(rel, self.drop)
            self.remove_emptied(dropped)
        self._real_dirs.clear()
        for rel in sorted(self.now.files):
            self.item(rel, self.merge)
        if self.before.partial:
            self.item("", lambda _: self.fill_extras())
        for prefix in sorted(self.blocked):
            self.item(prefix, self.report_blocked)

    def item(self, rel: str, action: Callable[[str], None]) -> None:
        """One item merged on its own: a failure is reported, and the rest goes on."""
        try:
            action(rel)
        except OSError as exc:
            self.keep_before.add(rel)
            self.report.problems.append(f"{rel or 'the work folder'}: not refreshed ({why(exc)}); left as it is")

    def drop(self, rel: str) -> None:
        before = self.before.entry(rel)
        assert before is not None
        blocker = self.blocker(rel)
        if blocker is not None:
            if path_kind(self.path(blocker)) != "file":  # a folder the user replaced by a file: already gone
                self.blocked.setdefault(blocker, []).append(rel)
                self.keep_before.add(rel)
            return
        path = self.path(rel)
        if path_kind(path) == "file" and file_hash(path) == before[0]:
            self.disk.do(os.unlink, path)
            self.report.removed.append(rel)

    def remove_emptied(self, dropped: list[str]) -> None:
        """Folders the image no longer has go once nothing is left in them."""
        keep = {prefix for rel in self.now.files for prefix in _parents(rel)}
        folders = {prefix for rel in dropped for prefix in _parents(rel)} - keep
        for prefix in sorted(folders, key=lambda p: (-p.count("/"), p)):
            path = self.path(prefix)
            try:
                if self.blocker(prefix) is None and path_kind(path) == "dir" and not os.listdir(path):
                    self.disk.do(os.rmdir, path)
            except OSError:
                continue  # an empty folder left behind is untidy, not lost work

    def merge(self, rel: str) -> None:
        now = self.now.entry(rel)
        assert now is not None
        before = self.before.entry(rel)
        partial = self.before.partial
        blocker = self.blocker(rel)
        if blocker is not None:
            # A link is never followed; under a file of the user's, what never arrived comes once it is moved.
            if path_kind(self.path(blocker)) != "file" or before is None or partial:
                self.blocked.setdefault(blocker, []).append(rel)
                self.keep_before.add(rel)
            elif before[0] != now[0]:
                self.report.not_restored.append(rel)
            return
        path = self.path(rel)
        source = os.path.join(self.content, *rel.split("/"))
        try:
            info: os.stat_result | None = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is None:
            if before is None or partial:
                self.make_parents(rel)
                self.disk.copy(source, path, now[1])
                self.report.added.append(rel)
            elif before[0] != now[0]:
                self.report.not_restored.append(rel)
            return
        if stat.S_ISREG(info.st_mode):
            current = file_hash(path)
            if current == now[0]:
                self.merge_mode(rel, path, info, now[1], before)
                return
            if before is not None and current == before[0]:
                self.disk.copy(source, path, now[1])
                self.report.updated.append(rel)
                return
            if before is not None and before[0] == now[0] and not partial:
                self.merge_mode(rel, path, info, now[1], before)
                return  # only the user changed it
        elif before is not None and before[0] == now[0] and not partial:
            return  # the user made it a folder or a link, and the image did not change it
        self.put_beside(rel, source, now, folder=stat.S_ISDIR(info.st_mode))

    def merge_mode(
        self, rel: str, path: str, info: os.stat_result, mode: int | None, before: tuple[str, int | None] | None
    ) -> None:
        """A change of mode in the image arrives unless the user changed the mode too."""
        current = info.st_mode & 0o777
        if mode is None or before is None or before[1] is None or current == mode or current != before[1]:
            return
        self.disk.chmod(path, mode)
        self.report.updated.append(rel)

    def put_beside(self, rel: str, source: str, now: tuple[str, int | None], *, folder: bool) -> None:
        beside = beside_name(rel, lambda candidate: self.taken(candidate, now[0]))
        if path_kind(self.path(beside)) == "missing":
            self.disk.copy(source, self.path(beside), now[1])
        if folder:
            self.report.kept.append(f"kept your folder {rel}; the image's file of that name is in {beside}")
        else:
            self.report.kept.append(f"kept your version of {rel}; the image's new version is in {beside}")

    def taken(self, rel: str, wanted: str) -> bool:
        """A name is free when nothing is there, or when it already holds exactly the wanted bytes.
        The image's own names are never free: its `a.from-image.c` is not the place for a.c's version."""
        if rel in self.reserved:
            return True
        kind = path_kind(self.path(rel))
        try:
            return kind != "missing" and not (kind == "file" and file_hash(self.path(rel)) == wanted)
        except OSError:
            return True

    def fill_extras(self) -> None:
        """A first fill also brings the image's empty folders and its links (the manifest has neither)."""
        for folder, dirs, names in os.walk(self.content):
            rel_folder = os.path.relpath(folder, self.content).replace(os.sep, "/")
            if rel_folder == ".":
                rel_folder = ""
                dirs[:] = [d for d in dirs if d not in NOT_DELIVERED]
            dirs.sort()
            for name in [*dirs, *names]:
                rel = f"{rel_folder}/{name}" if rel_folder else name
                source = os.path.join(folder, name)
                if not clean_rel(rel) or self.blocker(rel) is not None or path_kind(self.path(rel)) != "missing":
                    continue
                if os.path.islink(source):
                    self.make_parents(rel)
                    self.disk.do(os.symlink, os.readlink(source), self.path(rel))
                elif os.path.isdir(source) and not os.listdir(source):
                    self.make_parents(rel)
                    self.disk.do(os.mkdir, self.path(rel))

    def report_blocked(self, prefix: str) -> None:
        items = self.blocked[prefix]
        path = self.path(prefix)
        which = f"{len(items)} file(s) of the image under {prefix} ({items[0]}{', ...' if len(items) > 1 else ''})"
        if path_kind(path) == "link":
            line = f"{prefix} is a link (to {os.readlink(path)}), and nbship never follows links: {which} were left"
        else:
            line = f"{prefix} is a file of yours where the image has a folder: {which} could not be delivered"
        self.report.problems.append(f"{line}; move {prefix} away to get them")

    def record(self) -> Delivery:
        """What the next start merges against: the image's delivery, except where this one did not get through."""
        files = dict(self.now.files)
        modes = dict(self.now.modes)
        for rel in self.keep_before:
            entry = self.before.entry(rel)
            files.pop(rel, None)
            modes.pop(rel, None)
            if entry is not None:
                files[rel] = entry[0]
                if entry[1] is not None:
                    modes[rel] = entry[1]
        # A fill stays "under way" until every file got through.
        return Delivery(files, modes, self.now.project, self.before.partial and bool(self.keep_before))
