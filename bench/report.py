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

from measure import (
    CLICK_RICH,
    COLD,
    DEPENDENCY,
    EDIT,
    HELP,
    NO_CHANGE,
    PUSH_DEPENDENCY,
    PUSH_EDIT,
    READY,
    SIDES,
    STATUS,
    Docker,
    Results,
    Side,
)
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


# What a target compares nbship's median with: a side's median of the same measure, another
# measure's median ("no_change:baseline": the tutorial's no-change `docker build`; "run:nbship":
# `docker run` + poll of nbship's own image), or nothing (an absolute bound).
Reference = str


@dataclass(frozen=True)
class Target:
    """nbship / reference <= limit ("ratio"), nbship - reference <= limit ("above"), or nbship <=
    limit ("absolute")."""

    kind: Literal["ratio", "absolute", "above"]
    limit: float
    text: str
    against: Reference = "baseline"

    def met(self, nbship: float | None, reference: float | None) -> bool | None:
        if nbship is None:
            return None
        if self.kind == "absolute":
            return nbship <= self.limit
        if reference is None or (self.kind == "ratio" and reference == 0):
            return None
        if self.kind == "above":
            return nbship - reference <= self.limit
        return nbship / reference <= self.limit


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Row:
    metric: str
    label: str
    targets: tuple[Target, ...]
    kind: Literal["seconds", "bytes"]


_EXPERT = "expert"
ROWS = (
    Row(
        COLD,
        "Cold build (no layer cache, empty cache mounts)",
        (Target("ratio", 0.5, "≤ 0.5x tutorial"), Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT)),
        "seconds",
    ),
    Row(
        EDIT,
        "Rebuild after editing one notebook",
        (
            Target("above", 1.0, "≤ 1 s above a no-change `docker build`", "no_change:baseline"),
            Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT),
        ),
        "seconds",
    ),
    Row(
        DEPENDENCY,
        f"Rebuild after adding {ADDED_DEPENDENCY}",
        (Target("ratio", 0.3, "≤ 0.3x tutorial"), Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT)),
        "seconds",
    ),
    Row(
        "size",
        "Final image size",
        (Target("ratio", 0.75, "≤ 0.75x tutorial"), Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT)),
        "bytes",
    ),
    Row(
        PUSH_EDIT,
        "Bytes a push after a notebook edit writes to a registry",
        (Target("absolute", 200e3, "≤ 200 kB"), Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT)),
        "bytes",
    ),
    Row(
        PUSH_DEPENDENCY,
        f"Bytes a push after adding {ADDED_DEPENDENCY} writes",
        (Target("ratio", 0.35, "≤ 0.35x tutorial"), Target("ratio", 1.0, "≤ 1.0x uv guide", _EXPERT)),
        "bytes",
    ),
    Row(
        NO_CHANGE,
        "No-change build",
        (Target("ratio", 1.5, "≤ 1.5x a no-change `docker build`"),),
        "seconds",
    ),
    Row(
        READY,
        "Ready: command to server answering with its token",
        (Target("ratio", 1.2, "≤ 1.2x `docker run` + poll of the same image", "run:nbship"),),
        "seconds",
    ),
    Row(HELP, "`nbship --help`", (Target("ratio", 1.6, "≤ 1.6x importing click and rich", "cli"),), "seconds"),
    Row(STATUS, "`nbship status`", (Target("ratio", 1.6, "≤ 1.6x importing click and rich", "cli"),), "seconds"),
)

