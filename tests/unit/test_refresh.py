"""The three-way refresh of a work folder from a newer image (nbship.image.refresh), on real folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbship.payload import refresh


class Image:
    """An image's project copy and its manifest, as the Dockerfile lays them out."""

    def __init__(self, root: Path) -> None:
        self.content = root / "project"
        self.manifest = root / "manifest.json"
        self.content.mkdir(parents=True)

    def deliver(self, files: dict[str, str], project: str = "proj") -> None:
        for old in sorted(self.content.rglob("*"), reverse=True):
            if old.is_file() or old.is_symlink():
                old.unlink()
        for rel, text in files.items():
            path = self.content / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.manifest.write_text(refresh.dump_manifest(refresh.build_manifest(str(self.content)), project))

    def sync(self, work: Path) -> list[str]:
        return refresh.sync(str(self.content), str(self.manifest), str(work))


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return Image(tmp_path / "image")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def files_of(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file() and ".nbship" not in p.parts
    }


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
    ],
)
def test_three_way_decisions(
    image: Image,
    work: Path,
    before: dict[str, str],
    user: dict[str, str],
    after: dict[str, str],
    expected: dict[str, str],
    reported: str | None,
) -> None:
    image.deliver(before)
    image.sync(work)
    for rel in before:
        if rel not in user:
            (work / rel).unlink()
    for rel, text in user.items():
        (work / rel).write_text(text)
    image.deliver(after)
    lines = image.sync(work)
    assert files_of(work) == expected
    text = "\n".join(lines)
    if reported is None:
        assert not any("kept" in line or "deleted" in line for line in lines), lines
    else:
        assert reported in text, lines
    assert (work / refresh.RECORD).read_text() == image.manifest.read_text()
    # A second start of the same image has nothing more to do.
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
    assert manifest == {"a.ipynb": refresh.file_hash(str(image.content / "a.ipynb"))}
    image.sync(work)
    assert (work / "data").is_symlink() and (work / "data" / "big.nc").stat().st_size == 1000


def test_data_link_added_when_a_later_image_brings_data(image: Image, work: Path, tmp_path: Path) -> None:
    image.deliver({"a.ipynb": "A"})
    image.sync(work)
    data = tmp_path / "image-data"
    data.mkdir()
    os.symlink(data, image.content / "data")
    image.deliver({"a.ipynb": "A2"})
    os.symlink(data, image.content / "data")
    image.sync(work)
    assert (work / "data").is_symlink()


def test_modes_survive_the_copy(image: Image, work: Path) -> None:
    image.deliver({"run.sh": "#!/bin/sh\n"})
    (image.content / "run.sh").chmod(0o755)
    image.manifest.write_text(refresh.dump_manifest(refresh.build_manifest(str(image.content))))
    image.sync(work)
    assert (work / "run.sh").stat().st_mode & 0o777 == 0o755


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
def test_beside_names(rel: str, expected: str, tmp_path: Path) -> None:
    assert refresh.beside_name(rel, refresh.TakenCheck(str(tmp_path), "x")) == expected


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
    assert refresh.manifest_project(str(image.content / "missing.json")) == ""
