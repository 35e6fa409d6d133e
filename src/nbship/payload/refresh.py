"""The work-folder refresh that runs inside every nbship image at start-up.

It reaches the image as /opt/nbship/bin/nbship-refresh (one of nbship's support files) and is run
by the entrypoint, so the refresh happens wherever the image starts on a volume: `nbship up`, a
compose file, or a plain `docker run -v NAME:/home/jovyan/work`. It must run on the image's Python
(3.8 or newer) with the standard library only.

    nbship-refresh manifest CONTENT_DIR [PROJECT]  print what CONTENT_DIR delivers (JSON)
    nbship-refresh sync CONTENT_DIR MANIFEST WORK  bring WORK up to date with CONTENT_DIR

`sync` is a three-way merge per file between what the image delivers now (MANIFEST), what it
delivered the last time (WORK/.nbship/delivered.json) and what is in WORK now:
- untouched by the user: take the image's version (or remove it when the image dropped it, and
  the folder with it once empty); a change of mode alone arrives too;
- created or changed by the user: keep it; when the image changed it too, the image's version
  is written beside it (README.from-image.md) and reported;
- deleted by the user: stays deleted.
When the record names another project (a volume opened with another project's image), files the
new image lacks are never removed: they are that project's, not this image's to drop.

Nothing the user wrote is overwritten or deleted, and nothing outside WORK is touched: record
entries that are not clean relative paths are ignored, and links are never followed. One item
that cannot be merged is reported on its own and tried again at the next start. Files are written
through WORK/.nbship/tmp, so a start cut short leaves whole files and no debris, and the next
start finishes the job (a first fill records that it is under way before it copies anything).
A work folder that nbship never filled (a bind-mounted checkout) is left alone. The data folder
is a link into the image: large data is never copied or hashed at start-up.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable

RECORD_DIR = ".nbship"
RECORD = ".nbship/delivered.json"
TEMP_DIR = ".nbship/tmp"
FORMAT = 2
# Served from the image through a link rather than copied: large, and read-only there.
LINKED = ("data",)
# Top-level names that are never the image's files: nbship's own folder, the link to the data,
# and the folder ext4 keeps at the root of a volume.
_NOT_DELIVERED = (RECORD_DIR, "lost+found", *LINKED)
_MAX_JSON = 256 << 20  # a record larger than this is not one nbship wrote
_MAX_LINES = 20  # report lines of one kind, before "and N more"
_HEX = frozenset("0123456789abcdef")


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_rel(rel: object) -> bool:
    """A relative path that names something inside the work folder, and nothing of nbship's."""
    if not isinstance(rel, str) or not rel or len(rel) > 4096 or "\0" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    if parts[0] in _NOT_DELIVERED:
        return False
    return all(part not in ("", ".", "..") for part in parts)


class Delivery:
    """What an image delivers (its manifest) or delivered (the work folder's record)."""

    def __init__(self, files: dict[str, str], modes: dict[str, int], project: str = "", partial: bool = False) -> None:
        self.files = files
        self.modes = modes
        self.project = project
        # A first fill under way: a missing file was never delivered, rather than deleted.
        self.partial = partial
        self.ignored = 0  # entries that were not a clean path inside the folder with a sha256

    def entry(self, rel: str) -> tuple[str, int | None] | None:
        """(sha256, permission bits or None when not recorded), or None when not delivered."""
        digest = self.files.get(rel)
        return None if digest is None else (digest, self.modes.get(rel))

    def dump(self) -> str:
        data: dict[str, object] = {
            "format": FORMAT,
            "project": self.project,
            "files": self.files,
            "modes": {rel: format(mode, "o") for rel, mode in self.modes.items()},
        }
        if self.partial:
            data["partial"] = True
        return json.dumps(data, indent=0, sort_keys=True) + "\n"