# Why a met target is met, and what stands in the way of a missed one: per row, for this design.
EXPLAIN: dict[str, tuple[str, str]] = {
    COLD: (
        "uv installs the locked wheels in parallel without compiling bytecode; nbship's own steps (the tools, "
        "the assembly into layers, the manifest and the SBOM) fit in the rest.",
        "The floor is the download and unpacking of the locked wheels (uv on the host, empty cache: about 6 s). "
        "Above it, nbship pays for its own steps: uv from its pinned wheel's address (about 1.2 s, in a stage "
        "beside the system stage), the environment's seed, the install and the assembly into layers (one RUN, "
        "moving what it installed and stripping shared libraries), the server's bytecode (a stage of its own, "
        "beside the layers' COPY steps), BuildKit's content hash of each layer tree for its COPY (1.5-2 s), the "
        "layer snapshots and the export. One build stage per layer, installing its share of the lock, would let "
        "the layers install, strip and hash side by side; not done.",
    ),
    EDIT: (
        "Notebooks are copied in a late stage that only an edit to them invalidates; the environment and data "
        "layers come from cache.",
        "nbship's rebuild reruns the `content` stage (one RUN that copies the project from the mounted "
        "context without data/, writes the manifest and sorts the copy into its layers: a container and a "
        "snapshot on BuildKit 0.8) and the COPY of the notebooks' layer, plus the CLI's up-to-date check; a "
        "`COPY notebooks` of a hand-written Dockerfile is one cached-context copy.",
    ),
    DEPENDENCY: (
        "nbship reruns only its install step (the assembly in the same RUN, moving what uv installed) and the "
        "bytecode stage (which reads the server's bytecode back from its store in the cache mount), and uv takes "
        "every package but the new one from its cache mount.",
        "Both nbship and the uv guide rerun the whole install from uv's cache mount; nbship then assembles the "
        "whole environment into its layers again in the same RUN (moving the files, stripping every shared "
        "library; the server's bytecode comes from the cache mount) and BuildKit hashes every new layer tree for "
        "its COPY (1.5-2 s), although only the layers the new package touches change. One build stage per "
        "layer, installed from its share of the lock, would rerun only those.",
    ),
    "size": (
        "The assembly leaves out test suites, build tools, C/Cython sources, source maps, debug sections of "
        "shared libraries, the type stubs of packages that are not installed (jedi's typeshed) and the bytecode "
        "of all but the server, and hard-links the files a layer holds twice (JupyterLab's static assets); the "
        "others carry pip's or uv's bytecode for every module.",
        "What is left is compiled extensions (numpy, pandas, matplotlib and the libraries their wheels bundle, "
        "now without debug sections), JupyterLab's static assets, babel's locale data, the server's bytecode and "
        "the base image.",
    ),
    PUSH_EDIT: (
        "The project copy is three layers (the environment files and locks, the rest, the notebooks with the "
        "manifest): a notebook edit changes the last alone, so only it, the image config and the manifest "
        "are written.",
        "nbship's changed layer (the notebook and the manifest, ~4.8 kB) is the size of the uv guide's notebook "
        "layer; the rest of every push is the image config (its history and diff ids) and the manifest, which "
        "grow with the layer count: {layers_nbship} layers here (the environment's 14, which make the push "
        "after a dependency add small, the base's, the system step's, the data, the server's bytecode, "
        "dumb-init, nbship's programs, the SBOM and the project's three) against the uv guide's {layers_expert}.",
    ),
    PUSH_DEPENDENCY: (
        "The environment is in 14 layers (each large package alone, the small ones in hash buckets per tier): "
        "the new package takes a layer of its own and moves at most one other package into a shared layer, so "
        "the registry stores scipy's layer and one small bucket anew; the others are the same bytes.",
        "The environment is in 14 layers; the new package takes a layer of its own, and at most one other "
        "layer changes (a full tier pushes its smallest large package into a shared layer).",
    ),
    NO_CHANGE: (
        "nbship answers from the record of the last build (the stats of every input, then one image lookup), "
        "without detecting the project or asking the builder.",
        "A no-change build answers from the record of the last build (commands/fresh.py: the stats of every "
        "input, then one image lookup), before detection, settings, the lock, the Dockerfile or the docker SDK "
        "load; what is left is the CLI's own start-up (~0.1 s) against the docker client's.",
    ),
    READY: (
        "nbship's own share (start-up, the up-to-date check, the container and its volume, the refresh) fits in "
        "the margin over the image's own start.",
        "On top of the image's own start, nbship runs its CLI (click and rich, ~0.1 s), checks the image "
        "against the record of the last build (without detecting the project), creates the container and "
        "its volume through the Engine API, polls every 50 ms and relays the start messages; the volume "
        "refresh runs in the container before JupyterLab starts (~0.05 s).",
    ),
    HELP: (
        "The commands load on first use and nbship.api resolves each name when it is first used, so `--help` "
        "imports click and the group alone.",
        "Something above the CLI still imports a heavy module at start-up.",
    ),
    STATUS: (
        "status loads the engine and the server records only.",
        "status lists the containers with the standard library's HTTP client over the daemon's socket "
        "(engine/docker_api.py), without the docker SDK; what is left is nbship's own start-up: the CLI, the "
        "engine's value types and the option modules (~0.1 s).",
    ),
}


