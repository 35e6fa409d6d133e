"""The content stage's split of the project copy into layers (nbship-refresh split): the specs
apart, the notebooks last, the rest in place; merged back in that order, the copy is whole."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.payload import refresh


def tree_of(root: Path) -> dict[str, tuple[str, object]]:
    """Every entry under root (not through links): kind and content, link target or mode."""
    found: dict[str, tuple[str, object]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                found[rel] = ("file", (path.read_bytes(), stat.S_IMODE(info.st_mode)))
    return found


def merge(*layers: Path, into: Path) -> None:
    """What the image's COPY steps do: each layer's tree over the ones before."""
    for layer in layers:
        shutil.copytree(layer, into, symlinks=True, dirs_exist_ok=True)


def split(tmp: Path, specs: list[str]) -> tuple[Path, Path, Path]:
    content, stable, last = tmp / "project", tmp / "stable", tmp / "last" / "project"
    manifest = tmp / "last" / "manifest.json"
    whole = refresh.build_manifest(str(content), "demo").dump()
    assert refresh.main(["split", str(content), "demo", str(manifest), str(stable), str(last), *specs]) == 0
    assert manifest.read_text() == whole  # the manifest of the whole copy, before the split
    return content, stable, last


def test_specs_apart_notebooks_last_and_links_left_alone(tmp_path: Path) -> None:
    content = tmp_path / "project"
    (content / "binder").mkdir(parents=True)
    (content / "binder").chmod(0o750)
    (content / "binder" / "requirements.txt").write_text("numpy\n")
    (content / "requirements.lock").write_text("numpy==2.0\n")
    (content / "analysis.ipynb").write_text("{}")
    (content / "chapters" / "one").mkdir(parents=True)
    (content / "chapters" / "one" / "intro.ipynb").write_text('{"cells": []}')
    (content / "chapters" / "one" / "helpers.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.ipynb").write_text("{}")
    (content / "linked").symlink_to(outside)
    (content / "link.ipynb").symlink_to("analysis.ipynb")
    before = tree_of(content)

    _, stable, last = split(tmp_path, ["binder/requirements.txt", "requirements.lock", "missing.txt"])

    assert sorted(tree_of(stable)) == ["binder", "binder/requirements.txt", "requirements.lock"]
    assert tree_of(stable)["binder"] == ("dir", 0o750)  # the folder as the project had it
    assert sorted(tree_of(last)) == ["analysis.ipynb", "chapters", "chapters/one", "chapters/one/intro.ipynb"]
    rest = tree_of(content)
    assert rest["linked"] == ("link", str(outside)) and rest["link.ipynb"] == ("link", "analysis.ipynb")
    assert "chapters/one/helpers.py" in rest and "chapters/one/intro.ipynb" not in rest
    assert (outside / "secret.ipynb").exists()  # nothing followed through the link
    merged = tmp_path / "merged"
    merge(stable, content, last, into=merged)
    assert tree_of(merged) == before


_NAME = st.sampled_from(["a", "b.ipynb", "requirements.txt", "c d", "binder", "x.py", ".hidden.ipynb"])
_MODES = st.sampled_from([0o644, 0o600, 0o755])
_PATH = st.lists(_NAME, min_size=1, max_size=3).map("/".join)
_FILES = st.dictionaries(_PATH, st.tuples(st.binary(max_size=20), _MODES), max_size=9)


def write_tree(root: Path, files: dict[str, tuple[bytes, int]]) -> Path:
    """The drawn files under root, each with its mode."""
    root.mkdir()
    for rel, (data, mode) in files.items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # one name is both a file and a folder in the draw: keep the first
        path.chmod(mode)
    return root


@settings(max_examples=60, deadline=None)
@given(
    files=_FILES,
    specs=st.lists(_PATH, max_size=4),
)
def test_nothing_is_lost_and_each_file_is_in_one_layer(files: dict[str, tuple[bytes, int]], specs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        content = write_tree(tmp / "project", files)
        before = tree_of(content)

        _, stable, last = split(tmp, specs)

        layers = [tree_of(layer) for layer in (stable, content, last)]
        for rel, entry in before.items():
            if entry[0] == "file":
                holders = [i for i, layer in enumerate(layers) if rel in layer]
                assert len(holders) == 1, rel
                expected = 0 if rel in specs else 2 if rel.endswith(".ipynb") else 1
                assert holders == [expected], rel
        merged = tmp / "merged"
        merge(stable, content, last, into=merged)
        assert tree_of(merged) == before


def times_of(root: Path) -> dict[str, int]:
    return {
        Path(folder, name).relative_to(root).as_posix(): os.lstat(Path(folder, name)).st_mtime_ns
        for folder, dirs, files in os.walk(root)
        for name in dirs + files
    }


def without(tree: dict[str, tuple[str, object]], skip: list[str]) -> dict[str, tuple[str, object]]:
    return {rel: entry for rel, entry in tree.items() if not any(rel == s or rel.startswith(s + "/") for s in skip)}


def test_the_copy_from_the_context_is_what_copy_makes_less_what_is_skipped(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "data").mkdir(parents=True)
    (context / "data" / "big.nc").write_bytes(b"x" * 100)
    (context / "binder").mkdir()
    (context / "binder").chmod(0o711)
    (context / "binder" / "environment.yml").write_text("dependencies: []\n")
    (context / "binder" / "postBuild").write_text("echo hi\n")
    (context / "binder" / "postBuild").chmod(0o755)
    (context / "empty").mkdir()
    (context / "analysis.ipynb").write_text("{}")
    (context / "secret.txt").write_text("no\n")
    (context / "secret.txt").chmod(0o600)
    (context / "etc").symlink_to("/etc")  # a link out of the project: copied as a link, not followed
    (context / "again.ipynb").symlink_to("analysis.ipynb")
    os.utime(context / "analysis.ipynb", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    os.utime(context / "binder", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    skip = ["data", ".nbship-image", "binder/environment.yml"]
    content, stable, last = tmp_path / "project", tmp_path / "stable", tmp_path / "last" / "project"
    manifest = tmp_path / "last" / "manifest.json"
    args = ["split", "--from", str(context), *(f"--skip={s}" for s in skip), "--data-link", "/opt/nbship/data", "--"]
    assert refresh.main([*args, str(content), "-x", str(manifest), str(stable), str(last)]) == 0
    merged = tmp_path / "merged"
    merge(stable, content, last, into=merged)
    expected = without(tree_of(context), skip)
    expected["data"] = ("link", "/opt/nbship/data")
    assert tree_of(merged) == expected
    assert tree_of(last) == {"analysis.ipynb": ("file", (b"{}", 0o644))}
    copied, source = times_of(content), times_of(context)
    assert copied["binder"] == source["binder"] and copied["etc"] == source["etc"]
    assert times_of(last)["analysis.ipynb"] == source["analysis.ipynb"]
    delivered = refresh.parse_delivery(json.loads(manifest.read_text()))
    assert delivered is not None and delivered.project == "-x"
    assert not (content / "data" / "big.nc").exists()


@settings(max_examples=60, deadline=None)
@given(
    files=_FILES,
    skip=st.lists(_PATH, max_size=3),
)
def test_the_copy_leaves_out_the_skipped_paths_alone(files: dict[str, tuple[bytes, int]], skip: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        context = write_tree(tmp / "context", files)
        refresh.copy_project(str(context), str(tmp / "copy"), skip)
        copied = tree_of(tmp / "copy")
        assert copied == without(tree_of(context), skip)
        assert times_of(tmp / "copy") == {rel: t for rel, t in times_of(context).items() if rel in copied}
