"""apt.txt: Debian package names, one per line (optionally `name=version` or `name:arch`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship.errors import InputFileError
from nbship.project.kinds.base import Fragment, Input, Layout, OneFile, PlanContext
from nbship.project.text import read_text

_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+:~-]+)?$")


def parse_apt(path: Path, display: str) -> tuple[str, ...]:
    packages: list[str] = []
    text = read_text(path, display)
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


name = "apt"

# One apt-get install of `packages` (the R kind uses it too). BuildKit keeps apt's downloads and
# lists in cache mounts; the classic builder cleans up instead.
INSTALL_STEP = """
{%- if buildkit %}
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \\
    {{ ca_mount }}set -eu; {{ ca_env }} \\
    rm -f /etc/apt/apt.conf.d/docker-clean; \\
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/nbship-keep-cache; \\
    apt-get ${CA:+-o Acquire::https::CAInfo=$CA} update -q; \\
    DEBIAN_FRONTEND=noninteractive apt-get ${CA:+-o Acquire::https::CAInfo=$CA} install -y -q --no-install-recommends \\
      {{ packages | join(" ") }}
{%- else %}
RUN set -eu; apt-get update -q; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
      {{ packages | join(" ") }}; \\
    rm -rf /var/lib/apt/lists/*
{%- endif %}"""


@dataclass(frozen=True)
class AptInput(OneFile):
    kind: ClassVar[str] = name
    packages: tuple[str, ...]

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        if not self.packages:
            return ()
        return (install_fragment(self.packages),)


def install_fragment(packages: tuple[str, ...]) -> Fragment:
    """Debian packages installed in the system stage (apt.txt's, and the tools postBuild gets)."""
    return Fragment("system", INSTALL_STEP, {"packages": packages})


def detect(layout: Layout, found: tuple[Input, ...]) -> AptInput | None:
    path = layout.find("apt.txt")
    if path is None:
        return None
    display = layout.display(path)
    return AptInput(path, display, parse_apt(path, display))
