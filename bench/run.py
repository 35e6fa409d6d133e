"""Benchmark nbship against the hand-written Dockerfile researchers use today.

Run it from the repository root with nbship's virtual environment:

    /work/venv/bin/python bench/run.py [--quick] [--out bench/RESULTS.md]

Everything is measured in the same run and reported as ratios (nbship / baseline and uv / pip);
nothing is asserted about absolute timings, which depend on the machine, the network to PyPI and
whatever else the Docker daemon is doing. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import posixpath
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sea-surface-temperature"
DEFAULT_OUT = REPO / "bench" / "RESULTS.md"
# /usr/bin/docker is a 20.10 client with BuildKit built in (DOCKER_BUILDKIT=1); a newer client
# without the buildx plugin could only use the classic builder.
DEFAULT_DOCKER = "/usr/bin/docker"
BASE_IMAGE = "python:3.11-slim"
TAG_PREFIX = "nbship-bench"
COMMAND_TIMEOUT = 3600.0
CACHE_MOUNT_TYPE = "exec.cachemount"

BASELINE_DOCKERFILE = f"""\
# The hand-written workflow nbship is compared with: copy everything, pip install, run as root.
FROM {BASE_IMAGE}
WORKDIR /home/work
COPY . /home/work
RUN pip install --no-cache-dir -r requirements.txt jupyterlab
CMD jupyter lab --ip=0.0.0.0 --allow-root
"""

Variant = Literal["baseline", "uv", "pip"]
Installer = Literal["uv", "pip"]
VARIANTS: tuple[Variant, ...] = ("baseline", "uv", "pip")
INSTALLERS: tuple[Installer, ...] = ("uv", "pip")

# Timed metrics, in report order: (key, label).
COLD = "cold"
NO_CACHE = "no_cache"
REQUIREMENTS = "requirements"
EDIT = "edit"
NO_CHANGE = "no_change"
TIMED_METRICS: tuple[tuple[str, str], ...] = (
    (COLD, "Cold build: `--no-cache`, cache mounts pruned"),
    (NO_CACHE, "Build with `--no-cache`, cache mounts not pruned"),
    (REQUIREMENTS, "Rebuild after a requirements.txt edit"),
    (EDIT, "Rebuild after a notebook edit"),
    (NO_CHANGE, "Rebuild with nothing changed"),
)
# Rows where the installer does the work, so that uv / pip says something about the installers.
INSTALLER_METRICS = (COLD, NO_CACHE, REQUIREMENTS)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the end of its output."""


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

    def run(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        quiet: bool = False,
        timeout: float = COMMAND_TIMEOUT,
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
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"`{' '.join(command)}` did not finish within {timeout:.0f} s") from exc
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
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


_PIP_DOWNLOAD = re.compile(r"^#\d+ [\d.]+\s+Downloading \S+\.(?:whl|tar\.gz|zip)\b", re.MULTILINE)
_UV_PREPARED = re.compile(r"^#\d+ [\d.]+ Prepared (\d+) packages? in ", re.MULTILINE)


_INSTALLED = re.compile(r"^#\d+ [\d.]+ (?:Installed \d+ packages? in |Successfully installed )", re.MULTILINE)


def packages_fetched(build_log: str) -> int:
    """Packages the installers had to fetch in a BuildKit build log: pip's "Downloading x.whl" lines
    plus uv's "Prepared N packages" (uv prints that only for what its cache did not have)."""
    return len(_PIP_DOWNLOAD.findall(build_log)) + sum(int(n) for n in _UV_PREPARED.findall(build_log))


# --------------------------------------------------------------------------------------------
# Docker


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    size: int
    layers: tuple[str, ...]  # RootFS.Layers: diff ids, bottom to top


@dataclass(frozen=True)
class CacheRecord:
    record_id: str
    kind: str
    in_use: bool


@dataclass(frozen=True)
class PruneOutcome:
    method: str
    removed_mounts: int
    kept_others: int
    lost_others: int


@dataclass(frozen=True)
class LayerSize:
    raw: int  # bytes of the uncompressed layer tar
    gzipped: int  # the same tar gzip-compressed at level 6, about what a push uploads