def parse_delivery(data: object) -> Delivery | None:
    """A manifest or record as JSON gave it; entries that are not clean are dropped, not trusted."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    files = {
        rel: digest
        for rel, digest in data["files"].items()
        if clean_rel(rel) and isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest)
    }
    raw_modes = data.get("modes")
    modes: dict[str, int] = {}
    if isinstance(raw_modes, dict):
        for rel, text in raw_modes.items():
            if rel in files and isinstance(text, str) and 0 < len(text) <= 4 and set(text) <= set("01234567"):
                modes[rel] = int(text, 8) & 0o777
    project = data.get("project")
    found = Delivery(files, modes, project if isinstance(project, str) else "", data.get("partial") is True)
    found.ignored = len(data["files"]) - len(files)
    return found


def build_manifest(content: str, project: str = "") -> Delivery:
    """Every regular file under `content` (not through links), with its hash and mode."""
    files: dict[str, str] = {}
    modes: dict[str, int] = {}
    for folder, dirs, names in os.walk(content):
        rel_folder = os.path.relpath(folder, content)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in _NOT_DELIVERED]
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            rel = (name if rel_folder == "." else os.path.join(rel_folder, name)).replace(os.sep, "/")
            if stat.S_ISREG(info.st_mode) and clean_rel(rel):
                files[rel] = file_hash(path)
                modes[rel] = info.st_mode & 0o777
    return Delivery(files, modes, project)


class Unreadable(Exception):
    """A manifest or record that cannot be used, and why (for the report)."""


def read_json(path: str) -> tuple[object, str]:
    """The parsed JSON of a regular file, and its text; raises Unreadable saying why not."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("it is not a file")
        if info.st_size > _MAX_JSON:
            raise Unreadable("it is far too large")
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        return json.loads(text), text
    except UnicodeDecodeError:
        raise Unreadable("it is not UTF-8 text") from None
    except RecursionError:
        raise Unreadable("it is nested too deeply") from None
    except ValueError:
        raise Unreadable("it is not JSON") from None
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None


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


