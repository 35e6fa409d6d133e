"""nbship check without Docker: tracebacks, the report formats, the runner's own rules, settings,
the output folder and the CLI's refusals."""

from __future__ import annotations

import io
import json
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nbship.check.compare import CellDifference, Comparison
from nbship.check.execute import untar
from nbship.check.output import MARKER, prepare_output_dir, write_output
from nbship.check.report import text_lines, to_json, to_junit
from nbship.check.results import CellError, CheckReport, NotebookResult, parse_results, relevant_traceback
from nbship.contract import SKIP_DIRS
from nbship.errors import InputFileError, RunError, UsageError
from nbship.payload import check_runner as runner
from nbship.project.detect import detect
from nbship.settings import load_settings

from .helpers import MakeProject

RED, RESET = "\x1b[0;31m", "\x1b[0m"

# As IPython 8 sends it: a banner, one chunk per frame, the last line.
IPYTHON_TRACEBACK = (
    f"{RED}---------------------------------------------------------------------------{RESET}",
    f"{RED}ValueError{RESET}                                Traceback (most recent call last)",
    f"Cell {RED}In[4], line 2{RESET}\n      1 data = load()\n{RED}----> 2{RESET} fit(data)\n",
    "Cell In[2], line 5, in fit(values)\n      3 def fit(values):\n      4     x = prepare(values)\n"
    "----> 5     return np.polyfit(x, values, 9)\n",
    "File /opt/nbship/env/lib/python3.11/site-packages/numpy/lib/polynomial.py:636, in polyfit(x, y, deg)\n"
    "    635 if deg < 0:\n--> 636     raise ValueError('expected deg >= 0')\n",
    "File ~/work/helpers.py:12, in prepare(values)\n---> 12 return check(values)\n",
    f"{RED}ValueError{RESET}: expected deg >= 0",
)


def test_relevant_traceback_keeps_the_notebook_s_own_frames() -> None:
    assert relevant_traceback(IPYTHON_TRACEBACK) == (
        "Cell In[4], line 2",
        "----> 2 fit(data)",
        "Cell In[2], line 5, in fit(values)",
        "----> 5     return np.polyfit(x, values, 9)",
        "File ~/work/helpers.py:12, in prepare(values)",
        "---> 12 return check(values)",
    )


@pytest.mark.parametrize(
    "header",
    ["<ipython-input-3-5f2a1e> in <module>", "Input In [3], in <cell line: 1>()", "Cell In[3], line 1"],
)
def test_relevant_traceback_knows_older_ipython_headers(header: str) -> None:
    lines = relevant_traceback(("banner-1", "banner-2", f"{header}\n----> 1 1/0\n", "ZeroDivisionError: x"))
    assert lines == (header, "----> 1 1/0")


def test_relevant_traceback_falls_back_to_the_last_frame() -> None:
    frames = ("File /usr/lib/python3.11/json/decoder.py:355, in raw_decode(self, s, idx)\n--> 355 raise X\n",)
    assert relevant_traceback(frames) == (
        "File /usr/lib/python3.11/json/decoder.py:355, in raw_decode(self, s, idx)",
        "--> 355 raise X",
    )
    assert relevant_traceback(()) == ()


def _report(*results: NotebookResult, compared: bool = False) -> CheckReport:
    return CheckReport(
        image="proj:latest",
        network=False,
        timeout=600,
        duration=12.5,
        notebooks=results,
        started="2026-11-26T17:00:00Z",
        compared=compared,
        image_id="sha256:" + "1" * 64,
        sbom_digest="sha256:" + "2" * 64,
    )


FAILED = NotebookResult(
    "analysis/fit.ipynb",
    "failed",
    3.25,
    kernel="python3",
    cell=7,
    execution_count=4,
    error=CellError("ValueError", "expected deg >= 0", tuple(IPYTHON_TRACEBACK)),
)
TIMED_OUT = NotebookResult(
    "slow.ipynb",
    "timed out",
    60.0,
    cell=2,
    execution_count=2,
    error=CellError("CellTimeoutError", "the cell ran longer than 60 s (--timeout)"),
)
DIFFERS = NotebookResult(
    "stats.ipynb",
    "differs",
    1.0,
    comparison=Comparison(3, (CellDifference(5, 3, "stdout", "mean = 3.0", "mean = 3.2"),)),
)
PASSED = NotebookResult(
    "a.ipynb",
    "passed",
    0.5,
    note="kernel 'x' is not in the image; ran with 'python3' (python)",
    comparison=Comparison(0, ()),
)