@dataclass
class Docker:
    shell: Shell
    cli: str

    def __call__(self, *args: str, check: bool = True, buildkit: bool = False, quiet: bool = False) -> Completed:
        env = {"DOCKER_BUILDKIT": "1"} if buildkit else None
        return self.shell.run([self.cli, *args], env=env, check=check, quiet=quiet)

    def inspect(self, reference: str) -> ImageInfo:
        data = json.loads(self("image", "inspect", reference, quiet=True).output)[0]
        return ImageInfo(str(data["Id"]), int(data["Size"]), tuple(str(x) for x in data["RootFS"]["Layers"]))

    def exists(self, reference: str) -> bool:
        return self("image", "inspect", "--format", "{{.Id}}", reference, check=False, quiet=True).returncode == 0

    def cache_records(self) -> list[CacheRecord]:
        output = self("system", "df", "-v", "--format", "{{json .BuildCache}}", quiet=True).output.strip()
        rows = json.loads(output or "[]") or []
        return [
            CacheRecord(
                record_id=str(row.get("ID", "")).rstrip("*"),
                kind=str(row.get("CacheType", "")),
                in_use=str(row.get("InUse", "")).lower() == "true",
            )
            for row in rows
        ]

    def prune_cache_mounts(self) -> PruneOutcome:
        """Empties BuildKit's cache mounts (the download caches nbship's Dockerfile mounts). Checks
        that the engine honoured the type filter: no unused cache-mount record may be left, and every
        other unused record that was there before must still be there. When the filter is refused or
        ignored, falls back to pruning the whole build cache."""
        before = self.cache_records()
        others_before = {r.record_id for r in before if r.kind != CACHE_MOUNT_TYPE and not r.in_use}
        done = self("builder", "prune", "-af", "--filter", f"type={CACHE_MOUNT_TYPE}", check=False)
        after = self.cache_records()
        after_ids = {r.record_id for r in after}
        mounts_left = [r for r in after if r.kind == CACHE_MOUNT_TYPE and not r.in_use]
        removed = sum(1 for r in before if r.kind == CACHE_MOUNT_TYPE and r.record_id not in after_ids)
        kept, lost = len(others_before & after_ids), len(others_before - after_ids)
        command = f"`docker builder prune -af --filter type={CACHE_MOUNT_TYPE}`"
        if done.returncode == 0 and not mounts_left:
            verdict = "filter honoured" if lost == 0 else "filter NOT honoured: other build cache went too"
            return PruneOutcome(f"{command} ({verdict})", removed, kept, lost)
        self("builder", "prune", "-af")
        return PruneOutcome("`docker builder prune -af` (the type filter did not work here)", removed, 0, lost)

    def mounts_survive_no_cache(self, scratch: Path, tag: str) -> bool | None:
        """Whether a `--no-cache` build sees what an earlier build left in a cache mount."""
        folder = scratch / "mount-probe"
        folder.mkdir(exist_ok=True)
        cache_id = f"{TAG_PREFIX}-probe-{uuid.uuid4().hex[:8]}"
        (folder / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nARG RUN_NO=0\n"
            f"RUN --mount=type=cache,id={cache_id},target=/probe \\\n"
            "    echo \"seen:$(ls /probe | tr '\\n' ' '):end\"; touch /probe/run-$RUN_NO\n",
            encoding="utf-8",
        )
        common = ["build", "--progress=plain", "-t", tag]
        self(*common, "--build-arg", "RUN_NO=1", str(folder), buildkit=True)
        second = self(*common, "--no-cache", "--build-arg", "RUN_NO=2", str(folder), buildkit=True)
        match = re.search(r"^#\d+ [\d.]+ seen:([^$]*):end", second.output, re.MULTILINE)
        return None if match is None else "run-1" in match.group(1)

    def layer_sizes(self, reference: str, wanted: set[str], scratch: Path) -> dict[str, LayerSize]:
        """Sizes of the layers `wanted` (diff ids) of an image, read from `docker save`."""
        info = self.inspect(reference)
        archive = scratch / f"save-{uuid.uuid4().hex[:8]}.tar"
        try:
            self("save", "-o", str(archive), reference)
            with tarfile.open(archive) as tar:
                manifest_file = tar.extractfile("manifest.json")
                if manifest_file is None:
                    raise BenchError(f"`docker save {reference}` has no manifest.json")
                paths = [str(p) for p in json.loads(manifest_file.read())[0]["Layers"]]
                if len(paths) != len(info.layers):
                    raise BenchError(f"{reference}: {len(paths)} layers saved, {len(info.layers)} in RootFS")
                sizes: dict[str, LayerSize] = {}
                for diff_id, path in zip(info.layers, paths, strict=True):
                    if diff_id in wanted and diff_id not in sizes:
                        member = _resolve(tar, path)
                        sizes[diff_id] = LayerSize(member.size, _gzip_size(tar, member))
                return sizes
        finally:
            archive.unlink(missing_ok=True)


