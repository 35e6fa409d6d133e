"""Property-based tests of the refresh: random trees on three sides (what the image delivered
before, what the user made of it, what the image delivers now), a start cut short at any change,
and a damaged or hostile record. Whatever happens, no byte of the user's is lost or changed,
nothing outside the work folder is touched, and the next start ends where an uncut one would."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.payload import refresh

from .refresh_helpers import CuttingDisk, Image, Killed, Snapshot, Tree, debris, remove, snapshot, write_tree_file

# A small world of names, so that the three sides collide often: the same file, a file where a
# folder was, a name that looks like a conflict copy.
NAMES = ("a", "b", "a.from-image", "d")
PATHS = tuple(NAMES) + tuple(f"{top}/{name}" for top in ("d", "a") for name in NAMES) + ("d/d/a",)
FILE = st.tuples(st.sampled_from(["1", "2", "mine"]), st.sampled_from([0o644, 0o755]))


def _prefix_free(tree: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """A tree in which no file is also the folder of another."""
    return {rel: v for rel, v in tree.items() if not any(rel.startswith(other + "/") for other in tree)}


TREES = st.dictionaries(st.sampled_from(PATHS), FILE, max_size=7).map(_prefix_free)
USER_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from(PATHS), FILE),
        st.tuples(st.just("delete"), st.sampled_from(PATHS), st.none()),
        st.tuples(st.just("link"), st.sampled_from(PATHS), st.sampled_from(["folder", "file"])),
        st.tuples(st.just("chmod"), st.sampled_from(PATHS), st.sampled_from([0o600, 0o755])),
    ),
    max_size=5,
)
RECORD_DAMAGE = st.sampled_from(["none", "outside-entry", "absolute-entry", "garbage", "folder"])


@contextmanager
def world() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nbship-refresh-") as root:
        base = Path(root)
        (base / "outside" / "inner").mkdir(parents=True)
        for rel in ("victim", "a", "inner/a", "d"):
            (base / "outside" / rel).write_text("1")  # the bytes the image's files often have
        yield base


def _reachable(work: Path, rel: str) -> bool:
    """No folder on the way is a link: the test's user never writes outside either."""
    path = work
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.is_symlink():
            return False
    return True


def apply_user(work: Path, ops: list[tuple[str, str, object]], outside: Path) -> None:
    for op, rel, arg in ops:
        if not _reachable(work, rel):
            continue
        target = work / rel
        if op == "write":
            assert isinstance(arg, tuple)
            write_tree_file(work, rel, arg)
        elif op == "delete":
            remove(target)
        elif op == "link" and target.parent.is_dir() and not target.parent.is_symlink():
            remove(target)
            target.symlink_to(outside if arg == "folder" else outside / "victim")
        elif op == "chmod" and target.is_file() and not target.is_symlink():
            assert isinstance(arg, int)
            target.chmod(arg)


def damage_record(work: Path, how: str, outside: Path) -> None:
    record = work / refresh.RECORD
    if how == "none" or not record.is_file():
        return
    if how == "garbage":
        record.write_bytes(b"\x80\x00 not json")
    elif how == "folder":
        record.unlink()
        record.mkdir()
    else:
        data = json.loads(record.read_text())
        name = "../outside/victim" if how == "outside-entry" else str(outside / "victim")
        data["files"][name] = refresh.file_hash(str(outside / "victim"))
        record.write_text(json.dumps(data))


def users_files(work: Path) -> dict[str, bytes]:
    """Regular files in the work folder that are not an untouched delivery, by the record as it stands."""
    try:
        found = refresh.parse_delivery(refresh.read_json(str(work / refresh.RECORD))[0])
    except refresh.Unreadable:
        found = None
    delivered = found.files if found is not None else {}
    out = {}
    for rel, (kind, _, data) in snapshot(work).items():
        ours = rel.startswith(refresh.RECORD_DIR + "/")
        if kind == "file" and not ours and delivered.get(rel) != refresh.file_hash(str(work / rel)):
            out[rel] = data
    return out