def _side_values(results: Results, metric: str, side: Side) -> list[float]:
    if metric == "size":
        return [float(v) for v in results.size.get(side, [])]
    if metric in (PUSH_EDIT, PUSH_DEPENDENCY):
        pushed = results.pushes.get(metric, {})
        return [float(pushed[side])] if side in pushed else []
    if metric in (HELP, STATUS):
        return list(results.cli.get(metric, [])) if side == "nbship" else []
    return results.values(metric, side)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def reference_value(results: Results, row: Row, target: Target) -> float | None:
    if target.kind == "absolute":
        return None
    if target.against == "cli":
        return _median(results.cli.get(CLICK_RICH, []))
    if target.against.startswith("run:"):
        return _median(results.ready_run.get(target.against.removeprefix("run:"), []))
    metric, _, side = target.against.rpartition(":")
    return _median(_side_values(results, metric or row.metric, side))  # type: ignore[arg-type]


def results_table(results: Results) -> tuple[list[str], list[tuple[Row, list[bool | None]]]]:
    lines = [
        "| Measure | Tutorial (median) | uv guide (median) | nbship (median) | nbship / tutorial | nbship / uv guide "
        "| Target | Met | Spread tutorial | Spread uv guide | Spread nbship |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts: list[tuple[Row, list[bool | None]]] = []
    for row in ROWS:
        fmt = fmt_seconds if row.kind == "seconds" else fmt_bytes
        every = {side: _side_values(results, row.metric, side) for side in SIDES}
        median = {side: _median(values) for side, values in every.items()}
        nb = median["nbship"]
        marks: list[str] = []
        texts: list[str] = []
        met_all: list[bool | None] = []
        for target in row.targets:
            reference = reference_value(results, row, target)
            met = target.met(nb, reference)
            met_all.append(met)
            marks.append({True: "yes", False: "**no**", None: "—"}[met])
            plain = target.kind == "absolute" or target.against in ("baseline", _EXPERT)
            shown = "" if plain else f" ({fmt(reference)})"
            texts.append(target.text + shown)
        verdicts.append((row, met_all))
        lines.append(
            f"| {row.label} | {fmt(median['baseline'])} | {fmt(median['expert'])} | {fmt(nb)} "
            f"| {fmt_ratio(nb, median['baseline'])} | {fmt_ratio(nb, median['expert'])} | {'; '.join(texts)} "
            f"| {' / '.join(marks)} | {spread(every['baseline'], fmt)} | {spread(every['expert'], fmt)} "
            f"| {spread(every['nbship'], fmt)} |"
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


def cold_steps(results: Results) -> list[str]:
    """Where each side's first cold build went, step by step (BuildKit's own timings)."""
    if not results.steps:
        return []
    lines = ["## Where the cold builds go", ""]
    lines.append(
        "The first round's cold builds, step by step as BuildKit timed them (steps of more than 0.05 s; steps "
        "of different stages may overlap). The rest of the command's time is outside BuildKit's steps: the "
        "client, solving, and for nbship its own start-up and checks."
    )
    for side, steps in results.steps.items():
        total = results.cold_total.get(side)
        lines += [
            "",
            f"**{side}** (whole command {fmt_seconds(total)}; steps add up to "
            f"{fmt_seconds(sum(s for _, s in steps))}):",
            "",
            "| Step | s |",
            "| --- | --- |",
        ]
        lines += [f"| `{title.replace('|', '/')}` | {seconds:.1f} |" for title, seconds in steps]
    lines.append("")
    return lines


def _verdict(row: Row, met: list[bool | None], facts: dict[str, str]) -> str:
    why_met, gap = (text.format_map(facts) for text in EXPLAIN[row.metric])
    if all(m is None for m in met):
        return f"- **{row.label}: not measured.**"
    parts = [
        f"{target.text}: {'met' if m else 'not met' if m is False else 'not measured'}"
        for target, m in zip(row.targets, met, strict=True)
    ]
    text = why_met if all(m is not False for m in met) else gap
    return f"- **{row.label}** ({'; '.join(parts)}). {text}"


def render_report(
    results: Results, machine: Machine, *, minutes: float, command: str, baseline: str, expert: str
) -> str:
    table, verdicts = results_table(results)
    # What the explanations name that a run measures (a count the design changes by round).
    facts = {f"layers_{side}": str(results.layers.get(side, "?")) for side in SIDES}
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
        "- Two baselines, built in the same run: the **tutorial**'s Dockerfile (one stage, `pip install` of the "
        "named packages) and the **uv guide**'s (multi-stage, `uv pip install` of the same lock nbship installs, "
        "BuildKit cache mount, bytecode compiled, only the virtualenv copied to the final stage). Both are at "
        "the end of this report.",
        "",
        *table,
        "",
        "Medians over the rounds; the spread is min to max. Ratios below 1 favour nbship. The push rows are "
        "measured in the first round only (the bytes do not vary).",
        "",
        "## Targets",
        "",
        *(_verdict(row, met, facts) for row, met in verdicts),
    ]
    lines += ["", "## What stripping leaves out", ""]
    if results.slim:
        lines.append("Summed over the first cold build's `nbship-slim` lines (the assembly prints one):")
        lines.append("")
        lines.append("| Part | MB |")
        lines.append("| --- | --- |")
        lines += [f"| {name} | {mb:.1f} |" for name, mb in results.slim.items()]
        lines.append("")
    sizes = results.variant_size
    if sizes:
        tutorial, uv_guide = (_median(_side_values(results, "size", side)) for side in ("baseline", "expert"))
        lines.append(
            f"Image with stripping (default) {fmt_bytes(sizes.get('nbship'))}, with `--no-strip` "
            f"{fmt_bytes(sizes.get('nbship-nostrip'))}; tutorial {fmt_bytes(tutorial)}, uv guide {fmt_bytes(uv_guide)}."
        )
        lines.append("")
    if results.ready_run:
        lines.append(
            "Start-up of each image the same way (`docker run -d` + poll every 0.05 s; the hand-written images' "
            "token is read from their log, nbship's images get `JUPYTER_TOKEN`):"
        )
        lines.append("")
        lines.append("| Image | median | spread |")
        lines.append("| --- | --- | --- |")
        for name, values in results.ready_run.items():
            lines.append(f"| {name} | {fmt_seconds(statistics.median(values))} | {spread(values, fmt_seconds)} |")
        lines.append("")
    lines += cold_steps(results)
    lines += ["## Every measurement", "", "Seconds in run order (packages downloaded, in brackets, for builds).", ""]
    lines += ["| Measure | Tutorial | uv guide | nbship |", "| --- | --- | --- | --- |"]
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
    if results.cli:
        lines += ["", "Command start-up, every value (seconds):", ""]
        lines += ["| Command | median | values |", "| --- | --- | --- |"]
        for name, values in results.cli.items():
            shown = ", ".join(f"{v:.3f}" for v in values)
            lines.append(f"| `{name}` | {fmt_seconds(statistics.median(values))} | {shown} |")
    if results.lock:
        lines.append("")
        lock = ", ".join(f"{v:.2f}" for v in results.lock)
        lines.append(f"`nbship lock` after each edit of `requirements.txt` (not in the build rows): {lock} s.")
    for measure, blobs in results.push_blobs.items():
        if measure in (PUSH_EDIT, PUSH_DEPENDENCY):
            counts = ", ".join(f"{side} {n}" for side, n in blobs.items())
            lines.append(f"Blobs written by the push `{measure}`: {counts}.")
    if results.layers:
        lines.append("Layers of each final image: " + ", ".join(f"{s} {n}" for s, n in results.layers.items()) + ".")
    lines += [
        "",
        "## How this was measured",
        "",
        "- Each round: the three cold builds; the notebook edit and the three rebuilds; the three ready times, "
        f"twice; the three no-change builds; command start-up, 5 times each; `{ADDED_DEPENDENCY}` added "
        "(nbship: `requirements.txt`; tutorial: its `pip install` line; uv guide: the lock) and the three "
        "rebuilds. Which side goes first rotates from round to round. After each edit of `requirements.txt` "
        "`nbship lock` refreshes `requirements.lock` before any build (untimed in the build rows, its seconds "
        "above): the uv guide's Dockerfile installs that same lock.",
        "- **Cold** means: no layer cache and empty download caches, for every side, without pruning anything "
        f"on the shared daemon. Each round builds on a new base image, `{BASE_IMAGE}` plus a one-file layer "
        "of its own (BuildKit keys its cache on the chain of layers: no cached layer of anyone's matches a step "
        "on it). Every side builds with `--no-cache` "
        "(`docker build` / `nbship build`): no layer is reused, and on this engine a `--no-cache` build starts "
        "with empty BuildKit cache mounts, so uv's download cache is empty too (a two-build probe checks this "
        f"every run: do cache mounts survive `--no-cache`? {survive}). Before each cold build, untimed, a "
        "one-step `--no-cache` build mounts the same cache ids as the side's Dockerfile: it empties them, so "
        "deleting the previous round's downloads (about 2 s for uv's cache) is not in the cold row. "
        "pip keeps no cache here (the proxy strips "
        "caching headers). The new base also keeps the `--no-cache` builds from sharing a step with other "
        "developers' builds, which crashes BuildKit 0.8 (moby/buildkit#2303). The uv guide's cache mount has an "
        "id of the run's own, so it holds only what its own builds downloaded.",
        "- The dependency row starts from the round's cold build: the layer cache and uv's cache mounts hold what "
        "that build left; the new package is downloaded in every round.",
        "- Ready, nbship: wall time of `nbship up PROJECT --detach --port P` (the CLI's start-up, the up-to-date "
        "check, the volume refresh and JupyterLab's start; it returns once /api/status answers with the token), "
        "then `nbship down`. Hand-written images: `docker run -d -p 127.0.0.1:P:8888` and a poll every 0.05 s of "
        "`docker logs` for the token and of /api/status with it. Its target compares with `docker run` + poll "
        "of nbship's own image (the start-up table).",
        "- Push: Debian's docker-registry on 127.0.0.1, one per side (the hand-written images share layers byte "
        "for byte, which one store would count for the side pushed first only), with storage in the run's "
        "folder. The three images are "
        "pushed after the first cold build, again after the notebook edit and again after the dependency add, "
        "each under a new tag; a row is the size of the blobs that push added to the registry's store (layers, "
        "image config and manifest). nbship pushes with `nbship push --to`, the others with `docker push`.",
        "- Command start-up: wall time of the whole command, against `python -c 'import click, rich.console'` "
        "with the same interpreter (what any CLI built on click and rich pays); `nbship status` asks the daemon.",
        "- Timings are wall-clock seconds of whole commands, nbship's start-up included. Other developers "
        "build on the same daemon and 2 cores, so single values are noisy: read the medians and the spread.",
        "",
        "The tutorial's Dockerfile (written beside the project copy, built with the copy as context):",
        "",
        "```dockerfile",
        baseline.rstrip(),
        "```",
        "",
        "The uv guide's Dockerfile (the same way; RUN is the run's id):",
        "",
        "```dockerfile",
        expert.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)