def _resolve(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    member = tar.getmember(name)
    for _ in range(16):
        if not member.issym():
            return member
        member = tar.getmember(posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname)))
    raise BenchError(f"symlink loop at {name} in a saved image")


def _gzip_size(tar: tarfile.TarFile, member: tarfile.TarInfo) -> int:
    source = tar.extractfile(member)
    if source is None:
        return 0
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    total = 0
    while chunk := source.read(1 << 20):
        total += len(packer.compress(chunk))
    return total + len(packer.flush())


# --------------------------------------------------------------------------------------------
# The project and the builds


def edit_notebook(project: Path, marker: str) -> None:
    """Appends a markdown cell to the project's notebook, as a researcher's small edit would."""
    notebooks = sorted(project.glob("*.ipynb"))
    if not notebooks:
        raise BenchError(f"no notebook in {project}")
    data = json.loads(notebooks[0].read_text(encoding="utf-8"))
    data["cells"].append(
        {
            "cell_type": "markdown",
            "id": f"bench-{marker}",
            "metadata": {},
            "source": [f"Benchmark edit {marker}: a note added after the first build."],
        }
    )
    notebooks[0].write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def edit_requirements(project: Path, marker: str) -> None:
    """Appends a comment line: the file changes (so the install step runs again), the packages do not."""
    with (project / "requirements.txt").open("a", encoding="utf-8") as file:
        file.write(f"# benchmark edit {marker}\n")


_SITE_PACKAGES_SCRIPT = """
import os, site
total = pyc = 0
for root in site.getsitepackages():
    for folder, _, files in os.walk(root):
        for name in files:
            size = os.lstat(os.path.join(folder, name)).st_size
            total += size
            pyc += size if name.endswith(".pyc") else 0
print(total, pyc)
"""

_CACHE_CONTROL_SCRIPT = """
import json, urllib.request
accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
index = urllib.request.Request("https://pypi.org/simple/six/", headers=accept)
with urllib.request.urlopen(index, timeout=30) as answer:
    files = json.load(answer)["files"]
url = next(f["url"] for f in files if f["filename"].endswith(".whl"))
with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as answer:
    print(answer.headers.get("Cache-Control") or "none")
"""


@dataclass(frozen=True)
class Measure:
    seconds: float
    fetched: int  # packages downloaded during the build (see packages_fetched)
    installed: bool  # an installer ran (its step was not taken from the layer cache)


Expect = Literal["build", "skip"]


