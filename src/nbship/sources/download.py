"""HTTP for fetched sources: JSON from record APIs and verified downloads, with retries, tokens
sent only to the host they belong to, and one-paragraph errors for every way a request can fail.

A download is written beside its final place and moved there only once its length (and the
checksum the record gives, if any) match; a cut-off transfer is retried and never kept."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import requests.adapters
import urllib3.util

from nbship import __version__
from nbship.errors import FetchError, NbshipError, NetworkError, NotFoundError

ATTEMPTS = 3  # per download, each a full transfer; connection errors and 5xx are retried inside each
_TIMEOUT = (15, 60)  # connect, and between bytes
_CHUNK = 1 << 20
_RESOLVE_HINTS = (
    "NameResolutionError",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
    "No address associated with hostname",
)


@dataclass(frozen=True)
class Credential:
    """A token header for the hosts it belongs to (host:port, or a domain suffix like
    ".figshare.com"). Never logged, never written anywhere."""

    hosts: frozenset[str]
    header: str
    value: str
    env: str  # the variable it came from, for messages
    suffix: str | None = None

    def applies_to(self, url: str) -> bool:
        netloc = _netloc(url)
        return netloc in self.hosts or bool(self.suffix and netloc.split(":")[0].endswith(self.suffix))


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None


def _netloc(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def shown(url: str) -> str:
    """A URL for a message: no user info and no query (signed links carry secrets there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


class Session(requests.Session):
    """requests drops Authorization when a redirect leaves the host; this drops every token header."""

    def __init__(self, credentials: tuple[Credential, ...] = ()) -> None:
        super().__init__()
        self.credentials = credentials
        self.headers["User-Agent"] = f"nbship/{__version__}"
        retry = urllib3.util.Retry(
            total=4,
            connect=2,
            read=2,
            status=3,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", _TIMEOUT)
        return super().request(method, url, *args, **kwargs)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        for credential in self.credentials:
            if credential.applies_to(str(prepared.url)):
                prepared.headers[credential.header] = credential.value
        return prepared

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        target = str(prepared_request.url)
        for credential in self.credentials:
            if not credential.applies_to(target):
                prepared_request.headers.pop(credential.header, None)


def request_error(exc: requests.RequestException, url: str, what: str) -> FetchError | NetworkError:
    """The message for a request that got no usable answer."""
    host = host_of(url)
    text = repr(exc)
    if any(hint in text for hint in _RESOLVE_HINTS):
        return NetworkError(
            f"The host {host} is unknown: its name does not resolve, so {what} cannot be fetched. Check the "
            f"spelling of {shown(url)}, or your network.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"The TLS connection to {host} failed ({_reason(exc)}), so {what} cannot be fetched. Behind a proxy "
            "with its own certificate authority, point REQUESTS_CA_BUNDLE at its CA bundle.",
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return NetworkError(
            f"Cannot reach {host} ({_reason(exc)}), so {what} cannot be fetched. Check the URL and your network, "
            "then try again.",
        )
    return FetchError(f"The request for {what} to {host} failed: {_reason(exc)}.")


def _reason(exc: BaseException) -> str:
    inner: BaseException = exc
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    text = str(inner).strip() or type(inner).__name__
    for marker in ("Failed to establish a new connection: ", "] "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return text.rstrip(")'\"").splitlines()[0][:200]


def status_error(response: requests.Response, what: str, credentials: tuple[Credential, ...]) -> NbshipError:
    """The message for an HTTP error status."""
    url = response.url
    host = host_of(url)
    code = response.status_code
    if code in (401, 403):
        used = next((cred for cred in credentials if cred.applies_to(url)), None)
        if used is not None:
            return FetchError(
                f"{host} refused the token in {used.env} for {what} (HTTP {code}). Check that the token is valid "
                "and may read this record."
            )
        return FetchError(
            f"{host} requires permission to read {what} (HTTP {code}). For a restricted record set a token in "
            "the environment (NBSHIP_ZENODO_TOKEN, NBSHIP_FIGSHARE_TOKEN or NBSHIP_DATAVERSE_TOKEN); for another "
            "host put its login in ~/.netrc. nbship sends a token only to its own host and stores none."
        )
    if code in (404, 410):
        return NotFoundError(f"{host} does not have {what} (HTTP {code} for {shown(url)}). Check the link or the DOI.")
    return FetchError(
        f"{host} answered HTTP {code} ({response.reason}) for {what}, also when asked again. Try again later."
    )


def get(session: Session, url: str, *, what: str, **kwargs: Any) -> requests.Response:
    try:
        response = session.get(url, **kwargs)
    except requests.RequestException as exc:
        raise request_error(exc, url, what) from exc
    if response.status_code >= 400:
        response.close()
        raise status_error(response, what, session.credentials)
    return response


def get_json(session: Session, url: str, *, what: str) -> Any:
    response = get(session, url, what=what, headers={"Accept": "application/json"})
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no content type")
        raise FetchError(
            f"{host_of(url)} answered {shown(url)} with {kind}, not the JSON its API gives, so {what} cannot be "
            "read. Check that the link names a record of that service."
        ) from exc


class _CutOff(Exception):
    def __init__(self, got: int, expected: int | None) -> None:
        super().__init__(f"{got} of {expected if expected is not None else '?'} bytes")


class _Damaged(Exception):
    """The bytes arrived whole but do not match the record's checksum."""


def download(
    session: Session,
    url: str,
    into: Path,
    *,
    what: str,
    size: int | None = None,
    checksum: tuple[str, str] | None = None,
    validators: tuple[str | None, str | None] = (None, None),
) -> Downloaded | None:
    """Downloads `url` into the folder `into` as a file named by its sha256; None when the server
    says it is unchanged since `validators` (etag, last-modified) were taken."""
    into.mkdir(parents=True, exist_ok=True)
    headers = {"Accept-Encoding": "identity"}
    etag, modified = validators
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    last: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        part = into / f".part-{uuid.uuid4().hex}"
        try:
            response = get(session, url, what=what, headers=headers, stream=True)
            with response:
                if response.status_code == 304:
                    return None
                return _receive(response, part, into, size=size, checksum=checksum)
        except (_CutOff, _Damaged, requests.RequestException) as exc:
            last = exc
            if attempt < ATTEMPTS:
                time.sleep(0.5 * 2 ** (attempt - 1))
        finally:
            part.unlink(missing_ok=True)
    if isinstance(last, _Damaged):
        raise FetchError(
            f"The download of {what} does not match the checksum its record gives ({checksum_text(checksum)}), "
            f"in {ATTEMPTS} tries. The file on the server may be damaged; nothing was kept."
        )
    detail = f" (the last try got {last})" if isinstance(last, _CutOff) else f" ({_reason(last)})" if last else ""
    raise NetworkError(
        f"The download of {what} from {host_of(url)} was cut off {ATTEMPTS} times{detail}. nbship keeps no "
        "partial download; check the connection and try again.",
    )


def checksum_text(checksum: tuple[str, str] | None) -> str:
    return f"{checksum[0]} {checksum[1]}" if checksum else "none"


def _receive(
    response: requests.Response, part: Path, into: Path, *, size: int | None, checksum: tuple[str, str] | None
) -> Downloaded:
    announced = response.headers.get("Content-Length")
    expected = size if size is not None else (int(announced) if announced and announced.isdigit() else None)
    sha = hashlib.sha256()
    check = hashlib.new(checksum[0], usedforsecurity=False) if checksum else None
    got = 0
    with open(part, "wb") as handle:
        for chunk in response.iter_content(_CHUNK):
            handle.write(chunk)
            sha.update(chunk)
            if check is not None:
                check.update(chunk)
            got += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if expected is not None and got != expected:
        raise _CutOff(got, expected)
    if checksum and check is not None and check.hexdigest() != checksum[1].lower():
        raise _Damaged()
    final = into / sha.hexdigest()
    os.replace(part, final)
    return Downloaded(final, sha.hexdigest(), got, response.headers.get("ETag"), response.headers.get("Last-Modified"))
