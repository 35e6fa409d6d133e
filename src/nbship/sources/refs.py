"""Source references: the text a user gives in place of a project folder, parsed into one typed
value. Pure (no network): what needs a request to decide (a URL that could be a git repository or
an archive, a DOI) is kept as such and classified when it is fetched.

    https://host/owner/repo.git@v1.2     git, at a branch, tag or commit (also git@host:o/r, ssh://, file://)
    doi:10.5281/zenodo.123               a DOI (also https://doi.org/10.5281/zenodo.123)
    https://zenodo.org/records/123       a Zenodo (InvenioRDM) record; Figshare articles; Dataverse datasets
    https://host/paper-code.tar.gz       an archive (.zip, .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar)
"""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbship import contract as c
from nbship.errors import UsageError

SourceKind = Literal["git", "doi", "zenodo", "figshare", "dataverse", "archive", "web"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
DEFAULT_DOI_RESOLVER = "https://doi.org"
DEFAULT_FIGSHARE_API = "https://api.figshare.com/v2"
_DOI_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})
_DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
# git's own rule for its scp-like syntax (user@host:path), with the user required so that a
# local path holding a colon is never taken for one.
_SCP_RE = re.compile(r"(?P<user>[A-Za-z0-9._~-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!//)(?P<path>.+)")
_ZENODO_PATH = re.compile(r"/(?:api/)?records?/(?P<id>[A-Za-z0-9][A-Za-z0-9-]*)/?")
_FIGSHARE_PATH = re.compile(r"/articles/(?:[^/]+/){0,2}(?P<id>\d+)(?:/(?P<version>\d+))?/?")
_DATAVERSE_PATHS = frozenset(
    {"/dataset.xhtml", "/citation", "/api/datasets/:persistentId", "/api/datasets/:persistentId/"}
)
# Query parameters that carry credentials in signed or token links: never shown, labelled or hashed.
_SECRET_PARAM = re.compile(r"token|key|sig|secret|passw|auth|credential|session|^x-amz-|^x-goog-", re.IGNORECASE)
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}


@dataclass(frozen=True)
class SourceHosts:
    """Where DOIs resolve and where Figshare's API answers; settable for a mirror (or a test)."""

    doi_resolver: str = DEFAULT_DOI_RESOLVER
    figshare_api: str = DEFAULT_FIGSHARE_API

    @classmethod
    def from_env(cls) -> SourceHosts:
        return cls(
            doi_resolver=_base_url(c.DOI_RESOLVER_ENV, DEFAULT_DOI_RESOLVER),
            figshare_api=_base_url(c.FIGSHARE_API_ENV, DEFAULT_FIGSHARE_API),
        )

    def is_figshare(self, netloc: str) -> bool:
        """figshare.com, an institution's portal on it, or the host of the configured API (host:port)."""
        netloc = netloc.lower().rsplit("@", 1)[-1]
        host = netloc.split(":")[0]
        api = urllib.parse.urlsplit(self.figshare_api).netloc.lower()
        return host == "figshare.com" or host.endswith(".figshare.com") or netloc == api


def _base_url(env: str, default: str) -> str:
    value = os.environ.get(env, "").strip() or default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{env}={value} is not an http(s) URL. Set it to one (the default is {default}), or unset it.")
    return value.rstrip("/")


