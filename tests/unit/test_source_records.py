"""The record APIs read into files to download: the shapes Zenodo (old and InvenioRDM), Figshare
and Dataverse answer with, every listed file kept with its checksum, and any other JSON ending in
a clear error rather than a KeyError."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.errors import NbshipError, ProjectError
from nbship.sources.archive import UnsafeMember
from nbship.sources.records import Deposit, parse_dataverse, parse_figshare, parse_zenodo

BASE = "https://repo.example.org"


def test_zenodo_files_listing_as_invenio_rdm_serves_it() -> None:
    record = {"id": 123, "metadata": {"version": "2.1"}, "links": {"files": f"{BASE}/api/records/123/files"}}
    listing = {
        "enabled": True,
        "entries": [
            {
                "key": "analysis.ipynb",
                "size": 10,
                "checksum": "md5:0123abcd",
                "links": {"content": "/api/records/123/files/analysis.ipynb/content"},
            },
            {"key": "data/x.csv", "size": 3, "checksum": "md5:ffee", "links": {"content": f"{BASE}/c/x"}},
        ],
    }
    deposit = parse_zenodo(record, listing, base=BASE, where="123")
    assert [(f.path, f.url, f.size, f.checksum) for f in deposit.files] == [
        ("analysis.ipynb", f"{BASE}/api/records/123/files/analysis.ipynb/content", 10, ("md5", "0123abcd")),
        ("data/x.csv", f"{BASE}/c/x", 3, ("md5", "ffee")),
    ]
    assert deposit.revision == "record 123 (version 2.1)" and deposit.service == "Zenodo"


def test_zenodo_legacy_files_list_and_entries_mapping() -> None:
    legacy = {
        "id": "9",
        "files": [{"filename": "a.py", "filesize": 1, "checksum": "abc1", "links": {"download": f"{BASE}/d/a"}}],
    }
    assert parse_zenodo(legacy, None, base=BASE, where="9").files[0].checksum == ("md5", "abc1")
    mapping = {
        "id": 9,
        "files": {"enabled": True, "entries": {"b.py": {"key": "b.py", "links": {"content": f"{BASE}/b"}}}},
    }
    assert [f.path for f in parse_zenodo(mapping, None, base=BASE, where="9").files] == ["b.py"]


def test_a_deposit_without_files_is_a_project_error() -> None:
    with pytest.raises(ProjectError, match="has no files"):
        parse_zenodo({"id": 5, "files": []}, {"entries": []}, base=BASE, where="5")
    with pytest.raises(ProjectError, match=re.escape("a.py")):  # the entry without a link is named as left out
        parse_zenodo({"id": 5}, {"entries": [{"key": "a.py", "links": {}}]}, base=BASE, where="5")


def test_a_deposit_naming_a_file_outside_is_refused() -> None:
    with pytest.raises(UnsafeMember):
        parse_zenodo(
            {"id": 5}, {"entries": [{"key": "../../x", "links": {"content": f"{BASE}/x"}}]}, base=BASE, where="5"
        )


def test_figshare_leaves_link_only_files_out() -> None:
    article = {
        "id": 77,
        "version": 3,
        "files": [
            {
                "name": "code.zip",
                "size": 5,
                "download_url": "https://ndownloader.figshare.com/files/1",
                "computed_md5": "aa",
            },
            {"name": "Paper", "is_link_only": True, "download_url": "https://example.org/paper"},
        ],
    }
    deposit = parse_figshare(article, base=BASE, where="77")
    assert [f.path for f in deposit.files] == ["code.zip"] and deposit.record == "77.v3"
    assert deposit.left_out == ("Paper (a link, not a file)",)


def test_dataverse_folders_and_ingested_tables() -> None:
    payload = {
        "status": "OK",
        "data": {
            "persistentUrl": "https://doi.org/10.7910/DVN/X",
            "latestVersion": {
                "versionNumber": 2,
                "versionMinorNumber": 1,
                "files": [
                    {
                        "label": "run.ipynb",
                        "dataFile": {"id": 11, "filesize": 9, "checksum": {"type": "SHA-256", "value": "ab"}},
                    },
                    {
                        "label": "table.tab",
                        "directoryLabel": "data",
                        "dataFile": {
                            "id": 12,
                            "originalFileName": "table.csv",
                            "originalFileSize": 4,
                            "filesize": 99,
                            "md5": "cd",
                        },
                    },
                ],
            },
        },
    }
    deposit = parse_dataverse(payload, base=BASE, where="doi:10.7910/DVN/X")
    assert [(f.path, f.url, f.size, f.checksum) for f in deposit.files] == [
        ("run.ipynb", f"{BASE}/api/access/datafile/11", 9, ("sha256", "ab")),
        ("data/table.csv", f"{BASE}/api/access/datafile/12?format=original", 4, ("md5", "cd")),
    ]
    assert deposit.revision == "dataset version 2.1"


@pytest.mark.parametrize(
    "payload", [None, [], "text", {"id": None}, {"status": "ERROR"}, {"data": {"latestVersion": None}}]
)
def test_what_is_not_a_record_says_so(payload: Any) -> None:
    for parse in (parse_zenodo_any, parse_figshare_any, parse_dataverse_any):
        with pytest.raises(NbshipError):
            parse(payload)


def parse_zenodo_any(payload: Any) -> Deposit:
    return parse_zenodo(payload, None, base=BASE, where="x")


def parse_figshare_any(payload: Any) -> Deposit:
    return parse_figshare(payload, base=BASE, where="x")


def parse_dataverse_any(payload: Any) -> Deposit:
    return parse_dataverse(payload, base=BASE, where="x")


# -- properties -------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "id",
        "files",
        "entries",
        "key",
        "links",
        "content",
        "data",
        "latestVersion",
        "dataFile",
        "label",
        "name",
        "download_url",
        "size",
    ]
)
_shaped = st.recursive(
    st.none() | st.integers() | st.text(max_size=12) | st.just("https://x.org/f"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@given(st.one_of(_json, _shaped), st.one_of(_json, _shaped))
def test_any_json_is_a_deposit_or_a_clear_error(payload: Any, listing: Any) -> None:
    for parse in (
        lambda: parse_zenodo(payload, listing, base=BASE, where="x"),
        lambda: parse_figshare(payload, base=BASE, where="x"),
        lambda: parse_dataverse(payload, base=BASE, where="x"),
    ):
        try:
            deposit = parse()
        except NbshipError as exc:
            message = exc.message
        else:
            assert deposit.files and all(f.url.startswith(("http://", "https://")) for f in deposit.files)
            continue
        assert message  # an error the user can read, never another exception


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
_entries = st.dictionaries(
    st.builds(lambda parts: "/".join(parts), st.lists(_name, min_size=1, max_size=2)),
    st.tuples(st.integers(0, 10**9), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
    min_size=1,
    max_size=6,
)


@given(_entries)
def test_every_listed_file_is_kept_with_its_checksum(entries: dict[str, tuple[int, str]]) -> None:
    zenodo = {
        "entries": [
            {"key": k, "size": s, "checksum": f"md5:{m}", "links": {"content": f"{BASE}/f/{i}"}}
            for i, (k, (s, m)) in enumerate(entries.items())
        ]
    }
    figshare = {
        "id": 1,
        "files": [
            {"name": k, "size": s, "computed_md5": m, "download_url": f"{BASE}/f/{i}"}
            for i, (k, (s, m)) in enumerate(entries.items())
        ],
    }
    dataverse = {
        "data": {
            "latestVersion": {
                "versionNumber": 1,
                "files": [
                    {
                        "label": k.rsplit("/", 1)[-1],
                        **({"directoryLabel": k.rsplit("/", 1)[0]} if "/" in k else {}),
                        "dataFile": {"id": i + 1, "filesize": s, "checksum": {"type": "MD5", "value": m}},
                    }
                    for i, (k, (s, m)) in enumerate(entries.items())
                ],
            }
        }
    }
    expected = {(k, s, ("md5", m)) for k, (s, m) in entries.items()}
    for deposit in (
        parse_zenodo({"id": 1}, zenodo, base=BASE, where="1"),
        parse_figshare(figshare, base=BASE, where="1"),
        parse_dataverse(dataverse, base=BASE, where="1"),
    ):
        assert {(f.path, f.size, f.checksum) for f in deposit.files} == expected
        assert len(deposit.files) == len(entries)


def test_one_dataverse_version_as_the_versions_endpoint_gives_it() -> None:
    payload = {
        "status": "OK",
        "data": {"versionNumber": 1, "versionMinorNumber": 2, "files": [{"label": "a.ipynb", "dataFile": {"id": 7}}]},
    }
    deposit = parse_dataverse(payload, base=BASE, where="doi:10.1/X")
    assert [f.url for f in deposit.files] == [
        f"{BASE}/api/access/datafile/7"
    ] and deposit.revision == "dataset version 1.2"
