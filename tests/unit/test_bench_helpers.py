"""The benchmark's pure helpers (bench/run.py is not a package: loaded from its file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nbship_bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_baseline_dockerfile_is_the_tutorials(bench: ModuleType) -> None:
    text = bench.baseline_dockerfile(["numpy==2.4.6", "xarray"])
    steps = [line.split()[0] for line in text.splitlines()]
    assert steps == ["FROM", "WORKDIR", "RUN", "COPY", "COPY", "COPY", "CMD"]
    assert "RUN pip install numpy==2.4.6 xarray jupyterlab\n" in text
    assert text.index("COPY README.md") < text.index("COPY data") < text.index("COPY notebooks")
    assert text.endswith("CMD jupyter-lab --ip=0.0.0.0 --allow-root\n")


def test_requirement_lines(bench: ModuleType) -> None:
    text = "# comment\nxarray==1  # pinned\n\n  numpy\n"
    assert bench.requirement_lines(text) == ["xarray==1", "numpy"]


def test_slim_totals_sum_the_steps(bench: ModuleType) -> None:
    log = (
        "#7 13.2 nbship-slim: removed tests 0.6 MB, build tools 8.3 MB; compiled the server's bytecode 36.0 MB\n"
        "#10 9.6 nbship-slim: removed tests 24.2 MB, build tools 0.0 MB; compiled the server's bytecode 1.0 MB\n"
    )
    assert bench.slim_totals(log) == pytest.approx({"tests": 24.8, "build tools": 8.3, "server bytecode (added)": 37.0})
    assert bench.slim_totals("no strip here") == {}


def test_token_in_log(bench: ModuleType) -> None:
    log = "[I] Jupyter Server is running at:\n    http://127.0.0.1:8888/lab?token=0a1b2c\n"
    assert bench.token_in_log(log) == "0a1b2c"
    assert bench.token_in_log("starting") is None


def test_packages_fetched(bench: ModuleType) -> None:
    log = "#9 3.1 Prepared 12 packages in 2.1s\n#9 0.5   Downloading numpy-2.whl (16 MB)\n"
    assert bench.packages_fetched(log) == 13


@pytest.mark.parametrize(
    ("top", "bottom", "text"),
    [(1.0, 2.0, "0.50"), (0.0123, 1.0, "0.012"), (None, 1.0, "—"), (1.0, 0.0, "—")],
)
def test_fmt_ratio(bench: ModuleType, top: float | None, bottom: float | None, text: str) -> None:
    assert bench.fmt_ratio(top, bottom) == text


def test_formats_and_spread(bench: ModuleType) -> None:
    assert bench.fmt_seconds(1.234) == "1.23 s" and bench.fmt_seconds(12.34) == "12.3 s"
    assert bench.fmt_bytes(999) == "999 B" and bench.fmt_bytes(12_345) == "12.3 kB"
    assert bench.fmt_bytes(2.5e9) == "2.50 GB"
    assert bench.spread([2.0, 1.0, 3.0], bench.fmt_seconds) == "1.00 s to 3.00 s"
    assert bench.spread([1.0], bench.fmt_seconds) == "1.00 s"


def test_targets(bench: ModuleType) -> None:
    ratio = bench.Target("ratio", 0.5, "≤ 0.5x")
    assert ratio.met(10.0, 30.0) is True and ratio.met(20.0, 30.0) is False and ratio.met(1.0, None) is None
    absolute = bench.Target("absolute", 3.0, "≤ 3 s")
    assert absolute.met(2.9, None) is True and absolute.met(3.1, 100.0) is False
