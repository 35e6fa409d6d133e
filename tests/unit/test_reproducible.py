"""The normalization of a built image (runtime/reproducible.py) on layers made here: times clamped,
names dropped, content kept, and two layers that differ only in times become the same bytes."""

from __future__ import annotations

import importlib.util
import io
import struct
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.commands.reproducible import clock, unlocked_debian, unlocked_r_packages
from nbship.project.detect import detect
from nbship.reporter import RecordingReporter
from nbship.runtime.reproducible import clamp_pyc, clamp_shadow, normalize_config, normalize_layer

from .helpers import MakeProject

EPOCH = 1_700_000_000


def _layer(entries: list[tuple[str, bytes, int]], *, owner: str = "") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mtime in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uname, info.gname = len(data), mtime, owner, owner
            info.pax_headers = {"atime": str(mtime), "SCHILY.xattr.user.k": "v"}
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _normalized(data: bytes) -> bytes:
    out = io.BytesIO()
    normalize_layer(io.BytesIO(data), out, EPOCH)
    return out.getvalue()


def _pyc(source_mtime: int) -> bytes:
    return importlib.util.MAGIC_NUMBER + struct.pack("<II", 0, source_mtime) + struct.pack("<I", 10) + b"code"


def _later(time: int, salt: int) -> int:
    """Another time that the clock clamps the same way: itself when before it, else another after it."""
    return time if time < EPOCH else EPOCH + salt


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=3, max_size=3),
    st.integers(min_value=0, max_value=10**6),
)
def test_layers_that_differ_only_in_times_and_names_become_the_same_bytes(times: list[int], salt: int) -> None:
    def layer(when: list[int], owner: str) -> bytes:
        files = [("opt/a.txt", b"alpha"), ("opt/__pycache__/m.cpython-311.pyc", _pyc(when[0])), ("etc/x", b"")]
        return _layer([(n, d, t) for (n, d), t in zip(files, when, strict=True)], owner=owner)

    other = [_later(t, salt) for t in times]
    assert _normalized(layer(times, "builder")) == _normalized(layer(other, ""))


def test_normalizing_keeps_content_ids_and_extended_attributes() -> None:
    shadow = b"root:*:19000:0:99999:7:::\njovyan:!:20423:0:99999:7:::\n"
    layer = _layer([("etc/shadow", shadow, EPOCH + 99), ("opt/x", b"x" * 1000, 5)], owner="someone")
    with tarfile.open(fileobj=io.BytesIO(_normalized(layer))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert [m.name for m in tar.getmembers()] == ["etc/shadow", "opt/x"]  # order kept
        assert members["etc/shadow"].mtime == EPOCH and members["opt/x"].mtime == 5
        assert members["opt/x"].uname == "" and members["opt/x"].pax_headers == {"SCHILY.xattr.user.k": "v"}
        day = EPOCH // 86400
        assert (
            tar.extractfile("etc/shadow").read() == f"root:*:19000:0:99999:7:::\njovyan:!:{day}:0:99999:7:::\n".encode()
        )  # type: ignore[union-attr]
        assert tar.extractfile("opt/x").read() == b"x" * 1000  # type: ignore[union-attr]


def test_bytecode_headers_are_clamped_only_when_they_hold_a_time() -> None:
    assert clamp_pyc(_pyc(EPOCH + 5), EPOCH) == _pyc(EPOCH)
    assert clamp_pyc(_pyc(EPOCH - 5), EPOCH) == _pyc(EPOCH - 5)
    hashed = importlib.util.MAGIC_NUMBER + struct.pack("<I", 1) + b"\x01" * 12
    assert clamp_pyc(hashed, EPOCH) == hashed
    assert clamp_pyc(b"not bytecode at all", EPOCH) == b"not bytecode at all"
    assert clamp_shadow(b"broken line\n", EPOCH) == b"broken line\n"


def test_the_config_holds_the_clock_and_the_new_layers() -> None:
    config = {
        "created": "2026-12-01T10:00:00.123Z",
        "history": [{"created": "2026-12-01T10:00:00Z", "created_by": "RUN x"}],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:old"]},
        "config": {"Labels": {"a": "b"}},
    }
    fixed = normalize_config(config, EPOCH, ["sha256:new"])
    assert fixed["created"] == "2023-11-14T22:13:20Z" and fixed["history"][0]["created"] == fixed["created"]
    assert fixed["history"][0]["created_by"] == "RUN x" and fixed["rootfs"]["diff_ids"] == ["sha256:new"]
    assert fixed["config"] == config["config"] and config["created"].startswith("2026")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"requirements.txt": "six\n"}, ()),
        ({"environment.yml": "dependencies:\n  - python\n"}, ()),
        ({"apt.txt": "jq\n", "requirements.txt": "six\n"}, ("apt.txt's packages",)),
        ({"binder/apt.txt": "# a comment\njq\n"}, ("apt.txt's packages",)),
        ({"install.R": 'install.packages("x")\n'}, ("R and its kernel (r-base-core, r-cran-irkernel)",)),
        (
            {"runtime.txt": "r-4.2\n", "apt.txt": "r-cran-praise\n"},
            ("apt.txt's packages", "R and its kernel (r-base-core, r-cran-irkernel)"),
        ),
    ],
)
def test_the_reproducible_note_names_what_the_debian_mirror_installs_unlocked(
    make_project: MakeProject, files: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert unlocked_debian(detect(make_project({"analysis.ipynb": "{}", **files}))) == expected


def test_the_reproducible_note_is_given_only_when_it_applies(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    for name, files, noted in (("pip", {"requirements.txt": "six\n"}, False), ("apt", {"apt.txt": "jq\n"}, True)):
        reporter = RecordingReporter()
        clock(detect(make_project({"analysis.ipynb": "{}", **files}, name=name)), reporter)
        warnings = [text for level, text in reporter.events if level == "warn"]
        assert any("not locked" in text and "Debian mirror" in text for text in warnings) is noted, warnings


@pytest.mark.parametrize(
    ("files", "source"),
    [
        ({"install.R": 'install.packages("x")\n'}, "https://cloud.r-project.org"),
        ({"install.R": "", "nbship.toml": 'r-repository = "https://r.example/repo"\n'}, "https://r.example/repo"),
        ({"install.R": "", "runtime.txt": "r-4.2-2024-05-01\n"}, None),  # a dated snapshot
        ({"runtime.txt": "r-4.2\n"}, None),  # R alone: no packages from a repository
    ],
)
def test_r_packages_from_an_undated_repository_are_noted(
    make_project: MakeProject, files: dict[str, str], source: str | None
) -> None:
    note = unlocked_r_packages(detect(make_project({"analysis.ipynb": "{}", **files})))
    assert (note is None) if source is None else (note is not None and f"come from {source}," in note)