@dataclass
class Bench:
    shell: Shell
    docker: Docker
    nbship: str
    project: Path
    baseline_dockerfile: Path
    tags: dict[Variant, str]
    probe_tag: str
    seen_images: set[str] = field(default_factory=set)
    builder_description: str = ""

    def build_baseline(self, *, no_cache: bool = False) -> Measure:
        args = ["build", "--progress=plain", "-f", str(self.baseline_dockerfile), "-t", self.tags["baseline"]]
        if no_cache:
            args.append("--no-cache")
        done = self.docker(*args, str(self.project), buildkit=True)
        self._remember("baseline")
        return Measure(done.seconds, packages_fetched(done.output), bool(_INSTALLED.search(done.output)))

    def build_nbship(self, installer: Installer, *, no_cache: bool = False, expect: Expect = "build") -> Measure:
        """Times `nbship -v build` (-v only puts the build log in the output, to count downloads)."""
        command = [self.nbship, "-v", "build", str(self.project), "-t", self.tags[installer]]
        command += ["--installer", installer, "--builder", "buildkit"]
        if no_cache:
            command.append("--no-cache")
        done = self.shell.run(command)
        skipped = "is up to date" in done.output
        if expect == "skip" and not skipped:
            raise BenchError(f"nbship rebuilt {self.tags[installer]} although nothing had changed")
        if expect == "build" and skipped:
            raise BenchError(f"nbship skipped the build of {self.tags[installer]} although the project changed")
        if match := re.search(r"^nbship Building \S+ with (.+?)\.?$", done.output, re.MULTILINE):
            self.builder_description = match.group(1)
        self._remember(installer)
        return Measure(done.seconds, packages_fetched(done.output), bool(_INSTALLED.search(done.output)))

    def _remember(self, variant: Variant) -> None:
        self.seen_images.add(self.docker.inspect(self.tags[variant]).image_id)

    def python_in(self, variant: Variant, script: str) -> str:
        """Runs a Python snippet in the variant's image (no network); its last line of output, or "?"."""
        done = self.docker(
            "run", "--rm", "--network", "none", "--entrypoint", "python", self.tags[variant], "-c", script, check=False
        )
        lines = done.output.strip().splitlines()
        return lines[-1] if done.returncode == 0 and lines else "?"

    def package_version(self, variant: Variant, package: str) -> str:
        return self.python_in(variant, f"import importlib.metadata as m; print(m.version({package!r}))")

    def site_packages(self, variant: Variant) -> tuple[int, int] | None:
        """Bytes installed in the image's site-packages, and how many of them are compiled .pyc files."""
        answer = self.python_in(variant, _SITE_PACKAGES_SCRIPT)
        parts = answer.split()
        return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else None

    def startup_seconds(self) -> float:
        """nbship's own start-up: `nbship --version` (imports, no Docker)."""
        return self.shell.run([self.nbship, "--version"]).seconds

    def pypi_cache_control(self) -> str:
        """The Cache-Control header a build container gets for a wheel download from PyPI ("none" when
        absent). pip's HTTP cache stores a download only when this allows it."""
        done = self.docker("run", "--rm", BASE_IMAGE, "python3", "-c", _CACHE_CONTROL_SCRIPT, check=False)
        lines = done.output.strip().splitlines()
        return lines[-1] if done.returncode == 0 and lines else "? (the check failed)"

    def cleanup(self) -> list[str]:
        """Removes the benchmark's tags and every image id they pointed to during the run."""
        problems: list[str] = []
        for tag in [*self.tags.values(), self.probe_tag]:
            if self.docker.exists(tag):
                done = self.docker("rmi", tag, check=False)
                if done.returncode != 0:
                    problems.append(f"could not remove {tag}: {done.output.strip()}")
        for image_id in sorted(self.seen_images):
            if self.docker.exists(image_id):
                self.docker("rmi", image_id, check=False)
        return problems


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class Results:
    repetitions: int
    timings: dict[str, dict[Variant, list[Measure]]] = field(default_factory=dict)
    image_size: dict[Variant, int] = field(default_factory=dict)
    edit_bytes: dict[Variant, tuple[int, int]] = field(default_factory=dict)  # raw, gzipped
    edit_layers: dict[Variant, tuple[int, int]] = field(default_factory=dict)  # changed, total
    prunes: list[PruneOutcome] = field(default_factory=list)
    mounts_survive_no_cache: bool | None = None
    baseline_cache_hit: list[bool] = field(default_factory=list)
    versions: dict[Variant, str] = field(default_factory=dict)
    site_packages: dict[Variant, tuple[int, int]] = field(default_factory=dict)  # bytes, of which .pyc
    startup: list[float] = field(default_factory=list)
    pypi_cache_control: str = "?"

    def add(self, metric: str, variant: Variant, measure: Measure) -> None:
        self.timings.setdefault(metric, {}).setdefault(variant, []).append(measure)

    def values(self, metric: str, variant: Variant) -> list[Measure]:
        return self.timings.get(metric, {}).get(variant, [])

    def median(self, metric: str, variant: Variant) -> float | None:
        values = self.values(metric, variant)
        return statistics.median(m.seconds for m in values) if values else None


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    number = float(value)
    for unit in ("B", "kB", "MB"):
        if number < 1000:
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return f"{number:.2f} GB"


def fmt_ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0:
        return "—"
    ratio = top / bottom
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


@dataclass(frozen=True)
class Machine:
    date: str
    cpus: int
    memory: str
    system: str
    engine: str
    storage_driver: str
    client: str
    nbship_version: str
    python: str
    base_image_id: str


def describe_machine(docker: Docker, nbship: str) -> Machine:
    engine = docker("version", "--format", "{{.Server.Version}}").output.strip()
    client = docker("version", "--format", "{{.Client.Version}}").output.strip()
    driver = docker("info", "--format", "{{.Driver}}").output.strip()
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists() and (match := re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())):
        memory = f"{int(match.group(1)) / 1024**2:.1f} GiB"
    return Machine(
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        memory=memory,
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
        engine=engine,
        storage_driver=driver,
        client=f"{docker.cli} {client}",
        nbship_version=docker.shell.run([nbship, "--version"]).output.strip(),
        python=platform.python_version(),
        base_image_id=docker.inspect(BASE_IMAGE).image_id[:19],
    )


def _fetched(results: Results, metric: str, variant: Variant) -> list[int]:
    return [m.fetched for m in results.values(metric, variant)]


