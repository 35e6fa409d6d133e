"""Unpacking archives from the network: everything lands inside the destination or is refused,
nothing is lost, one top folder is hoisted, and links, modes and special files are tamed."""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.errors import ProjectError
from nbship.sources.archive import UnsafeMember, archive_kind, drop_escaping_links, member_path, unpack


def make_tar(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in entries:
            payload = (data or {}).get(info.name, b"")
            if info.isreg():
                info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload) if info.isreg() else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.mtime = kind, mode, link, 1_600_000_000
    return info


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.ipynb", "a.ipynb"),
        ("./data/x.csv", "data/x.csv"),
        ("dir//sub/./f", "dir/sub/f"),
        ("win\\style\\name.txt", "win/style/name.txt"),
        ("", None),
        ("./", None),
        ("__MACOSX/._a.ipynb", None),
        ("folder/._resource", None),
    ],
)
def test_member_paths(name: str, expected: str | None) -> None:
    assert member_path(name, archive="x.zip") == expected


@pytest.mark.parametrize("name", ["/etc/passwd", "../up.txt", "a/../../b", "C:/Windows/x", "c:evil", "nul\0byte"])
def test_member_paths_that_leave_the_folder_are_refused(name: str) -> None:
    with pytest.raises(UnsafeMember):
        member_path(name, archive="x.zip")


def test_a_release_archive_is_unpacked_with_its_top_folder_hoisted(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "r.zip", {"owner-repo-1a2b/analysis.ipynb": b"{}", "owner-repo-1a2b/data/x.csv": b"1\n"}
    )
    result = unpack(archive, tmp_path / "out", name="r.zip")
    assert tree(tmp_path / "out") == {"analysis.ipynb": b"{}", "data/x.csv": b"1\n"}
    assert result.files == 2 and result.left_out == []


def test_files_beside_a_folder_are_not_hoisted(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "r.zip", {"top/a": b"a", "README.md": b"r"})
    unpack(archive, tmp_path / "out", name="r.zip")
    assert tree(tmp_path / "out") == {"top/a": b"a", "README.md": b"r"}


def test_modes_keep_only_the_executable_bit(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tar.gz",
        [entry("run.sh", mode=0o4777), entry("data.csv", mode=0o666), entry("dir", tarfile.DIRTYPE, mode=0o777)],
        {"run.sh": b"#!/bin/sh\n", "data.csv": b"1\n"},
    )
    unpack(archive, tmp_path / "out", name="a.tar.gz")
    assert stat.S_IMODE((tmp_path / "out" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "data.csv").stat().st_mode) == 0o644
    assert (tmp_path / "out" / "run.sh").stat().st_mtime == 1_600_000_000


def test_links_devices_and_hard_links(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tar.gz",
        [
            entry("p/data.csv"),
            entry("p/inside", tarfile.SYMTYPE, link="data.csv"),
            entry("p/outside", tarfile.SYMTYPE, link="../../../etc/passwd"),
            entry("p/absolute", tarfile.SYMTYPE, link="/etc/passwd"),
            entry("p/copy.csv", tarfile.LNKTYPE, link="p/data.csv"),
            entry("p/fifo", tarfile.FIFOTYPE),
            entry("p/dev", tarfile.CHRTYPE),
        ],
        {"p/data.csv": b"1,2\n"},
    )
    result = unpack(archive, tmp_path / "out", name="a.tar.gz")
    out = tmp_path / "out"
    assert os.readlink(out / "inside") == "data.csv" and (out / "inside").read_bytes() == b"1,2\n"
    assert (out / "copy.csv").read_bytes() == b"1,2\n" and not (out / "copy.csv").is_symlink()
    for gone in ("outside", "absolute", "fifo", "dev"):
        assert not os.path.lexists(out / gone)
    assert len(result.left_out) == 4


