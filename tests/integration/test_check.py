"""`nbship check` against the real daemon: notebooks executed in a fresh container of the image.

One image (tests/projects/check-suite) serves every test; each test picks its notebooks with -n.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from click.testing import Result
from conftest import TEST_PREFIX, BuiltProject, copy_project, nbship_exe, run_cli, wait_until
from docker_helpers import docker, inspect

from nbship.errors import ExitCode

pytestmark = pytest.mark.docker

SETTINGS_ORDER = [
    "ok/passing.ipynb",
    "failing.ipynb",
    "changed.ipynb",
    "network.ipynb",
    "slow.ipynb",
    "other-kernel.ipynb",
]


@pytest.fixture(scope="module")
def suite(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    project = copy_project("check-suite", tmp_path_factory.mktemp("check"))
    tag = f"{TEST_PREFIX}/check-suite:latest"
    result = run_cli("build", str(project), "-t", tag)
    assert result.exit_code == 0, result.output + result.stderr
    return BuiltProject(project, tag)


def check(suite: BuiltProject, *args: str) -> Result:
    return run_cli("check", str(suite.path), "-t", suite.image, *args)


def lines_of(result: Result, path: str) -> list[str]:
    """The report line of `path` and the indented lines below it."""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(rf"\ds  {re.escape(path)}(  |$)", line))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line.strip())
    return block


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def no_leftover_containers() -> Iterator[None]:
    def ours() -> set[str]:
        return set(docker("ps", "-aq", "--filter", "label=io.nbship.check=true").stdout.split())

    before = ours()
    yield
    assert ours() <= before, "nbship check left a container behind"


def test_passing_notebook_runs_in_its_folder_and_leaves_the_project_alone(
    suite: BuiltProject, no_leftover_containers: None
) -> None:
    before = snapshot(suite.path)
    result = check(suite, "-n", "ok/passing.ipynb", "--compare")
    assert result.exit_code == 0, result.output + result.stderr
    line = lines_of(result, "ok/passing.ipynb")[0]
    assert line.startswith("passed ")
    # The committed outputs match: the file read relative to the notebook's folder, a masked
    # timestamp and memory address, and the same picture encoded differently.
    assert result.stdout.splitlines()[-1].startswith("1 notebook in ")
    assert "1 passed" in result.stdout and "no network" in result.stdout
    assert snapshot(suite.path) == before  # the notebook wrote a file, but in the container only


def test_failing_cell_is_named_with_its_error(suite: BuiltProject, tmp_path: Path) -> None:
    result = check(suite, "-n", "failing.ipynb", "--json", "--output", str(tmp_path / "out"))
    assert result.exit_code == ExitCode.CHECK_FAILED
    report = json.loads(result.stdout)
    (notebook,) = report["notebooks"]
    assert notebook["status"] == "failed"
    assert (notebook["cell"], notebook["execution_count"]) == (4, 3)
    assert notebook["error"]["type"] == "ZeroDivisionError"
    assert notebook["error"]["message"] == "division by zero"
    assert notebook["error"]["traceback"] == [
        "Cell In[3], line 1",
        "----> 1 ratio(1, 0)",
        "Cell In[1], line 2, in ratio(a, b)",
        "----> 2     return a / b",
    ]
    # People read the same on stderr when stdout carries JSON.
    assert "failing.ipynb  cell 4 (In [3]): ZeroDivisionError: division by zero" in result.stderr
    assert "1 of 1 notebooks did not pass: failing.ipynb (failed)" in result.stderr
    # The executed notebook is kept, with the output before the failure and none after it.
    executed = nbformat.read(str(tmp_path / "out" / "failing.ipynb"), as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "before the failure\n"
    assert executed.cells[4].outputs == []
    assert json.loads((tmp_path / "out" / "nbship-check.json").read_text())["notebooks"][0]["cell"] == 4


def test_a_cell_that_runs_too_long_times_out(suite: BuiltProject) -> None:
    result = check(suite, "-n", "slow.ipynb", "--timeout", "3")
    assert result.exit_code == ExitCode.CHECK_FAILED
    line = lines_of(result, "slow.ipynb")[0]
    assert line.startswith("timed out ")
    assert "cell 2 (In [2]): the cell ran longer than 3 s" in line


def test_network_is_off_unless_asked_for(suite: BuiltProject) -> None:
    offline = check(suite, "-n", "network.ipynb")
    assert offline.exit_code == ExitCode.CHECK_FAILED
    line = lines_of(offline, "network.ipynb")[0]
    assert line.startswith("failed ") and "gaierror" in line
    assert "no network" in offline.stdout
    online = check(suite, "-n", "network.ipynb", "--network")
    assert online.exit_code == 0, online.stdout
    assert lines_of(online, "network.ipynb")[0].startswith("passed ")


def test_compare_catches_a_changed_number(suite: BuiltProject) -> None:
    result = check(suite, "-n", "changed.ipynb", "--compare")
    assert result.exit_code == ExitCode.CHECK_FAILED
    block = lines_of(result, "changed.ipynb")
    assert block[0].startswith("differs ") and "outputs differ in 2 of 2 compared cells" in block[0]
    assert "cell 2 (In [2]) stdout: committed 'mean = 3.0', now 'mean = 3.2'" in block
    assert "cell 3 (In [3]) text/plain: committed '0.3', now '0.30000000000000004'" in block

    # A tolerance forgives the float noise, not the changed mean.
    tight = check(suite, "-n", "changed.ipynb", "--tolerance", "1e-9")
    assert tight.exit_code == ExitCode.CHECK_FAILED
    assert "outputs differ in 1 of 2 compared cells" in lines_of(tight, "changed.ipynb")[0]
    loose = check(suite, "-n", "changed.ipynb", "--tolerance", "0.1")
    assert loose.exit_code == 0, loose.stdout


def test_whole_image_without_its_folder_with_junit_and_json(
    suite: BuiltProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no project here: everything comes from the image
    junit = tmp_path / "report.xml"
    result = run_cli("check", "--image", suite.image, "--timeout", "3", "--compare", "--junit", str(junit), "--json")
    assert result.exit_code == ExitCode.CHECK_FAILED, result.stderr
    report = json.loads(result.stdout)
    # The order and the choice come from the image's nbship.toml: scratch.ipynb is not run.
    assert [nb["path"] for nb in report["notebooks"]] == SETTINGS_ORDER
    statuses = {nb["path"]: nb["status"] for nb in report["notebooks"]}
    assert statuses == {
        "ok/passing.ipynb": "passed",
        "failing.ipynb": "failed",
        "changed.ipynb": "differs",
        "network.ipynb": "failed",
        "slow.ipynb": "timed out",
        "other-kernel.ipynb": "passed",
    }
    assert report["counts"] == {"passed": 2, "failed": 2, "timed out": 1, "differs": 1}
    assert report["ok"] is False and report["network"] is False and report["timeout"] == 3
    assert report["image_id"] == inspect(suite.image)["Id"]
    sbom = docker("run", "--rm", "--entrypoint", "cat", suite.image, "/opt/nbship/sbom.spdx.json").stdout
    assert report["sbom_digest"] == "sha256:" + hashlib.sha256(sbom.encode()).hexdigest()
    other = report["notebooks"][-1]
    assert other["kernel"] == "python3" and "'analysis-env' is not in the image" in other["note"]

    root = ET.parse(junit).getroot()  # noqa: S314 - nbship just wrote it; it must be well-formed
    assert root.tag == "testsuites"
    (suite_element,) = root.findall("testsuite")
    assert (suite_element.get("tests"), suite_element.get("failures"), suite_element.get("errors")) == ("6", "4", "0")
    cases = suite_element.findall("testcase")
    assert [case.get("name") for case in cases] == SETTINGS_ORDER
    for case in cases:
        assert case.get("classname") == suite.image
        assert float(case.get("time") or "x") >= 0
    failures = {case.get("name"): case.find("failure") for case in cases}
    assert failures["ok/passing.ipynb"] is None and failures["other-kernel.ipynb"] is None
    kinds = {name: element.get("type") for name, element in failures.items() if element is not None}
    assert kinds == {
        "failing.ipynb": "ZeroDivisionError",
        "changed.ipynb": "OutputsDiffer",
        "network.ipynb": "gaierror",
        "slow.ipynb": "CellTimeoutError",
    }
    failing = failures["failing.ipynb"]
    assert failing is not None and "----> 2     return a / b" in (failing.text or "")
    assert "cell 4 (In [3])" in (failing.get("message") or "")


def test_build_then_check(suite: BuiltProject) -> None:
    result = run_cli("build", str(suite.path), "-t", suite.image, "--check")
    assert result.exit_code == ExitCode.CHECK_FAILED
    lines = result.stdout.splitlines()
    assert lines[0].startswith(suite.image)  # the build's own line first
    # Without --compare, changed.ipynb runs fine.
    assert [line.split()[-1] for line in lines[1:] if line.startswith("passed")] == [
        "ok/passing.ipynb",
        "changed.ipynb",
        "other-kernel.ipynb",
    ]
    assert "6 notebooks in " in lines[-1] and "1 timed out" in lines[-1]  # [check] timeout = 10 applies
    assert "3 of 6 notebooks did not pass" in result.stderr
    assert result.stderr.count("is up to date") == 1  # the build's word only, not a second look


def test_settings_naming_a_missing_notebook(suite: BuiltProject, tmp_path: Path) -> None:
    project = copy_project("check-suite", tmp_path)
    settings = project / "nbship.toml"
    settings.write_text(settings.read_text().replace('"slow.ipynb"', '"slow-typo.ipynb"'))
    result = run_cli("check", str(project), "-t", f"{TEST_PREFIX}/check-suite-typo:latest")
    assert result.exit_code == ExitCode.PROJECT, result.stderr
    assert "nbship.toml, line 10: [check] notebooks names slow-typo.ipynb" in result.stderr
    assert "slow.ipynb" in result.stderr  # the notebooks the image has are listed
    docker("rmi", f"{TEST_PREFIX}/check-suite-typo:latest", check=False)


def test_python_39_image(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("python39", tmp_path)
    result = run_cli("check", str(project), "-t", f"{TEST_PREFIX}/python39-check:latest")
    assert result.exit_code == 0, result.output + result.stderr
    assert lines_of(result, "py39.ipynb")[0].startswith("passed ")


def test_own_image_without_nbclient_is_explained(docker_daemon: str, tmp_path: Path) -> None:
    project = tmp_path / "bare"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /work\nCOPY . /work\n")
    (project / "a.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = run_cli("check", str(project), "-t", f"{TEST_PREFIX}/check-bare:latest")
    assert result.exit_code == ExitCode.RUN_FAILED
    assert "lacks nbclient" in result.stderr and "pip install nbclient ipykernel" in result.stderr
    assert "Traceback" not in result.output


def test_output_folder_holding_other_files_is_refused(suite: BuiltProject) -> None:
    result = check(suite, "-n", "ok/passing.ipynb", "--output", str(suite.path))
    assert result.exit_code == ExitCode.USAGE
    assert "does not overwrite your files" in result.stderr
    assert not os.path.exists(suite.path / "nbship-check.json")


def test_ctrl_c_during_a_check_leaves_no_container(suite: BuiltProject, tmp_path: Path) -> None:
    def containers() -> list[str]:
        filters = ["--filter", "label=io.nbship.check=true", "--filter", f"ancestor={suite.image}"]
        return docker("ps", "-aq", *filters).stdout.split()

    assert not containers()
    proc = subprocess.Popen(
        [nbship_exe(), "check", "--image", suite.image, "-n", "slow.ipynb", "--timeout", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert wait_until(lambda: bool(containers()), timeout=60)
    time.sleep(3)  # the kernel is sleeping in the notebook's second cell by now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted" in err.lower() and "Traceback" not in err
    assert not containers()


def test_output_inside_the_project_is_written_with_a_warning(docker_daemon: str, tmp_path: Path) -> None:
    project = copy_project("check-suite", tmp_path)
    tag = f"{TEST_PREFIX}/check-suite-output:latest"
    result = run_cli("check", str(project), "-t", tag, "-n", "ok/passing.ipynb", "-o", str(project / "checked"))
    docker("rmi", tag, check=False)
    assert result.exit_code == 0, result.stderr
    assert "inside the project" in result.stderr and ".dockerignore" in result.stderr
    executed = nbformat.read(str(project / "checked" / "ok" / "passing.ipynb"), as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "42 from ok/input.txt\n"
    assert executed.metadata["language_info"]["name"] == "python"


def test_missing_image(docker_daemon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("check", "--image", f"{TEST_PREFIX}/no-such-image:1")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "is not on this machine" in result.stderr


def test_environment_variables_reach_the_notebooks(suite: BuiltProject, tmp_path: Path) -> None:
    assert check(suite, "-n", "env.ipynb").exit_code == ExitCode.CHECK_FAILED
    assert check(suite, "-n", "env.ipynb", "-e", "CHECK_ENV_PROBE=yes").exit_code == 0
    env_file = tmp_path / "check.env"
    env_file.write_text("CHECK_ENV_PROBE=yes\n")
    assert check(suite, "-n", "env.ipynb", "--env-file", str(env_file)).exit_code == 0


def test_a_folder_and_an_image_take_the_folders_settings(suite: BuiltProject, tmp_path: Path) -> None:
    project = copy_project("check-suite", tmp_path)
    (project / "nbship.toml").write_text('[check]\nnotebooks = ["ok/passing.ipynb", "other-kernel.ipynb"]\n')
    result = run_cli("check", str(project), "--image", suite.image, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [nb["path"] for nb in report["notebooks"]] == ["ok/passing.ipynb", "other-kernel.ipynb"]
    assert report["image"] == suite.image
    assert "Building" not in result.stderr  # that image, as it is


@pytest.mark.e2e
def test_html_report_in_a_browser(suite: BuiltProject, tmp_path: Path) -> None:
    """SVG with made-up ids compares equal, the tagged cell is not compared, the changed PNG shows
    both pictures side by side, and a failing notebook shows its traceback."""
    folder = tmp_path / "report"
    result = check(suite, "-n", "pictures.ipynb", "-n", "failing.ipynb", "--compare", "--html", str(folder))
    assert result.exit_code == ExitCode.CHECK_FAILED, result.stderr
    assert lines_of(result, "pictures.ipynb")[0].endswith("outputs differ in 1 of 2 compared cells")
    assert f"the report to open in a browser: {folder / 'index.html'}" in result.stderr

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from browser import CHROMIUM_ARGS, find_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((folder / "index.html").as_uri())
            sections = page.locator("section.notebook")
            assert [sections.nth(i).get_attribute("data-path") for i in range(sections.count())] == [
                "pictures.ipynb",
                "failing.ipynb",
            ]
            pictures = page.locator('section[data-path="pictures.ipynb"]')
            assert pictures.get_attribute("data-status") == "differs"
            rows = pictures.locator("tr.difference")
            assert rows.count() == 1 and rows.first.locator("td").first.inner_text().startswith("2")
            committed, fresh = rows.first.locator("figure.committed img"), rows.first.locator("figure.fresh img")
            for image in (committed, fresh):
                assert image.evaluate("img => img.complete && img.naturalWidth") == 40
            left, right = committed.bounding_box(), fresh.bounding_box()
            assert left is not None and right is not None
            assert abs(left["y"] - right["y"]) < 1 and left["x"] + left["width"] <= right["x"]
            failing = page.locator('section[data-path="failing.ipynb"]')
            assert failing.get_attribute("data-status") == "failed"
            traceback = failing.locator("pre.traceback").inner_text()
            assert "ZeroDivisionError" in failing.inner_text() and "----> 2     return a / b" in traceback
            page.screenshot(path=str(tmp_path / "report.png"))
            assert errors == []
        finally:
            browser.close()
