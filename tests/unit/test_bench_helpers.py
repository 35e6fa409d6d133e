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
