"""Git sources with the real git: `ls-remote` output read into refs, refs resolved by git's rules,
and checkouts of a commit (with submodules, over HTTP) that carry no .git and no escaping link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from source_servers import commit_and_push, git, git_server, make_repository

from nbship.errors import FetchError, NetworkError, NotFoundError
from nbship.sources.git import RemoteRefs, Resolved, checkout, git_error, ls_remote, parse_ls_remote, resolve_ref

A, B, C = "a" * 40, "b" * 40, "c" * 40
REMOTE = RemoteRefs(
    head=A,
    head_branch="main",
    refs={"refs/heads/main": A, "refs/heads/v1": B, "refs/tags/v1": C, "refs/heads/dev": B, "refs/pull/1/head": C},
)


def test_ls_remote_output_is_read_with_peeled_tags() -> None:
    text = f"ref: refs/heads/main\tHEAD\n{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/tags/v2\n{C}\trefs/tags/v2^{{}}\n"
    parsed = parse_ls_remote(text + "warning: something\n")
    assert (parsed.head, parsed.head_branch, parsed.refs) == (A, "main", {"refs/heads/main": A, "refs/tags/v2": C})


@pytest.mark.parametrize(
    ("ref", "commit", "what"),
    [
        (None, A, "the default branch main"),
        ("v1", C, "tag v1"),  # a tag before a branch of the same name, as git's rev-parse rules have it
        ("dev", B, "branch dev"),
        ("refs/pull/1/head", C, "ref refs/pull/1/head"),
        ("bbbbbbb", B, "commit bbbbbbb"),
        ("D" * 40, "d" * 40, "commit DDDDDDDDDDDD"),
        ("1234567", None, "commit 1234567"),  # unadvertised abbreviation: found after a full fetch
    ],
)
def test_refs_resolve_by_gits_rules(ref: str | None, commit: str | None, what: str) -> None:
    resolved = resolve_ref(REMOTE, ref, "https://host/r.git")
    assert (resolved.commit, resolved.what) == (commit, what)


def test_an_unknown_ref_lists_what_there_is() -> None:
    with pytest.raises(NotFoundError, match=r"It has branches: dev, main, v1; tags: v1\."):
        resolve_ref(REMOTE, "nope", "https://host/r.git")
    with pytest.raises(NotFoundError, match="no commits yet"):
        resolve_ref(RemoteRefs(None, None, {}), None, "https://host/r.git")


_refname = st.builds(
    lambda kind, parts: f"refs/{kind}/" + "/".join(parts),
    st.sampled_from(["heads", "tags"]),
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8), min_size=1, max_size=3
    ),
)
_sha = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)


@given(st.dictionaries(_refname, _sha, max_size=10), st.one_of(st.none(), _sha))
def test_ls_remote_text_round_trips(refs: dict[str, str], head: str | None) -> None:
    lines = (["ref: refs/heads/main\tHEAD", f"{head}\tHEAD"] if head else []) + [
        f"{sha}\t{name}" for name, sha in refs.items()
    ]
    parsed = parse_ls_remote("\n".join(lines) + "\n")
    assert parsed.refs == refs and parsed.head == head


def test_a_checkout_over_http_with_a_submodule_has_no_git_data(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    make_repository(root, "lib.git", {"lib.py": b"VALUE = 1\n"})
    _, work = make_repository(root, "main.git", {"analysis.ipynb": b"{}"})
    with git_server(root) as server:
        git("-c", "protocol.file.allow=always", "submodule", "add", "-q", "../lib.git", "lib", cwd=work)
        os.symlink("/etc/passwd", work / "escape")
        commit = commit_and_push(work, {"note.txt": b"n\n"}, "with a submodule")
        url = f"{server.url}/main.git"
        resolved = resolve_ref(ls_remote(url, url, "127.0.0.1"), None, url)
        assert resolved == Resolved(commit, "the default branch main", "refs/heads/main")
        got = checkout(url, resolved, tmp_path / "out", shown=url, host="127.0.0.1")
    out = tmp_path / "out"
    assert got == commit
    assert (out / "lib" / "lib.py").read_text() == "VALUE = 1\n" and (out / "note.txt").is_file()
    assert not any(p.name == ".git" for p in out.rglob("*"))
    assert os.path.islink(out / "escape")  # kept by git as it is; the fetch drops it (see fetch.py)


def test_a_commit_that_no_ref_names_is_fetched_by_its_abbreviation(tmp_path: Path) -> None:
    bare, work = make_repository(tmp_path, "r.git", {"a.txt": b"1\n"})
    first = git("rev-parse", "HEAD", cwd=work)
    commit_and_push(work, {"a.txt": b"2\n"}, "second")
    url = f"file://{bare}"
    resolved = resolve_ref(ls_remote(url, url, "this machine"), first[:9], url)
    assert resolved.commit is None
    assert checkout(url, resolved, tmp_path / "out", shown=url, host="this machine") == first
    assert (tmp_path / "out" / "a.txt").read_text() == "1\n"


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        ("fatal: unable to access 'https://h/r.git/': Could not resolve host: h", NetworkError, "is unknown"),
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", FetchError, "needs credentials"),
        ("git@h: Permission denied (publickey).", FetchError, "needs credentials"),
        ("fatal: repository 'https://ghp_T0KEN@h/r.git/' not found", NotFoundError, "no git repository"),
        (
            "fatal: unable to access 'https://h/': Failed to connect to h port 443: Connection refused",
            NetworkError,
            "Cannot reach",
        ),
        ("fatal: something else entirely", FetchError, "git could not fetch"),
    ],
)
def test_git_failures_become_one_paragraph_without_credentials(stderr: str, kind: type, words: str) -> None:
    error = git_error(stderr, "https://h/r.git", "h", "fetch")
    assert isinstance(error, kind) and words in error.message
    assert "T0KEN" not in error.message and "\n" not in error.message
