"""Benchmark nbship against the Dockerfile a researcher writes by hand from the usual tutorial.

Run it from the repository root with the checkout's virtual environment:

    .venv/bin/python bench/run.py [--quick] [--rounds N] [--out bench/RESULTS.md]

Both sides run in the same invocation, alternating which goes first, for several rounds; the report
gives medians, their spread, nbship / baseline ratios and whether each target is met. Nothing here is
part of the test suite. See bench/README.md for what each number means and how "cold" is made.

This file is the entry point (options, rounds, the run); the rest is beside it: workloads.py (the
project, the baseline and the steps both sides run), measure.py (commands, Docker, the registry,
results, build-log parsing) and report.py (formatting and the Markdown report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from measure import (
    CLICK_RICH,
    COLD,
    DEPENDENCY,
    DOCKERFILE_SIDES,
    EDIT,
    HELP,
    NO_CHANGE,
    PUSH_DEPENDENCY,
    PUSH_EDIT,
    READY,
    SIDES,
    STATUS,
    TAG_PREFIX,
    BenchError,
    Completed,
    Docker,
    Registry,
    Results,
    Shell,
    Side,
    build_steps,
    packages_fetched,
    rotation,
    slim_totals,
)
from report import describe_machine, fmt_bytes, render_report
from workloads import (
    ADDED_DEPENDENCY,
    BASE_IMAGE,
    EXAMPLE,
    REPO,
    Bench,
    baseline_dockerfile,
    edit_notebook,
    expert_dockerfile,
    generate_data,
    prepare_project,
    requirement_lines,
)

DEFAULT_OUT = REPO / "bench" / "RESULTS.md"
# A 20.10 client with BuildKit built in (DOCKER_BUILDKIT=1); the newer client here has no buildx.
DEFAULT_DOCKER = "/usr/bin/docker"
DEFAULT_ROUNDS = 5


def progress(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# One round


def one_round(bench: Bench, results: Results, index: int) -> None:
    order = rotation(index)
    tag = f"[{index + 1}/{results.rounds}]"

    def timed(metric: str, side: Side, action: Callable[[], Completed | float]) -> None:
        # What the previous measure wrote (a 700 MB image, a GB of downloads) is flushed first,
        # untimed: left dirty, its writeback stalls the next side's snapshots and export.
        os.sync()
        outcome = action()
        seconds = outcome if isinstance(outcome, float) else outcome.seconds
        results.add(metric, side, seconds)
        if isinstance(outcome, Completed):
            results.fetched.setdefault(f"{metric}/{side}", []).append(packages_fetched(outcome.output))
        progress(f"{tag} {side}: {metric}: {seconds:.2f} s")

    def pushes(metric: str, label: str) -> None:
        if index != 0 or not bench.registries:
            return
        for side in SIDES:
            written, blobs = bench.push(side, label)
            results.pushes.setdefault(metric, {})[side] = written
            results.push_blobs.setdefault(metric, {})[side] = blobs
            progress(f"{tag} {side}: push ({label}) wrote {fmt_bytes(written)}")

    bench.new_base(f"r{index + 1}")
    bench.write_baseline()
    bench.write_requirements()
    results.lock.append(bench.lock())
    for side in order:

        def cold(side: Side = side) -> Completed:
            done = bench.build(side, cold=True)  # its cache mounts emptied just before (untimed)
            if index == 0:
                results.steps[side], results.cold_total[side] = build_steps(done.output), done.seconds
                if side == "nbship":
                    results.slim = slim_totals(done.output)
            return done

        bench.empty_cache_mounts(side)
        timed(COLD, side, cold)
    for side in SIDES:
        size, layers = bench.size_and_layers(side)
        results.size.setdefault(side, []).append(size)
        results.layers.setdefault(side, layers)

    pushes("push_before", "before-edit")
    edit_notebook(bench.project, f"{index + 1}-{uuid.uuid4().hex[:6]}")
    for side in order:
        timed(EDIT, side, partial(bench.build, side))
    pushes(PUSH_EDIT, "after-edit")

    # Twice per round: the first start after a rebuild (nbship merges the new notebook into the
    # project's volume), then a plain restart.
    for side in [*order, *order[::-1]]:
        timed(READY, side, partial(bench.ready, side))
    for side in order:
        timed(NO_CHANGE, side, partial(bench.build, side, expect="skip"))
    cli_round(bench, results)

    bench.write_baseline([ADDED_DEPENDENCY])
    bench.write_requirements([ADDED_DEPENDENCY])
    results.lock.append(bench.lock())
    for side in order:
        timed(DEPENDENCY, side, partial(bench.build, side))
    pushes(PUSH_DEPENDENCY, "after-dependency")


def cli_round(bench: Bench, results: Results, repeats: int = 5) -> None:
    """Command start-up against importing click and rich alone (what any click + rich CLI pays)."""
    commands = {
        CLICK_RICH: [sys.executable, "-c", "import click, rich.console"],
        HELP: [bench.nbship, "--help"],
        STATUS: [bench.nbship, "status"],
    }
    for _ in range(repeats):
        for name, command in commands.items():
            results.cli.setdefault(name, []).append(bench.shell.run(command, quiet=True).seconds)


def variants_round(bench: Bench, results: Results, rounds: int) -> None:
    """Start-up with and without stripping, the same way for every image: docker run + poll."""
    bench.write_baseline()
    bench.write_requirements()
    bench.lock()
    bench.build_nbship()
    done = bench.build_nbship(strip=False)
    results.variant_size = {"nbship": bench.size("nbship"), "nbship-nostrip": bench.size("nbship-nostrip")}
    results.versions["nbship --no-strip build"] = f"{done.seconds:.1f} s (layer cache warm)"
    # What --reproducible costs: the normalization (save, rewrite, load) on top of a warm rebuild.
    plain, reproducible = bench.rebuild_nbship(reproducible=False), bench.rebuild_nbship(reproducible=True)
    results.versions["nbship build --rebuild, plain / --reproducible"] = (
        f"{plain.seconds:.1f} s / {reproducible.seconds:.1f} s (layer cache warm)"
    )
    for index in range(rounds):
        names = ["baseline", "expert", "nbship", "nbship-nostrip"]
        for name in names if index % 2 == 0 else names[::-1]:
            token = None if name in DOCKERFILE_SIDES else secrets.token_hex(16)
            os.sync()  # as before every measure of a round: the builds above leave writes pending
            seconds = bench.ready_docker_run(bench.tag(name), token=token)
            results.ready_run.setdefault(name, []).append(seconds)
            progress(f"[start-up {index + 1}/{rounds}] {name}: {seconds:.2f} s")


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
    parser.add_argument("--quick", action="store_true", help="one round: a smoke run (about 5 minutes)")
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
            for side in SIDES:
                bench.registries[side] = Registry(work / f"registry-{side}")
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
                expert=expert_dockerfile(f"{TAG_PREFIX}-RUN-uv"),
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
            for registry in bench.registries.values():
                registry.stop()
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