def test_an_entry_with_dotdot_is_refused_and_writes_nothing_outside(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", [entry("ok.txt"), entry("../escaped.txt")], {"../escaped.txt": b"x"})
    with pytest.raises(UnsafeMember, match=re.escape("'..'")):
        unpack(archive, tmp_path / "sub" / "out", name="evil.tar.gz")
    assert not (tmp_path / "sub" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_an_empty_archive_holds_no_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="holds no files"):
        unpack(make_tar(tmp_path / "e.tar.gz", []), tmp_path / "out", name="e.tar.gz")


def test_not_an_archive_and_a_damaged_one(tmp_path: Path) -> None:
    page = tmp_path / "x.zip"
    page.write_bytes(b"<html>404</html>")
    assert archive_kind(page) is None
    with pytest.raises(ProjectError, match="is not a zip or tar archive"):
        unpack(page, tmp_path / "out", name="x.zip")
    good = make_zip(tmp_path / "good.zip", {"a.txt": b"a" * 10_000})
    damaged = tmp_path / "damaged.zip"
    data = bytearray(good.read_bytes())
    data[40:80] = b"\xff" * 40
    damaged.write_bytes(bytes(data))
    with pytest.raises(ProjectError):
        unpack(damaged, tmp_path / "out2", name="damaged.zip")


def test_a_file_and_a_folder_of_one_name_are_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [entry("x"), entry("x/y")], {"x": b"1", "x/y": b"2"})
    with pytest.raises(ProjectError, match="is a file, not a folder"):
        unpack(archive, tmp_path / "out", name="a.tar.gz")


def test_escaping_links_are_dropped_from_any_tree(tmp_path: Path) -> None:
    (tmp_path / "t" / "sub").mkdir(parents=True)
    (tmp_path / "t" / "sub" / "f").write_text("x")
    os.symlink("f", tmp_path / "t" / "sub" / "ok")
    os.symlink("../..", tmp_path / "t" / "sub" / "up")
    os.symlink("/", tmp_path / "t" / "root")
    removed = drop_escaping_links(tmp_path / "t")
    assert sorted(r.split(" ")[0] for r in removed) == ["root", "sub/up"]
    assert os.path.islink(tmp_path / "t" / "sub" / "ok")


# -- properties -------------------------------------------------------------------------------

_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-. ", min_size=1, max_size=8).filter(
    lambda s: s.strip(".") != "" and not s.startswith("._") and s.strip() == s
)
_files = st.dictionaries(
    st.builds(lambda parts: "/".join(parts), st.lists(_part, min_size=1, max_size=3)),
    st.binary(max_size=64),
    min_size=1,
    max_size=8,
)


def _consistent(files: dict[str, bytes]) -> bool:
    """No path is both a file and a folder."""
    names = set(files)
    return not any(other.startswith(name + "/") for name in names for other in names)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(files=_files.filter(_consistent), kind=st.sampled_from(["zip", "tar"]), top=st.sampled_from([None, "top"]))
def test_nothing_is_lost(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], kind: str, top: str | None
) -> None:
    folder = tmp_path_factory.mktemp("p")
    names = {(f"{top}/{k}" if top else k): v for k, v in files.items()}
    if kind == "zip":
        archive = make_zip(folder / "a.zip", names)
    else:
        archive = make_tar(folder / "a.tar.gz", [entry(name) for name in names], names)
    out = folder / "out"
    unpack(archive, out, name="a")
    got = tree(out)
    expected = {k.replace("\\", "/"): v for k, v in files.items()}
    if top is None and len({k.split("/")[0] for k in expected}) == 1 and all("/" in k for k in expected):
        expected = {k.split("/", 1)[1]: v for k, v in expected.items()}  # one top folder: hoisted
    assert got == expected


@given(st.text(max_size=40))
def test_any_member_name_is_inside_none_or_refused(name: str) -> None:
    try:
        rel = member_path(name, archive="a")
    except UnsafeMember:
        return
    if rel is not None:
        assert not rel.startswith("/") and ".." not in rel.split("/")
        assert os.path.normpath(os.path.join("/dest", rel)).startswith("/dest/")
