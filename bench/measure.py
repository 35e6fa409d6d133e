"""Running and measuring: commands (timed and logged), Docker and the registry, the results
container, and what is read off build logs (strip totals, packages fetched, the server's token).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

TAG_PREFIX = "nbship-bench"
COMMAND_TIMEOUT = 1800.0

# The tutorial's Dockerfile ("baseline"), the one uv's Docker guide leads to ("expert"), and nbship.
Side = Literal["baseline", "expert", "nbship"]
SIDES: tuple[Side, ...] = ("baseline", "expert", "nbship")
DOCKERFILE_SIDES: tuple[Side, ...] = ("baseline", "expert")

# The measures of a round (keys of Results.seconds).
COLD, EDIT, DEPENDENCY, NO_CHANGE, READY = "cold", "edit", "dependency", "no_change", "ready"
# The pushes of the first round (keys of Results.pushes).
PUSH_EDIT, PUSH_DEPENDENCY = "push", "push_dependency"
# Command start-up (keys of Results.cli): the reference, then nbship's commands.
CLICK_RICH, HELP, STATUS = "import click, rich", "nbship --help", "nbship status"


def rotation(index: int) -> tuple[Side, ...]:
    """The order of the sides in round INDEX: each goes first, second and last in turn."""
    shift = index % len(SIDES)
    return SIDES[shift:] + SIDES[:shift]


class BenchError(RuntimeError):
    """A step failed; the message says which and shows the end of its output."""


# --------------------------------------------------------------------------------------------
# Reading build and server logs (pure)


# The assembly's line names what it left out (and what it compiled, where it compiles the server's
# bytecode itself); the bytecode stage's line names what that stage compiled.
_SLIM = re.compile(r"nbship-slim: removed (?P<parts>[^;\n]*)")
_COMPILED = re.compile(r"nbship-(?:slim|bytecode): .*?compiled the server's bytecode (?P<compiled>[\d.]+) MB")
_SLIM_PART = re.compile(r"(?P<name>[a-z ]+?) (?P<mb>[\d.]+) MB")


def slim_totals(build_log: str) -> dict[str, float]:
    """MB removed per kind, and compiled, summed over the `nbship-slim:` and `nbship-bytecode:`
    lines of a build log."""
    totals: dict[str, float] = {}
    for match in _SLIM.finditer(build_log):
        for part in _SLIM_PART.finditer(match.group("parts")):
            name = part.group("name").strip()
            totals[name] = totals.get(name, 0.0) + float(part.group("mb"))
    for match in _COMPILED.finditer(build_log):
        totals["server bytecode (added)"] = totals.get("server bytecode (added)", 0.0) + float(match.group("compiled"))
    return totals


_TOKEN = re.compile(r"[?&]token=([0-9a-f]+)")


def token_in_log(log: str) -> str | None:
    """The token JupyterLab prints in its log (`http://127.0.0.1:8888/lab?token=...`)."""
    match = _TOKEN.search(log)
    return match.group(1) if match else None


_UV_PREPARED = re.compile(r"^#\d+ [\d.]+ Prepared (\d+) packages? in ", re.MULTILINE)
_PIP_DOWNLOAD = re.compile(r"^#\d+ [\d.]+\s+Downloading \S+\.(?:whl|tar\.gz|zip)\b", re.MULTILINE)


def packages_fetched(build_log: str) -> int:
    """Packages downloaded in a BuildKit log: pip's `Downloading x.whl` lines plus uv's `Prepared N`."""
    return len(_PIP_DOWNLOAD.findall(build_log)) + sum(int(n) for n in _UV_PREPARED.findall(build_log))


_STEP_TITLE = re.compile(r"^#(\d+) (\[[^\]]+\] .*|exporting to image)$", re.MULTILINE)
_STEP_DONE = re.compile(r"^#(\d+) DONE ([\d.]+)s$", re.MULTILINE)


def build_steps(build_log: str) -> list[tuple[str, float]]:
    """Each step of a BuildKit plain-progress log that took time, in log order: its title (cut at 90
    characters) and its seconds. Steps of 0.05 s or less are left out."""
    titles: dict[str, str] = {}
    for match in _STEP_TITLE.finditer(build_log):
        titles.setdefault(match.group(1), " ".join(match.group(2).split()))
    steps = []
    for match in _STEP_DONE.finditer(build_log):
        seconds = float(match.group(2))
        if seconds > 0.05 and match.group(1) in titles:
            title = titles[match.group(1)]
            steps.append((title if len(title) <= 90 else title[:89] + "…", seconds))
    return steps


# --------------------------------------------------------------------------------------------
# Running commands


@dataclass(frozen=True)
class Completed:
    command: tuple[str, ...]
    seconds: float
    returncode: int
    output: str


@dataclass
class Shell:
    """Runs commands, times them, and appends what they print to one log file."""

    log: TextIO

    def note(self, text: str) -> None:
        self.log.write(f"# {text}\n")
        self.log.flush()

    def run(
        self, command: Sequence[str], *, check: bool = True, env: Mapping[str, str] | None = None, quiet: bool = False
    ) -> Completed:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
        self.log.write(f"\n$ {' '.join(command)}    # {stamp}\n")
        self.log.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                list(command),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env={**os.environ, **(env or {})},
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"`{' '.join(command)}` did not finish within {COMMAND_TIMEOUT:.0f} s") from exc
        seconds = time.perf_counter() - start
        if not quiet or proc.returncode != 0:
            self.log.write(proc.stdout)
        self.log.write(f"# exit {proc.returncode} after {seconds:.2f} s\n")
        self.log.flush()
        if check and proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-30:])
            raise BenchError(f"`{' '.join(command)}` exited with {proc.returncode}:\n{tail}")
        return Completed(tuple(command), seconds, proc.returncode, proc.stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int, token: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as response:
            json.load(response)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Docker and the registry


@dataclass
class Docker:
    shell: Shell
    cli: str

    def __call__(self, *args: str, check: bool = True, quiet: bool = False) -> Completed:
        return self.shell.run([self.cli, *args], env={"DOCKER_BUILDKIT": "1"}, check=check, quiet=quiet)

    def image(self, reference: str) -> dict[str, object]:
        return dict(json.loads(self("image", "inspect", reference, quiet=True).output)[0])

    def exists(self, reference: str) -> bool:
        return self("image", "inspect", "--format", "{{.Id}}", reference, check=False, quiet=True).returncode == 0

    def mounts_survive_no_cache(self, scratch: Path, tag: str, base: str) -> bool | None:
        """Whether a `--no-cache` build sees what an earlier build left in a cache mount (on Engine
        20.10 it does not: then `--no-cache` is cold for cache mounts too, with no prune)."""
        folder = scratch / "mount-probe"
        folder.mkdir(exist_ok=True)
        cache_id = f"{TAG_PREFIX}-probe-{uuid.uuid4().hex[:8]}"
        (folder / "Dockerfile").write_text(
            f"FROM {base}\nARG RUN_NO=0\n"
            f"RUN --mount=type=cache,id={cache_id},target=/probe \\\n"
            "    echo \"seen:$(ls /probe | tr '\\n' ' '):end\"; touch /probe/run-$RUN_NO\n",
            encoding="utf-8",
        )
        common = ["build", "--progress=plain", "-t", tag]
        self(*common, "--build-arg", "RUN_NO=1", str(folder))
        second = self(*common, "--no-cache", "--build-arg", "RUN_NO=2", str(folder))
        match = re.search(r"^#\d+ [\d.]+ seen:([^$]*):end", second.output, re.MULTILINE)
        return None if match is None else "run-1" in match.group(1)


class Registry:
    """Debian's docker-registry on a free 127.0.0.1 port (the daemon allows plain HTTP to loopback),
    storing into a folder of the run, so the bytes a push writes can be read off its blob store."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        if not Path(exe).exists():
            raise BenchError("docker-registry is not installed (scripts/setup-test-machine.sh installs it)")
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: {self.host}\n",
            encoding="utf-8",
        )
        self._log = (root / "registry.log").open("w", encoding="utf-8")
        self._proc = subprocess.Popen([exe, "serve", str(config)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise BenchError(f"the registry did not start: {(root / 'registry.log').read_text()[-1500:]}")

    def blobs(self) -> dict[str, int]:
        """Every blob the registry stores (layers, configs, manifests) by digest, with its size."""
        found: dict[str, int] = {}
        store = self.root / "data" / "docker" / "registry" / "v2" / "blobs"
        for data in store.glob("*/*/*/data"):
            found[data.parent.name] = data.stat().st_size
        return found

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._log.close()


# --------------------------------------------------------------------------------------------
# The results


@dataclass
class Results:
    rounds: int
    seconds: dict[str, dict[Side, list[float]]] = field(default_factory=dict)
    size: dict[Side, list[int]] = field(default_factory=dict)
    layers: dict[Side, int] = field(default_factory=dict)  # each final image's layer count, first round
    pushes: dict[str, dict[Side, int]] = field(default_factory=dict)  # PUSH_* -> side -> bytes written
    push_blobs: dict[str, dict[Side, int]] = field(default_factory=dict)
    cli: dict[str, list[float]] = field(default_factory=dict)  # CLICK_RICH, HELP, STATUS -> seconds
    lock: list[float] = field(default_factory=list)  # `nbship lock` after each edit of requirements.txt
    steps: dict[Side, list[tuple[str, float]]] = field(default_factory=dict)  # the first cold builds' steps
    cold_total: dict[Side, float] = field(default_factory=dict)  # ... and the whole command's seconds
    ready_run: dict[str, list[float]] = field(default_factory=dict)  # docker run + poll, per image variant
    variant_size: dict[str, int] = field(default_factory=dict)
    slim: dict[str, float] = field(default_factory=dict)
    fetched: dict[str, list[int]] = field(default_factory=dict)
    mounts_survive_no_cache: bool | None = None
    startup: list[float] = field(default_factory=list)
    data_bytes: int = 0
    versions: dict[str, str] = field(default_factory=dict)

    def add(self, metric: str, side: Side, seconds: float) -> None:
        self.seconds.setdefault(metric, {}).setdefault(side, []).append(seconds)

    def values(self, metric: str, side: Side) -> list[float]:
        return self.seconds.get(metric, {}).get(side, [])

    def median(self, metric: str, side: Side) -> float | None:
        values = self.values(metric, side)
        return statistics.median(values) if values else None
