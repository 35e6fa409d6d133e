"""The cache and the downloads behind fetched sources, against real servers on 127.0.0.1: trees
made whole or not at all, once, with nbship's copy apart from what was fetched; downloads that
are verified, retried and never kept partial; tokens that reach their own host only."""

from __future__ import annotations

import functools
import os
import threading
import urllib.parse
from pathlib import Path

import pytest
from source_servers import Deposits, commit_and_push, file_routes, make_repository, md5, redirect, route_server

from nbship import contract as c
from nbship.errors import FetchError, NetworkError, NotFoundError
from nbship.reporter import RecordingReporter
from nbship.sources import cache
from nbship.sources.download import Credential, Session, download
from nbship.sources.fetch import fetch
from nbship.sources.refs import parse_reference


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(c.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_tree_mirrors_what_was_fetched_sharing_only_large_files(tmp_path: Path) -> None:
    def fill(folder: Path) -> str:
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "big.bin").write_bytes(b"x" * cache.LINK_AT)
        (folder / "small.ipynb").write_text("{}")
        os.chmod(folder / "small.ipynb", 0o700)
        os.utime(folder / "small.ipynb", (1_600_000_000, 1_600_000_000))
        os.symlink("data/big.bin", folder / "link")
        return "rev-1"

    tree, made = cache.make_tree("k1", fill)
    assert made and tree.revision == "rev-1"
    big, copied = tree.project / "data" / "big.bin", tree.project / "small.ipynb"
    assert big.stat().st_ino == (tree.fetched / "data" / "big.bin").stat().st_ino
    assert copied.stat().st_ino != (tree.fetched / "small.ipynb").stat().st_ino
    assert copied.stat().st_mode == (tree.fetched / "small.ipynb").stat().st_mode
    assert copied.stat().st_mtime == 1_600_000_000 and os.readlink(tree.project / "link") == "data/big.bin"
    copied.write_text("changed in nbship's copy")
    assert (tree.fetched / "small.ipynb").read_text() == "{}"
    assert cache.make_tree("k1", fill) == (tree, False)


def test_a_failed_fill_leaves_nothing_and_a_tree_is_filled_once(tmp_path: Path) -> None:
    def broken(folder: Path) -> str:
        folder.mkdir()
        (folder / "half").write_text("x")
        raise FetchError("the network went away")

    with pytest.raises(FetchError):
        cache.make_tree("k2", broken)
    assert not cache.Tree("k2").root.exists()
    assert not list((cache.cache_root() / "trees").iterdir())

    calls = []

    def slow(folder: Path) -> str:
        calls.append(1)
        folder.mkdir()
        (folder / "f").write_text("x")
        return "r"

    threads = [threading.Thread(target=cache.make_tree, args=("k3", slow)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and cache.Tree("k3").exists()


DATA = b"0123456789" * 1000


@pytest.fixture
def files() -> Deposits:
    return Deposits(files={"a.bin": DATA, "cut.bin": DATA, "once.bin": DATA}, cut_off={"cut.bin": 99, "once.bin": 1})


def test_downloads_are_verified_retried_and_never_kept_partial(files: Deposits, tmp_path: Path) -> None:
    into = tmp_path / "dl"
    with route_server(functools.partial(file_routes, files)) as server, Session() as session:
        got = download(session, f"{server.url}/files/a.bin", into, what="a.bin", checksum=("md5", md5(DATA)))
        assert got is not None and got.path.read_bytes() == DATA and got.path.name == got.sha256
        assert download(session, f"{server.url}/files/a.bin", into, what="a.bin", validators=(got.etag, None)) is None
        with pytest.raises(FetchError, match="does not match the checksum"):
            download(session, f"{server.url}/files/a.bin", into, what="a.bin", checksum=("md5", "0" * 32))
        with pytest.raises(NetworkError, match="cut off 3 times"):
            download(session, f"{server.url}/files/cut.bin", into, what="cut.bin")
        assert download(session, f"{server.url}/files/once.bin", into, what="once.bin") is not None
        with pytest.raises(NotFoundError):
            download(session, f"{server.url}/files/missing.bin", into, what="missing.bin")
    assert sorted(p.name for p in into.iterdir()) == [got.sha256]  # no partial file was ever renamed in


def test_a_token_reaches_its_own_host_only(tmp_path: Path) -> None:
    def routes_to(other: list[str], base: object) -> list[tuple[str, object]]:
        return [
            ("/here", lambda h, m, q: h.send(200, b"ok")),
            ("/away", lambda h, m, q: redirect(h, f"{other[0]}/here")),
        ]

    other: list[str] = []
    with (
        route_server(functools.partial(routes_to, ["unused"])) as second,  # type: ignore[arg-type]
        route_server(functools.partial(routes_to, other)) as first,  # type: ignore[arg-type]
    ):
        other.append(second.url)
        host = urllib.parse.urlsplit(first.url).netloc
        for header in ("Authorization", "X-Dataverse-key"):
            with Session((Credential(frozenset({host}), header, "secret-token", "ENV"),)) as session:
                session.get(f"{first.url}/here").raise_for_status()
                session.get(f"{first.url}/away").raise_for_status()
            assert first.seen(header) == ["secret-token", "secret-token"]
            assert second.seen(header) == []
            first.requests.clear()


def test_fetching_a_file_repository_records_what_it_resolved_and_moves(tmp_path: Path) -> None:
    bare, work = make_repository(tmp_path, "r.git", {"a.ipynb": b"{}"})
    ref = parse_reference(f"file://{bare}@main")
    assert ref is not None
    reporter = RecordingReporter()
    with pytest.raises(NotFoundError, match="has not fetched"):
        fetch(ref, reporter=reporter, refresh=False)
    first = fetch(ref, reporter=reporter)
    assert "Fetched" in reporter.of("info")[-1] and first.origin.reference == f"file://{bare}@main"
    assert fetch(ref, reporter=reporter).tree == first.tree and "already fetched" in reporter.of("info")[-1]
    moved = commit_and_push(work, {"b.ipynb": b"{}"}, "second")
    second = fetch(ref, reporter=reporter)
    assert second.origin.revision == moved and "moved since nbship fetched it" in reporter.of("info")[-1]
    assert sorted(p.name for p in second.tree.fetched.iterdir()) == ["a.ipynb", "b.ipynb"]
    assert fetch(ref, reporter=reporter, refresh=False).tree == second.tree
    bare.rename(bare.with_name("gone.git"))  # a repository that is gone is an error, not a network outage
    with pytest.raises(NotFoundError, match="There is no git repository"):
        fetch(ref, reporter=reporter)
