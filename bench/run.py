"""Benchmark nbship against the Dockerfile a researcher writes by hand from the usual tutorial.

Run it from the repository root with the checkout's virtual environment:

    .venv/bin/python bench/run.py [--quick] [--rounds N] [--out bench/RESULTS.md]

Both sides run in the same invocation, alternating which goes first, for several rounds; the report
gives medians, their spread, nbship / baseline ratios and whether each target is met. Nothing here is
part of the test suite. See bench/README.md for what each number means and how "cold" is made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sea-surface-temperature"
DEFAULT_OUT = REPO / "bench" / "RESULTS.md"
# A 20.10 client with BuildKit built in (DOCKER_BUILDKIT=1); the newer client here has no buildx.
DEFAULT_DOCKER = "/usr/bin/docker"
BASE_IMAGE = "python:3.11-slim"
TAG_PREFIX = "nbship-bench"
COMMAND_TIMEOUT = 1800.0
READY_TIMEOUT = 120.0
ADDED_DEPENDENCY = "scipy==1.17.1"
# make_data.py at this grid spacing writes ~18 MB of netCDF (the example ships 4 degrees, 0.5 MB).
DATA_RESOLUTION = 0.6
DEFAULT_ROUNDS = 5

Side = Literal["baseline", "nbship"]
SIDES: tuple[Side, ...] = ("baseline", "nbship")


def baseline_dockerfile(deps: Sequence[str], base: str = BASE_IMAGE) -> str:
    """The tutorial's Dockerfile: one stage, pip install, then README, data and notebooks, root."""
    return (
        f"FROM {base}\n"
        "WORKDIR /work\n"
        f"RUN pip install {' '.join(deps)} jupyterlab\n"
        "COPY README.md README.md\n"
        "COPY data data\n"
        "COPY notebooks notebooks\n"
        "CMD jupyter-lab --ip=0.0.0.0 --allow-root\n"
    )


def requirement_lines(text: str) -> list[str]:
    """The requirement specifiers of a plain requirements.txt (comments and blank lines dropped)."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


_SLIM = re.compile(r"nbship-slim: removed (?P<parts>.*?); compiled the server's bytecode (?P<compiled>[\d.]+) MB")
_SLIM_PART = re.compile(r"(?P<name>[a-z ]+?) (?P<mb>[\d.]+) MB")


def slim_totals(build_log: str) -> dict[str, float]:
    """MB removed per kind, and compiled, summed over the `nbship-slim:` lines of a build log."""
    totals: dict[str, float] = {}
    for match in _SLIM.finditer(build_log):
        for part in _SLIM_PART.finditer(match.group("parts")):
            name = part.group("name").strip()
            totals[name] = totals.get(name, 0.0) + float(part.group("mb"))
        totals["server bytecode (added)"] = totals.get("server bytecode (added)", 0.0) + float(match.group("compiled"))
    return totals


_TOKEN = re.compile(r"[?&]token=([0-9a-f]+)")


def token_in_log(log: str) -> str | None:
    """The token JupyterLab prints in its log (`http://127.0.0.1:8888/lab?token=...`)."""
    match = _TOKEN.search(log)
    return match.group(1) if match else None


class BenchError(RuntimeError):
    """A step failed; the message says which and shows the end of its output."""


# --------------------------------------------------------------------------------------------
# Formatting (pure)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "—"
    number = float(value)
    for unit in ("B", "kB", "MB"):
        if abs(number) < 1000:
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return f"{number:.2f} GB"


def fmt_ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0:
        return "—"
    ratio = top / bottom
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """`min to max` of a series, or the single value."""
    if not values:
        return "—"
    low, high = min(values), max(values)
    return fmt(low) if low == high else f"{fmt(low)} to {fmt(high)}"


@dataclass(frozen=True)
class Target:
    """A target is either a ratio (nbship / baseline) or an absolute bound on nbship's value."""

    kind: Literal["ratio", "absolute"]
    limit: float
    text: str

    def met(self, nbship: float | None, baseline: float | None) -> bool | None:
        if nbship is None:
            return None
        if self.kind == "absolute":
            return nbship <= self.limit
        if baseline is None or baseline == 0:
            return None
        return nbship / baseline <= self.limit


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


