"""Volume archives between nbship and an engine: members moved between a top folder and the root
keep their contents, owners and modes, and nothing ends up outside where it belongs."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.engine.archive import copy_members, moved, relative


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mode = 1000, 100, 0o640
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return iter([data[i : i + size] for i in range(0, len(data), size)])


def _members(data: bytes) -> dict[str, tuple[bytes | None, int, int, int]]:
    found: dict[str, tuple[bytes | None, int, int, int]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            found[member.name] = (handle.read() if handle else None, member.uid, member.gid, member.mode)
    return found


def test_a_docker_archive_moved_to_the_volumes_root_and_back() -> None:
    long_name = "volume/" + "deep/" * 30 + "notebook.ipynb"  # longer than a plain tar header holds
    docker_layout = _tar([("volume", None), ("volume/a.txt", b"a" * 3000), (long_name, b"{}"), ("other/x", b"no")])
    relative_layout = b"".join(moved(_chunks(docker_layout, 777), top="volume", rename="."))
    members = _members(relative_layout)
    assert set(members) == {".", "./a.txt", "./" + long_name.removeprefix("volume/")}
    assert members["./a.txt"] == (b"a" * 3000, 1000, 100, 0o640)
    assert members["."] == (None, 1000, 100, 0o750)
    back = _members(b"".join(moved(_chunks(relative_layout, 512), top="", rename="volume")))
    assert set(back) == {"volume", "volume/a.txt", long_name}


_part = st.sampled_from(["a", "b", "..", ".", "", "work", "x y", "ü", "volume"])
_name = st.lists(_part, min_size=1, max_size=5).map("/".join)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(_name, max_size=8), leading=st.booleans(), chunk=st.integers(1, 2000))
def test_nothing_escapes_and_nothing_is_lost(names: list[str], leading: bool, chunk: int) -> None:
    entries = [(("/" if leading else "") + name, name.encode()) for name in names]
    data = _tar(entries)
    out = _members(b"".join(moved(_chunks(data, chunk), top="volume", rename=".")))
    for name in out:
        assert name == "." or name.startswith("./")
        assert ".." not in name.split("/")
    expected = {relative(name, "volume") for name, _ in entries} - {None}
    assert {relative(name, "") for name in out} == expected
    copied = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as source, tarfile.open(fileobj=copied, mode="w") as target:
        count = copy_members(source, target, top="volume", rename=".")
    assert count == sum(relative(name, "volume") is not None for name, _ in entries)
