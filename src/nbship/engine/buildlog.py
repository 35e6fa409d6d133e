"""Reading a build's log: its steps, the step that failed, and what the failure means for the user.

Engine-neutral: BuildKit's plain progress, Buildah's (podman build) and the classic builder's
stream are all turned into steps with their own log lines here, and a failed step into one
BuildError that says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from nbship.errors import BuildError

LOG_TAIL = 25


@dataclass
class Step:
    name: str
    lines: list[str] = field(default_factory=list)


# Errors in a failing step's log that mean "this package does not exist"; group 1 is the name.
_MISSING_PACKAGE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Because ([A-Za-z0-9._-]+) was not found in the package registry"), "PyPI"),
    (re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)"), "PyPI"),
    (re.compile(r"E: Unable to locate package ([a-z0-9.+-]+)"), "the Debian package lists"),
)
_TLS_FAILURE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer")


def missing_package(log: Iterable[str]) -> tuple[str, str] | None:
    for line in log:
        for pattern, where in _MISSING_PACKAGE_PATTERNS:
            if match := pattern.search(line):
                return match.group(1), where
    return None


def failure(step: Step | None, everything: list[str]) -> BuildError:
    """The error for a build that stopped at `step` (None: the step is unknown)."""
    lines = step.lines if step and step.lines else everything
    tail = "\n".join(lines[-LOG_TAIL:])
    name = step.name if step else "an unknown step"
    own = next((line.split("nbship: ", 1)[1] for line in lines if "nbship: " in line), None)
    if own:
        # A check nbship's Dockerfile makes itself: its own words are the clearest message.
        return BuildError(f"{own[:1].upper()}{own[1:]}.", details=tail)
    if any(_TLS_FAILURE.search(line) for line in lines):
        return BuildError(
            f"Downloads failed certificate verification at step {name}: this network most likely "
            "intercepts HTTPS (a company proxy). Pass your organisation's CA bundle with --ca-bundle FILE; "
            "nbship uses it during the build only and keeps it out of the image.",
            details=tail,
        )
    found = missing_package(lines)
    if found:
        package, where = found
        return BuildError(
            f"The package '{package}' could not be found in {where}, so the build stopped at {name}. "
            "Check its spelling and version in the project's requirements.txt / apt.txt and build again.",
            details=tail,
        )
    return BuildError(f"The build failed at step {name}. The last lines of its log are below.", details=tail)


_BK_STEP = re.compile(r"^#(\d+) \[(.+?)\] (.*)$")
_BK_LOG = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR:? ?(.*)$")


class BuildkitLog:
    """Follows BuildKit's `--progress=plain` output: steps, their lines, and the one that failed."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.failed: str | None = None
        self.everything: list[str] = []

    def feed(self, line: str) -> Step | None:
        """Takes one line; returns the step it started, if it started one."""
        self.everything.append(line)
        if match := _BK_STEP.match(line):
            if match.group(1) not in self.steps:
                self.steps[match.group(1)] = Step(f"[{match.group(2)}] {match.group(3)}")
                return self.steps[match.group(1)]
        elif match := _BK_LOG.match(line):
            if match.group(1) in self.steps:
                self.steps[match.group(1)].lines.append(match.group(2))
        elif (match := _BK_ERROR.match(line)) and self.failed is None:
            self.failed = match.group(1)
        return None

    def error(self) -> BuildError:
        return failure(self.steps.get(self.failed or ""), self.everything)


class BuildLog(Protocol):
    """What follows a build command's output line by line (BuildkitLog, BuildahLog)."""

    failed: str | None
    everything: list[str]

    @property
    def steps(self) -> dict[str, Step]: ...

    def feed(self, line: str) -> Step | None: ...

    def error(self) -> BuildError: ...


# Buildah numbers stages only when there are several: "[2/5] STEP 4/5: RUN ..." or "STEP 1/3: FROM ...".
_BUILDAH_STEP = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")
_BUILDAH_NOISE = re.compile(
    r"^(-->|Using cache|time=\S+ level=|COMMIT|Successfully tagged|Getting image source|Copying |Writing manifest"
    r"|Storing signatures)"
)


class BuildahLog:
    """Follows `podman build` output: steps, the lines each one printed, and the step that failed
    (Buildah names no step in its error line, so the failed one is the last that started)."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.failed: str | None = None
        self.everything: list[str] = []
        self._current: str | None = None

    def feed(self, line: str) -> Step | None:
        self.everything.append(line)
        if match := _BUILDAH_STEP.match(line):
            stage = f"{match.group(1)}/{match.group(2)} " if match.group(1) else ""
            key = f"{match.group(1) or 1}:{match.group(3)}"
            self._current = key
            self.steps[key] = Step(f"[{stage}{match.group(3)}/{match.group(4)}] {match.group(5)}")
            return self.steps[key]
        if line.startswith("Error: ") and self.failed is None:
            self.failed = self._current or ""
        elif self._current is not None and line.strip() and not _BUILDAH_NOISE.match(line):
            self.steps[self._current].lines.append(line)
        return None

    def error(self) -> BuildError:
        return failure(self.steps.get(self.failed or ""), self.everything)
