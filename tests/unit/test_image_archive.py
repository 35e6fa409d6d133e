"""The archive check (runtime/image_archive.py) on archives made here, byte by byte: a complete one
passes and names its image; one cut short or with any byte changed is refused, unless the change
left every member's content as it was (tar padding), which loads the same image."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship import contract as c
from nbship.errors import ProjectError
from nbship.reporter import RecordingReporter
from nbship.runtime.image_archive import check_archive


def _archive(*, listed: bool = True, extra: str | None = None) -> bytes:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as inner:
        data = b"print('hello')\n" * 50
        info = tarfile.TarInfo("app/hello.py")
        info.size = len(data)
        inner.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    image_id = "sha256:" + config_name[: -len(".json")]
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["demo:1"], "Layers": ["abc/layer.tar"]}]).encode()
    members = {
        "abc/layer.tar": layer_bytes,
        config_name: config,
        "manifest.json": manifest,
        c.ARCHIVE_INFO: json.dumps({"image": "demo:1", "image_id": image_id}).encode(),
        f"{c.ARCHIVE_FOLDER}/HOW-TO-RUN.txt": b"docker load -i FILE\n",
    }
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in members.items() if listed or n != config_name)
    if extra is not None:
        members[extra] = b"smuggled\n"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [*members.items(), (c.ARCHIVE_CHECKSUMS, sums.encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _contents(data: bytes) -> dict[str, bytes] | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError):
        return None


ORIGINAL = _archive()


def _without_checksums(data: bytes) -> bytes:
    """The archive as it stood before its last member: every member there, the checksums not."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        offset = tar.getmember(c.ARCHIVE_CHECKSUMS).offset
    return data[:offset] + bytes(1024)


def _refusal(path: Path) -> str | None:
    """check_archive's message when it refuses the file, None when it accepts it."""
    try:
        check_archive(path, RecordingReporter())
    except ProjectError as exc:
        return exc.message
    return None


def test_a_complete_archive_names_its_image(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    path.write_bytes(ORIGINAL)
    checked = check_archive(path, RecordingReporter())
    assert checked.images == ("demo:1",)
    assert checked.image_id.startswith("sha256:") and checked.info["image"] == "demo:1"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_archive(listed=False), "not listed"),
        (_archive(extra="evil.sh"), "not listed: evil.sh"),
        (ORIGINAL[:1024], "it ends early"),
        (_without_checksums(ORIGINAL), f"it has no {c.ARCHIVE_CHECKSUMS}"),
    ],
)
def test_what_the_checksums_do_not_cover_is_refused(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "a.tar"
    path.write_bytes(data)
    with pytest.raises(ProjectError, match="is not a complete nbship archive") as raised:
        check_archive(path, RecordingReporter())
    assert why in raised.value.message and "Nothing was loaded" in raised.value.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=len(ORIGINAL) - 1), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_is_refused_or_changes_no_content(tmp_path: Path, where: int, flip: int) -> None:
    damaged = bytearray(ORIGINAL)
    damaged[where] ^= flip
    path = tmp_path / "flipped.tar"
    path.write_bytes(bytes(damaged))
    refused = _refusal(path)
    if refused is None:
        assert _contents(bytes(damaged)) == _contents(ORIGINAL)
    else:
        assert "is not a complete nbship archive" in refused


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=len(ORIGINAL) - 1))
def test_an_archive_cut_anywhere_is_refused_or_keeps_every_member(tmp_path: Path, length: int) -> None:
    path = tmp_path / "cut.tar"
    path.write_bytes(ORIGINAL[:length])
    refused = _refusal(path)
    if refused is None:
        assert _contents(ORIGINAL[:length]) == _contents(ORIGINAL)
    else:
        assert "is not a complete nbship archive" in refused