def findings(results: Results) -> list[str]:
    notes: list[str] = []
    labels = dict(TIMED_METRICS)
    for metric, label in TIMED_METRICS:
        base, uv = results.median(metric, "baseline"), results.median(metric, "uv")
        if base and uv:
            verdict = f"{base / uv:.1f}x faster" if uv < base else f"{uv / base:.1f}x slower"
            notes.append(
                f"{label}: nbship (uv) is {verdict} than the baseline ({fmt_seconds(uv)} vs {fmt_seconds(base)})."
            )
    for metric in INSTALLER_METRICS:
        uv, pip = results.median(metric, "uv"), results.median(metric, "pip")
        if uv is not None and pip is not None:
            if pip < uv:
                notes.append(
                    f"**Surprise: pip beat uv** on “{labels[metric]}”: pip {fmt_seconds(pip)} vs uv {fmt_seconds(uv)} "
                    f"(uv / pip = {uv / pip:.2f}). nbship keeps the faster installer as its default, so this calls "
                    "for a re-measurement and, if it holds, for reconsidering the default."
                )
            else:
                notes.append(f"{labels[metric]}: uv is {pip / uv:.1f}x faster than pip.")
    if results.mounts_survive_no_cache is False:
        notes.append(
            "**Surprise: on this engine `--no-cache` does not keep BuildKit cache mounts.** A probe build wrote a "
            "file into a cache mount, and a following `--no-cache` build with the same mount id did not see it "
            "(a later normal build sees what the `--no-cache` build wrote). So the `--no-cache` row is a second "
            "cold build here, not a warm-download-cache one; the requirements.txt row is the warm-cache case."
        )
    elif results.mounts_survive_no_cache:
        notes.append("Cache mounts survive `--no-cache` on this engine (probe): the `--no-cache` row has a warm cache.")
    pip_req, uv_req = _fetched(results, REQUIREMENTS, "pip"), _fetched(results, REQUIREMENTS, "uv")
    if pip_req and any(pip_req):
        cause = (
            "PyPI downloads reach the build containers here without a Cache-Control header, and pip's HTTP "
            "cache keeps only responses that allow caching; on a direct connection to PyPI (which sends one) "
            "pip's cache mount would work and this row would favour uv less"
            if results.pypi_cache_control == "none"
            else f"PyPI downloads came with Cache-Control: {results.pypi_cache_control}, so the cause is elsewhere"
        )
        notes.append(
            f"**Surprise: pip's download cache did not help**: after the requirements.txt edit pip downloaded "
            f"{', '.join(map(str, pip_req))} packages again (per repetition) with its cache mount in place, while "
            f"uv downloaded {', '.join(map(str, uv_req))}. Likely cause: {cause}."
        )
    skip = results.median(NO_CHANGE, "uv")
    if results.startup and skip:
        startup = statistics.median(results.startup)
        notes.append(
            f"nbship's no-change check costs {fmt_seconds(skip)}, of which {fmt_seconds(startup)} is its own "
            "start-up (`nbship --version`: Python imports, no Docker); the baseline's cached `docker build` "
            "has no such cost."
        )
    sp = results.site_packages
    if "uv" in sp and "pip" in sp and sp["uv"][1] < sp["pip"][1]:
        notes.append(
            f"The pip image is bigger than the uv image mostly because pip compiles bytecode at install time: "
            f".pyc files in site-packages are {fmt_bytes(sp['pip'][1])} (pip) vs {fmt_bytes(sp['uv'][1])} (uv); "
            f"site-packages in all {fmt_bytes(sp['pip'][0])} vs {fmt_bytes(sp['uv'][0])}. Without .pyc files the "
            "uv image's first imports compile in the container at run time."
        )
    base_raw, uv_raw = results.edit_bytes.get("baseline"), results.edit_bytes.get("uv")
    if base_raw and uv_raw and uv_raw[0]:
        notes.append(
            f"A notebook edit changes {fmt_bytes(uv_raw[0])} of nbship's image against {fmt_bytes(base_raw[0])} of "
            f"the baseline's ({base_raw[0] / uv_raw[0]:.0f}x less to push; gzipped {fmt_bytes(uv_raw[1])} vs "
            f"{fmt_bytes(base_raw[1])})."
        )
    base_size, uv_size = results.image_size.get("baseline"), results.image_size.get("uv")
    if base_size and uv_size:
        word = "larger" if uv_size > base_size else "smaller"
        notes.append(
            f"nbship's image is {fmt_bytes(abs(uv_size - base_size))} {word} than the baseline's "
            f"({fmt_bytes(uv_size)} vs {fmt_bytes(base_size)}; ratio {uv_size / base_size:.2f})."
        )
    if results.baseline_cache_hit and not all(results.baseline_cache_hit):
        notes.append("The baseline's no-change `docker build` gave a new image id at least once (no full cache hit).")
    return notes