def links_of(shot: Snapshot) -> dict[str, bytes]:
    return {rel: data for rel, (kind, _, data) in shot.items() if kind == "link"}


def copy(source: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, symlinks=True)
    return dest


def steps_of(image: Image, work: Path, scratch: Path) -> int:
    trial = copy(work, scratch)
    disk = CuttingDisk(str(trial))
    image.sync(trial, disk)
    return disk.steps


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=TREES,
    now=TREES,
    ops=USER_OPS,
    damage=RECORD_DAMAGE,
    same_project=st.booleans(),
    cut_fill=st.booleans(),
    data=st.data(),
)
def test_no_user_byte_is_lost_nothing_outside_is_touched_and_a_cut_start_converges(
    before: Tree,
    now: Tree,
    ops: list[tuple[str, str, object]],
    damage: str,
    same_project: bool,
    cut_fill: bool,
    data: st.DataObject,
) -> None:
    with world() as base:
        outside, work = base / "outside", base / "work"
        work.mkdir()
        image = Image(base / "image")
        image.deliver(before, project="p")
        if cut_fill:  # the first fill was cut short, and the user went on from there
            total = steps_of(image, work, base / "scratch")
            with suppress(Killed):
                image.sync(work, CuttingDisk(str(work), cut_at=data.draw(st.integers(0, max(total - 1, 0)))))
        else:
            image.sync(work)
        apply_user(work, ops, outside)
        damage_record(work, damage, outside)
        image.deliver(now, project="p" if same_project else "q")
        untouched = snapshot(outside)
        start = copy(work, base / "start")
        mine, my_links = users_files(start), links_of(snapshot(start))

        uncut = copy(start, base / "uncut")
        image.sync(uncut)
        expected = snapshot(uncut)
        total = steps_of(image, start, base / "scratch")
        assert snapshot(outside) == untouched
        around = snapshot(outside), sorted(p.name for p in base.iterdir())
        cut_at = data.draw(st.integers(0, total), label="cut before change")

        try:
            image.sync(work, CuttingDisk(str(work), cut_at=cut_at))
        except Killed:
            assert debris(work) == []
        assert (snapshot(outside), sorted(p.name for p in base.iterdir())) == around
        image.sync(work)  # the next start
        after = snapshot(work)
        assert after == expected
        assert (snapshot(outside), sorted(p.name for p in base.iterdir())) == around
        for rel, content in mine.items():
            assert after.get(rel, ("gone", 0, b""))[::2] == ("file", content), rel
        if not same_project:  # another project's files are never this image's to drop
            for rel, (kind, _, content) in snapshot(start).items():
                if kind == "file" and rel not in now and not rel.startswith(refresh.RECORD_DIR + "/"):
                    assert after.get(rel, ("gone", 0, b""))[::2] == ("file", content), rel
        for rel, target in my_links.items():
            assert after.get(rel) == ("link", 0, target), rel
        image.sync(work)  # and the one after: nothing moves any more
        assert snapshot(work) == after


@settings(max_examples=100, deadline=None)
@given(before=TREES, now=TREES)
def test_an_untouched_folder_ends_as_a_fresh_fill_of_the_new_image(before: Tree, now: Tree) -> None:
    with world() as base:
        image = Image(base / "image")
        updated, fresh = base / "updated", base / "fresh"
        updated.mkdir()
        fresh.mkdir()
        image.deliver(before)
        image.sync(updated)
        image.deliver(now)
        lines = image.sync(updated)
        image.sync(fresh)
        assert not any(line.startswith("kept") for line in lines), lines

        def visible(folder: Path) -> Snapshot:
            return {rel: v for rel, v in snapshot(folder).items() if not rel.startswith(refresh.RECORD_DIR)}

        assert visible(updated) == visible(fresh)
        assert (updated / refresh.RECORD).read_text() == image.manifest.read_text()
