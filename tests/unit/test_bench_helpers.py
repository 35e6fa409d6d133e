"""The benchmark's pure helpers. bench/ is not a package: its modules import each other by name, as
they do when bench/run.py runs as a script (bench/ is sys.path[0] then), so they load the same way."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    """bench/<name>.py, with bench/ on sys.path while it (and the siblings it imports) load."""
    sys.path.insert(0, str(BENCH))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
    assert Path(str(module.__file__)).parent == BENCH, f"{name} resolved to {module.__file__}, not bench/"
    return module


@pytest.fixture(scope="module")
def workloads() -> ModuleType:
    return _load("workloads")


@pytest.fixture(scope="module")
def measure() -> ModuleType:
    return _load("measure")


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return _load("report")


def test_baseline_dockerfile_is_the_tutorials(workloads: ModuleType) -> None:
    text = workloads.baseline_dockerfile(["numpy==2.4.6", "xarray"])
    steps = [line.split()[0] for line in text.splitlines()]
    assert steps == ["FROM", "WORKDIR", "RUN", "COPY", "COPY", "COPY", "CMD"]
    assert "RUN pip install numpy==2.4.6 xarray jupyterlab\n" in text
    assert text.index("COPY README.md") < text.index("COPY data") < text.index("COPY notebooks")
    assert text.endswith("CMD jupyter-lab --ip=0.0.0.0 --allow-root\n")


def test_requirement_lines(workloads: ModuleType) -> None:
    text = "# comment\nxarray==1  # pinned\n\n  numpy\n"
    assert workloads.requirement_lines(text) == ["xarray==1", "numpy"]


def test_slim_totals_sum_the_steps(measure: ModuleType) -> None:
    log = (
        "#7 13.2 nbship-slim: removed tests 0.6 MB, build tools 8.3 MB; compiled the server's bytecode 36.0 MB\n"
        "#10 9.6 nbship-slim: removed tests 24.2 MB, build tools 0.0 MB; compiled the server's bytecode 1.0 MB\n"
    )
    expected = {"tests": 24.8, "build tools": 8.3, "server bytecode (added)": 37.0}
    assert measure.slim_totals(log) == pytest.approx(expected)
    assert measure.slim_totals("no strip here") == {}
    # The bytecode compiled in a stage of its own: the assembly's line names no compile.
    staged = (
        "#15 9.7 nbship-slim: removed tests 24.7 MB, debug symbols 47.3 MB\n"
        "#16 2.1 nbship-bytecode: compiled the server's bytecode 37.1 MB\n"
    )
    assert measure.slim_totals(staged) == pytest.approx(
        {"tests": 24.7, "debug symbols": 47.3, "server bytecode (added)": 37.1}
    )


def test_token_in_log(measure: ModuleType) -> None:
    log = "[I] Jupyter Server is running at:\n    http://127.0.0.1:8888/lab?token=0a1b2c\n"
    assert measure.token_in_log(log) == "0a1b2c"
    assert measure.token_in_log("starting") is None


def test_packages_fetched(measure: ModuleType) -> None:
    log = "#9 3.1 Prepared 12 packages in 2.1s\n#9 0.5   Downloading numpy-2.whl (16 MB)\n"
    assert measure.packages_fetched(log) == 13


@pytest.mark.parametrize(
    ("top", "bottom", "text"),
    [(1.0, 2.0, "0.50"), (0.0123, 1.0, "0.012"), (None, 1.0, "—"), (1.0, 0.0, "—")],
)
def test_fmt_ratio(report: ModuleType, top: float | None, bottom: float | None, text: str) -> None:
    assert report.fmt_ratio(top, bottom) == text


def test_formats_and_spread(report: ModuleType) -> None:
    assert report.fmt_seconds(1.234) == "1.23 s" and report.fmt_seconds(12.34) == "12.3 s"
    assert report.fmt_bytes(999) == "999 B" and report.fmt_bytes(12_345) == "12.3 kB"
    assert report.fmt_bytes(2.5e9) == "2.50 GB"
    assert report.spread([2.0, 1.0, 3.0], report.fmt_seconds) == "1.00 s to 3.00 s"
    assert report.spread([1.0], report.fmt_seconds) == "1.00 s"


def test_targets(report: ModuleType) -> None:
    ratio = report.Target("ratio", 0.5, "≤ 0.5x")
    assert ratio.met(10.0, 30.0) is True and ratio.met(20.0, 30.0) is False and ratio.met(1.0, None) is None
    absolute = report.Target("absolute", 3.0, "≤ 3 s")
    assert absolute.met(2.9, None) is True and absolute.met(3.1, 100.0) is False


def test_expert_dockerfile_follows_uvs_guide(workloads: ModuleType) -> None:
    from nbship.project.plan import UV_REQUIREMENT

    text = workloads.expert_dockerfile("bench-uv", "base:1")
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert stages == ["FROM base:1 AS builder", "FROM base:1"]
    assert workloads.EXPERT_UV == UV_REQUIREMENT  # the same uv as nbship's
    assert "UV_COMPILE_BYTECODE=1" in text
    assert "--mount=type=cache,id=bench-uv,target=/root/.cache/uv" in text
    assert "uv pip install --require-hashes -r /tmp/requirements.lock" in text
    final = text.split("FROM base:1\n", 1)[1]
    assert final.index("COPY --from=builder /opt/venv") < final.index("COPY data") < final.index("COPY notebooks")


def test_rotation_puts_each_side_first_in_turn(measure: ModuleType) -> None:
    firsts = [measure.rotation(i)[0] for i in range(3)]
    assert sorted(firsts) == sorted(measure.SIDES)
    assert all(sorted(measure.rotation(i)) == sorted(measure.SIDES) for i in range(5))


def test_targets_above_and_references(report: ModuleType, measure: ModuleType) -> None:
    above = report.Target("above", 1.0, "≤ 1 s above", "no_change:baseline")
    assert above.met(1.05, 0.1) is True and above.met(1.2, 0.1) is False and above.met(1.0, None) is None
    results = measure.Results(1)
    results.add(measure.NO_CHANGE, "baseline", 0.1)
    results.add(measure.EDIT, "nbship", 1.0)
    results.cli[measure.CLICK_RICH] = [0.05, 0.07, 0.06]
    edit = next(row for row in report.ROWS if row.metric == measure.EDIT)
    assert report.reference_value(results, edit, edit.targets[0]) == pytest.approx(0.1)
    assert report.reference_value(results, edit, edit.targets[1]) is None  # no expert value measured
    help_row = next(row for row in report.ROWS if row.metric == measure.HELP)
    assert report.reference_value(results, help_row, help_row.targets[0]) == pytest.approx(0.06)
    lines, verdicts = report.results_table(results)
    assert len(lines) == 2 + len(report.ROWS)
    assert dict((row.metric, met) for row, met in verdicts)[measure.EDIT] == [True, None]


def test_the_report_renders_every_row(report: ModuleType, measure: ModuleType, workloads: ModuleType) -> None:
    results = measure.Results(2)
    for metric in (measure.COLD, measure.EDIT, measure.DEPENDENCY, measure.NO_CHANGE, measure.READY):
        for side, value in zip(measure.SIDES, (20.0, 15.0, 10.0), strict=True):
            results.add(metric, side, value)
            results.fetched.setdefault(f"{metric}/{side}", []).append(3)
    for side in measure.SIDES:
        results.size[side] = [700_000_000]
    for push in (measure.PUSH_EDIT, measure.PUSH_DEPENDENCY):
        results.pushes[push] = dict.fromkeys(measure.SIDES, 50_000)
        results.push_blobs[push] = dict.fromkeys(measure.SIDES, 3)
    results.pushes[measure.PUSH_EDIT]["nbship"] = 60_000  # above the uv guide's: the text names the layers
    results.layers = {"baseline": 3, "expert": 7, "nbship": 26}
    results.cli = {measure.CLICK_RICH: [0.06], measure.HELP: [0.07], measure.STATUS: [0.3]}
    results.ready_run = {"nbship": [1.3], "baseline": [1.2]}
    results.variant_size = {"nbship": 1, "nbship-nostrip": 2}
    results.slim = {"tests": 24.0}
    results.lock = [1.5]
    machine = report.Machine("2026-12-01", 2, "24 GiB", "Linux", "20.10", "docker 20.10", "nbship 0.1")
    text = report.render_report(
        results,
        machine,
        minutes=1.0,
        command="bench/run.py",
        baseline=workloads.baseline_dockerfile(["numpy"]),
        expert=workloads.expert_dockerfile("x"),
    )
    for row in report.ROWS:
        assert f"**{row.label}**" in text
    assert "`nbship status` | 0.30 s" in text
    assert "AS builder" in text and "pip install numpy jupyterlab" in text
    assert "26 layers here" in text and "against the uv guide's 7." in text
    assert "Layers of each final image: baseline 3, expert 7, nbship 26." in text


def test_build_steps_reads_buildkits_timings(measure: ModuleType) -> None:
    log = (
        "#10 [env 2/4] RUN   set -eu;   python3 -m venv /x\n#10 0.5 something\n#10 DONE 5.6s\n"
        "#12 [env 3/4] COPY requirements.lock /tmp/\n#12 DONE 0.0s\n"
        "#23 exporting to image\n#23 exporting layers 1.8s done\n#23 DONE 1.8s\n#99 DONE 3.0s\n"
    )
    assert measure.build_steps(log) == [("[env 2/4] RUN set -eu; python3 -m venv /x", 5.6), ("exporting to image", 1.8)]