@dataclass(frozen=True)
class SourceRef:
    """A parsed reference. `location` is what is fetched, as the user gave it: it may name a user
    (git's ssh user, or one for a credential helper) but never a password, which parsing refuses."""

    kind: SourceKind
    location: str  # a URL, a DOI (for kind "doi"), or a git scp-like address
    ref: str | None = None  # git (and web, until it turns out to be git): a branch, tag or commit
    record: str | None = None  # Zenodo record id, Figshare article id, Dataverse persistent id
    version: str | None = None  # Figshare: the article version; Dataverse: the dataset version

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        """The reference as it can be given again, without credentials."""
        if self.kind == "doi":
            return f"doi:{self.location}"
        base = public_url(self.location)
        return f"{base}@{self.ref}" if self.ref else base

    @property
    def source_url(self) -> str:
        """The repository or record, for the OCI source label."""
        if self.kind == "doi":
            return f"{DEFAULT_DOI_RESOLVER}/{self.location}"
        return public_url(self.location)

    @property
    def identity(self) -> str:
        """Canonical, host-independent where it can be: what the project id is hashed from."""
        if self.kind == "doi":
            return f"doi:{self.location.lower()}"
        if self.kind == "figshare":
            return f"figshare:{self.record}" + (f".v{self.version}" if self.version else "")
        if self.kind in ("zenodo", "dataverse"):
            host = urllib.parse.urlsplit(self.location).netloc.lower().rsplit("@", 1)[-1]
            return f"{self.kind}:{host}/{(self.record or '').lower()}" + (f"@{self.version}" if self.version else "")
        if self.kind == "archive":
            return f"archive:{_url_key(self.location)}"
        # A web link is most often a repository named without .git: it shares the repository's identity.
        query = _clean_query(urllib.parse.urlsplit(self.location).query) if self.kind == "web" else ""
        key = git_location_key(self.location) + (f"?{query}" if query else "")
        return f"git:{key}" + (f"@{self.ref}" if self.ref else "")

    @property
    def name(self) -> str:
        """The default project name: the repository's, the archive's, or the record's id."""
        if self.kind == "doi":
            return self.location.split("/", 1)[1]
        if self.kind in ("zenodo", "figshare"):
            return f"{self.kind}-{self.record}"
        if self.kind == "dataverse":
            return "dataverse-" + "-".join((self.record or "").split("/")[1:])
        path = self.location if self.kind == "git" and _SCP_RE.fullmatch(self.location) else _path_of(self.location)
        last = path.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return strip_suffix(last) or urllib.parse.urlsplit(self.location).hostname or "source"

    @property
    def tag(self) -> str:
        """The default image tag: the git ref made a valid tag, the Figshare version, else latest."""
        if self.ref:
            return docker_tag(self.ref)
        if self.kind in ("figshare", "dataverse") and self.version:
            return docker_tag(f"v{self.version}")
        return "latest"


ProjectPath = Path | SourceRef  # what every command's `path=` takes: a folder, or a reference


def strip_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in (".git", *ARCHIVE_SUFFIXES):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def docker_tag(text: str) -> str:
    tag = _TAG_BAD.sub("-", text).lstrip(".-")[:128]
    return tag or "latest"


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _path_of(location: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(location).path)


def _clean_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _SECRET_PARAM.search(k)]
    return query if len(kept) == len(pairs) else urllib.parse.urlencode(kept)


def public_url(location: str) -> str:
    """`location` fit to show and record: no user info on http(s), no fragment, no secret parameters."""
    if _SCP_RE.fullmatch(location):
        return location
    parts = urllib.parse.urlsplit(location)
    netloc = parts.netloc
    if parts.scheme in ("http", "https", "file"):
        netloc = netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, _clean_query(parts.query), ""))


