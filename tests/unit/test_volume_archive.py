"""What may enter a volume or a folder from an archive (nbship.runtime.archive), on real tar files
and real folders: hostile archives by hand, and random ones with hypothesis."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.runtime.archive import ArchiveOutcome, Screen, copy_members, write_folder

Spec = tuple[str, str, str, int]  # (kind, name, data or link target, mode)


def tar_of(specs: list[Spec]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for kind, name, data, mode in specs:
            member = tarfile.TarInfo(name)
            member.mode, member.uid, member.gid = mode, 0, 0
            payload = None
            if kind == "file":
                member.size = len(data.encode())
                payload = io.BytesIO(data.encode())
            else:
                member.type = {
                    "dir": tarfile.DIRTYPE,
                    "sym": tarfile.SYMTYPE,
                    "hard": tarfile.LNKTYPE,
                    "chr": tarfile.CHRTYPE,
                    "blk": tarfile.BLKTYPE,
                    "fifo": tarfile.FIFOTYPE,
                }[kind]
                member.linkname = data
                member.devmajor, member.devminor = (1, 3) if kind in {"chr", "blk"} else (0, 0)
            tar.addfile(member, payload)
    return buffer.getvalue()


HOSTILE: list[Spec] = [
    ("dir", "volume", "", 0o755),
    ("file", "volume/notes.md", "mine", 0o644),
    ("file", "volume/suid", "#!/bin/sh\n", 0o4755),
    ("dir", "volume/shared", "", 0o2775),
    ("chr", "volume/null", "", 0o666),
    ("blk", "volume/disk", "", 0o660),
    ("fifo", "volume/pipe", "", 0o644),
    ("sym", "volume/etc", "/etc", 0o777),
    ("file", "volume/etc/cron.d/evil", "* * * * * root sh", 0o644),
    ("file", "volume/../escape", "x", 0o644),
    ("file", "/abs", "x", 0o644),
    ("hard", "volume/again.md", "volume/notes.md", 0o644),
    ("hard", "volume/to-folder", "volume/shared", 0o644),
    ("hard", "volume/to-nothing", "volume/missing", 0o644),
]


def screened(data: bytes, *, top: str = "volume", owner: int | None = 1000) -> tuple[Screen, list[tarfile.TarInfo]]:
    screen = Screen(top=top, owner=owner)
    admitted = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        for member in archive:
            if screen.admit(member) is not None:
                admitted.append(member)
    return screen, admitted


def test_the_screen_leaves_out_what_could_gain_privileges_or_escape() -> None:
    screen, admitted = screened(tar_of(HOSTILE))
    left = {item.name: item.why for item in screen.outcome().left_out}
    assert left == {
        "null": "device node",
        "disk": "device node",
        "pipe": "FIFO",
        "etc/cron.d/evil": "inside etc, which is a link",
        "volume/../escape": "outside the archive's folder",
        "/abs": "outside the archive's folder",
        "to-folder": "hard link to something that is not a file of the archive",
        "to-nothing": "hard link to something that is not a file of the archive",
    }
    assert screen.outcome().cleared == ("suid", "shared")
    assert all(m.mode & 0o6000 == 0 and (m.uid, m.gid, m.uname) == (1000, 1000, "") for m in admitted)
    notes = screen.outcome().notes()
    assert notes[0].startswith("Left out 8 entries: device node: 2 (null, disk); FIFO: 1 (pipe);")
    assert notes[1] == "Removed the setuid/setgid bit from 2 file(s): suid, shared."


def test_owners_are_kept_only_when_asked() -> None:
    _, admitted = screened(tar_of(HOSTILE), owner=None)
    assert {m.uid for m in admitted} == {0}


@contextmanager
def beside() -> Iterator[tuple[Path, Path]]:
    """A destination folder and a sibling that nothing may reach."""
    with tempfile.TemporaryDirectory() as root:
        dest, sibling = Path(root, "dest"), Path(root, "sibling")
        dest.mkdir()
        sibling.mkdir()
        (sibling / "keep").write_text("keep")
        yield dest, sibling


def written(data: bytes, dest: Path, top: str = "volume") -> ArchiveOutcome:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as archive:
        return write_folder(archive, dest, top=top)


def kinds_under(folder: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for base, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            path = Path(base, name)
            mode = path.lstat().st_mode
            kind = (
                "link"
                if stat.S_ISLNK(mode)
                else "dir"
                if stat.S_ISDIR(mode)
                else "file"
                if stat.S_ISREG(mode)
                else "odd"
            )
            out[str(path.relative_to(folder))] = (kind, stat.S_IMODE(mode))
    return out


def test_a_folder_gets_no_device_fifo_or_setuid_file_and_nothing_outside() -> None:
    with beside() as (dest, sibling):
        written(tar_of(HOSTILE), dest)
        found = kinds_under(dest)
        assert found == {
            "notes.md": ("file", 0o644),
            "suid": ("file", 0o755),
            "shared": ("dir", 0o775),
            "etc": ("link", found["etc"][1]),
            "again.md": ("file", 0o644),
        }
        assert os.readlink(dest / "etc") == "/etc"
        assert (dest / "again.md").read_text() == "mine"
        assert (dest / "again.md").stat().st_ino != (dest / "notes.md").stat().st_ino  # a copy, not a link
        assert sorted(p.name for p in dest.parent.iterdir()) == ["dest", "sibling"]
        assert [p.name for p in sibling.iterdir()] == ["keep"]


def test_a_hard_link_to_a_file_in_another_folder_exports_as_a_file() -> None:
    # What Docker's archive of a volume holds for `ln d/f hl`: the link names the first path.
    data = tar_of(
        [("dir", "volume", "", 0o755), ("dir", "volume/d", "", 0o555), ("file", "volume/d/f", "hi", 0o640),
         ("hard", "volume/hl", "volume/d/f", 0o640)]
    )  # fmt: skip
    with beside() as (dest, _):
        written(data, dest)
        assert (dest / "hl").read_text() == "hi" and (dest / "d" / "f").read_text() == "hi"
        assert stat.S_IMODE((dest / "d").stat().st_mode) == 0o555  # a read-only folder, set last


def test_tar_export_copies_members_as_they_are() -> None:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(tar_of(HOSTILE)), mode="r|") as source,
        tarfile.open(fileobj=out, mode="w") as tar,
    ):
        copy_members(source, tar, top="volume", rename=".")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert names["./suid"].mode == 0o4755 and names["./again.md"].linkname == "./notes.md"


NAMES = st.sampled_from(["a", "b", "..", "", ".", "etc", "a/b", "volume"])
SPECS = st.lists(
    st.tuples(
        st.sampled_from(["file", "dir", "sym", "hard", "chr", "blk", "fifo"]),
        st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(["volume", *parts])),
        st.sampled_from(["x", "volume/a", "volume/b", "/etc", "..", "../..", "a", "volume/a/b"]),
        st.sampled_from([0o644, 0o4755, 0o2755, 0o6777, 0o1777, 0o000, 0o555]),
    ),
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(specs=SPECS)
def test_any_archive_writes_only_plain_entries_inside_the_folder(specs: list[Spec]) -> None:
    data = tar_of(specs)
    with beside() as (dest, sibling):
        try:
            written(data, dest)
        finally:
            for path in [dest, *dest.rglob("*")]:  # let the cleanup into read-only folders
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)
        for rel, (kind, mode) in kinds_under(dest).items():
            assert kind in {"file", "dir", "link"}, rel
            assert kind == "link" or mode & 0o7000 == 0, rel
        assert sorted(p.name for p in dest.parent.iterdir()) == ["dest", "sibling"]
        assert [p.name for p in sibling.iterdir()] == ["keep"] and (sibling / "keep").read_text() == "keep"


@settings(max_examples=300, deadline=None)
@given(specs=SPECS, owner=st.sampled_from([1000, None]))
def test_any_archive_enters_a_volume_as_plain_owned_entries(specs: list[Spec], owner: int | None) -> None:
    screen, admitted = screened(tar_of(specs), owner=owner)
    files: set[str] = set()
    for member in admitted:
        assert member.type in {tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE}
        assert member.mode & 0o6000 == 0
        assert owner is None or (member.uid, member.gid) == (owner, owner)
        parts = member.name.split("/")
        assert parts[0] == "volume" and ".." not in parts
        if member.islnk():
            assert member.linkname.removeprefix("volume/") in files
        if member.isreg():
            files.add("/".join(p for p in parts[1:] if p not in {"", "."}))
    assert screen.outcome().entries == len(admitted)
