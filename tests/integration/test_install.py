"""Installing nbship as a command-line tool, as the README says: a wheel built from the repository,
installed with `uv tool install` into a place of its own, runs and carries its license and files."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_installs_as_a_tool(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("nbship-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    for packaged in (
        "nbship/render/templates/Dockerfile.j2",
        "nbship/check/templates/report.html.j2",
        "nbship/payload/entrypoint.sh",
        "nbship/py.typed",
    ):
        assert packaged in names
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Project-URL: Source, " in metadata and "Classifier: Framework :: Jupyter" in metadata
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requirements and not [line for line in requirements if "ruff" in line or "mypy" in line]

    uv = Path(sys.executable).parent / "uv"
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
        "UV_CACHE_DIR": str(tmp_path / "cache"),
        "UV_NATIVE_TLS": "1",  # these machines reach PyPI through a proxy the system store trusts
    }
    subprocess.run([str(uv), "tool", "install", "-q", str(wheel)], env=env, check=True, timeout=600)
    version = subprocess.run(
        [str(tmp_path / "bin" / "nbship"), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.startswith("nbship, version ")
    completion = subprocess.run(
        [str(tmp_path / "bin" / "nbship")],
        env={**os.environ, "_NBSHIP_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "_nbship_completion" in completion.stdout  # the README's shell completion line works
