"""A source reference fetched into nbship's cache: resolved (a branch to its commit, a DOI to its
record, a record to its latest files), fetched once per revision, and reused after that. What it
resolved to is recorded, so a moved branch or a new record version is noticed and said, and so
commands that only need the project's identity (down, logs) work without the network."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import NetworkError, NotFoundError, ProjectError
from nbship.project.origin import Origin
from nbship.reporter import Reporter
from nbship.sources import archive, cache, git, locate, records
from nbship.sources.cache import Resolution, Tree
from nbship.sources.download import Session, download, shown
from nbship.sources.refs import SourceHosts, SourceRef, git_location_key, is_archive_name, public_url


@dataclass(frozen=True)
class Fetched:
    tree: Tree
    origin: Origin


@dataclass(frozen=True)
class _Outcome:
    tree: Tree
    made: bool
    detail: str  # what the revision is: "branch main", "Zenodo record 123"
    etag: str | None = None
    last_modified: str | None = None


def origin_of(ref: SourceRef, revision: str) -> Origin:
    return Origin(
        reference=ref.display,
        identity=ref.identity,
        name=ref.name,
        tag=ref.tag,
        source_url=ref.source_url,
        revision=revision,
    )


def _short(revision: str) -> str:
    """A commit or a content digest cut to 12 digits, as git shows commits; anything else as it is."""
    prefix, _, digest = revision.rpartition(":")
    if len(digest) >= 40 and all(ch in "0123456789abcdef" for ch in digest):
        return f"{prefix}:{digest[:12]}" if prefix else digest[:12]
    return revision


def fetch(ref: SourceRef, *, reporter: Reporter, refresh: bool = True) -> Fetched:
    """`ref` in the cache. Without `refresh`, what it resolved to last time, with no network at all."""
    previous = cache.last_resolution(ref.identity)
    usable = previous is not None and Tree(previous.tree).exists()
    if not refresh:
        if previous is None or not usable:
            raise NotFoundError(
                f"nbship has not fetched {ref} on this machine (or its cache was removed), so it knows no server "
                "or image of it. `nbship status` lists the servers that run; `nbship clean --all` removes what "
                "every project left."
            )
        return Fetched(Tree(previous.tree), origin_of(ref, previous.revision))
    try:
        outcome = _fetch(ref, SourceHosts.from_env(), previous if usable else None, reporter)
    except NetworkError as exc:  # the host did not answer: what was fetched before stands in
        if not (previous is not None and usable):
            raise
        reporter.warn(
            f"{exc.message} Using what {ref} was when nbship fetched it at {previous.at}: "
            f"{previous.detail} ({_short(previous.revision)})."
        )
        return Fetched(Tree(previous.tree), origin_of(ref, previous.revision))
    revision = outcome.tree.revision
    what = outcome.detail if revision in outcome.detail else f"{outcome.detail} ({_short(revision)})"
    if previous is not None and previous.revision != revision:
        reporter.info(
            f"{ref} moved since nbship fetched it at {previous.at}: it was {_short(previous.revision)}, it is now "
            f"{what}. Using the new one."
        )
    elif outcome.made:
        reporter.info(f"Fetched {ref}: {what}, into {outcome.tree.root}.")
    else:
        reporter.info(f"{ref} is {what}, already fetched.")
    cache.record_resolution(
        ref.identity,
        Resolution(
            reference=ref.display,
            revision=revision,
            tree=outcome.tree.key,
            at=cache.now(),
            detail=outcome.detail,
            etag=outcome.etag,
            last_modified=outcome.last_modified,
        ),
    )
    return Fetched(outcome.tree, origin_of(ref, revision))


def _fetch(ref: SourceRef, hosts: SourceHosts, previous: Resolution | None, reporter: Reporter) -> _Outcome:
    target = ref
    if ref.kind in ("doi", "web"):
        with Session() as session:
            if ref.kind == "doi":
                target = locate.resolve_doi(session, ref.location, hosts)
                reporter.info(f"{ref} resolves to {target}.")
            else:
                target = locate.classify_web(session, ref.location, ref.ref, what=str(ref), hosts=hosts)
    if target.kind == "git":
        return _git(target, reporter)
    if target.kind == "archive":
        return _archive(target, previous, reporter)
    return _deposit(target, hosts, reporter)


def _git_host(location: str) -> str:
    key = git_location_key(location)
    return "this machine" if key.startswith("file:") else key.split("/", 1)[0]


def _git(ref: SourceRef, reporter: Reporter) -> _Outcome:
    shown_ref, host = public_url(ref.location), _git_host(ref.location)
    remote = git.ls_remote(ref.location, shown_ref, host)
    resolved = git.resolve_ref(remote, ref.ref, shown_ref)
    key = cache.digest("git", git_location_key(ref.location), resolved.commit or resolved.fetch)[:32]

    def fill(folder: Path) -> str:
        commit = git.checkout(ref.location, resolved, folder, shown=shown_ref, host=host)
        _report_left_out(reporter, ref, archive.drop_escaping_links(folder))
        return commit

    tree, made = cache.make_tree(key, fill)
    return _Outcome(tree, made, resolved.what)


def _archive(ref: SourceRef, previous: Resolution | None, reporter: Reporter) -> _Outcome:
    name = urllib.parse.unquote(urllib.parse.urlsplit(ref.location).path).rsplit("/", 1)[-1] or "the archive"
    if ref.location.lower().startswith("file:"):
        return _local_archive(ref, Path(urllib.parse.unquote(urllib.parse.urlsplit(ref.location).path)), name, reporter)
    validators = (previous.etag, previous.last_modified) if previous is not None else (None, None)
    with Session() as session:
        got = download(
            session, ref.location, cache.downloads(), what=f"the archive {shown(ref.location)}", validators=validators
        )
    if got is None:
        assert previous is not None
        return _Outcome(Tree(previous.tree), False, previous.detail, previous.etag, previous.last_modified)
    try:
        tree, made = cache.make_tree(
            cache.digest("archive", got.sha256)[:32], _unpacker(got.path, name, got.sha256, reporter, ref)
        )
    finally:
        got.path.unlink(missing_ok=True)
    return _Outcome(tree, made, f"the archive {name}", got.etag, got.last_modified)


def _local_archive(ref: SourceRef, path: Path, name: str, reporter: Reporter) -> _Outcome:
    if not path.is_file():
        raise NotFoundError(f"There is no file at {path}; check the path in {ref}.")
    sha = cache.file_sha256(path)
    tree, made = cache.make_tree(cache.digest("archive", sha)[:32], _unpacker(path, name, sha, reporter, ref))
    return _Outcome(tree, made, f"the archive {name}")


def _unpacker(path: Path, name: str, sha256: str, reporter: Reporter, ref: SourceRef) -> Callable[[Path], str]:
    def fill(folder: Path) -> str:
        result = archive.unpack(path, folder, name=name)
        _report_left_out(reporter, ref, result.left_out)
        return f"sha256:{sha256}"

    return fill


def _deposit(ref: SourceRef, hosts: SourceHosts, reporter: Reporter) -> _Outcome:
    with Session(records.credentials(ref, hosts)) as session:
        if ref.kind == "zenodo":
            deposit = records.zenodo(session, ref)
        elif ref.kind == "figshare":
            deposit = records.figshare(session, ref, hosts)
        else:
            deposit = records.dataverse(session, ref)
        _report_left_out(reporter, ref, list(deposit.left_out))

        def fill(folder: Path) -> str:
            folder.mkdir(parents=True)
            landed = []
            for item in deposit.files:
                got = download(
                    session,
                    item.url,
                    cache.downloads(),
                    what=f"{item.path} of {ref}",
                    size=item.size,
                    checksum=item.checksum,
                )
                assert got is not None  # no validators were sent, so there is no "not modified"
                landed.append((item.path, got.path))
            if len(landed) == 1 and is_archive_name(landed[0][0]) and archive.archive_kind(landed[0][1]):
                # A deposit of one archive (how GitHub releases reach Zenodo): its content is the project.
                folder.rmdir()
                result = archive.unpack(landed[0][1], folder, name=landed[0][0])
                _report_left_out(reporter, ref, result.left_out)
                landed[0][1].unlink()
                return deposit.revision
            for rel, path in landed:
                target = folder.joinpath(*rel.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    raise ProjectError(f"{ref} lists {rel} below a file of the same name; nbship cannot place both.")
                os.replace(path, target)
                os.chmod(target, 0o644)
            return deposit.revision

        tree, made = cache.make_tree(cache.digest("deposit", deposit.key())[:32], fill)
    return _Outcome(tree, made, f"{deposit.service} {deposit.revision}")


def _report_left_out(reporter: Reporter, ref: SourceRef, left_out: list[str]) -> None:
    if left_out:
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        reporter.warn(f"Left out of {ref}: {'; '.join(left_out[:5])}{more}.")
