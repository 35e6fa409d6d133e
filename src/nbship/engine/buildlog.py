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

from nbship.engine.base import BuildReport, BuildStep
from nbship.errors import BuildError

LOG_TAIL = 25
# A line a step of nbship's Dockerfile prints for the user (the R version an image got, say).
NOTE_PREFIX = "nbship-note: "


@dataclass
class Step:
    name: str
    lines: list[str] = field(default_factory=list)
    cached: bool = False


_STAGE_STEP = re.compile(r"^\[(?P<stage>[^\]\s]+) \d+/\d+\] (?P<instruction>.*)$")


def report(steps: Iterable[Step]) -> BuildReport:
    """The Dockerfile's steps, each cached or run; the builder's own steps and FROM left out."""
    found = []
    for step in steps:
        match = _STAGE_STEP.match(step.name)
        if match is None:  # BuildKit's own work: "[internal] load build context", exporting, ...
            continue
        stage, instruction = match.group("stage"), match.group("instruction")
        if instruction.upper().startswith("FROM "):
            continue
        found.append(BuildStep(stage=stage, instruction=instruction, cached=step.cached))
    return BuildReport(tuple(found))


# Errors in a failing step's log that mean "this package does not exist"; group 1 is the name.
_MISSING_PACKAGE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Because ([A-Za-z0-9._-]+) was not found in the package registry"), "PyPI"),
    (re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)"), "PyPI"),
    (re.compile(r"E: Unable to locate package ([a-z0-9.+-]+)"), "the Debian package lists"),
)
# A COPY whose source is not in the context: BuildKit's words (20.10, then newer), the classic
# builder's and Buildah's (Podman; a path above the context is shown from the context's root).
_NOT_IN_CONTEXT = (
    re.compile(
        r'checking on sources under "[^"]*":(?: possible escaping context directory error:)? copier: '
        r'stat: "/?([^"]+)": no such file or directory'
    ),
    re.compile(r'failed to compute cache key: "/?([^"]+)" not found'),
    re.compile(r'failed to calculate checksum of ref [^:]*: "/?([^"]+)": not found'),
    re.compile(r"failed to walk \S*?/buildkit-mount\d+/([^:]+): lstat .*: no such file or directory"),  # its folder
    re.compile(r"COPY failed: file not found in build context or excluded by \.dockerignore: stat (.+): file does not"),
)
_TLS_FAILURE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer")
# How bash ("line 3: git: command not found") and dash ("3: git: not found") say a command is missing.
# uv ("Hash mismatch for `six==1.16.0`") and pip ("THESE PACKAGES DO NOT MATCH THE HASHES ...").
_HASH_MISMATCH = re.compile(r"[Hh]ash mismatch for `?([A-Za-z0-9._-]+)|DO NOT MATCH THE HASHES")
_MISSING_COMMAND = re.compile(r": (?:line \d+: )?([A-Za-z0-9_.+-]+): (?:command )?not found$")


class NotInContext(BuildError):
    """A COPY named a file the build context does not hold (absent, or left out by .dockerignore)."""

    def __init__(self, path: str, step: str, *, details: str | None) -> None:
        super().__init__(
            f"The build stopped at step {step}: it copies {path}, which is not in the build context (the "
            "file does not exist, or .dockerignore leaves it out).",
            details=details,
        )
        self.path = path


def not_in_context(log: Iterable[str]) -> str | None:
    for line in log:
        for pattern in _NOT_IN_CONTEXT:
            if match := pattern.search(line):
                return match.group(1).rstrip("/")
    return None


def missing_package(log: Iterable[str]) -> tuple[str, str] | None:
    for line in log:
        for pattern, where in _MISSING_PACKAGE_PATTERNS:
            if match := pattern.search(line):
                return match.group(1), where
    return None


def missing_command(log: Iterable[str]) -> str | None:
    for line in log:
        if match := _MISSING_COMMAND.search(line.rstrip()):
            return match.group(1)
    return None


def _sentence(text: str) -> str:
    # "the base image ..." starts a sentence; "postBuild failed" or a path keeps its spelling.
    first = text.split(" ", 1)[0]
    return f"{text[:1].upper()}{text[1:]}" if first.isalpha() and first.islower() else text


def notes(steps: Iterable[Step]) -> list[str]:
    """What the steps of a finished build said for the user, once each. Only the steps' output is
    read, never their command lines, which spell the same prefix."""
    found: list[str] = []
    for step in steps:
        for line in step.lines:
            if NOTE_PREFIX in line:
                found.append(line.split(NOTE_PREFIX, 1)[1].strip())
    return list(dict.fromkeys(note for note in found if note))


