"""Deposits on Zenodo (and any InvenioRDM repository), Figshare and Dataverse: their record APIs,
read into one list of files to download, each with its size and checksum.

    Zenodo     GET {host}/api/records/{id} (a concept id redirects to the latest version), and the
               record's `links.files`: `entries` with `key`, `size`, `checksum` ("md5:..."),
               `links.content`. Token: NBSHIP_ZENODO_TOKEN, as `Authorization: Bearer`.
    Figshare   GET {api}/articles/{id}[/versions/{v}]: `files` with `name`, `size`, `download_url`,
               `computed_md5`; link-only files are left out. Token: NBSHIP_FIGSHARE_TOKEN, as
               `Authorization: token`, to figshare hosts only.
    Dataverse  GET {host}/api/datasets/:persistentId/?persistentId={pid}: `data.latestVersion.files`
               with `label`, `directoryLabel`, `dataFile` (`id`, `filesize`, `checksum`, and
               `originalFileName` for ingested tables, fetched with `format=original`), downloaded
               from {host}/api/access/datafile/{id}. Token: NBSHIP_DATAVERSE_TOKEN, as X-Dataverse-key.

The parsers take any JSON and either return a Deposit or raise an error naming what is missing.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

from nbship import contract as c
from nbship.errors import FetchError, ProjectError
from nbship.sources.archive import member_path
from nbship.sources.download import Credential, Session, get_json
from nbship.sources.refs import SourceHosts, SourceRef

_ALGORITHMS = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256", "sha256": "sha256"}
_ALGORITHMS |= {"sha-512": "sha512", "sha512": "sha512"}


@dataclass(frozen=True)
class RemoteFile:
    path: str  # where it goes in the project: a relative posix path, checked safe
    url: str
    size: int | None
    checksum: tuple[str, str] | None  # (hashlib name, hex digest)


@dataclass(frozen=True)
class Deposit:
    service: str  # "Zenodo", "Figshare", "Dataverse"
    record: str  # the version the files belong to (a concept DOI resolves to its latest version)
    revision: str  # for messages and the OCI revision label
    files: tuple[RemoteFile, ...]
    left_out: tuple[str, ...] = ()

    def key(self) -> str:
        """One digest for this exact content: the same files with the same checksums reuse one tree."""
        parts = [self.service, self.record, *(f"{f.path}\0{f.size}\0{f.checksum}" for f in self.files)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    """A JSON list's entries as objects (an entry that is not one reads as empty)."""
    return [_dict(item) for item in value] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _checksum(algorithm: str | None, value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    if algorithm is None and ":" in value:
        algorithm, value = value.split(":", 1)
    name = _ALGORITHMS.get((algorithm or "md5").strip().lower())
    digest = value.strip().lower()
    if name is None or not digest or any(ch not in "0123456789abcdef" for ch in digest):
        return None
    return name, digest


def _url(value: Any, base: str) -> str | None:
    text = _text(value)
    if text is None:
        return None
    url = urllib.parse.urljoin(base, text)
    return url if urllib.parse.urlsplit(url).scheme in ("http", "https") else None


def _no_files(service: str, where: str, left_out: list[str]) -> ProjectError:
    why = f" (left out: {', '.join(left_out[:5])})" if left_out else ""
    return ProjectError(
        f"The {service} record {where} has no files nbship can download{why}, so there is no project to run. "
        "Check that the link names the deposit with the code, or that its files are public."
    )


def _deposit(
    service: str, record: str, revision: str, files: list[RemoteFile], left_out: list[str], where: str
) -> Deposit:
    if not files:
        raise _no_files(service, where, left_out)
    seen: set[str] = set()
    for item in files:
        if item.path in seen:
            raise ProjectError(
                f"The {service} record {where} lists the file {item.path} twice; nbship cannot tell which to use."
            )
        seen.add(item.path)
    return Deposit(service, record, revision, tuple(files), tuple(left_out))


def _not_a_record(service: str, where: str, missing: str) -> FetchError:
    return FetchError(f"{where} did not answer as a {service} record ({missing} missing). Check the link or the DOI.")


# -- Zenodo / InvenioRDM ------------------------------------------------------------------------


def _zenodo_entries(record: dict[str, Any], listing: Any) -> list[Any]:
    if isinstance(listing, dict) and isinstance(listing.get("entries"), list):
        return list(listing["entries"])
    files = record.get("files")
    if isinstance(files, list):
        return files
    entries = _dict(files).get("entries")
    if isinstance(entries, dict):
        return list(entries.values())
    return entries if isinstance(entries, list) else []


def parse_zenodo(record: Any, listing: Any, *, base: str, where: str) -> Deposit:
    """A Zenodo / InvenioRDM record (and its `links.files` listing, when fetched) -> its files."""
    if not isinstance(record, dict):
        raise _not_a_record("Zenodo", where, "the record object")
    record_id = _text(record.get("id")) or _text(record.get("recid"))
    if record_id is None:
        raise _not_a_record("Zenodo", where, "its id")
    files: list[RemoteFile] = []
    left_out: list[str] = []
    for entry in _items(_zenodo_entries(record, listing)):
        name = _text(entry.get("key")) or _text(entry.get("filename"))
        links = _dict(entry.get("links"))
        url = _url(links.get("content") or links.get("download") or links.get("self"), base)
        if name is None or url is None:
            left_out.append(name or "an entry without a name")
            continue
        path = member_path(name, archive=f"The Zenodo record {where}")
        if path is None:
            continue
        size = _size(entry.get("size")) if "size" in entry else _size(entry.get("filesize"))
        files.append(RemoteFile(path, url, size, _checksum(None, _text(entry.get("checksum")))))
    version = _text(_dict(record.get("metadata")).get("version"))
    revision = f"record {record_id}" + (f" (version {version})" if version else "")
    return _deposit("Zenodo", record_id, revision, files, left_out, where)


def zenodo(session: Session, ref: SourceRef) -> Deposit:
    parts = urllib.parse.urlsplit(ref.location)
    base = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    where = f"{ref.record} on {parts.hostname}"
    record = get_json(session, f"{base}/api/records/{ref.record}", what=f"the Zenodo record {ref.record}")
    files_link = _url(_dict(_dict(record).get("links")).get("files"), base)
    listing = get_json(session, files_link, what=f"the files of the Zenodo record {ref.record}") if files_link else None
    return parse_zenodo(record, listing, base=base, where=where)


# -- Figshare -----------------------------------------------------------------------------------


def parse_figshare(article: Any, *, base: str, where: str) -> Deposit:
    if not isinstance(article, dict):
        raise _not_a_record("Figshare", where, "the article object")
    article_id = _text(article.get("id"))
    if article_id is None:
        raise _not_a_record("Figshare", where, "its id")
    files: list[RemoteFile] = []
    left_out: list[str] = []
    for entry in _items(article.get("files")):
        name = _text(entry.get("name"))
        url = _url(entry.get("download_url"), base)
        if entry.get("is_link_only") or name is None or url is None:
            left_out.append(
                f"{name or 'a file'} (a link, not a file)" if entry.get("is_link_only") else name or "a file"
            )
            continue
        path = member_path(name, archive=f"The Figshare article {where}")
        if path is None:
            continue
        digest = _text(entry.get("computed_md5")) or _text(entry.get("supplied_md5"))
        files.append(RemoteFile(path, url, _size(entry.get("size")), _checksum("md5", digest)))
    version = _text(article.get("version"))
    revision = f"article {article_id}" + (f" version {version}" if version else "")
    return _deposit("Figshare", article_id + (f".v{version}" if version else ""), revision, files, left_out, where)


def figshare(session: Session, ref: SourceRef, hosts: SourceHosts) -> Deposit:
    url = f"{hosts.figshare_api}/articles/{ref.record}" + (f"/versions/{ref.version}" if ref.version else "")
    article = get_json(session, url, what=f"the Figshare article {ref.record}")
    return parse_figshare(article, base=hosts.figshare_api, where=str(ref.record))


# -- Dataverse ----------------------------------------------------------------------------------


def parse_dataverse(payload: Any, *, base: str, where: str) -> Deposit:
    """The dataset (its `latestVersion`), or one version of it as the versions endpoint gives it."""
    data = _dict(_dict(payload).get("data"))
    version = _dict(data.get("latestVersion")) or (data if "files" in data and "latestVersion" not in data else {})
    if not data or not version:
        raise _not_a_record("Dataverse", where, "data.latestVersion")
    files: list[RemoteFile] = []
    left_out: list[str] = []
    for entry in _items(version.get("files")):
        datafile = _dict(entry.get("dataFile"))
        file_id = _text(datafile.get("id"))
        original = _text(datafile.get("originalFileName"))
        name = original or _text(entry.get("label")) or _text(datafile.get("filename"))
        if file_id is None or name is None or not file_id.isdigit():
            left_out.append(name or "a file without an id")
            continue
        folder = _text(entry.get("directoryLabel"))
        path = member_path(f"{folder}/{name}" if folder else name, archive=f"The Dataverse dataset {where}")
        if path is None:
            continue
        url = f"{base}/api/access/datafile/{file_id}" + ("?format=original" if original else "")
        size = _size(datafile.get("originalFileSize")) if original else _size(datafile.get("filesize"))
        check = _dict(datafile.get("checksum"))
        checksum = _checksum(_text(check.get("type")), _text(check.get("value"))) or _checksum(
            "md5", _text(datafile.get("md5"))
        )
        files.append(RemoteFile(path, url, size, checksum))
    number, minor = _text(version.get("versionNumber")), _text(version.get("versionMinorNumber"))
    label = f"{number}.{minor or 0}" if number else (_text(version.get("versionState")) or "draft").lower()
    pid = _text(data.get("persistentUrl")) or where
    return _deposit("Dataverse", f"{where}@{label}", f"dataset version {label}", files, left_out, pid)


def dataverse(session: Session, ref: SourceRef) -> Deposit:
    parts = urllib.parse.urlsplit(ref.location)
    base = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    pid = ref.record or ""
    version = f"versions/{urllib.parse.quote(ref.version, safe='')}" if ref.version else ""
    url = f"{base}/api/datasets/:persistentId/{version}?persistentId={urllib.parse.quote(pid, safe=':/')}"
    payload = get_json(session, url, what=f"the Dataverse dataset {pid}")
    return parse_dataverse(payload, base=base, where=pid)


# -- Tokens -------------------------------------------------------------------------------------


def credentials(ref: SourceRef, hosts: SourceHosts) -> tuple[Credential, ...]:
    """The token for `ref`'s service, from the environment, bound to that service's hosts only."""
    netloc = urllib.parse.urlsplit(ref.location).netloc.rsplit("@", 1)[-1].lower()
    if ref.kind == "zenodo" and (token := os.environ.get(c.ZENODO_TOKEN_ENV)):
        return (Credential(frozenset({netloc}), "Authorization", f"Bearer {token}", c.ZENODO_TOKEN_ENV),)
    if ref.kind == "figshare" and (token := os.environ.get(c.FIGSHARE_TOKEN_ENV)):
        api = urllib.parse.urlsplit(hosts.figshare_api).netloc.lower()
        return (
            Credential(
                frozenset({api, "figshare.com"}),
                "Authorization",
                f"token {token}",
                c.FIGSHARE_TOKEN_ENV,
                ".figshare.com",
            ),
        )
    if ref.kind == "dataverse" and (token := os.environ.get(c.DATAVERSE_TOKEN_ENV)):
        return (Credential(frozenset({netloc}), "X-Dataverse-key", token, c.DATAVERSE_TOKEN_ENV),)
    return ()