def _url_key(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f"{host}:{port}"
    query = _clean_query(parts.query)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def git_location_key(location: str) -> str:
    """One key for one repository whichever protocol names it: host/path, without .git or a user."""
    scp = _SCP_RE.fullmatch(location)
    if scp:
        host, path = scp.group("host").lower(), scp.group("path")
    else:
        parts = urllib.parse.urlsplit(location)
        if parts.scheme == "file":
            return "file:" + posixpath.normpath(urllib.parse.unquote(parts.path))
        host = (parts.hostname or "").lower()
        if parts.port not in (None, _DEFAULT_PORTS.get(parts.scheme)):
            host = f"{host}:{parts.port}"
        path = parts.path
    path = path.strip("/")
    if path.lower().endswith(".git"):
        path = path[:-4]
    return f"{host}/{path.rstrip('/')}"


def _refuse_password(text: str, parts: urllib.parse.SplitResult) -> None:
    if parts.password is None:
        return
    shown = text.replace(parts.password, "****")
    raise UsageError(
        f"{shown} carries a password, and nbship never stores credentials. Remove it from the reference: "
        "git asks your own credential helper or SSH key, and archive hosts take a token from the environment "
        f"({c.ZENODO_TOKEN_ENV}, {c.FIGSHARE_TOKEN_ENV}, {c.DATAVERSE_TOKEN_ENV}) or from ~/.netrc."
    )


def _split_ref(location: str, path_start: int) -> tuple[str, str | None]:
    """`URL@REF` -> (URL, REF); the `@` must come after the host, so `git@host:` stays."""
    at = location.rfind("@")
    if at <= path_start:
        return location, None
    ref = location[at + 1 :]
    if (
        not ref
        or ref.startswith(("/", "-"))
        or ".." in ref
        or "@{" in ref
        or ref.endswith((".lock", "/", "."))
        or any(ch in " ~^:?*[\\" or ord(ch) < 32 or ch == "\x7f" for ch in ref)
    ):
        raise UsageError(
            f"'{ref}' in {location} is not a git ref. After '@' give a branch, a tag or a commit, "
            "e.g. https://host/owner/repo.git@v1.2."
        )
    return location[:at], ref


def _doi(value: str, text: str) -> SourceRef:
    doi = value.strip()
    if not _DOI_RE.fullmatch(doi):
        raise UsageError(
            f"{text} is not a DOI: a DOI looks like doi:10.5281/zenodo.1234567 (10., a number, /, a name)."
        )
    return SourceRef("doi", doi)


def _file_url(text: str, parts: urllib.parse.SplitResult) -> SourceRef:
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{text}: a file:// URL names a path on this machine, like file:///home/me/repo.")
    location, ref = _split_ref(text, len("file://"))
    if is_archive_name(_path_of(location)):
        if ref:
            raise UsageError(f"{text}: '@{ref}' names a git ref, and an archive has none. Leave it out.")
        return SourceRef("archive", location)
    return SourceRef("git", location, ref)


def _http(text: str, parts: urllib.parse.SplitResult, hosts: SourceHosts) -> SourceRef:
    host = (parts.hostname or "").lower()
    if not host:
        raise UsageError(f"{text} names no host. Give a full URL, like https://host/owner/repo.git.")
    path = urllib.parse.unquote(parts.path)
    if host in _DOI_HOSTS:
        return _doi(path.lstrip("/"), text)
    if is_archive_name(path):
        return SourceRef("archive", text)
    query = urllib.parse.parse_qs(parts.query)
    if parts.path in _DATAVERSE_PATHS and query.get("persistentId"):
        version = query.get("version", [None])[0]
        return SourceRef("dataverse", text, record=query["persistentId"][0], version=version)
    zenodo = _ZENODO_PATH.fullmatch(parts.path)
    if zenodo:
        return SourceRef("zenodo", text, record=zenodo.group("id"))
    figshare = _FIGSHARE_PATH.fullmatch(parts.path)
    if figshare and hosts.is_figshare(parts.netloc):
        return SourceRef("figshare", text, record=figshare.group("id"), version=figshare.group("version"))
    location, ref = _split_ref(text, len(parts.scheme) + 3 + len(parts.netloc))
    kind: SourceKind = "git" if _path_of(location).rstrip("/").lower().endswith(".git") else "web"
    return SourceRef(kind, location, ref)


def parse_reference(text: str, *, hosts: SourceHosts | None = None) -> SourceRef | None:
    """The reference `text` names, or None when it is a path. Raises UsageError for a reference
    that cannot work as written (a password in it, a malformed DOI or ref)."""
    if text[:4].lower() == "doi:":
        return _doi(text[4:], text)
    for prefix in ("git+https://", "git+http://", "git+ssh://", "git+file://"):
        if text.lower().startswith(prefix):
            return _as_git(parse_reference(text[4:], hosts=hosts), text)
    scp = _SCP_RE.fullmatch(text)
    if scp:
        location, ref = _split_ref(text, scp.start("path"))
        return SourceRef("git", location, ref)
    if "://" not in text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise UsageError(f"{text} is not a valid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    _refuse_password(text, parts)
    if scheme == "file":
        return _file_url(text, parts)
    if scheme in ("ssh", "git"):
        location, ref = _split_ref(text, len(scheme) + 3 + len(parts.netloc))
        return SourceRef("git", location, ref)
    if scheme in ("http", "https"):
        return _http(text, parts, hosts or SourceHosts.from_env())
    raise UsageError(
        f"{text}: nbship cannot fetch {scheme}:// links. Give an https:// or ssh:// git URL (git@host:owner/repo "
        "too), a file:// URL, a DOI (doi:10...), a Zenodo, Figshare or Dataverse link, or an archive URL."
    )


def source(text: str, *, hosts: SourceHosts | None = None) -> SourceRef:
    """`text` as a reference, for callers of the API; UsageError when it is not a link."""
    found = parse_reference(text, hosts=hosts)
    if found is None:
        raise UsageError(
            f"{text} is not a link nbship can fetch: give a git URL (https://, ssh://, git@host:, file://), a DOI "
            "(doi:10...), a Zenodo, Figshare or Dataverse link, or an archive URL. For a folder, pass a Path."
        )
    return found


def _as_git(parsed: SourceRef | None, text: str) -> SourceRef:
    if parsed is None or parsed.kind not in ("git", "web"):
        raise UsageError(f"{text}: the git+ prefix needs a git URL after it, like git+https://host/owner/repo.")
    return SourceRef("git", parsed.location, parsed.ref)
