#!/usr/bin/env python3
"""What seeds the environment's pip (and setuptools below Python 3.12): the wheels this Python's
ensurepip would install, so the environment gets the same versions `python3 -m venv` gives (pinned
by the base image, not by whatever the index serves on the day of the build) without paying for
ensurepip's own pip run.

Usage: nbship-seed-wheels NAME... prints one argument per NAME for `uv pip install`: the wheel's
path where this Python ships one (upstream's ensurepip/_bundled, or the folder a distribution
configured, Debian's /usr/share/python-wheels), else NAME itself, which uv takes from the index.
Runs on the image's Python (3.8 or later), standard library only, during the build only.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig


def _folders() -> list[str]:
    found = []
    configured = sysconfig.get_config_var("WHEEL_PKG_DIR")  # Python 3.10+, set by distributions
    if configured:
        found.append(str(configured))
    try:
        import ensurepip
    except ImportError:  # a Python built without it
        return found
    found.append(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"))
    return found


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name.split("-")[1])[:4])  # NAME-VERSION-...


def wheel_for(project: str, folders: list[str]) -> str:
    """The newest wheel of `project` in the first folder that has one, else `project`."""
    pattern = re.compile(rf"{re.escape(project)}-[0-9][^-\s]*-py3-none-any\.whl")
    for folder in folders:
        try:
            names = [name for name in os.listdir(folder) if pattern.fullmatch(name)]
        except OSError:
            continue
        if names:
            chosen = os.path.join(folder, max(names, key=_version_key))
            # The shell splits the output on blanks: a path with one is no argument to trust.
            return chosen if not re.search(r"\s", chosen) else project
    return project


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: nbship-seed-wheels NAME...", file=sys.stderr)
        return 2
    folders = _folders()
    print(" ".join(wheel_for(project, folders) for project in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
