"""The report: formatting (pure), the targets and rows of the results table, the description of the
machine, and the Markdown report itself.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from measure import COLD, DEPENDENCY, EDIT, NO_CHANGE, READY, SIDES, Docker, Results
from workloads import ADDED_DEPENDENCY, BASE_IMAGE, DATA_RESOLUTION

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