def _kind(path: str) -> str:
    """'missing', 'dir' (a real folder), 'file' (a regular file), 'link' or 'other'."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _parents(rel: str) -> list[str]:
    """a/b/c -> [a, a/b]"""
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


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
            kind = _kind(self.path(prefix))
            if kind == "missing":
                return None
            if kind != "dir":
                return prefix
            self._real_dirs.add(prefix)
        return None

    def make_parents(self, rel: str) -> None:
        for prefix in _parents(rel):
            if prefix not in self._real_dirs:
                if _kind(self.path(prefix)) == "missing":
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
            self.report.problems.append(f"{rel or 'the work folder'}: not refreshed ({_why(exc)}); left as it is")

    def drop(self, rel: str) -> None:
        before = self.before.entry(rel)
        assert before is not None
        blocker = self.blocker(rel)
        if blocker is not None:
            if _kind(self.path(blocker)) != "file":  # a folder the user replaced by a file: already gone
                self.blocked.setdefault(blocker, []).append(rel)
                self.keep_before.add(rel)
            return
        path = self.path(rel)
        if _kind(path) == "file" and file_hash(path) == before[0]:
            self.disk.do(os.unlink, path)
            self.report.removed.append(rel)

    def remove_emptied(self, dropped: list[str]) -> None:
        """Folders the image no longer has go once nothing is left in them."""
        keep = {prefix for rel in self.now.files for prefix in _parents(rel)}
        folders = {prefix for rel in dropped for prefix in _parents(rel)} - keep
        for prefix in sorted(folders, key=lambda p: (-p.count("/"), p)):
            path = self.path(prefix)
            try:
                if self.blocker(prefix) is None and _kind(path) == "dir" and not os.listdir(path):
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
            if _kind(self.path(blocker)) != "file" or before is None or partial:
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
        if _kind(self.path(beside)) == "missing":
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
        kind = _kind(self.path(rel))
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
                dirs[:] = [d for d in dirs if d not in _NOT_DELIVERED]
            dirs.sort()
            for name in [*dirs, *names]:
                rel = f"{rel_folder}/{name}" if rel_folder else name
                source = os.path.join(folder, name)
                if not clean_rel(rel) or self.blocker(rel) is not None or _kind(self.path(rel)) != "missing":
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
        if _kind(path) == "link":
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


def _link_shared(content: str, work: str, disk: Disk) -> None:
    for name in LINKED:
        link = os.path.join(content, name)
        target = os.path.join(work, name)
        if os.path.islink(link) and not os.path.lexists(target):
            disk.do(os.symlink, os.readlink(link), target)


_ASIDE = os.path.basename(RECORD) + ".unreadable-"
_SAME = Delivery({}, {})  # the image delivered the same files last time


def _set_aside(record: str, disk: Disk) -> str:
    """Moves a record that is not a file (a folder, say) out of the way; returns its new name."""
    number = 1
    while os.path.lexists(f"{record}.unreadable-{number}"):
        number += 1
    disk.do(os.rename, record, f"{record}.unreadable-{number}")
    return f"{RECORD}.unreadable-{number}"


def _delivered(work: str, kind: str, now: Delivery, manifest_text: str, disk: Disk, report: Report) -> Delivery | None:
    """What the image delivered before: _SAME, or None for a folder nbship never filled (left alone)."""
    record_path = os.path.join(work, RECORD)
    if not os.path.lexists(record_path):
        if kind == "dir" and any(name.startswith(_ASIDE) for name in os.listdir(os.path.join(work, RECORD_DIR))):
            # An unreadable record was set aside by a start that was cut short before it wrote a new one.
            report.problems.append(f"{RECORD} was unreadable; every file already in the work folder is kept as yours")
            return Delivery({}, {}, now.project, partial=True)
        if any(name not in ("lost+found", RECORD_DIR) for name in os.listdir(work)):
            return None  # not a folder nbship filled: the user's own files, left exactly as they are
        # A first fill: recorded as under way before any file is copied, so that a start cut
        # short is completed by the next one instead of leaving a folder that looks like the user's.
        report.fill = "new"
        if kind == "missing":
            disk.do(os.mkdir, os.path.join(work, RECORD_DIR))
        before = Delivery(now.files, now.modes, now.project, partial=True)
        disk.write_record(before.dump())
        return before
    try:
        record_data, record_text = read_json(record_path)
        if record_text == manifest_text:
            return _SAME
        found = parse_delivery(record_data)
        if found is None:
            raise Unreadable("it is not a record of nbship's")
    except Unreadable as exc:
        aside = ""
        if _kind(record_path) not in ("file", "missing"):
            aside = f", and was moved aside to {_set_aside(record_path, disk)}"
        report.problems.append(
            f"{RECORD} could not be read ({exc}){aside}; every file already in the work folder is kept as yours"
        )
        return Delivery({}, {}, now.project, partial=True)
    report.fill = "resumed" if found.partial else ""
    if found.ignored:
        report.problems.append(
            f"{RECORD}: {found.ignored} of its entries were ignored (each must be a path inside the work "
            "folder with the sha256 of its file)"
        )
    return found


def sync(content: str, manifest_path: str, work: str, disk: Disk | None = None) -> list[str]:
    """Brings `work` up to date with the image; returns the report lines (empty: nothing to say)."""
    disk = disk or Disk(work)
    try:
        data, manifest_text = read_json(manifest_path)
        now = parse_delivery(data)
        if now is None:
            raise Unreadable("it is not a manifest of nbship's")
    except Unreadable as exc:
        return [f"{manifest_path} is unreadable ({exc}); the work folder was not refreshed"]
    kind = _kind(os.path.join(work, RECORD_DIR))
    if kind not in ("missing", "dir"):
        return [
            f"{RECORD_DIR} in the work folder is not a folder (a file or a link), so nbship cannot keep its "
            f"record there and the work folder was not refreshed; move {RECORD_DIR} away to let it"
        ]
    if kind == "dir":
        disk.clear_temp()
    report = Report()
    before = _delivered(work, kind, now, manifest_text, disk, report)
    if before is None:
        return []
    if before is _SAME:
        _link_shared(content, work, disk)
        return []  # the usual start
    merge = Merge(content, work, now, before, disk, report)
    merge.run()
    try:
        _link_shared(content, work, disk)
    except OSError as exc:
        report.problems.append(f"{LINKED[0]}: the link to the image's data could not be made ({_why(exc)})")
    text = merge.record().dump() if merge.keep_before else manifest_text
    try:
        disk.write_record(text)
        disk.clear_temp()
    except OSError as exc:
        report.problems.append(f"{RECORD} could not be written ({_why(exc)}); the next start merges again")
    return report.lines()


def main(argv: list[str]) -> int:
    if len(argv) in (2, 3) and argv[0] == "manifest":
        sys.stdout.write(build_manifest(argv[1], argv[2] if len(argv) == 3 else "").dump())
        return 0
    if len(argv) == 4 and argv[0] == "sync":
        try:
            lines = sync(argv[1], argv[2], argv[3])
        except Exception as exc:  # the server must still start; the entrypoint says so
            sys.stderr.write(f"nbship: the refresh stopped: {type(exc).__name__}: {exc}\n")
            return 1
        for line in lines:
            sys.stderr.write(f"nbship: {line}\n")
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
