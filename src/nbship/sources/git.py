"""Git sources through the user's own `git`: their credential helpers, SSH keys and config apply,
and nbship stores no credential. A ref is resolved with `ls-remote` (a branch or tag to its commit),
then only that commit is fetched (depth 1, submodules too) and checked out without its .git."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import FetchError, NbshipError, NetworkError, NotFoundError, UsageError

_HEX = re.compile(r"[0-9a-f]{4,64}")
_FULL = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # a missing credential is an error to explain, not a hidden prompt
    "GIT_HTTP_LOW_SPEED_LIMIT": "1000",  # a stalled transfer ends after a minute instead of hanging
    "GIT_HTTP_LOW_SPEED_TIME": "60",
    "LC_ALL": "C",  # messages in English, which the error mapping reads
    "GIT_ADVICE": "0",
}


@dataclass(frozen=True)
class RemoteRefs:
    head: str | None  # the commit HEAD names (the default branch)
    head_branch: str | None  # "main"
    refs: dict[str, str]  # full ref name -> commit (annotated tags peeled)


@dataclass(frozen=True)
class Resolved:
    commit: str | None  # None: an abbreviated commit, known only after a full fetch
    what: str  # "branch main", "tag v1.2", "commit 1a2b3c4", "the default branch main"
    fetch: str  # what to fetch: a ref name, or the commit (or the abbreviation)


def parse_ls_remote(text: str) -> RemoteRefs:
    """`git ls-remote --symref` output -> the refs. Lines that are not refs are ignored."""
    head_branch: str | None = None
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in text.splitlines():
        first, _, name = line.partition("\t")
        if first.startswith("ref: ") and name == "HEAD":
            head_branch = first[5:].removeprefix("refs/heads/")
        elif _FULL.fullmatch(first) and name:
            if name.endswith("^{}"):
                peeled[name[:-3]] = first
            else:
                refs[name] = first
    refs.update({name: commit for name, commit in peeled.items() if name in refs})
    head = refs.pop("HEAD", None)
    return RemoteRefs(head, head_branch, refs)


def resolve_ref(remote: RemoteRefs, ref: str | None, shown: str) -> Resolved:
    """The commit `ref` names on the remote, the way git's own rules pick it (a tag before a branch)."""
    if ref is None:
        if remote.head is None:
            raise NotFoundError(
                f"{shown} has no commits yet (its default branch is empty), so there is nothing to run."
            )
        branch = remote.head_branch or "HEAD"
        name = f"refs/heads/{branch}" if remote.head_branch else "HEAD"
        return Resolved(remote.head, f"the default branch {branch}", name)
    if _FULL.fullmatch(ref.lower()):
        return Resolved(ref.lower(), f"commit {ref[:12]}", ref.lower())
    for full, what in ((ref, "ref"), (f"refs/tags/{ref}", "tag"), (f"refs/heads/{ref}", "branch")):
        if full in remote.refs and (full.startswith("refs/") or what != "ref"):
            return Resolved(remote.refs[full], f"{what} {ref}", full)
    if _HEX.fullmatch(ref.lower()):
        matches = {commit for commit in remote.refs.values() if commit.startswith(ref.lower())}
        if len(matches) == 1:
            commit = matches.pop()
            return Resolved(commit, f"commit {ref}", commit)
        return Resolved(None, f"commit {ref}", ref.lower())
    raise NotFoundError(f"{ref} is not a branch, tag or commit of {shown}. {_known(remote)}")


def _known(remote: RemoteRefs) -> str:
    def names(prefix: str) -> list[str]:
        return sorted(name[len(prefix) :] for name in remote.refs if name.startswith(prefix))

    branches, tags = names("refs/heads/"), names("refs/tags/")
    parts = []
    for label, found in (("branches", branches), ("tags", tags)):
        if found:
            more = f" and {len(found) - 8} more" if len(found) > 8 else ""
            parts.append(f"{label}: {', '.join(found[:8])}{more}")
        else:
            parts.append(f"no {label}")
    return "It has " + "; ".join(parts) + "."


