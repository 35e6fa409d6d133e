"""The work-folder refresh that runs inside every nbship image at start-up.

It reaches the image as /opt/nbship/bin/nbship-refresh (one of nbship's support files) and is run
by the entrypoint, so the
refresh happens wherever the image starts on a volume: `nbship up`, a compose file, or a plain
`docker run -v NAME:/home/jovyan/work`. It must run on the image's Python (3.8 or newer) with
the standard library only.

    nbship-refresh manifest CONTENT_DIR [PROJECT]  print what CONTENT_DIR delivers (JSON)
    nbship-refresh sync CONTENT_DIR MANIFEST WORK  bring WORK up to date with CONTENT_DIR

`sync` is a three-way merge per file between what the image delivers now (MANIFEST), what it
delivered the last time (WORK/.nbship/delivered.json) and what is in WORK now:
- untouched by the user: take the image's version (or remove it when the image dropped it);
- created or changed by the user: keep it; when the image changed it too, the image's version
  is written beside it (README.from-image.md) and reported;
- deleted by the user: stays deleted.
When the record names another project (a volume opened with another project's image), files the
new image lacks are never removed: they are that project's, not this image's to drop.
Nothing the user wrote is overwritten or deleted. A work folder that nbship never filled (a
bind-mounted checkout, a foreign volume) is left alone. The data folder is a symbolic link into
the image, so large data is never copied or hashed at start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile

RECORD_DIR = ".nbship"
RECORD = ".nbship/delivered.json"
FORMAT = 1
# Served from the image through a link rather than copied: large, and read-only there.
LINKED = ("data",)


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(content: str) -> dict[str, str]:
    """Every regular file under `content` (not through links) by its relative path, with its hash."""
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(content):
        rel_folder = os.path.relpath(folder, content)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in LINKED]
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            rel = name if rel_folder == "." else os.path.join(rel_folder, name)
            files[rel.replace(os.sep, "/")] = file_hash(path)
    return files


def dump_manifest(files: dict[str, str], project: str = "") -> str:
    return json.dumps({"format": FORMAT, "project": project, "files": files}, indent=0, sort_keys=True) + "\n"


def manifest_project(path: str) -> str:
    """The project a manifest was made for ("" when unknown or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return str(json.load(handle).get("project") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def load_manifest(path: str) -> dict[str, str] | None:
    """The files of a manifest, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict):
        return None
    return {str(k): str(v) for k, v in files.items()}


def beside_name(rel: str, taken: TakenCheck) -> str:
    """Where the image's version of a file the user changed goes: README.md -> README.from-image.md."""
    folder, name = os.path.split(rel)
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as .env
        stem, dot, suffix = name, "", ""
    number = 1
    while True:
        tag = ".from-image" if number == 1 else f".from-image-{number}"
        candidate = os.path.join(folder, f"{stem}{tag}{dot}{suffix}")
        if not taken(candidate):
            return candidate.replace(os.sep, "/")
        number += 1


class TakenCheck:
    """A name is free when nothing is there, or when it already holds exactly the wanted bytes."""

    def __init__(self, work: str, wanted_hash: str) -> None:
        self.work = work
        self.wanted_hash = wanted_hash

    def __call__(self, rel: str) -> bool:
        path = os.path.join(self.work, rel)
        if not os.path.lexists(path):
            return False
        return not (os.path.isfile(path) and not os.path.islink(path) and file_hash(path) == self.wanted_hash)


class Report:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[str] = []
        self.removed: list[str] = []
        self.kept: list[str] = []  # (user's version kept, image's version beside it) pairs, as text
        self.not_restored: list[str] = []

    def lines(self) -> list[str]:
        out: list[str] = []
        changed = len(self.added) + len(self.updated) + len(self.removed)
        if changed:
            out.append(
                f"refreshed the work folder from the image: {len(self.added)} added, "
                f"{len(self.updated)} updated, {len(self.removed)} removed (files you never changed)"
            )
        for text in self.kept:
            out.append(f"kept your version of {text}")
        for rel in self.not_restored:
            out.append(f"{rel}: the image has a new version, but you deleted this file, so it stays deleted")
        return out


def _copy_in(source: str, target: str) -> None:
    """Writes `target` from `source` atomically, so a start-up cut short never leaves half a file."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nbship-", dir=folder)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _is_user_file(path: str) -> bool:
    return os.path.isfile(path) and not os.path.islink(path)


def _merge_one(rel: str, content: str, work: str, before: str | None, now: str, report: Report) -> None:
    target = os.path.join(work, rel)
    source = os.path.join(content, rel)
    if not os.path.lexists(target):
        if before is None:
            _copy_in(source, target)
            report.added.append(rel)
        elif before != now:
            report.not_restored.append(rel)
        return
    current = file_hash(target) if _is_user_file(target) else None
    if current == now:
        return
    if current is not None and current == before:
        _copy_in(source, target)
        report.updated.append(rel)
        return
    if before == now:
        return  # only the user changed it
    beside = beside_name(rel, TakenCheck(work, now))
    if not os.path.exists(os.path.join(work, beside)):
        _copy_in(source, os.path.join(work, beside))
    report.kept.append(f"{rel}; the image's new version is in {beside}")


def _drop_one(rel: str, work: str, before: str, report: Report) -> None:
    target = os.path.join(work, rel)
    if _is_user_file(target) and file_hash(target) == before:
        os.unlink(target)
        report.removed.append(rel)


def _link_shared(content: str, work: str) -> None:
    for name in LINKED:
        link = os.path.join(content, name)
        target = os.path.join(work, name)
        if os.path.islink(link) and not os.path.lexists(target):
            os.symlink(os.readlink(link), target)


def _write_record(work: str, manifest_text: str) -> None:
    folder = os.path.join(work, RECORD_DIR)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".delivered-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(manifest_text)
    os.replace(tmp, os.path.join(work, RECORD))


def sync(content: str, manifest_path: str, work: str) -> list[str]:
    """Brings `work` up to date with the image; returns the report lines (empty: nothing to say)."""
    with open(manifest_path, encoding="utf-8") as handle:
        manifest_text = handle.read()
    now = load_manifest(manifest_path)
    if now is None:
        return [f"{manifest_path} is unreadable; the work folder was not refreshed"]
    entries = [name for name in os.listdir(work) if name != "lost+found"]
    if not entries:
        shutil.copytree(content, work, symlinks=True, dirs_exist_ok=True)
        _write_record(work, manifest_text)
        return []
    record = os.path.join(work, RECORD)
    if not os.path.exists(record):
        return []  # not a folder nbship filled: the user's own files, left exactly as they are
    with open(record, encoding="utf-8") as handle:
        if handle.read() == manifest_text:
            _link_shared(content, work)
            return []  # the image delivered the same files last time: the usual start
    before = load_manifest(record) or {}
    report = Report()
    for rel in sorted(now):
        _merge_one(rel, content, work, before.get(rel), now[rel], report)
    if manifest_project(record) == manifest_project(manifest_path):
        for rel in sorted(set(before) - set(now)):
            _drop_one(rel, work, before[rel], report)
    _link_shared(content, work)
    _write_record(work, manifest_text)
    return report.lines()


def main(argv: list[str]) -> int:
    if len(argv) in (2, 3) and argv[0] == "manifest":
        sys.stdout.write(dump_manifest(build_manifest(argv[1]), argv[2] if len(argv) == 3 else ""))
        return 0
    if len(argv) == 4 and argv[0] == "sync":
        for line in sync(argv[1], argv[2], argv[3]):
            sys.stderr.write(f"nbship: {line}\n")
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