def _table(results: Results) -> list[str]:
    lines = [
        "| Metric | Baseline | nbship (uv, default) | nbship / baseline | nbship (`--installer pip`) | uv / pip |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for metric, label in TIMED_METRICS:
        base, uv, pip = (results.median(metric, v) for v in VARIANTS)
        base_text = fmt_seconds(base) + (" ¹" if metric in (COLD, NO_CACHE) else "")
        uv_pip = fmt_ratio(uv, pip) if metric in INSTALLER_METRICS else f"{fmt_ratio(uv, pip)} ²"
        lines.append(
            f"| {label} | {base_text} | {fmt_seconds(uv)} | {fmt_ratio(uv, base)} | {fmt_seconds(pip)} | {uv_pip} |"
        )
    size = results.image_size
    lines.append(
        f"| Image size (`docker image inspect` Size) | {fmt_bytes(size.get('baseline'))} | {fmt_bytes(size.get('uv'))} "
        f"| {fmt_ratio(size.get('uv'), size.get('baseline'))} | {fmt_bytes(size.get('pip'))} "
        f"| {fmt_ratio(size.get('uv'), size.get('pip'))} |"
    )
    for index, label in ((0, "uncompressed layer tars"), (1, "gzip -6, ≈ what a push uploads")):
        got = {v: (pair[index] if (pair := results.edit_bytes.get(v)) else None) for v in VARIANTS}
        lines.append(
            f"| Bytes in the layers a notebook edit changes ({label}) | {fmt_bytes(got['baseline'])} "
            f"| {fmt_bytes(got['uv'])} | {fmt_ratio(got['uv'], got['baseline'])} | {fmt_bytes(got['pip'])} "
            f"| {fmt_ratio(got['uv'], got['pip'])} |"
        )
    counts = {v: (f"{p[0]} of {p[1]}" if (p := results.edit_layers.get(v)) else "—") for v in VARIANTS}
    lines.append(
        f"| Layers a notebook edit changes | {counts['baseline']} | {counts['uv']} | — | {counts['pip']} | — |"
    )
    return lines


def render_report(
    results: Results, machine: Machine, *, minutes: float, builder: str, work_dir: str, command: str
) -> str:
    reps = results.repetitions
    plural = "s" if reps != 1 else ""
    survive = {True: "they do", False: "they do not", None: "the probe was inconclusive"}[
        results.mounts_survive_no_cache
    ]
    prune_methods = " / ".join(sorted({p.method for p in results.prunes})) or "—"
    lines: list[str] = [
        "# nbship benchmark results",
        "",
        f"Generated by `{command}` on {machine.date}; the run took {minutes:.1f} minutes. "
        f"{reps} repetition{plural}"
        + ("; every timing in the table is the median." if reps > 1 else " (quick mode): single measurements."),
        "",
        f"- Machine: {machine.cpus} CPUs (nproc), {machine.memory} RAM, {machine.system}",
        f"- Docker Engine {machine.engine} ({machine.storage_driver}); client {machine.client}; "
        f"nbship built with {builder or 'BuildKit'}",
        f"- {machine.nbship_version}; Python {machine.python}; base image `{BASE_IMAGE}` ({machine.base_image_id}…)",
        f"- Project: `examples/sea-surface-temperature`, copied to `{work_dir}` (removed afterwards)",
        f"- JupyterLab in the images: baseline {results.versions.get('baseline', '?')} (unpinned: the latest), "
        f"nbship {results.versions.get('uv', '?')} (pinned by nbship)",
        "- site-packages (of which .pyc): "
        + "; ".join(
            f"{v} {fmt_bytes(sp[0])} ({fmt_bytes(sp[1])})" for v in VARIANTS if (sp := results.site_packages.get(v))
        ),
        f"- Cache-Control header on a PyPI wheel download as seen from a build container: "
        f"`{results.pypi_cache_control}`",
        "",
        *_table(results),
        "",
        "Ratios below 1 favour nbship (first ratio) or uv (second ratio). "
        "¹ The baseline has no download cache (`pip install --no-cache-dir`, no cache mount): its one "
        "`docker build --no-cache` per repetition stands in both rows. "
        "² No installer runs in these two rows (the environment layers are cached, or nothing is built). "
        "After the notebook edit the pip rebuild runs right after the uv one and reuses the notebook-content "
        "stage that build made (the stage is the same for both): uv / pip there reflects the order of the "
        "builds, not the installers.",
        "",
        "## Findings",
        "",
        *[f"- {note}" for note in findings(results)],
        "",
        "## Every measurement",
        "",
        "Seconds in run order, with the number of packages the build downloaded in brackets "
        "(pip's `Downloading` lines plus uv's `Prepared N packages`).",
        "",
        "| Metric | Baseline | nbship (uv) | nbship (pip) |",
        "| --- | --- | --- | --- |",
    ]
    for metric, label in TIMED_METRICS:
        cells = [
            ", ".join(f"{m.seconds:.2f} [{m.fetched}]" for m in results.values(metric, v)) or "—" for v in VARIANTS
        ]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    removed = sum(p.removed_mounts for p in results.prunes)
    kept = sum(p.kept_others for p in results.prunes)
    lost = sum(p.lost_others for p in results.prunes)
    lines += [
        "",
        "## How this was measured",
        "",
        "- Baseline: the Dockerfile below, written next to the project copy (not into it) and built with "
        "`DOCKER_BUILDKIT=1 docker build -f … PROJECT`. nbship: `nbship -v build PROJECT -t TAG --installer uv|pip "
        "--builder buildkit`, the CLI's normal path (nbship itself decides whether to build; `-v` only adds the "
        "build log to the output, which is used to count downloads).",
        "- Order in each repetition: prune → baseline `--no-cache`; prune → pip `--no-cache` → pip `--no-cache` "
        "again → requirements.txt edit → pip rebuild; prune → the same for uv; an untimed pip rebuild to catch "
        "up with the second requirements edit; baseline rebuild (its context changed); append a markdown cell "
        "to the notebook → baseline, uv and pip rebuilds; the same three again with nothing changed (nbship "
        "must say the image is up to date; the baseline's `docker build` is a cache hit).",
        "- The requirements.txt edit appends a comment line: the install step runs again with the same "
        "packages, with the download cache the previous build left in the cache mount (that installer's own).",
        f"- Cache mounts: before each cold build they were emptied with {prune_methods}. Check after each "
        f"prune: {removed} cache-mount records removed in all, {kept} other unused build-cache records still "
        f"there, {lost} lost. Do cache mounts survive `--no-cache` on this engine? A two-build probe says: "
        f"{survive}.",
        "- Changed bytes: RootFS.Layers of each image before and after the notebook edit; layers whose diff id "
        "is new after the edit are what a push must upload. Sizes from `docker save` (uncompressed layer tars) "
        "and gzip level 6 over the same tars (registries store gzipped layers). First repetition only.",
        "- Timings are wall-clock seconds of the whole command (nbship's start-up and change detection "
        "included) and are noisy: they include downloads from PyPI and share "
        f"{machine.cpus} CPUs and one Docker daemon with whatever else ran at the time (other test runs may "
        f"have been building). {reps} repetition{plural}"
        + ("; the table shows medians." if reps > 1 else "; run without `--quick` for medians of 3.")
        + " Trust large ratios, not small differences.",
        "",
        "Baseline Dockerfile:",
        "",
        "```dockerfile",
        BASELINE_DOCKERFILE.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The run


def one_repetition(bench: Bench, results: Results, rep: int, scratch: Path) -> None:
    tag = f"[{rep + 1}/{results.repetitions}]"
    docker = bench.docker

    def record(metric: str, variant: Variant, measure: Measure, what: str) -> None:
        if metric in (COLD, NO_CACHE, REQUIREMENTS) and not measure.installed:
            raise BenchError(f"{variant}, {what}: no package was installed, the build came from the layer cache")
        results.add(metric, variant, measure)
        progress(f"{tag} {variant}: {what}: {measure.seconds:.2f} s, {measure.fetched} packages downloaded")

    results.prunes.append(docker.prune_cache_mounts())
    measure = bench.build_baseline(no_cache=True)
    results.add(NO_CACHE, "baseline", measure)
    record(COLD, "baseline", measure, "docker build --no-cache")

    for installer in ("pip", "uv"):
        results.prunes.append(docker.prune_cache_mounts())
        record(COLD, installer, bench.build_nbship(installer, no_cache=True), "cold (--no-cache, mounts pruned)")
        record(NO_CACHE, installer, bench.build_nbship(installer, no_cache=True), "--no-cache, mounts kept")
        edit_requirements(bench.project, f"{rep + 1}-{installer}-{uuid.uuid4().hex[:8]}")
        record(REQUIREMENTS, installer, bench.build_nbship(installer), "rebuild after a requirements edit")
    bench.build_nbship("pip")  # untimed: catch up with the uv round's requirements edit
    record(REQUIREMENTS, "baseline", bench.build_baseline(), "rebuild after a requirements edit")

    before = {variant: docker.inspect(bench.tags[variant]) for variant in VARIANTS}
    edit_notebook(bench.project, f"{rep + 1}-{uuid.uuid4().hex[:8]}")
    record(EDIT, "baseline", bench.build_baseline(), "rebuild after a notebook edit")
    for installer in INSTALLERS:
        record(EDIT, installer, bench.build_nbship(installer), "rebuild after a notebook edit")
    after = {variant: docker.inspect(bench.tags[variant]) for variant in VARIANTS}

    if rep == 0:
        for variant in VARIANTS:
            changed = set(after[variant].layers) - set(before[variant].layers)
            sizes = docker.layer_sizes(bench.tags[variant], changed, scratch) if changed else {}
            raw = sum(s.raw for s in sizes.values())
            results.edit_bytes[variant] = (raw, sum(s.gzipped for s in sizes.values()))
            results.edit_layers[variant] = (len(changed), len(after[variant].layers))
            progress(f"{tag} {variant}: the notebook edit changed {len(changed)} layers, {fmt_bytes(raw)}")

    record(NO_CHANGE, "baseline", bench.build_baseline(), "rebuild with nothing changed")
    results.baseline_cache_hit.append(docker.inspect(bench.tags["baseline"]).image_id == after["baseline"].image_id)
    for installer in INSTALLERS:
        record(NO_CHANGE, installer, bench.build_nbship(installer, expect="skip"), "nothing changed (skips)")
    results.startup.append(bench.startup_seconds())


def find_nbship() -> str:
    beside = Path(sys.executable).parent / "nbship"
    if beside.exists():
        return str(beside)
    found = shutil.which("nbship")
    if found is None:
        raise BenchError("no `nbship` command beside this Python or on PATH: install nbship first")
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark nbship against a hand-written Dockerfile.")
    parser.add_argument("--quick", action="store_true", help="one repetition instead of three")
    parser.add_argument("--repeat", type=int, help="number of repetitions (overrides --quick)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default: bench/RESULTS.md)")
    parser.add_argument("--docker", default=DEFAULT_DOCKER, help="docker CLI with BuildKit (default: /usr/bin/docker)")
    parser.add_argument("--keep-log", action="store_true", help="keep the full command log in the temp folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repetitions = args.repeat or (1 if args.quick else 3)
    if repetitions < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    command = "bench/run.py" + (" --quick" if args.quick else "") + (f" --repeat {args.repeat}" if args.repeat else "")
    started = time.perf_counter()
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="nbship-bench-"))
    log_path = work / "commands.log"
    exit_code = 0
    with log_path.open("w", encoding="utf-8") as log:
        shell = Shell(log)
        docker = Docker(shell, args.docker)
        project = work / EXAMPLE.name
        shutil.copytree(EXAMPLE, project)
        baseline_dir = work / "baseline"
        baseline_dir.mkdir()
        dockerfile = baseline_dir / "Dockerfile"
        dockerfile.write_text(BASELINE_DOCKERFILE, encoding="utf-8")
        tags: dict[Variant, str] = {v: f"{TAG_PREFIX}/{run_id}-{v}:latest" for v in VARIANTS}
        bench = Bench(shell, docker, find_nbship(), project, dockerfile, tags, f"{TAG_PREFIX}/{run_id}-probe:latest")
        results = Results(repetitions)
        try:
            if not docker.exists(BASE_IMAGE):
                raise BenchError(f"the base image {BASE_IMAGE} is not on this machine (the benchmark never pulls)")
            machine = describe_machine(docker, bench.nbship)
            progress(f"{repetitions} repetition(s); images {TAG_PREFIX}/{run_id}-*; log {log_path}")
            results.mounts_survive_no_cache = docker.mounts_survive_no_cache(work, bench.probe_tag)
            results.pypi_cache_control = bench.pypi_cache_control()
            progress(
                f"cache mounts survive --no-cache: {results.mounts_survive_no_cache}; "
                f"Cache-Control of a PyPI download: {results.pypi_cache_control}"
            )
            for rep in range(repetitions):
                one_repetition(bench, results, rep, work)
            for variant in VARIANTS:
                results.image_size[variant] = docker.inspect(tags[variant]).size
            results.versions = {v: bench.package_version(v, "jupyterlab") for v in ("baseline", "uv")}
            for variant in VARIANTS:
                if (found := bench.site_packages(variant)) is not None:
                    results.site_packages[variant] = found
            report = render_report(
                results,
                machine,
                minutes=(time.perf_counter() - started) / 60,
                builder=bench.builder_description,
                work_dir=str(work),
                command=command,
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