def _run(args: list[str], *, cwd: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            env={**os.environ, **_ENV},
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise UsageError(
            "git is not installed, and nbship fetches git sources with it (so your own credentials and "
            "settings apply). Install git (on Debian: apt-get install git), then try again."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise NetworkError(f"git {args[0]} did not finish within {timeout:.0f} s.") from exc


_USERINFO = re.compile(r"(\w[\w+.-]*://)[^/@\s]+@")


def git_error(stderr: str, shown: str, host: str, doing: str) -> NbshipError:
    # git repeats the URL it was given; a user (or a token in the user's place) is never shown.
    text = _USERINFO.sub(r"\1", stderr.strip())
    lines = [line for line in text.splitlines() if line.strip()]
    last = (lines[-1] if lines else "no message").removeprefix("fatal: ").removeprefix("error: ")
    if re.search(
        r"Could not resolve host|Could not resolve hostname|Name or service not known|nodename nor servname", text
    ):
        return NetworkError(
            f"The host {host} is unknown: its name does not resolve, so {shown} cannot be fetched. Check the "
            "spelling of the URL, or your network.",
        )
    if re.search(
        r"terminal prompts disabled|Authentication failed|could not read (Username|Password)|Permission denied \("
        r"|returned error: 40[13]|Host key verification failed",
        text,
    ):
        return FetchError(
            f"{shown} needs credentials that git does not have here. nbship uses your own git credentials and "
            "stores none: set up a credential helper (git config --global credential.helper ...) or an SSH key, "
            "check that `git ls-remote` works for the URL, then try again."
        )
    if re.search(
        r"[Rr]epository .*not found|does not appear to be a git repository|returned error: 404|not found"
        r"|No such file or directory|not a git repository",
        text,
    ):
        return NotFoundError(f"There is no git repository at {shown} ({last}). Check the URL.")
    if re.search(
        r"Connection refused|Failed to connect|Connection timed out|Could not connect|Network is unreachable", text
    ):
        return NetworkError(f"Cannot reach {host} ({last}), so {shown} cannot be fetched. Try again later.")
    return FetchError(f"git could not {doing} {shown}: {last}")


def ls_remote(url: str, shown: str, host: str) -> RemoteRefs:
    result = _run(["ls-remote", "--symref", url], timeout=300)
    if result.returncode != 0:
        raise git_error(result.stderr, shown, host, "list the branches of")
    return parse_ls_remote(result.stdout)


def checkout(url: str, resolved: Resolved, into: Path, *, shown: str, host: str) -> str:
    """Fetches the resolved commit of `url` and checks it out into the new folder `into`, without
    any .git; returns the full commit."""
    into.mkdir(parents=True)

    def git(*args: str, doing: str, ok: bool = False) -> subprocess.CompletedProcess[str]:
        result = _run(list(args), cwd=into)
        if result.returncode != 0 and not ok:
            raise git_error(result.stderr, shown, host, doing)
        return result

    git("init", "-q", doing="prepare a checkout of")
    git("remote", "add", "origin", url, doing="prepare a checkout of")  # relative submodule URLs need it
    shallow = git("fetch", "-q", "--depth", "1", "--no-tags", "origin", resolved.fetch, doing="fetch", ok=True)
    if shallow.returncode != 0 or resolved.commit is None:
        # An abbreviated commit, or a server that gives only advertised refs: fetch them all.
        git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", doing="fetch")
        found = git(
            "rev-parse", "-q", "--verify", f"{resolved.commit or resolved.fetch}^{{commit}}", doing="find", ok=True
        )
        if found.returncode != 0:
            raise NotFoundError(f"{resolved.what} is not a commit of {shown}. Check the ref after '@'.")
        target = found.stdout.strip()
    else:
        target = git("rev-parse", "FETCH_HEAD^{commit}", doing="fetch").stdout.strip()
    git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", target, doing="check out")
    if (into / ".gitmodules").is_file():
        modules = git("submodule", "update", "-q", "--init", "--recursive", "--depth", "1", doing="fetch", ok=True)
        if modules.returncode != 0:
            git("submodule", "update", "-q", "--init", "--recursive", doing="fetch the submodules of")
    _drop_git_data(into)
    return target


def _drop_git_data(root: Path) -> None:
    """The checkout is content, not a clone a user might commit to: every .git goes."""
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            if name == ".git":
                path = Path(folder, name)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        dirs[:] = [name for name in dirs if name != ".git"]
