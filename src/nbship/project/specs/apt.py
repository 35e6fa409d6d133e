"""apt.txt: Debian package names, one per line (optionally `name=version` or `name:arch`)."""

from __future__ import annotations

import re
from pathlib import Path

from nbship.errors import InputFileError

_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+:~-]+)?$")


def parse_apt(path: Path, display: str) -> tuple[str, ...]:
    packages: list[str] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for word in line.split():
            if not _PACKAGE_RE.match(word):
                raise InputFileError(
                    display,
                    number,
                    f"'{word}' is not a Debian package name",
                    "List one Debian package per line, e.g. 'libgdal-dev' or 'ffmpeg'.",
                )
            packages.append(word)
    return tuple(dict.fromkeys(packages))
