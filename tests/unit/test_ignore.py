"""nbship's .dockerignore matcher: Docker's reading of the file, its glob rules, its last-match-wins
decision, and a matching cost that no pattern can blow up. tests/integration/test_context.py
checks the same matcher against what a real BuildKit build receives."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship import ignore

from .helpers import write_files


def matcher(*lines: str) -> ignore.Matcher:
    return ignore.Matcher(ignore.compile_lines(ignore.parse("\n".join(lines))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("# comment\n\n  spaced  \n", [(3, "spaced")], id="comments, blanks, white space"),
        pytest.param("  # not a comment\n", [(1, "# not a comment")], id="a '#' after spaces is a pattern"),
        pytest.param("/data/\n./a//b/../c\n", [(1, "data"), (2, "a/c")], id="cleaned like paths"),
        pytest.param("! keep.txt\n!/x\n", [(1, "!keep.txt"), (2, "!x")], id="exclusions"),
        pytest.param("\ufeffdata\n", [(1, "data")], id="byte-order mark"),
        pytest.param("/\n", [(1, "/")], id="a lone slash stays"),
    ],
)
def test_the_file_is_read_as_docker_reads_it(text: str, expected: list[tuple[int, str]]) -> None:
    assert ignore.parse(text) == expected


@pytest.mark.parametrize(
    ("lines", "path", "excluded"),
    [
        (["data"], "data/raw/x.csv", True),  # a folder's pattern covers everything in it
        (["data"], "database.csv", False),
        (["*.csv"], "a.csv", True),
        (["*.csv"], "sub/a.csv", False),  # '*' stays in one segment
        (["**/*.csv"], "sub/deep/a.csv", True),
        (["**/*.csv"], "a.csv", True),
        (["data/**"], "data/x", True),
        (["data/**"], "data", False),
        (["a/**/b"], "a/b", True),
        (["a/**/b"], "a/x/y/b", True),
        (["?.txt"], "ab.txt", False),
        (["[ab].txt"], "b.txt", True),
        (["[^ab].txt"], "b.txt", False),
        (["[a-c]x"], "bx", True),
        (["\\*.txt"], "*.txt", True),
        (["\\*.txt"], "a.txt", False),
        (["a+b(c)"], "a+b(c)", True),  # regular-expression characters are plain
        (["*", "!src"], "src/mod.py", False),
        (["*", "!src", "src/secret"], "src/secret", True),  # the last matching pattern wins
        (["binder/", "!binder/requirements.txt"], "binder/requirements.txt", False),
        (["binder/", "!binder/requirements.txt"], "binder/postBuild", True),
    ],
)
def test_the_last_matching_pattern_decides(lines: list[str], path: str, excluded: bool) -> None:
    assert matcher(*lines).excluded(path) is excluded


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[abc", "never closed"),
        ("a\\", "ends with a backslash"),
        ("data\\raw", "regular-expression escape"),
        ("[z-a]", "runs backwards"),
        ("[[:alpha:]]", "POSIX classes"),
        ("[]", "cannot stand there"),
        ("!", "re-includes nothing"),
    ],
)
def test_patterns_docker_refuses_are_refused(line: str, reason: str) -> None:
    with pytest.raises(ignore.PatternError, match=re.escape(reason)):
        ignore.compile_lines(ignore.parse(line))


@pytest.mark.parametrize("pattern", ["*a*a*a*a*a*a*a*ab", "**/**/x/**/*a*a*a*b", "*?*?*?*?*?*?*?*?c"])
def test_no_pattern_makes_matching_slow(pattern: str) -> None:
    compiled = ignore.Pattern.make(pattern)
    names = ["a" * length for length in range(1, 200)] + ["x/" * 100 + "a" * 60]
    started = time.monotonic()
    assert not any(compiled.matches(name) for name in names)
    assert time.monotonic() - started < 1.0  # docker-py took 24 s for one 30-letter name


_ALPHABET = "ab/.*?[]^-\\!x"
_names = st.text("abx.*?[]# !", min_size=1, max_size=6).filter(lambda name: name.strip(" .") == name)
_paths = st.lists(_names, min_size=1, max_size=5).map("/".join)


@settings(max_examples=500, deadline=None)
@given(st.text(_ALPHABET, max_size=14), st.lists(_paths, max_size=5))
def test_any_pattern_compiles_or_is_refused_and_both_engines_agree(text: str, paths: list[str]) -> None:
    """A pattern is a PatternError or a pattern; its regular expression (when it has one) and its
    automaton give the same answers."""
    try:
        compiled = ignore.Pattern.make(text)
    except ignore.PatternError:
        return
    automaton = ignore._Automaton(compiled._tokens)
    for path in paths:
        assert compiled.matches(path) == automaton.matches(path)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_characters="/\n\r", blacklist_categories=("Cs",)), min_size=1, max_size=12))
def test_a_literal_pattern_matches_exactly_its_path(name: str) -> None:
    path = f"binder/{name}"
    pattern = ignore.Pattern.make(ignore.literal(path), exclusion=True)
    assert pattern.matches(path)
    assert not pattern.matches(path + "x")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _paths), min_size=1, max_size=6))
def test_written_lines_read_back_as_the_same_patterns(items: list[tuple[bool, str]]) -> None:
    """What nbship writes for BuildKit (Dockerfile.dockerignore) is what it decided on."""
    patterns = tuple(ignore.Pattern.make(ignore.literal(path), exclusion=bang) for bang, path in items)
    again = ignore.compile_lines(ignore.parse("\n".join(ignore.lines(patterns))))
    assert [(p.text, p.exclusion) for p in again] == [(p.text, p.exclusion) for p in patterns]


def test_hash_patterns_are_written_so_they_are_not_comments() -> None:
    pattern = ignore.compile_lines(ignore.parse(" #notes.txt"))[0]
    assert pattern.source == "/#notes.txt"
    assert ignore.parse(pattern.source) == [(1, "#notes.txt")]


def test_the_walk_sends_what_the_patterns_leave_and_the_folders_around_it(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "p",
        {"a.txt": "", "binder/requirements.txt": "", "binder/postBuild": "", "data/x.csv": "", "empty/": ""},
    )
    os.symlink("/etc", root / "etc-link")  # sent as a link, never followed
    walked = matcher("binder/", "!binder/requirements.txt", "data").walk(root)
    assert [entry.path for entry in walked] == ["a.txt", "binder", "binder/requirements.txt", "empty", "etc-link"]
    assert walked[1].is_dir and not walked[0].is_dir


def test_an_excluded_folder_is_not_listed_without_a_later_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_files(tmp_path / "p", {"big/1": "", "big/2": "", "keep": ""})
    seen: list[object] = []
    real = os.scandir

    def spy(path: object) -> object:
        seen.append(path)
        return real(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", spy)
    walked = [e.path for e in matcher("!big/1", "big").walk(root)]  # the exception comes first: no use
    monkeypatch.undo()
    assert walked == ["keep"]
    assert str(root / "big") not in [str(item) for item in seen]


def test_sends_any(tmp_path: Path) -> None:
    root = write_files(tmp_path / "p", {"data/a.csv": "", "data/keep/b.csv": ""})
    assert matcher().sends_any(root, "data")
    assert not matcher("data").sends_any(root, "data")
    assert matcher("data", "!data/keep/b.csv").sends_any(root, "data")
    assert not matcher("data", "!data/keep/c.csv").sends_any(root, "data")