def test_text_lines() -> None:
    lines = text_lines(_report(PASSED, FAILED, TIMED_OUT, DIFFERS, compared=True))
    assert lines[0] == "passed        0.5s  a.ipynb"
    assert lines[1].strip() == "no committed outputs to compare"
    assert lines[2].strip().startswith("note: kernel 'x'")
    assert lines[3] == "failed        3.2s  analysis/fit.ipynb  cell 7 (In [4]): ValueError: expected deg >= 0"
    assert lines[4].strip() == "Cell In[4], line 2"
    assert "timed out    60.0s  slow.ipynb  cell 2 (In [2]): the cell ran longer than 60 s (--timeout)" in lines
    assert "differs       1.0s  stats.ipynb  outputs differ in 1 of 3 compared cells" in lines
    assert "cell 5 (In [3]) stdout: committed 'mean = 3.0', now 'mean = 3.2'" in [line.strip() for line in lines]
    assert lines[-1] == ("4 notebooks in 12.5 s: 1 passed, 1 failed, 1 timed out, 1 differs (proj:latest, no network)")


def test_json_report() -> None:
    data = json.loads(to_json(_report(PASSED, FAILED, DIFFERS, compared=True)))
    assert data["format"] == 1 and data["ok"] is False
    # The report names exactly what it proved: the image by id, and the SBOM it carries.
    assert (data["image_id"], data["sbom_digest"]) == ("sha256:" + "1" * 64, "sha256:" + "2" * 64)
    assert data["counts"] == {"passed": 1, "failed": 1, "timed out": 0, "differs": 1}
    failed = data["notebooks"][1]
    assert failed["error"]["traceback"][:2] == ["Cell In[4], line 2", "----> 2 fit(data)"]
    assert failed["error"]["full_traceback"][-1] == "\x1b[0;31mValueError\x1b[0m: expected deg >= 0"
    assert data["notebooks"][2]["differences"][0]["fresh"] == "mean = 3.2"


def test_junit_is_well_formed_even_with_control_characters() -> None:
    odd = NotebookResult("we<ird>&\x01.ipynb", "failed", 1.0, cell=1, error=CellError("E", "bad \x07 bell", ("x\x1b",)))
    xml = to_junit(_report(PASSED, odd, TIMED_OUT, DIFFERS), suite="proj")
    root = ET.fromstring(xml.split("\n", 1)[1])  # noqa: S314 - built by the test just above
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("timestamp")) == ("4", "3", "2026-11-26T17:00:00Z")
    cases = suite.findall("testcase")
    assert cases[1].get("name") == "we<ird>&.ipynb"
    types = [failure.get("type") if (failure := case.find("failure")) is not None else None for case in cases]
    assert types == [None, "E", "CellTimeoutError", "OutputsDiffer"]
    assert cases[0].find("system-out") is not None  # the kernel note


def test_runner_results_are_read_strictly() -> None:
    good = {
        "root": "/home/jovyan/work",
        "python": "3.11.2",
        "notebooks": [
            {
                "path": "a.ipynb",
                "status": "failed",
                "duration": 1.5,
                "kernel": "python3",
                "note": None,
                "cell": 2,
                "execution_count": 1,
                "error": {"type": "NameError", "message": "name 'x' is not defined", "traceback": ["\x1b[31mx\x1b[0m"]},
            }
        ],
    }
    (result,) = parse_results(json.dumps(good))
    assert result.error is not None and result.error.traceback == ("x",)
    good["notebooks"][0]["extra"] = 1  # type: ignore[index]
    with pytest.raises(RunError, match="bug in nbship"):
        parse_results(json.dumps(good))


# -- the runner's rules, run on the host (it imports nothing outside the standard library at load)


def test_runner_discovers_notebooks_as_detection_does(make_project: MakeProject) -> None:
    root = make_project(
        {
            "b.ipynb": "{}",
            "a-b.ipynb": "{}",
            "a/b.ipynb": "{}",
            "a/.ipynb_checkpoints/b-checkpoint.ipynb": "{}",
            ".git/x.ipynb": "{}",
            "notes.txt": "",
        }
    )
    found = runner.discover(root, sorted(SKIP_DIRS))
    assert found == [path.relative_to(root).as_posix() for path in detect(root).notebooks]
    assert found == ["a/b.ipynb", "a-b.ipynb", "b.ipynb"]


SPECS = {
    "python3": {"spec": {"language": "python"}},
    "ir": {"spec": {"language": "R"}},
}


@pytest.mark.parametrize(
    ("metadata", "specs", "kernel", "note"),
    [
        ({"kernelspec": {"name": "ir", "language": "R"}}, SPECS, "ir", None),
        ({}, SPECS, "python3", None),
        ({"kernelspec": {"name": "conda-env-x-py", "language": "python"}}, SPECS, "python3", "ran with 'python3'"),
        ({"kernelspec": {"name": "old"}, "language_info": {"name": "python"}}, SPECS, "python3", "ran with"),
        ({}, {"julia-1.10": {"spec": {"language": "julia"}}}, "julia-1.10", None),
    ],
)
def test_runner_kernel_choice(
    metadata: dict[str, object], specs: dict[str, object], kernel: str, note: str | None
) -> None:
    chosen, why = runner.choose_kernel(metadata, specs)
    assert chosen == kernel
    assert (why is None) if note is None else (why is not None and note in why)


