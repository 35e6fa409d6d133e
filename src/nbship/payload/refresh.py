"""The work-folder refresh that runs inside every nbship image at start-up.

It reaches the image as /opt/nbship/bin/nbship-refresh (one of nbship's support files) and is run
by the entrypoint, so the refresh happens wherever the image starts on a volume: `nbship up`, a
compose file, or a plain `docker run -v NAME:/home/jovyan/work`. It must run on the image's Python
(3.8 or newer) with the standard library only.

    nbship-refresh manifest CONTENT_DIR [PROJECT]  print what CONTENT_DIR delivers (JSON)
    nbship-refresh sync CONTENT_DIR MANIFEST WORK  bring WORK up to date with CONTENT_DIR
    nbship-refresh split [--from CONTEXT --skip REL... --data-link DIR] CONTENT_DIR PROJECT
                         MANIFEST STABLE LAST [REL ...]
                                                   (copy CONTEXT into CONTENT_DIR without the
                                                   REL to skip, link data/ to DIR), write the
                                                   manifest to MANIFEST, then move the files REL
                                                   into STABLE and the notebooks into LAST (the
                                                   build's layers)

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

import argparse
import os
import sys

# The modules beside this file: as nbship.payload's in nbship's tests, as plain modules in the
# image, where Python puts this script's folder (/opt/nbship/bin) first on the path.
if __package__:
    from .refresh_delivery import (
        LINKED,
        RECORD,
        RECORD_DIR,
        Delivery,
        Unreadable,
        build_manifest,
        clean_rel,
        copy_project,
        file_hash,
        parse_delivery,
        read_json,
        split_layers,
    )
    from .refresh_disk import Disk, path_kind, why
    from .refresh_merge import Merge, Report, beside_name
else:
    from refresh_delivery import (  # type: ignore[import-not-found,no-redef]
        LINKED,
        RECORD,
        RECORD_DIR,
        Delivery,
        Unreadable,
        build_manifest,
        clean_rel,
        copy_project,
        file_hash,
        parse_delivery,
        read_json,
        split_layers,
    )
    from refresh_disk import Disk, path_kind, why  # type: ignore[import-not-found,no-redef]
    from refresh_merge import Merge, Report, beside_name  # type: ignore[import-not-found,no-redef]

# What callers (the entrypoint, nbship's tests) reach through this module.
__all__ = [
    "LINKED",
    "RECORD",
    "RECORD_DIR",
    "Delivery",
    "Disk",
    "Unreadable",
    "beside_name",
    "build_manifest",
    "clean_rel",
    "copy_project",
    "file_hash",
    "main",
    "parse_delivery",
    "read_json",
    "split_layers",
    "sync",
]


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
        if path_kind(record_path) not in ("file", "missing"):
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
    kind = path_kind(os.path.join(work, RECORD_DIR))
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
        report.problems.append(f"{LINKED[0]}: the link to the image's data could not be made ({why(exc)})")
    text = merge.record().dump() if merge.keep_before else manifest_text
    try:
        disk.write_record(text)
        disk.clear_temp()
    except OSError as exc:
        report.problems.append(f"{RECORD} could not be written ({why(exc)}); the next start merges again")
    return report.lines()


def _split(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nbship-refresh split")
    parser.add_argument("--from", dest="source", help="the build context, mounted: copied first")
    parser.add_argument("--skip", action="append", default=[], help="a relative path the copy leaves out")
    parser.add_argument("--data-link", help="where the project's data/ link points (made after the copy)")
    parser.add_argument("paths", nargs="+", metavar="CONTENT PROJECT MANIFEST STABLE LAST [REL ...]")
    args = parser.parse_args(argv)
    if len(args.paths) < 5:
        parser.error("CONTENT PROJECT MANIFEST STABLE LAST are needed")
    content, project, manifest, stable, last = args.paths[:5]
    if args.source is not None:
        copy_project(args.source, content, args.skip)
    if args.data_link is not None:
        os.symlink(args.data_link, os.path.join(content, LINKED[0]))
    for folder in (os.path.dirname(manifest), stable, last):
        os.makedirs(folder, exist_ok=True)
    delivered = build_manifest(content, project)
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.write(delivered.dump())
    split_layers(content, delivered, stable, last, args.paths[5:])
    return 0


def main(argv: list[str]) -> int:
    if len(argv) in (2, 3) and argv[0] == "manifest":
        sys.stdout.write(build_manifest(argv[1], argv[2] if len(argv) == 3 else "").dump())
        return 0
    if argv[:1] == ["split"]:
        return _split(argv[1:])
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
