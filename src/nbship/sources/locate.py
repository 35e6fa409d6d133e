"""From a DOI or an unclassified web link to something nbship can fetch: the redirects are
followed hop by hop until one names a record, a git repository or an archive (the landing page
itself is never downloaded); a link that ends on a page is asked whether it is a git repository
(git's smart-HTTP discovery) or an archive (its content type)."""

from __future__ import annotations

import urllib.parse

import requests

from nbship.errors import FetchError, NotFoundError, UsageError
from nbship.sources.download import Session, host_of, request_error, shown, status_error
from nbship.sources.refs import SourceHosts, SourceRef, is_archive_name, parse_reference

MAX_REDIRECTS = 10
_GIT_ADVERTISEMENT = "application/x-git-upload-pack-advertisement"
_ARCHIVE_TYPES = frozenset(
    {
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-gtar",
        "application/x-compressed-tar",
        "application/x-bzip2",
        "application/x-xz",
    }
)


def _known(url: str, hosts: SourceHosts) -> SourceRef | None:
    try:
        found = parse_reference(url, hosts=hosts)
    except UsageError:
        return None
    return found if found is not None and found.kind not in ("web", "doi") else None


def _follow(
    session: Session, url: str, *, what: str, hosts: SourceHosts
) -> tuple[str, SourceRef | None, requests.Response | None]:
    """Follows redirects from `url`: (last URL, what it names if known, the final response if it was fetched)."""
    for _ in range(MAX_REDIRECTS):
        try:
            response = session.get(url, allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            raise request_error(exc, url, what) from exc
        if not response.is_redirect:
            return url, None, response
        response.close()
        url = urllib.parse.urljoin(url, response.headers["Location"])
        known = _known(url, hosts)
        if known is not None:
            return url, known, None
    raise FetchError(
        f"{what} redirects more than {MAX_REDIRECTS} times (last to {shown(url)}); nbship stopped following."
    )


def resolve_doi(session: Session, doi: str, hosts: SourceHosts) -> SourceRef:
    """What the DOI names, through its resolver's redirect."""
    what = f"the DOI {doi}"
    url = f"{hosts.doi_resolver}/{urllib.parse.quote(doi, safe='/:;()._-')}"
    final, known, response = _follow(session, url, what=what, hosts=hosts)
    if known is not None:
        return known
    assert response is not None
    with response:
        if final == url:
            if response.status_code == 404:
                raise NotFoundError(
                    f"The DOI {doi} is not registered: {host_of(url)} does not know it. Check it for typos."
                )
            if response.status_code >= 400:
                raise status_error(response, what, session.credentials)
            raise FetchError(f"{host_of(url)} did not redirect {what} to where it is registered; try again later.")
    return classify_web(session, final, None, what=what, hosts=hosts, from_doi=doi)


def classify_web(
    session: Session, url: str, ref: str | None, *, what: str, hosts: SourceHosts, from_doi: str | None = None
) -> SourceRef:
    """What an https link is: a record or archive it redirects to, a git repository, or an archive."""
    final, known, response = _follow(session, url, what=what, hosts=hosts)
    if known is not None:
        return _with_ref(known, ref, url)
    assert response is not None
    with response:
        failed = status_error(response, what, session.credentials) if response.status_code >= 400 else None
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        disposition = response.headers.get("Content-Disposition", "")
    if _is_git(session, final):
        return SourceRef("git", final, ref)
    if failed is not None:
        raise failed
    if kind in _ARCHIVE_TYPES or (kind == "application/octet-stream" and _attachment_is_archive(disposition)):
        return _with_ref(SourceRef("archive", final), ref, url)
    target = f"The DOI {from_doi} resolves to {shown(final)}, which" if from_doi else f"{shown(url)}"
    raise FetchError(
        f"{target} is not a git repository, a Zenodo, Figshare or Dataverse record, or an archive nbship can "
        f"fetch (it answers with {kind or 'no content type'}). Give the repository's git URL, the record's link "
        "or DOI, or the archive's download link."
    )


def _with_ref(found: SourceRef, ref: str | None, url: str) -> SourceRef:
    if ref is None:
        return found
    if found.kind == "git":
        return SourceRef("git", found.location, ref)
    raise UsageError(f"{shown(url)} is not a git repository, so '@{ref}' names nothing there. Leave it out.")


def _attachment_is_archive(disposition: str) -> bool:
    _, _, name = disposition.partition("filename=")
    return is_archive_name(name.strip().strip('"'))


def _is_git(session: Session, url: str) -> bool:
    probe = url.rstrip("/") + "/info/refs?service=git-upload-pack"
    try:
        with session.get(probe, stream=True, allow_redirects=True) as response:
            return response.ok and response.headers.get("Content-Type", "").startswith(_GIT_ADVERTISEMENT)
    except requests.RequestException:
        return False