def test_runner_kernel_choice_refuses_to_guess() -> None:
    two = {"py-a": {"spec": {"language": "python"}}, "py-b": {"spec": {"language": "python"}}}
    with pytest.raises(runner.KernelChoiceError, match="'julia' is not installed in the image"):
        runner.choose_kernel({"kernelspec": {"name": "julia", "language": "julia"}}, SPECS)
    with pytest.raises(runner.KernelChoiceError, match="its kernels: py-a, py-b"):
        runner.choose_kernel({"kernelspec": {"name": "py-c", "language": "python"}}, two)


# -- [check] settings


def test_check_settings(make_project: MakeProject) -> None:
    root = make_project({"nbship.toml": '[check]\nnotebooks = ["b.ipynb", "sub/a.ipynb"]\ntimeout = 30\n'})
    settings, _ = load_settings(root)
    assert settings.check.notebooks == ("b.ipynb", "sub/a.ipynb")
    assert settings.check.timeout == 30


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('[check]\ntimeout = "long"\n', "nbship.toml, line 2", "setting 'check.timeout' is invalid"),
        ("[check]\n\ntimeout = 0\n", "nbship.toml, line 3", "setting 'check.timeout' is invalid"),
        ('[check]\nnotebooks = ["../x.ipynb"]\n', "nbship.toml, line 2", "not a notebook path relative"),
        ('[check]\nnotebooks = ["a.py"]\n', "nbship.toml, line 2", "not a notebook path relative"),
        ('[check]\nnotebooks = ["a.ipynb", "a.ipynb"]\n', "nbship.toml, line 2", "listed more than once"),
        ("[check]\nkernel = 1\n", "nbship.toml, line 2", "unknown setting 'check.kernel'"),
    ],
)
def test_check_settings_errors(make_project: MakeProject, text: str, where: str, problem: str) -> None:
    with pytest.raises(InputFileError) as caught:
        load_settings(make_project({"nbship.toml": text}))
    assert caught.value.message.startswith(where)
    assert problem in caught.value.message


def test_check_settings_in_pyproject(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[tool.nbship.check]\nnotebooks = ["a.ipynb"]\n\n[tool.x]\ny = 1\n'})
    assert load_settings(root)[0].check.notebooks == ("a.ipynb",)


# -- the output folder


def test_output_folder_rules(tmp_path: Path) -> None:
    assert prepare_output_dir(tmp_path / "new") == (tmp_path / "new").resolve()
    (tmp_path / "empty").mkdir()
    prepare_output_dir(tmp_path / "empty")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "analysis.ipynb").write_text("my work")
    with pytest.raises(UsageError, match="does not overwrite your files"):
        prepare_output_dir(tmp_path / "mine")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        prepare_output_dir(tmp_path / "file")

    earlier = tmp_path / "earlier"
    write_output(earlier, {"sub/a.ipynb": b"{}", "../escape.ipynb": b"x", "/abs.ipynb": b"x"}, "{}")
    assert sorted(p.relative_to(earlier).as_posix() for p in earlier.rglob("*") if p.is_file()) == [
        MARKER,
        "sub/a.ipynb",
    ]
    assert not (tmp_path / "escape.ipynb").exists()
    prepare_output_dir(earlier)  # an earlier check's output may be written again


def test_untar_keeps_plain_files_only() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in {"out/results.json": b"{}", "out/executed/a b.ipynb": b"nb", "out/../evil": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("out/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    assert untar(buffer.getvalue()) == {"results.json": b"{}", "executed/a b.ipynb": b"nb"}
    assert set(untar(buffer.getvalue(), strip=0)) == {"out/results.json", "out/executed/a b.ipynb"}


# -- The HTML report ---------------------------------------------------------------------------


def test_html_report_escapes_what_notebooks_print_and_runs_nothing() -> None:
    from nbship.check.compare import CellDifference, Comparison, Picture
    from nbship.check.html import render_html
    from nbship.check.results import CellError, CheckReport, NotebookResult

    hostile = "<script>alert(1)</script>"
    report = CheckReport(
        image="img:1",
        network=False,
        timeout=60,
        duration=1.0,
        started="2026-01-01T00:00:00Z",
        compared=True,
        notebooks=(
            NotebookResult(
                path="a&b.ipynb",
                status="failed",
                duration=0.5,
                cell=2,
                execution_count=1,
                error=CellError(
                    "ValueError", hostile, ("Cell In[1], line 1", f"----> 1 raise ValueError('{hostile}')")
                ),
            ),
            NotebookResult(
                path="p.ipynb",
                status="differs",
                duration=0.5,
                comparison=Comparison(
                    1,
                    (
                        CellDifference(
                            1,
                            1,
                            "image/png",
                            "image 1x1",
                            "image 1x1, other pixels",
                            Picture("image/png", "AAAA"),
                            Picture("image/png", 'BB"onerror="x'),
                        ),
                    ),
                ),
            ),
        ),
    )
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page
    assert 'onerror="x' not in page
    assert "a&amp;b.ipynb" in page
    assert page.count("data:image/png;base64,") == 2
