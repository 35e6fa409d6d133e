"""The three-way refresh of a work folder from a newer image (nbship.payload.refresh), on real folders.

Each table row is one start of a newer image: what the image delivered before, what the user made
of it, what the image delivers now, and what the work folder holds afterwards."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbship.payload import refresh
from nbship.render import support

from .refresh_helpers import CuttingDisk, Image, Killed, Tree, debris, edit, files_of, snapshot


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return Image(tmp_path / "image")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the work folder that no refresh may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text("v1")
    (folder / "b.py").write_text("B1")
    return folder


def record_of(work: Path) -> dict[str, object]:
    data = json.loads((work / refresh.RECORD).read_text())
    assert isinstance(data, dict)
    return data


def test_an_empty_folder_is_filled_and_the_delivery_recorded(image: Image, work: Path) -> None:
    image.deliver({"a.ipynb": "A1", "sub/b.py": "B1"})
    assert image.sync(work) == []
    assert files_of(work) == {"a.ipynb": "A1", "sub/b.py": "B1"}
    assert (work / refresh.RECORD).read_text() == image.manifest.read_text()


def test_same_image_again_changes_nothing(image: Image, work: Path) -> None:
    image.deliver({"a.ipynb": "A1"})
    image.sync(work)
    (work / "a.ipynb").write_text("mine")
    (work / "new.txt").write_text("created")
    assert image.sync(work) == []
    assert files_of(work) == {"a.ipynb": "mine", "new.txt": "created"}


@pytest.mark.parametrize(
    ("before", "user", "after", "expected", "reported"),
    [
        # untouched by the user, changed in the image: updated
        ({"f.md": "v1"}, {"f.md": "v1"}, {"f.md": "v2"}, {"f.md": "v2"}, "1 updated"),
        # changed by the user only: the user's stays, nothing to report
        ({"f.md": "v1"}, {"f.md": "mine"}, {"f.md": "v1", "g.md": "g"}, {"f.md": "mine", "g.md": "g"}, "1 added"),
        # changed on both sides: the user's stays, the image's goes beside it
        (
            {"f.md": "v1"},
            {"f.md": "mine"},
            {"f.md": "v2"},
            {"f.md": "mine", "f.from-image.md": "v2"},
            "kept your version of f.md; the image's new version is in f.from-image.md",
        ),
        # created by the user where the image now adds the same name: kept, image's beside
        (
            {"a": "a"},
            {"a": "a", "Makefile": "mine"},
            {"a": "a", "Makefile": "theirs"},
            {"a": "a", "Makefile": "mine", "Makefile.from-image": "theirs"},
            "kept your version of Makefile",
        ),
        # deleted by the user: stays deleted, even when the image changed it
        ({"f.md": "v1", "a": "a"}, {"a": "a"}, {"f.md": "v2", "a": "a"}, {"a": "a"}, "stays deleted"),
        # dropped by the image and untouched: removed
        ({"f.md": "v1", "a": "a"}, {"f.md": "v1", "a": "a"}, {"a": "a"}, {"a": "a"}, "1 removed"),
        # dropped by the image but changed by the user: kept
        ({"f.md": "v1", "a": "a"}, {"f.md": "mine", "a": "a"}, {"a": "a"}, {"f.md": "mine", "a": "a"}, None),
        # the user made the same change the image did: nothing to do
        ({"f.md": "v1"}, {"f.md": "v2"}, {"f.md": "v2"}, {"f.md": "v2"}, None),
        # the image turns a file into a folder: the untouched file goes, the folder comes
        ({"a": "1"}, {"a": "1"}, {"a/b": "2"}, {"a/b": "2"}, "1 added, 0 updated, 1 removed"),
        # the image turns a folder into a file: no empty folder left, no "kept your version"
        (
            {"d/x": "1", "d/e/y": "1"},
            {"d/x": "1", "d/e/y": "1"},
            {"d": "2"},
            {"d": "2"},
            "1 added, 0 updated, 2 removed",
        ),
        # ... but a file of the user's in that folder keeps the folder; the image's file goes beside
        (
            {"d/x": "1"},
            {"d/x": "1", "d/mine": "m"},
            {"d": "2"},
            {"d/mine": "m", "d.from-image": "2"},
            "kept your folder d; the image's file of that name is in d.from-image",
        ),
        # the user turned a folder into a file: the image's files under it stay deleted
        (
            {"d/x": "1", "d/y": "1"},
            {"d": "mine"},
            {"d/x": "2", "d/y": "1", "e": "e"},
            {"d": "mine", "e": "e"},
            "d/x: the image has a new version, but you deleted this file, so it stays deleted",
        ),
        # the user turned a file into a folder: the user's folder stays, the image's file beside it
        (
            {"f": "1"},
            {"f/mine": "m"},
            {"f": "2"},
            {"f/mine": "m", "f.from-image": "2"},
            "kept your folder f; the image's file of that name is in f.from-image",
        ),
        # an image file named like a conflict copy is the image's own, not the place for one
        (
            {"a.c": "1"},
            {"a.c": "mine"},
            {"a.c": "2", "a.from-image.c": "own"},
            {"a.c": "mine", "a.from-image.c": "own", "a.from-image-2.c": "2"},
            "kept your version of a.c; the image's new version is in a.from-image-2.c",
        ),
        # a folder the image dropped entirely goes with its untouched files
        (
            {"a": "a", "old/x": "1", "old/y/z": "1"},
            {"a": "a", "old/x": "1", "old/y/z": "1"},
            {"a": "a"},
            {"a": "a"},
            None,
        ),
    ],
)
def test_three_way_decisions(
    image: Image, work: Path, before: Tree, user: Tree, after: Tree, expected: dict[str, str], reported: str | None
) -> None:
    image.deliver(before)
    image.sync(work)
    edit(work, before, user)
    image.deliver(after)
    lines = image.sync(work)
    assert files_of(work) == expected
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == sorted(
        {rel.split("/")[0] for rel in expected if "/" in rel} | {refresh.RECORD_DIR}
    ), "no folder is left empty"
    text = "\n".join(lines)
    if reported is None:
        assert not any("kept" in line or "deleted" in line for line in lines), lines
    else:
        assert reported in text, lines
    assert (work / refresh.RECORD).read_text() == image.manifest.read_text()
    # A second start of the same image has nothing more to do.
    assert image.sync(work) == []


def test_a_file_of_the_users_where_the_image_now_has_a_folder(image: Image, work: Path) -> None:
    # The image turns `a` into a folder while the user has changed `a`: the folder cannot come,
    # the rest of the refresh goes on, and the next start tries again (it comes once `a` is moved).
    image.deliver({"a": "1", "b": "1"})
    image.sync(work)
    (work / "a").write_text("mine")
    image.deliver({"a/x": "2", "b": "2"})
    lines = image.sync(work)
    assert files_of(work) == {"a": "mine", "b": "2"}
    assert any("a is a file of yours where the image has a folder" in line and "a/x" in line for line in lines)
    assert any("a is a file of yours" in line for line in image.sync(work))
    (work / "a").rename(work / "a.mine")
    image.sync(work)
    assert files_of(work) == {"a.mine": "mine", "a/x": "2", "b": "2"}
    assert image.sync(work) == []


def test_a_second_conflict_gets_its_own_name(image: Image, work: Path) -> None:
    image.deliver({"README.md": "v1"})
    image.sync(work)
    (work / "README.md").write_text("mine")
    image.deliver({"README.md": "v2"})
    image.sync(work)
    (work / "README.from-image.md").write_text("I edited the copy too")
    image.deliver({"README.md": "v3"})
    lines = image.sync(work)
    assert (work / "README.md").read_text() == "mine"
    assert (work / "README.from-image.md").read_text() == "I edited the copy too"
    assert (work / "README.from-image-2.md").read_text() == "v3"
    assert any("README.from-image-2.md" in line for line in lines)


def test_a_folder_nbship_never_filled_is_left_alone(image: Image, work: Path) -> None:
    # A bind-mounted checkout: it has files but no record of a delivery.
    (work / "a.ipynb").write_text("the user's checkout")
    image.deliver({"a.ipynb": "image", "b.ipynb": "b"})
    assert image.sync(work) == []
    assert files_of(work) == {"a.ipynb": "the user's checkout"}
    assert not (work / ".nbship").exists()


def test_data_is_linked_not_copied_or_hashed(image: Image, work: Path, tmp_path: Path) -> None:
    data = tmp_path / "image-data"
    data.mkdir()
    (data / "big.nc").write_bytes(b"\0" * 1000)
    image.deliver({"a.ipynb": "A"})
    os.symlink(data, image.content / "data")
    manifest = refresh.build_manifest(str(image.content))
    assert manifest.files == {"a.ipynb": refresh.file_hash(str(image.content / "a.ipynb"))}
    image.sync(work)
    assert (work / "data").is_symlink() and (work / "data" / "big.nc").stat().st_size == 1000


def test_data_link_added_when_a_later_image_brings_data(image: Image, work: Path, tmp_path: Path) -> None:
    image.deliver({"a.ipynb": "A"})
    image.sync(work)
    data = tmp_path / "image-data"
    data.mkdir()
    image.deliver({"a.ipynb": "A2"})
    os.symlink(data, image.content / "data")
    image.sync(work)
    assert (work / "data").is_symlink()


def test_a_first_fill_brings_links_and_empty_folders(image: Image, work: Path) -> None:
    image.deliver({"results/2024/r.csv": "1"})
    (image.content / "outputs").mkdir()
    os.symlink("results/2024", image.content / "latest")
    image.sync(work)
    assert (work / "outputs").is_dir() and os.readlink(work / "latest") == "results/2024"


def test_modes_survive_the_copy(image: Image, work: Path) -> None:
    image.deliver({"run.sh": ("#!/bin/sh\n", 0o755)})
    image.sync(work)
    assert (work / "run.sh").stat().st_mode & 0o777 == 0o755


def test_a_change_of_mode_alone_arrives_unless_the_user_changed_the_mode(image: Image, work: Path) -> None:
    image.deliver({"run.sh": "#!/bin/sh\n", "tool.sh": "#!/bin/sh\n", "edited.sh": "#!/bin/sh\n"})
    image.sync(work)
    (work / "tool.sh").chmod(0o700)  # the user's own choice of mode
    (work / "edited.sh").write_text("#!/bin/sh\necho mine\n")
    image.deliver({name: ("#!/bin/sh\n", 0o755) for name in ("run.sh", "tool.sh", "edited.sh")})
    lines = image.sync(work)
    assert "3 updated" not in " ".join(lines) and "2 updated" in " ".join(lines)
    assert (work / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (work / "tool.sh").stat().st_mode & 0o777 == 0o700
    assert (work / "edited.sh").stat().st_mode & 0o777 == 0o755
    assert (work / "edited.sh").read_text() == "#!/bin/sh\necho mine\n"
    assert image.sync(work) == []


def test_a_record_without_modes_from_an_earlier_nbship(image: Image, work: Path) -> None:
    image.deliver({"run.sh": "#!/bin/sh\n", "a": "1"})
    image.sync(work)
    old = record_of(work)
    (work / refresh.RECORD).write_text(json.dumps({"format": 1, "project": "proj", "files": old["files"]}))
    image.deliver({"run.sh": ("#!/bin/sh\n", 0o755), "a": "2"})
    lines = image.sync(work)
    assert files_of(work) == {"run.sh": "#!/bin/sh\n", "a": "2"} and "1 updated" in lines[0]


def test_the_command_line(image: Image, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image.deliver({"a": "1"})
    assert refresh.main(["manifest", str(image.content)]) == 0
    assert '"a"' in capsys.readouterr().out
    image.sync(work)
    (work / "a").write_text("mine")
    image.deliver({"a": "2"})
    assert refresh.main(["sync", str(image.content), str(image.manifest), str(work)]) == 0
    assert "nbship: kept your version of a" in capsys.readouterr().err
    assert refresh.main(["what"]) == 2


def test_the_script_runs_from_the_support_files_as_the_image_has_them(image: Image, work: Path, tmp_path: Path) -> None:
    """bin/nbship-refresh finds its modules beside it, as the support image lays them out."""
    bin_dir = tmp_path / "opt-nbship"
    with tarfile.open(fileobj=io.BytesIO(support.support_archive())) as tar:
        tar.extractall(bin_dir)  # noqa: S202 - nbship's own archive, made just above
    script = str(bin_dir / "bin" / "nbship-refresh")
    image.deliver({"a": "1", "nb/b.ipynb": "{}"})
    manifest = subprocess.run(
        [sys.executable, "-S", script, "manifest", str(image.content), "proj"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert manifest.stdout == image.manifest.read_text()
    subprocess.run(
        [sys.executable, "-S", script, "sync", str(image.content), str(image.manifest), str(work)], check=True
    )
    assert (work / "nb" / "b.ipynb").read_text() == "{}"


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("README.md", "README.from-image.md"),
        ("nb/analysis.ipynb", "nb/analysis.from-image.ipynb"),
        ("Makefile", "Makefile.from-image"),
        (".env", ".env.from-image"),
        ("archive.tar.gz", "archive.tar.from-image.gz"),
    ],
)
def test_beside_names(rel: str, expected: str) -> None:
    assert refresh.beside_name(rel, lambda candidate: False) == expected


def test_another_projects_files_are_never_dropped(image: Image, work: Path) -> None:
    # A volume filled by project A, opened with project B's image (`nbship up --volume`).
    image.deliver({"a.ipynb": "A", "shared.md": "A"}, project="alpha")
    image.sync(work)
    image.deliver({"b.ipynb": "B", "shared.md": "B"}, project="beta")
    lines = image.sync(work)
    assert files_of(work) == {"a.ipynb": "A", "b.ipynb": "B", "shared.md": "B"}
    assert not any("removed" in line and "0 removed" not in line for line in lines), lines
    # Back in project B's own line of images, dropping its untouched files works again.
    image.deliver({"shared.md": "B"}, project="beta")
    image.sync(work)
    assert files_of(work) == {"a.ipynb": "A", "shared.md": "B"}


def test_the_manifest_names_its_project(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    image.deliver({"a": "1"})
    assert refresh.main(["manifest", str(image.content), "my project"]) == 0
    assert '"project": "my project"' in capsys.readouterr().out


# -- Nothing outside the work folder is touched --------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["../outside/victim.txt", "{outside}/victim.txt", "a/../../outside/victim.txt", "./victim.txt", "a//b", ""],
)
def test_record_entries_that_leave_the_work_folder_are_ignored(
    image: Image, work: Path, outside: Path, entry: str
) -> None:
    image.deliver({"a": "1"})
    image.sync(work)
    record = record_of(work)
    files = record["files"]
    assert isinstance(files, dict)
    # A hand-edited record claims a file outside, with its exact hash: an image that dropped it
    # would remove it as "untouched", one that changed it would overwrite it.
    files[entry.format(outside=outside)] = refresh.file_hash(str(outside / "victim.txt"))
    (work / refresh.RECORD).write_text(json.dumps(record))
    before = snapshot(outside)
    image.deliver({"a": "2"})
    lines = image.sync(work)
    assert snapshot(outside) == before
    assert files_of(work) == {"a": "2"}
    assert ".nbship/delivered.json: 1 of its entries were ignored" in lines[-1]


def test_a_manifest_entry_that_leaves_the_content_is_ignored(image: Image, work: Path, outside: Path) -> None:
    image.deliver({"a": "1"})
    manifest = json.loads(image.manifest.read_text())
    manifest["files"]["../outside/new.txt"] = manifest["files"]["a"]
    image.manifest.write_text(json.dumps(manifest))
    image.sync(work)
    assert files_of(work) == {"a": "1"} and sorted(p.name for p in outside.iterdir()) == ["b.py", "victim.txt"]


def test_a_folder_replaced_by_a_link_is_never_followed(image: Image, work: Path, outside: Path) -> None:
    image.deliver({"sub/b.py": "B1", "sub/victim.txt": "v1", "top.md": "1"})
    image.sync(work)
    # The user swaps the folder for a link to elsewhere, holding files the record calls untouched.
    shutil.rmtree(work / "sub")
    os.symlink(outside, work / "sub")
    before = snapshot(outside)
    image.deliver({"sub/b.py": "B2", "sub/new.py": "N", "top.md": "2"})  # changes, drops and adds under sub/
    lines = image.sync(work)
    assert snapshot(outside) == before
    assert os.readlink(work / "sub") == str(outside)
    assert (work / "top.md").read_text() == "2"
    assert any(line.startswith("sub is a link") and "never follows links" in line for line in lines), lines
    # Left and reported at every start until the user deals with it; then the image's files come.
    assert any(line.startswith("sub is a link") for line in image.sync(work))
    (work / "sub").unlink()
    image.sync(work)
    assert files_of(work) == {"sub/new.py": "N", "top.md": "2"}  # sub/b.py: deleted by the user


def test_a_record_folder_that_is_a_link_stops_the_refresh(image: Image, work: Path, outside: Path) -> None:
    image.deliver({"a": "1"})
    image.sync(work)
    shutil.rmtree(work / refresh.RECORD_DIR)
    os.symlink(outside, work / refresh.RECORD_DIR)
    before = snapshot(outside)
    image.deliver({"a": "2"})
    lines = image.sync(work)
    assert snapshot(outside) == before and files_of(work) == {"a": "1"}
    assert ".nbship in the work folder is not a folder" in lines[0]


# -- A start cut short ------------------------------------------------------------------------


def _steps(image: Image, work: Path) -> int:
    trial = work.parent / "trial"
    shutil.copytree(work, trial, symlinks=True)
    disk = CuttingDisk(str(trial))
    image.sync(trial, disk)
    shutil.rmtree(trial)
    return disk.steps


def test_a_first_fill_cut_short_is_completed_by_the_next_start(image: Image, work: Path) -> None:
    files = {f"nb/{i:03}.ipynb": f"notebook {i}" for i in range(40)}
    image.deliver(files)
    total = _steps(image, work)
    with pytest.raises(Killed):
        image.sync(work, CuttingDisk(str(work), cut_at=total // 2))
    delivered = files_of(work)
    assert 0 < len(delivered) < len(files)
    assert debris(work) == []
    # Before the next start the user writes: a new file, an edit of a delivered one, and a file
    # where the image has one that had not arrived yet.
    first = sorted(delivered)[0]
    (work / "mine.txt").write_text("mine")
    (work / first).write_text("my edit")
    (work / "nb/039.ipynb").write_text("mine too")
    lines = image.sync(work)
    got = files_of(work)
    assert got["mine.txt"] == "mine" and got[first] == "my edit" and got["nb/039.ipynb"] == "mine too"
    assert got["nb/039.from-image.ipynb"] == "notebook 39"
    assert all(got.get(rel) == text or got.get(rel.replace(".ipynb", ".from-image.ipynb")) == text
               for rel, text in files.items())  # fmt: skip
    assert any("kept your version of nb/039.ipynb" in line for line in lines)
    assert (work / refresh.RECORD).read_text() == image.manifest.read_text()
    assert image.sync(work) == []


def test_every_cut_of_a_merge_leaves_no_debris_and_the_next_start_finishes(image: Image, work: Path) -> None:
    before: Tree = {"a.md": "1", "d/x": "1", "e/y": "1", "run.sh": "x", "keep.md": "1"}
    after: Tree = {"a.md": "2", "d": "file now", "e/y/z": "2", "run.sh": ("x", 0o755), "keep.md": "2", "new/n": "n"}
    image.deliver(before)
    image.sync(work)
    (work / "keep.md").write_text("mine")
    start = work.parent / "start"
    shutil.copytree(work, start, symlinks=True)
    image.deliver(after)
    image.sync(work)
    clean = snapshot(work)
    total = _steps(image, start)
    assert total > 10
    for cut in range(total):
        shutil.rmtree(work)
        shutil.copytree(start, work, symlinks=True)
        with pytest.raises(Killed):
            image.sync(work, CuttingDisk(str(work), cut_at=cut))
        assert debris(work) == [], cut
        assert (work / "keep.md").read_text() == "mine"
        image.sync(work)
        assert snapshot(work) == clean, f"cut before change {cut}"


# -- One odd item is reported on its own; the rest goes on ---------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"\x00\xff\xfe binary \x80"),
        lambda path: path.write_text("[" * 100_000),
        lambda path: path.write_text('{"files": {"a": {"nested": [1, 2]}}, "modes": 7}'),
        lambda path: (path.unlink(), path.mkdir(), (path / "inside").write_text("x")),
    ],
    ids=["binary", "nested", "wrong-shape", "folder"],
)
def test_a_broken_record_keeps_every_file_as_the_users(image: Image, work: Path, damage: object) -> None:
    image.deliver({"a": "1", "b": "1", "c": "1"})
    image.sync(work)
    (work / "b").write_text("mine")
    (work / "c").unlink()
    assert callable(damage)
    damage(work / refresh.RECORD)
    image.deliver({"a": "2", "b": "2", "c": "2", "d": "new"})
    lines = image.sync(work)
    got = files_of(work)
    # What was there is kept, the image's versions go beside it, what was missing arrives.
    assert got["a"] == "1" and got["b"] == "mine" and got["c"] == "2" and got["d"] == "new"
    assert got["a.from-image"] == "2" and got["b.from-image"] == "2"
    assert any(line.startswith(".nbship/delivered.json") for line in lines), lines
    assert image.sync(work) == []  # the record is whole again


def _run_as_notebook_user(image: Image, work: Path) -> list[str]:
    """The refresh as it runs in the image: as uid 1000, for whom modes are not a suggestion."""
    if os.getuid() != 0:
        return image.sync(work)
    for path in [image.content.parent, *image.content.parent.rglob("*"), work, *work.rglob("*")]:
        os.chown(path, 1000, 1000, follow_symlinks=False)
    # The system's Python: the test's own may sit in a folder uid 1000 cannot read.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    command = [python, refresh.__file__, "sync"]
    result = subprocess.run(
        [*command, str(image.content), str(image.manifest), str(work)],
        user=1000,
        group=1000,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.removeprefix("nbship: ") for line in result.stderr.splitlines()]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder uid 1000 can reach (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="nbship-refresh-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_an_unreadable_file_and_a_read_only_folder_are_skipped_on_their_own(shared_tmp: Path) -> None:
    image, work = Image(shared_tmp / "image"), shared_tmp / "work"
    work.mkdir()
    image.deliver({"a": "1", "locked/x": "1", "m": "1", "z": "1"})
    image.sync(work)
    (work / "a").chmod(0o000)
    (work / "locked").chmod(0o555)
    image.deliver({"a": "2", "locked/x": "2", "locked/new": "n", "m": "2", "z": "2"})
    lines = _run_as_notebook_user(image, work)
    assert (work / "m").read_text() == "2" and (work / "z").read_text() == "2", lines
    assert any(line.startswith("a: not refreshed (Permission denied)") for line in lines), lines
    assert any(line.startswith("locked/new: not refreshed") for line in lines), lines
    assert any(line.startswith("locked/x: not refreshed") for line in lines), lines
    assert debris(work) == []
    # Once the user lets it, the next start merges what was left.
    (work / "a").chmod(0o644)
    (work / "locked").chmod(0o755)
    lines = _run_as_notebook_user(image, work)
    assert files_of(work) == {"a": "2", "locked/x": "2", "locked/new": "n", "m": "2", "z": "2"}, lines
    assert (work / refresh.RECORD).read_text() == image.manifest.read_text()


def test_an_unreadable_manifest_leaves_the_folder_alone(image: Image, work: Path) -> None:
    image.deliver({"a": "1"})
    image.manifest.write_bytes(b"\xff")
    assert "is unreadable" in image.sync(work)[0]
    assert list(work.iterdir()) == []