def failure(step: Step | None, everything: list[str]) -> BuildError:
    """The error for a build that stopped at `step` (None: the step is unknown)."""
    lines = step.lines if step and step.lines else everything
    tail = "\n".join(lines[-LOG_TAIL:])
    name = step.name if step else "an unknown step"
    # Only a step's own output: the whole log also holds every step's command line, which spells
    # the messages nbship's checks would print.
    own = next((line.split("nbship: ", 1)[1] for line in (step.lines if step else []) if "nbship: " in line), None)
    if own:
        # A check nbship's Dockerfile makes itself: its own words are the clearest message.
        message = f"{_sentence(own.rstrip('.'))}."
        command = missing_command(lines)
        if command:
            message += (
                f" The command '{command}' is not in the image: add the Debian package that has it to apt.txt"
                " (it is installed before postBuild runs)."
            )
        else:
            message += " Its last output lines are below."
        return BuildError(message, details=tail)
    missing = not_in_context(everything)
    if missing:
        return NotInContext(missing, name, details=tail)
    if any(_TLS_FAILURE.search(line) for line in lines):
        return BuildError(
            f"Downloads failed certificate verification at step {name}: this network most likely "
            "intercepts HTTPS (a company proxy). Pass your organisation's CA bundle with --ca-bundle FILE; "
            "nbship uses it during the build only and keeps it out of the image.",
            details=tail,
        )
    mismatch = next((m for line in lines if (m := _HASH_MISMATCH.search(line))), None)
    if mismatch:
        which = f"'{mismatch.group(1)}'" if mismatch.group(1) else "a package"
        return BuildError(
            f"The files downloaded for {which} do not have the hashes the lock records, so the build stopped at "
            f"{name}: the index serves other files than were locked. Lock again (`nbship lock --update`, or "
            "`pipenv lock` for a Pipfile.lock) only if you trust the change.",
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
_BK_CACHED = re.compile(r"^#(\d+) CACHED$")


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
        elif match := _BK_CACHED.match(line):
            if match.group(1) in self.steps:
                self.steps[match.group(1)].cached = True
        elif (match := _BK_ERROR.match(line)) and self.failed is None:
            self.failed = match.group(1)
        return None

    def report(self) -> BuildReport:
        return report(self.steps.values())

    def error(self) -> BuildError:
        return failure(self.steps.get(self.failed or ""), self.everything)


class BuildLog(Protocol):
    """What follows a build command's output line by line (BuildkitLog, BuildahLog)."""

    failed: str | None
    everything: list[str]

    @property
    def steps(self) -> dict[str, Step]: ...

    def feed(self, line: str) -> Step | None: ...

    def report(self) -> BuildReport: ...

    def error(self) -> BuildError: ...


# Buildah numbers stages only when there are several: "[2/5] STEP 4/5: RUN ..." or "STEP 1/3: FROM ...".
_BUILDAH_STEP = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")
_BUILDAH_NOISE = re.compile(
    r"^(-->|Using cache|time=\S+ level=|COMMIT|Successfully tagged|Getting image source|Copying |Writing manifest"
    r"|Storing signatures)"
)


class BuildahLog:
    """Follows `podman build` output: steps named as BuildKit names them ("[env 2/4] RUN ..."), the
    lines each printed, whether Buildah took it from its cache, and the step that failed (Buildah
    names no step in its error line: the failed one is the last that started)."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.failed: str | None = None
        self.everything: list[str] = []
        self._current: str | None = None
        self._stage = ""

    def feed(self, line: str) -> Step | None:
        self.everything.append(line)
        if match := _BUILDAH_STEP.match(line):
            number, instruction = match.group(1), match.group(5)
            if instruction.upper().startswith("FROM "):
                words = instruction.split()
                named = len(words) > 3 and words[2].upper() == "AS"
                self._stage = words[3] if named else (number or "")
            stage = f"{self._stage} " if self._stage else ""
            key = f"{number or 1}:{match.group(3)}"
            self._current = key
            self.steps[key] = Step(f"[{stage}{match.group(3)}/{match.group(4)}] {instruction}")
            return self.steps[key]
        if line.startswith("Error: ") and self.failed is None:
            self.failed = self._current or ""
        elif line.startswith("--> Using cache") and self._current is not None:
            self.steps[self._current].cached = True
        elif self._current is not None and line.strip() and not _BUILDAH_NOISE.match(line):
            self.steps[self._current].lines.append(line)
        return None

    def report(self) -> BuildReport:
        return report(self.steps.values())

    def error(self) -> BuildError:
        return failure(self.steps.get(self.failed or ""), self.everything)
