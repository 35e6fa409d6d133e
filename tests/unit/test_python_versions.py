"""nbship runs on Python 3.10 and later; the payload, on the image's Python, from 3.8. vermin
knows when each standard-library module, function and argument appeared."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "nbship"


def vermin(target: str, path: Path) -> subprocess.CompletedProcess[str]:
    # `str.decode`: vermin takes bytes.decode on a value it cannot type for Python 2's str.decode.
    command = [str(Path(sys.executable).parent / "vermin"), f"--target={target}", "--violations", "--no-tips"]
    return subprocess.run(
        [*command, "--exclude", "str.decode", str(path)], capture_output=True, text=True, check=False, timeout=300
    )


@pytest.mark.parametrize(("target", "path"), [("3.10-", SRC), ("3.8-", SRC / "payload")])
def test_every_part_keeps_to_its_oldest_python(target: str, path: Path) -> None:
    result = vermin(target, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_archive_is_extracted_with_the_filter_argument() -> None:
    # TarFile.extract(filter=...) arrived in 3.10.12 and 3.11.4 (Debian 12 has 3.11.2), and vermin
    # cannot see it on an archive whose type it does not infer.
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else ""
            if called in {"extract", "extractall"} and any(k.arg == "filter" for k in node.keywords):  # type: ignore[attr-defined]
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")  # type: ignore[attr-defined]
    assert found == []
