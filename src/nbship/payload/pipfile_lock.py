#!/usr/bin/env python3
"""Pipfile.lock -> a pip requirements file of its hashed pins, for `--require-hashes`.

Runs in the build's env stage with the image's own Python (3.8 or later, standard library only):
    nbship-pipfile-lock Pipfile.lock > Pipfile.lock.txt

Writes the lock's sources as index options, then every entry of the default and develop sections
that is pinned with hashes (`name[extras]==version ; markers --hash=...`, or `name @ URL` for a
locked file URL), each name once (the default section's entry wins). Path and VCS entries carry no
hash; nbship installs them in steps of their own (project/kinds/pipfile_read.py decides which
entries those are, and nbship refuses a lock with an entry that is neither).
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit

SECTIONS = ("default", "develop")
UNHASHED_KEYS = ("path", "git", "hg", "svn", "bzr")


def canonical(name: str) -> str:
    out: list[str] = []
    for ch in name.lower():
        out.append("-" if ch in "._-" else ch)
    text = "".join(out)
    while "--" in text:
        text = text.replace("--", "-")
    return text


def index_options(sources: list[dict[str, Any]] | None) -> list[str]:
    lines: list[str] = []
    for number, source in enumerate(sources or []):
        lines.append(("--index-url " if number == 0 else "--extra-index-url ") + source["url"])
        host = urlsplit(source["url"]).hostname
        if source.get("verify_ssl") is False and host:
            lines.append("--trusted-host " + host)
    return lines


def unhashed(entry: dict[str, Any]) -> bool:
    """Installed by nbship in steps of their own: paths, VCS checkouts, local files, no hashes."""
    if any(key in entry for key in UNHASHED_KEYS) or not entry.get("hashes"):
        return True
    file = entry.get("file")
    return isinstance(file, str) and ("://" not in file or file.startswith("file:"))


def requirement(name: str, entry: dict[str, Any]) -> str:
    extras = entry.get("extras") or []
    head: str = name + ("[" + ",".join(extras) + "]" if extras else "")
    if "file" in entry:
        head += " @ " + str(entry["file"])
    else:
        head += str(entry["version"])
    markers = entry.get("markers")
    if markers:
        head += " ; " + str(markers)
    return head + "".join(" --hash=" + str(value) for value in entry["hashes"])


def convert(lock: dict[str, Any]) -> list[str]:
    lines = index_options(lock.get("_meta", {}).get("sources"))
    seen: set[str] = set()
    for section in SECTIONS:
        for name, entry in (lock.get(section) or {}).items():
            key = canonical(name)
            if key in seen:
                continue
            seen.add(key)
            if unhashed(entry):
                continue
            lines.append(requirement(name, entry))
    return lines


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8-sig") as handle:
        lock = json.load(handle)
    sys.stdout.write("".join(line + "\n" for line in convert(lock)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