def progress(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


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
# The workload


def prepare_project(example: Path, dest: Path) -> None:
    """The example in the layout the tutorial's Dockerfile copies: notebooks in notebooks/."""
    shutil.copytree(example, dest)
    (dest / "notebooks").mkdir()
    for notebook in sorted(dest.glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8").replace('"data/', '"../data/').replace("`data/", "`../data/")
        (dest / "notebooks" / notebook.name).write_text(text, encoding="utf-8")
        notebook.unlink()


def edit_notebook(project: Path, marker: str) -> None:
    """Appends a markdown cell to the first notebook, as a researcher's small edit would."""
    notebook = sorted((project / "notebooks").glob("*.ipynb"))[0]
    data = json.loads(notebook.read_text(encoding="utf-8"))
    data["cells"].append(
        {"cell_type": "markdown", "id": f"bench-{marker}", "metadata": {}, "source": [f"Edit {marker}."]}
    )
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class Results:
    rounds: int
    seconds: dict[str, dict[Side, list[float]]] = field(default_factory=dict)
    size: dict[Side, list[int]] = field(default_factory=dict)
    push: dict[Side, int] = field(default_factory=dict)
    push_blobs: dict[Side, int] = field(default_factory=dict)
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


_UV_PREPARED = re.compile(r"^#\d+ [\d.]+ Prepared (\d+) packages? in ", re.MULTILINE)
_PIP_DOWNLOAD = re.compile(r"^#\d+ [\d.]+\s+Downloading \S+\.(?:whl|tar\.gz|zip)\b", re.MULTILINE)


def packages_fetched(build_log: str) -> int:
    """Packages downloaded in a BuildKit log: pip's `Downloading x.whl` lines plus uv's `Prepared N`."""
    return len(_PIP_DOWNLOAD.findall(build_log)) + sum(int(n) for n in _UV_PREPARED.findall(build_log))


@dataclass
class Bench:
    shell: Shell
    docker: Docker
    nbship: str
    project: Path
    baseline_dir: Path
    deps: list[str]
    run_id: str
    registry: Registry | None = None
    images: set[str] = field(default_factory=set)
    base: str = BASE_IMAGE
    bases: list[str] = field(default_factory=list)

    def new_base(self, label: str) -> str:
        """A base image no build has used: python:3.11-slim plus a one-file layer of its own. BuildKit
        keys cache on the chain of layers (a label alone would not do), so no layer cached on the daemon
        (anyone's) matches a step built on it, and a `--no-cache` build on it shares no step with the
        other builds running on the daemon (see bench/README.md). Built without --no-cache."""
        folder = self.baseline_dir.parent / f"base-{label}"
        folder.mkdir(exist_ok=True)
        (folder / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nRUN echo {self.run_id}-{label} > /etc/nbship-bench-base\n", encoding="utf-8"
        )
        tag = self.tag(f"base-{label}")
        self.docker("build", "-q", "-t", tag, str(folder), quiet=True)
        self.bases.append(tag)
        self.base = tag
        return tag

    def tag(self, name: str) -> str:
        return f"{TAG_PREFIX}/{self.run_id}-{name}:latest"

    def write_baseline(self, extra: Iterable[str] = ()) -> None:
        text = baseline_dockerfile([*self.deps, *extra], self.base)
        (self.baseline_dir / "Dockerfile").write_text(text, encoding="utf-8")

    def write_requirements(self, extra: Iterable[str] = ()) -> None:
        lines = ["# The example's requirements (JupyterLab is added by nbship).", *self.deps, *extra]
        (self.project / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def build_baseline(self, *, cold: bool = False) -> Completed:
        args = ["build", "--progress=plain", "-f", str(self.baseline_dir / "Dockerfile"), "-t", self.tag("baseline")]
        done = self.docker(*args, *(["--no-cache"] if cold else []), str(self.project))
        self._remember("baseline")
        return done

    def build_nbship(self, *, cold: bool = False, strip: bool = True, expect: str = "build") -> Completed:
        """`nbship -v build` (-v puts the build log in the output: downloads and the strip summary)."""
        name = "nbship" if strip else "nbship-nostrip"
        command = [self.nbship, "-v", "build", str(self.project), "-t", self.tag(name), "--builder", "buildkit"]
        command += ["--base-image", self.base]
        command += (["--no-cache"] if cold else []) + ([] if strip else ["--no-strip"])
        done = self.shell.run(command)
        skipped = "is up to date" in done.output
        if (expect == "skip") != skipped:
            raise BenchError(f"nbship {'skipped' if skipped else 'ran'} the build of {name}; expected: {expect}")
        self._remember(name)
        return done

    def _remember(self, name: str) -> None:
        self.images.add(str(self.docker.image(self.tag(name))["Id"]))

    def size(self, name: str) -> int:
        return int(str(self.docker.image(self.tag(name))["Size"]))

    def ready_nbship_up(self) -> float:
        """`nbship up --detach` returns once JupyterLab answers with its token; checked once more after."""
        port = free_port()
        command = [self.nbship, "up", str(self.project), "-t", self.tag("nbship"), "--detach", "--port", str(port)]
        command += ["--base-image", self.base]  # the image's own: `up` finds it up to date
        done = self.shell.run(command)
        try:
            token = token_in_log(done.output)
            if token is None or not answers(port, token):
                raise BenchError(f"nbship up returned, but no server answers with its token:\n{done.output[-800:]}")
        finally:
            self.shell.run([self.nbship, "down", str(self.project)])
        return done.seconds

    def ready_docker_run(self, image: str, *, token: str | None = None) -> float:
        """`docker run -d` then poll: the token from the log (as the tutorial's user reads it), then
        /api/status with it. With `token`, the image takes JUPYTER_TOKEN (nbship's images)."""
        port = free_port()
        env = ["-e", f"JUPYTER_TOKEN={token}"] if token else []
        start = time.perf_counter()
        done = self.docker("run", "-d", "-p", f"127.0.0.1:{port}:8888", *env, image, quiet=True)
        container = done.output.strip().splitlines()[-1]
        try:
            known = token
            while time.perf_counter() - start < READY_TIMEOUT:
                if known is None:
                    logs = subprocess.run(
                        [self.docker.cli, "logs", container], capture_output=True, text=True, check=False
                    )
                    known = token_in_log(logs.stdout + logs.stderr)
                if known is not None and answers(port, known):
                    return time.perf_counter() - start
                time.sleep(0.05)
            raise BenchError(f"{image} did not answer within {READY_TIMEOUT:.0f} s")
        finally:
            self.docker("rm", "-f", container, check=False, quiet=True)

    def push(self, side: Side, label: str) -> tuple[int, int]:
        """Pushes the side's image to the run's registry; returns (bytes, blobs) the registry stored anew."""
        assert self.registry is not None
        before = self.registry.blobs()
        target = f"{self.registry.host}/bench/{side}:{label}"
        if side == "nbship":
            tag = self.tag("nbship")
            self.shell.run(
                [self.nbship, "push", str(self.project), "--to", target, "-t", tag, "--base-image", self.base]
            )
        else:
            self.docker("tag", self.tag("baseline"), target)
            try:
                self.docker("push", target)
            finally:
                self.docker("rmi", target, check=False, quiet=True)
        after = self.registry.blobs()
        new = {d: s for d, s in after.items() if d not in before}
        return sum(new.values()), len(new)

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        done = self.shell.run([self.nbship, "down", str(self.project), "--volumes"], check=False)
        if done.returncode != 0:
            problems.append(f"nbship down --volumes: {done.output.strip()[-300:]}")
        for name in ("baseline", "nbship", "nbship-nostrip", "probe", "datagen"):
            if self.docker.exists(self.tag(name)):
                self.docker("rmi", self.tag(name), check=False, quiet=True)
        for image_id in sorted(self.images):
            if self.docker.exists(image_id):
                self.docker("rmi", image_id, check=False, quiet=True)
        for base in self.bases:
            if self.docker.exists(base):
                self.docker("rmi", base, check=False, quiet=True)
        return problems


def generate_data(bench: Bench) -> int:
    """~18 MB of data: the example's own make_data.py at a finer grid, run in an image of the example
    (built untimed from a copy, before anything is measured)."""
    scratch = bench.project.parent / "datagen"
    shutil.copytree(EXAMPLE, scratch)
    bench.shell.run([bench.nbship, "build", str(scratch), "-t", bench.tag("datagen")])
    script = (
        "import sys; sys.path.insert(0, '/w'); import make_data as m; from pathlib import Path; "
        f"m.RESOLUTION = {DATA_RESOLUTION}; m.OUT_FILE = Path('/w/data/sst_monthly.nc'); m.main()"
    )
    bench.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "-v",
        f"{bench.project}:/w",
        bench.tag("datagen"),
        "python",
        "-c",
        script,
    )
    bench.docker("rmi", bench.tag("datagen"), check=False, quiet=True)
    bench.shell.run([bench.nbship, "down", str(scratch), "--volumes"], check=False)
    shutil.rmtree(scratch, ignore_errors=True)
    return sum(f.stat().st_size for f in (bench.project / "data").rglob("*") if f.is_file())


# --------------------------------------------------------------------------------------------
# One round


COLD, EDIT, DEPENDENCY, NO_CHANGE, READY = "cold", "edit", "dependency", "no_change", "ready"


def one_round(bench: Bench, results: Results, index: int) -> None:
    order: tuple[Side, ...] = SIDES if index % 2 == 0 else SIDES[::-1]
    tag = f"[{index + 1}/{results.rounds}]"

    def timed(metric: str, side: Side, action: Callable[[], Completed | float]) -> None:
        outcome = action()
        seconds = outcome if isinstance(outcome, float) else outcome.seconds
        results.add(metric, side, seconds)
        if isinstance(outcome, Completed):
            results.fetched.setdefault(f"{metric}/{side}", []).append(packages_fetched(outcome.output))
        progress(f"{tag} {side}: {metric}: {seconds:.2f} s")

    bench.new_base(f"r{index + 1}")
    bench.write_baseline()
    bench.write_requirements()
    for side in order:
        if side == "baseline":
            timed(COLD, side, lambda: bench.build_baseline(cold=True))
        else:

            def cold_nbship() -> Completed:
                done = bench.build_nbship(cold=True)
                if index == 0:
                    results.slim = slim_totals(done.output)
                return done

            timed(COLD, side, cold_nbship)
    for side in SIDES:
        results.size.setdefault(side, []).append(bench.size(side))

    if index == 0 and bench.registry is not None:
        for side in SIDES:
            bench.push(side, "before-edit")
    edit_notebook(bench.project, f"{index + 1}-{uuid.uuid4().hex[:6]}")
    for side in order:
        if side == "baseline":
            timed(EDIT, side, bench.build_baseline)
        else:
            timed(EDIT, side, bench.build_nbship)
    if index == 0 and bench.registry is not None:
        for side in SIDES:
            results.push[side], results.push_blobs[side] = bench.push(side, "after-edit")
            progress(f"{tag} {side}: push after the notebook edit wrote {fmt_bytes(results.push[side])}")

    # Twice per round: the first start after a rebuild (nbship merges the new notebook into the
    # project's volume), then a plain restart.
    for side in [*order, *order[::-1]]:
        if side == "baseline":
            timed(READY, side, lambda: bench.ready_docker_run(bench.tag("baseline")))
        else:
            timed(READY, side, bench.ready_nbship_up)
    for side in order:
        if side == "baseline":
            timed(NO_CHANGE, side, bench.build_baseline)
        else:
            timed(NO_CHANGE, side, lambda: bench.build_nbship(expect="skip"))

    bench.write_baseline([ADDED_DEPENDENCY])
    bench.write_requirements([ADDED_DEPENDENCY])
    for side in order:
        if side == "baseline":
            timed(DEPENDENCY, side, bench.build_baseline)
        else:
            timed(DEPENDENCY, side, bench.build_nbship)


def variants_round(bench: Bench, results: Results, rounds: int) -> None:
    """Start-up with and without stripping, the same way for every image: docker run + poll."""
    bench.write_baseline()
    bench.write_requirements()
    bench.build_nbship()
    done = bench.build_nbship(strip=False)
    results.variant_size = {"nbship": bench.size("nbship"), "nbship-nostrip": bench.size("nbship-nostrip")}
    results.versions["nbship --no-strip build"] = f"{done.seconds:.1f} s (layer cache warm)"
    for index in range(rounds):
        names = ["baseline", "nbship", "nbship-nostrip"]
        for name in names if index % 2 == 0 else names[::-1]:
            token = None if name == "baseline" else secrets.token_hex(16)
            seconds = bench.ready_docker_run(bench.tag(name), token=token)
            results.ready_run.setdefault(name, []).append(seconds)
            progress(f"[start-up {index + 1}/{rounds}] {name}: {seconds:.2f} s")


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Row:
    metric: str
    label: str
    target: Target
    kind: Literal["seconds", "bytes"]


ROWS = (
    Row(COLD, "Cold build (no layer cache, empty cache mounts)", Target("ratio", 1.0, "≤ 1.0x"), "seconds"),
    Row(EDIT, "Rebuild after editing one notebook", Target("absolute", 5.0, "≤ 5 s"), "seconds"),
    Row(DEPENDENCY, f"Rebuild after adding {ADDED_DEPENDENCY}", Target("ratio", 0.5, "≤ 0.5x"), "seconds"),
    Row("size", "Final image size", Target("ratio", 0.85, "≤ 0.85x"), "bytes"),
    Row(READY, "Ready: command to server answering with its token", Target("absolute", 3.0, "≤ 3 s"), "seconds"),
    Row("push", "Bytes a push after a notebook edit writes to a registry", Target("absolute", 1e6, "≤ 1 MB"), "bytes"),
)

# Why a met target is met, and what would close a missed one: written for this design, per row.
EXPLAIN: dict[str, tuple[str, str]] = {
    COLD: (
        "uv installs in parallel from wheels without compiling bytecode, while pip downloads and installs one "
        "package after another and compiles every module; nbship spends part of the gain on its own steps "
        "(a tools venv with uv and dumb-init, the strip pass and compiling the server's bytecode, the manifest).",
        "The baseline pays for pip's serial downloads and bytecode compilation; nbship pays for the tools "
        "venv (`pip install uv dumb-init` from PyPI with no cache on a cold build), the strip pass and compiling "
        "the server's ~37 MB of bytecode. Closing it: install uv from a pinned static binary (or a wheel cached "
        "outside BuildKit's cache mounts) instead of pip, and compile only the modules the server imports at "
        "start-up instead of the whole dependency closure.",
    ),
    EDIT: (
        "Notebooks are copied in a late stage (`content`) that only an edit to them invalidates; the environment "
        "and data layers come from cache, and nbship's change check only stats files.",
        "The rebuild reruns the `content` stage and the manifest step; on a loaded daemon each RUN costs seconds. "
        "Folding the manifest into the content stage would save one step.",
    ),
    DEPENDENCY: (
        "The baseline reinstalls everything with pip and no download cache (the proxy here strips caching "
        "headers, so pip caches nothing); nbship reruns only its requirements step, and uv takes every package "
        "but the new one from its BuildKit cache mount.",
        "uv still copies every package out of its cache (UV_LINK_MODE=copy) and the strip pass walks the whole "
        "environment again; a hard-link or reflink-capable cache would make the copy cheaper.",
    ),
    "size": (
        "The strip pass (below) removes test suites, setuptools/wheel, C/Cython sources and source maps, and keeps "
        "bytecode only for the Jupyter server and kernel; the baseline carries pip's bytecode for every module.",
        "What is left is mostly compiled extensions (numpy, pandas, matplotlib and their bundled libraries), "
        "JupyterLab's static assets and the base image. Closing the rest: strip debug symbols from bundled "
        "`.so` files (`strip --strip-unneeded`, needs binutils in the env stage), drop type stubs and headers.",
    ),
    READY: (
        "The server's packages ship compiled (the start-up table below shows what that is worth), so the "
        "image itself starts as fast as the baseline's; nbship's own share (its CLI start-up, the up-to-date "
        "check, creating the container with its volume, the volume refresh) fits in the rest.",
        "Started the same way (`docker run` + poll, table below) nbship's image is as fast as the baseline's: "
        "the gap is nbship's own work around it: the CLI's start-up (Python imports, 0.3 s idle, more under "
        "load), the up-to-date check (detect, render, stat every file), creating the container with its volume, "
        "the volume refresh, and relaying the start messages. Inside JupyterLab's own ~2 s, 1.2-1.8 s is one "
        "import: `rfc3987_syntax` builds a Lark grammar when imported (through jupyter-events -> "
        "`jsonschema[format-nongpl]`); the baseline pays it too. What would close it: a cached or lazily built "
        "grammar upstream (about 1.5 s for both sides); on nbship's side, lazy CLI imports and skipping the "
        "fingerprint walk when the tagged image was built from the same inputs moments ago.",
    ),
    "push": (
        "A notebook edit changes only the small `content` layer and the manifest layer; the registry already "
        "has every other layer, so only those, the image config and the manifest are written.",
        "The layers a notebook edit touches would have to get smaller, e.g. by not re-copying unchanged files.",
    ),
}


def _row_values(results: Results, row: Row) -> tuple[float | None, float | None, list[float], list[float]]:
    if row.metric == "size":
        base = [float(v) for v in results.size.get("baseline", [])]
        nb = [float(v) for v in results.size.get("nbship", [])]
    elif row.metric == "push":
        base = [float(results.push["baseline"])] if "baseline" in results.push else []
        nb = [float(results.push["nbship"])] if "nbship" in results.push else []
    else:
        base, nb = results.values(row.metric, "baseline"), results.values(row.metric, "nbship")
    return (
        statistics.median(base) if base else None,
        statistics.median(nb) if nb else None,
        base,
        nb,
    )


def results_table(results: Results) -> tuple[list[str], list[tuple[Row, bool | None]]]:
    lines = [
        "| Measure | Baseline (median) | nbship (median) | nbship / baseline | Target | Met | Spread baseline | "
        "Spread nbship |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts: list[tuple[Row, bool | None]] = []
    for row in ROWS:
        base, nb, base_all, nb_all = _row_values(results, row)
        fmt = fmt_seconds if row.kind == "seconds" else fmt_bytes
        met = row.target.met(nb, base)
        verdicts.append((row, met))
        mark = {True: "yes", False: "**no**", None: "—"}[met]
        lines.append(
            f"| {row.label} | {fmt(base)} | {fmt(nb)} | {fmt_ratio(nb, base)} | {row.target.text} | {mark} "
            f"| {spread(base_all, fmt)} | {spread(nb_all, fmt)} |"
        )
    return lines, verdicts


@dataclass(frozen=True)
class Machine:
    date: str
    cpus: int
    memory: str
    system: str
    engine: str
    client: str
    nbship_version: str


def describe_machine(docker: Docker, nbship: str) -> Machine:
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists() and (match := re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())):
        memory = f"{int(match.group(1)) / 1024**2:.1f} GiB"
    return Machine(
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        memory=memory,
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
        engine=docker("version", "--format", "{{.Server.Version}}").output.strip(),
        client=f"{docker.cli} {docker('version', '--format', '{{.Client.Version}}').output.strip()}",
        nbship_version=docker.shell.run([nbship, "--version"]).output.strip(),
    )


def render_report(results: Results, machine: Machine, *, minutes: float, command: str, baseline: str) -> str:
    table, verdicts = results_table(results)
    survive = {
        True: "they do (so the nbship cold build was NOT cold for downloads)",
        False: "they do not",
        None: "the probe was inconclusive",
    }[results.mounts_survive_no_cache]
    lines = [
        "# nbship benchmark results",
        "",
        f"Generated by `{command}` on {machine.date}; the run took {minutes:.1f} minutes, "
        f"{results.rounds} round{'s' if results.rounds != 1 else ''}.",
        "",
        f"- Machine: **{machine.cpus} cores**, {machine.memory} RAM, {machine.system}; Docker Engine "
        f"{machine.engine}, client {machine.client}; {machine.nbship_version}. The bench does not control "
        "other load on the daemon or the cores: see the spread columns.",
        f"- Workload: `examples/sea-surface-temperature` in a temporary copy, with {fmt_bytes(results.data_bytes)} "
        f"of data (its `make_data.py` at {DATA_RESOLUTION}° instead of 4°) and its notebook in `notebooks/`.",
        "",
        *table,
        "",
        "Medians over the rounds; the spread is min to max. Ratios below 1 favour nbship. The push row is measured "
        "in the first round only (the bytes do not vary).",
        "",
        "## Targets",
        "",
    ]
    for row, met in verdicts:
        why_met, gap = EXPLAIN[row.metric]
        if met:
            lines.append(f"- **{row.label}: met.** {why_met}")
        elif met is False:
            lines.append(f"- **{row.label}: not met.** {gap}")
        else:
            lines.append(f"- **{row.label}: not measured.**")
    lines += ["", "## What stripping leaves out", ""]
    if results.slim:
        lines.append("Summed over the env stage's install steps in the first cold build (`nbship-slim` lines):")
        lines.append("")
        lines.append("| Part | MB |")
        lines.append("| --- | --- |")
        lines += [f"| {name} | {mb:.1f} |" for name, mb in results.slim.items()]
        lines.append("")
    sizes = results.variant_size
    if sizes:
        lines.append(
            f"Image with stripping (default) {fmt_bytes(sizes.get('nbship'))}, with `--no-strip` "
            f"{fmt_bytes(sizes.get('nbship-nostrip'))}; baseline {fmt_bytes(_row_values(results, ROWS[3])[0])}."
        )
        lines.append("")
    if results.ready_run:
        lines.append(
            "Start-up of each image the same way (`docker run -d` + poll every 0.05 s; the baseline's token is read "
            "from its log, nbship's images get `JUPYTER_TOKEN`):"
        )
        lines.append("")
        lines.append("| Image | median | spread |")
        lines.append("| --- | --- | --- |")
        for name, values in results.ready_run.items():
            lines.append(f"| {name} | {fmt_seconds(statistics.median(values))} | {spread(values, fmt_seconds)} |")
        lines.append("")
    lines += ["## Every measurement", "", "Seconds in run order (packages downloaded, in brackets, for builds).", ""]
    lines += ["| Measure | Baseline | nbship |", "| --- | --- | --- |"]
    for metric, label in (
        (COLD, "cold"),
        (EDIT, "notebook edit"),
        (DEPENDENCY, "add a dependency"),
        (NO_CHANGE, "nothing changed"),
        (READY, "ready"),
    ):
        cells = []
        for side in SIDES:
            fetched = results.fetched.get(f"{metric}/{side}", [])
            values = results.values(metric, side)
            cells.append(
                ", ".join(f"{v:.2f}" + (f" [{fetched[i]}]" if i < len(fetched) else "") for i, v in enumerate(values))
                or "—"
            )
        lines.append(f"| {label} | {' | '.join(cells)} |")
    if results.startup:
        lines.append("")
        startup = fmt_seconds(statistics.median(results.startup))
        lines.append(f"nbship's own start-up (`nbship --version`, no Docker): median {startup}.")
    lines += [
        "",
        "## How this was measured",
        "",
        "- Each round: both cold builds; the notebook edit and both rebuilds; both ready times, twice; both no-change "
        f"builds; `{ADDED_DEPENDENCY}` added (nbship: `requirements.txt`; baseline: its `pip install` line) and "
        "both rebuilds. The side that goes first alternates from round to round.",
        "- **Cold** means: no layer cache and empty download caches, for both sides, without pruning anything "
        f"on the shared daemon. Each round builds on a new base image, `{BASE_IMAGE}` plus a one-file layer "
        "of its own (BuildKit keys its cache on the chain of layers: no cached layer of anyone's matches a step "
        "on it). Both sides build with `--no-cache` "
        "(`docker build` / `nbship build`): no layer is reused, and on this engine a `--no-cache` build starts "
        "with empty BuildKit cache mounts, so uv's download cache is empty too (a two-build probe checks this "
        f"every run: do cache mounts survive `--no-cache`? {survive}). pip keeps no cache here (the proxy strips "
        "caching headers). The new base also keeps the `--no-cache` builds from sharing a step with other "
        "developers' builds, which crashes BuildKit 0.8 (moby/buildkit#2303).",
        "- The dependency row starts from the round's cold build: the layer cache and uv's cache mount hold what "
        "that build left; the new package is downloaded in every round.",
        "- Ready, nbship: wall time of `nbship up PROJECT --detach --port P` (the CLI's start-up, the up-to-date "
        "check, the volume refresh and JupyterLab's start; it returns once /api/status answers with the token), "
        "then `nbship down`. Baseline: `docker run -d -p 127.0.0.1:P:8888` and a poll every 0.05 s of `docker logs` "
        "for the token and of /api/status with it.",
        "- Push: Debian's docker-registry on 127.0.0.1 with storage in the run's folder. Both images are pushed, "
        "then the notebook is edited, both rebuilt and pushed again under a new tag; the row is the size of the "
        "blobs the second push added to the registry's store (layers, image config and manifest). nbship pushes "
        "with `nbship push --to`, the baseline with `docker push`.",
        "- Timings are wall-clock seconds of whole commands, nbship's start-up included. Other developers "
        "build on the same daemon and 2 cores, so single values are noisy: read the medians and the spread.",
        "",
        "Baseline Dockerfile (written beside the project copy, built with the copy as context):",
        "",
        "```dockerfile",
        baseline.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The run


def find_nbship() -> str:
    beside = Path(sys.executable).parent / "nbship"
    if beside.exists():
        return str(beside)
    found = shutil.which("nbship")
    if found is None:
        raise BenchError("no `nbship` command beside this Python or on PATH: install nbship first")
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark nbship against the tutorial's hand-written Dockerfile.")
    parser.add_argument("--quick", action="store_true", help="one round: a smoke run (about 4 minutes)")
    parser.add_argument("--rounds", type=int, help=f"rounds (default {DEFAULT_ROUNDS}, 1 with --quick)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default bench/RESULTS.md)")
    parser.add_argument("--docker", default=DEFAULT_DOCKER, help="docker CLI with BuildKit (default /usr/bin/docker)")
    parser.add_argument("--keep-log", action="store_true", help="keep the command log in the temp folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = args.rounds or (1 if args.quick else DEFAULT_ROUNDS)
    if rounds < 1:
        print("--rounds must be at least 1", file=sys.stderr)
        return 2
    command = "bench/run.py" + (" --quick" if args.quick else "") + (f" --rounds {args.rounds}" if args.rounds else "")
    started = time.perf_counter()
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="nbship-bench-"))
    log_path = work / "commands.log"
    exit_code = 0
    with log_path.open("w", encoding="utf-8") as log:
        shell = Shell(log)
        docker = Docker(shell, args.docker)
        project = work / EXAMPLE.name
        prepare_project(EXAMPLE, project)
        baseline_dir = work / "baseline"
        baseline_dir.mkdir()
        deps = requirement_lines((EXAMPLE / "requirements.txt").read_text(encoding="utf-8"))
        bench = Bench(shell, docker, find_nbship(), project, baseline_dir, deps, run_id)
        results = Results(rounds)
        try:
            if not docker.exists(BASE_IMAGE):
                raise BenchError(f"the base image {BASE_IMAGE} is not on this machine (the benchmark never pulls)")
            machine = describe_machine(docker, bench.nbship)
            progress(f"{rounds} round(s); images {TAG_PREFIX}/{run_id}-*; log {log_path}")
            probe_base = bench.new_base("probe")
            results.mounts_survive_no_cache = docker.mounts_survive_no_cache(work, bench.tag("probe"), probe_base)
            results.data_bytes = generate_data(bench)
            survive = results.mounts_survive_no_cache
            progress(f"data: {fmt_bytes(results.data_bytes)}; cache mounts survive --no-cache: {survive}")
            bench.registry = Registry(work / "registry")
            for index in range(rounds):
                one_round(bench, results, index)
                results.startup.append(shell.run([bench.nbship, "--version"]).seconds)
            variants_round(bench, results, rounds)
            report = render_report(
                results,
                machine,
                minutes=(time.perf_counter() - started) / 60,
                command=command,
                baseline=baseline_dockerfile(deps),
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(report, encoding="utf-8")
            progress(f"wrote {args.out}")
            print(report)
        except BenchError as exc:
            progress(f"benchmark failed: {exc}")
            exit_code = 1
        except KeyboardInterrupt:
            progress("interrupted")
            exit_code = 130
        finally:
            if bench.registry is not None:
                bench.registry.stop()
            for problem in bench.cleanup():
                progress(problem)
    if args.keep_log or exit_code != 0:
        kept = Path(tempfile.gettempdir()) / f"nbship-bench-{run_id}.log"
        shutil.copyfile(log_path, kept)
        progress(f"command log kept at {kept}")
    shutil.rmtree(work, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
