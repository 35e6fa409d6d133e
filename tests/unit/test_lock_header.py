"""The one header model of nbship's locks, and the one relock rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.lock.header import LockHeader, read_header, relock_platforms
from nbship.options import PLATFORMS


def test_written_header_reads_back(tmp_path: Path) -> None:
    header = LockHeader(
        inputs="ab" * 32, platforms=("linux-64", "linux-aarch64"), python="3.11", exclude_newer="2024-05-31"
    )
    lock = tmp_path / "requirements.lock"
    lock.write_text("\n".join(header.lines("Written by nbship")) + "\nsix==1.16.0 \\\n    --hash=sha256:00\n")
    assert read_header(lock) == header


def test_the_committed_example_lock_reads_back() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "sea-surface-temperature" / "requirements.lock"
    header = read_header(example)
    assert header is not None and header.platforms == ("linux-64",) and header.python == "3.11"


@pytest.mark.parametrize(
    "text",
    ["", "numpy==1\n", "# nbship-platforms: linux-64\n", "\x00\xff binary", "# just a comment\n"],
    ids=["empty", "no header", "no inputs line", "binary", "foreign comment"],
)
def test_no_header_is_none(tmp_path: Path, text: str) -> None:
    lock = tmp_path / "nbship.lock"
    lock.write_bytes(text.encode("latin-1"))
    assert read_header(lock) is None


def test_unknown_platforms_are_dropped(tmp_path: Path) -> None:
    lock = tmp_path / "nbship.lock"
    lock.write_text("# nbship-inputs: x\n# nbship-platforms: win-64 linux-aarch64\n")
    header = read_header(lock)
    assert header is not None and header.platforms == ("linux-aarch64",)


@given(
    asked=st.lists(st.sampled_from(PLATFORMS), max_size=3),
    locked=st.lists(st.sampled_from(PLATFORMS), max_size=3),
)
def test_relock_keeps_every_platform(asked: list[str], locked: list[str]) -> None:
    result = relock_platforms(asked, locked)  # type: ignore[arg-type]
    assert set(result) == (set(asked) | set(locked) or {"linux-64"})
    assert list(result) == sorted(result, key=PLATFORMS.index)  # the default platform first
    assert len(result) == len(set(result))
