"""`.dockerignore` with Docker's semantics, matched at a bounded cost.

Docker reads the file line by line (a `#` line is a comment, surrounding white space goes, a
leading `/` is dropped, each pattern is cleaned like a path) and decides each path of the context
by the last pattern that matches it or one of its parent folders; a `!` pattern re-includes.
Patterns are globs: `*` and `?` stay within one path segment, `**` spans segments, `[...]` is a
character class and `\\` escapes the next character. Characters that would be regular-expression
syntax in Docker's older matchers (`+ ( ) | { } ^`) are taken literally, as Docker does today.

Docker matches through Go's regular expressions, which never backtrack; Python's do, and a
pattern like `*a*a*a*a*a*a*ab` used to take seconds per file name (docker-py). Here a pattern
with at most two wildcards that repeat is a Python regular expression (at worst quadratic in the
path's length), and any other is run as an automaton (linear in the path's length times the
pattern's), so no pattern can make a build or a fingerprint slow.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nbship.errors import ProjectError

# Token kinds of a compiled pattern.
_LIT, _ANY, _CLASS, _STAR, _DSTAR_SLASH, _DSTAR_END = range(6)
_REPEATING = {_STAR, _DSTAR_SLASH, _DSTAR_END}


class PatternError(ValueError):
    """A pattern Docker refuses (or reads in a way nbship does not reproduce): the reason."""


@dataclass(frozen=True)
class _Token:
    kind: int
    char: str = ""  # _LIT
    negated: bool = False  # _CLASS
    ranges: tuple[tuple[str, str], ...] = ()  # _CLASS: inclusive (low, high) pairs

    def accepts(self, ch: str) -> bool:
        if self.kind == _LIT:
            return ch == self.char
        if self.kind == _ANY:
            return ch != "/"
        inside = any(low <= ch <= high for low, high in self.ranges)
        return inside != self.negated


def clean(path: str) -> str:
    """Go's filepath.Clean for '/' paths: one slash between names, no '.', '..' folded lexically."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in {"", "."}:
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    text = "/".join(parts)
    if rooted:
        return "/" + text
    return text or "."


def _escaped(pattern: str, index: int) -> str:
    """The character a backslash escapes; letters and digits would be regular-expression escapes
    (`\\d`, `\\n`) in Docker, which nbship does not reproduce."""
    if index >= len(pattern):
        raise PatternError("it ends with a backslash, which escapes nothing")
    ch = pattern[index]
    if ch.isalnum():
        raise PatternError(
            f"'\\{ch}' is a regular-expression escape for Docker, not the character {ch!r}; "
            "write the character itself, and '/' between folders"
        )
    return ch


def _class(pattern: str, start: int) -> tuple[_Token, int]:
    """A `[...]` class starting after the '[' at `start`, as Go's filepath.Match reads it."""
    index = start
    negated = index < len(pattern) and pattern[index] == "^"
    index += negated
    ranges: list[tuple[str, str]] = []

    def one() -> str:
        nonlocal index
        if index >= len(pattern):
            raise PatternError("a '[' is never closed with ']'")
        ch = pattern[index]
        if ch in "-]":
            raise PatternError(f"'{ch}' cannot stand there in a [...] class; escape it as '\\{ch}'")
        if ch == "[" and pattern[index + 1 : index + 2] == ":":
            raise PatternError("POSIX classes such as [[:alpha:]] are not supported; list the characters")
        if ch == "\\":
            ch = _escaped(pattern, index + 1)
            index += 1
        index += 1
        return ch

    while True:
        if index < len(pattern) and pattern[index] == "]" and ranges:
            return _Token(_CLASS, negated=negated, ranges=tuple(ranges)), index + 1
        low = one()
        high = low
        if index < len(pattern) and pattern[index] == "-":
            index += 1
            high = one()
            if high < low:
                raise PatternError(f"the range {low}-{high} in [...] runs backwards")
        ranges.append((low, high))


def _tokens(pattern: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        index += 1
        if ch == "*":
            if index < len(pattern) and pattern[index] == "*":
                index += 1
                if index < len(pattern) and pattern[index] == "/":
                    index += 1  # `**/` is `**`
                kind = _DSTAR_END if index >= len(pattern) else _DSTAR_SLASH
                if not (tokens and tokens[-1].kind == kind == _DSTAR_SLASH):  # `**/**/` is `**/`
                    tokens.append(_Token(kind))
            else:
                tokens.append(_Token(_STAR))
        elif ch == "?":
            tokens.append(_Token(_ANY))
        elif ch == "[":
            token, index = _class(pattern, index)
            tokens.append(token)
        elif ch == "\\":
            tokens.append(_Token(_LIT, _escaped(pattern, index)))
            index += 1
        else:
            tokens.append(_Token(_LIT, ch))
    return tuple(tokens)


def _regex(tokens: tuple[_Token, ...]) -> re.Pattern[str]:
    parts: list[str] = []
    for token in tokens:
        if token.kind == _LIT:
            parts.append(re.escape(token.char))
        elif token.kind == _ANY:
            parts.append("[^/]")
        elif token.kind == _STAR:
            parts.append("[^/]*")
        elif token.kind == _DSTAR_SLASH:
            parts.append("(?:.*/)?")  # `.` stops at a line break in Go's syntax too
        elif token.kind == _DSTAR_END:
            parts.append(".*")
        else:
            body = "".join(
                re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}" for low, high in token.ranges
            )
            parts.append(f"[{'^' if token.negated else ''}{body}]")
    return re.compile("".join(parts))


class _Automaton:
    """The pattern as a nondeterministic automaton, run one state set at a time and remembered as
    a deterministic one: each step of a path costs a dictionary lookup once seen."""

    _CACHE_LIMIT = 20_000

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self.tokens = tokens
        self.accept = len(tokens)
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        self.start = self._closure({0})

    def _loop(self, index: int) -> int:
        return -(index + 1)  # the `.*` inside `(.*/)?` of token `index`

    def _closure(self, states: Iterable[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(todo)
        while todo:
            state = todo.pop()
            if 0 <= state < self.accept and self.tokens[state].kind in _REPEATING:
                following = [state + 1]
                if self.tokens[state].kind == _DSTAR_SLASH:
                    following.append(self._loop(state))
                for nxt in following:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return frozenset(seen)

    def step(self, states: frozenset[int], ch: str) -> frozenset[int]:
        key = (states, ch)
        found = self._steps.get(key)
        if found is not None:
            return found
        reached: set[int] = set()
        for state in states:
            if state < 0:
                index = -state - 1
                if ch != "\n":
                    reached.add(state)
                if ch == "/":
                    reached.add(index + 1)
                continue
            if state == self.accept:
                continue
            token = self.tokens[state]
            if token.kind in {_LIT, _ANY, _CLASS}:
                if token.accepts(ch):
                    reached.add(state + 1)
            elif (token.kind == _STAR and ch != "/") or (token.kind == _DSTAR_END and ch != "\n"):
                reached.add(state)
        result = self._closure(reached)
        if len(self._steps) > self._CACHE_LIMIT:
            self._steps.clear()
        self._steps[key] = result
        return result

    def run(self, text: str) -> frozenset[int]:
        states = self.start
        for ch in text:
            states = self.step(states, ch)
            if not states:
                break
        return states

    def matches(self, text: str) -> bool:
        return self.accept in self.run(text)


@dataclass(frozen=True)
class Pattern:
    """One pattern, cleaned as Docker keeps it, and where it came from."""

    text: str  # "data", "**/*.pyc"
    exclusion: bool  # a `!` line: re-includes what earlier lines left out
    line: int | None = None  # its line in the .dockerignore it came from; None: written by nbship
    _tokens: tuple[_Token, ...] = field(default=(), compare=False, repr=False)
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _automaton: _Automaton | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, text: str, *, exclusion: bool = False, line: int | None = None) -> Pattern:
        """Raises PatternError for a pattern Docker would refuse."""
        tokens = _tokens(text)
        repeating = [token.kind for token in tokens if token.kind in _REPEATING]
        simple = len(repeating) <= 2 and repeating.count(_DSTAR_SLASH) + repeating.count(_DSTAR_END) <= 1
        return cls(text, exclusion, line, tokens, _regex(tokens) if simple else None, _Automaton(tokens))

    @property
    def source(self) -> str:
        """The pattern as a .dockerignore line that Docker reads back as this same pattern."""
        if self.exclusion:
            return "!" + self.text
        return "/" + self.text if self.text.startswith("#") else self.text

    def matches(self, path: str) -> bool:
        """Whether the whole of `path` (no parent of it) matches."""
        if self._regex is not None:
            return self._regex.fullmatch(path) is not None
        assert self._automaton is not None
        return self._automaton.matches(path)

    def may_match_below(self, folder: str) -> bool:
        """Whether some path inside `folder` could match (the walk then looks inside an excluded one)."""
        assert self._automaton is not None
        return bool(self._automaton.run(folder + "/"))


def literal(path: str) -> str:
    """A pattern matching exactly `path`: glob characters escaped, and a first '!' or '#', which
    would make the line an exception or a comment."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", path)
    return "\\" + escaped if escaped.startswith(("!", "#")) else escaped


def parse(text: str) -> list[tuple[int, str]]:
    """The pattern lines of a .dockerignore as Docker reads them: (line number, "!"-prefixed or plain)."""
    found: list[tuple[int, str]] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if raw.startswith("#"):
            continue  # only a '#' in the first column starts a comment
        line = raw.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        pattern = line[1:].strip() if exclusion else line
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        found.append((number, "!" + pattern if exclusion else pattern))
    return found


def compile_lines(lines: Iterable[tuple[int | None, str]]) -> tuple[Pattern, ...]:
    """Patterns from (line, text) pairs as parse() gives them; raises PatternError with the line."""
    patterns: list[Pattern] = []
    for number, text in lines:
        exclusion = text.startswith("!")
        body = text[1:] if exclusion else text
        if exclusion and not body:
            raise PatternError("'!' alone re-includes nothing (Docker refuses it)")
        patterns.append(Pattern.make(body, exclusion=exclusion, line=number))
    return tuple(patterns)


@dataclass(frozen=True)
class Entry:
    """A path of the build context: relative, with '/' separators, and its lstat."""

    path: str
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.stat.st_mode)


class Matcher:
    """Decides paths by Docker's rule: the last pattern matching the path or a parent wins."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.patterns = tuple(patterns)
        self._exclusions = tuple((index, pattern) for index, pattern in enumerate(self.patterns) if pattern.exclusion)

    def _matched(self, path: str, inherited: frozenset[int]) -> frozenset[int]:
        """Indexes of the patterns matching `path` or a parent (`inherited`: the parent's)."""
        found = set(inherited)
        for index, pattern in enumerate(self.patterns):
            if index not in found and pattern.matches(path):
                found.add(index)
        return frozenset(found)

    def _decides(self, matched: frozenset[int]) -> Pattern | None:
        return self.patterns[max(matched)] if matched else None

    def _matched_path(self, path: str) -> frozenset[int]:
        matched: frozenset[int] = frozenset()
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            matched = self._matched("/".join(parts[:depth]), matched)
        return matched

    def deciding(self, path: str) -> Pattern | None:
        """The pattern that decides `path` ('a/b/c'), or None when none matches (it is sent)."""
        return self._decides(self._matched_path(path))

    def excluded(self, path: str) -> bool:
        pattern = self.deciding(path)
        return pattern is not None and not pattern.exclusion

    def sends_any(self, root: Path, folder: str) -> bool:
        """Whether a build sends `folder` (relative to `root`) or anything inside it."""
        matched = self._matched_path(folder)
        deciding = self._decides(matched)
        if deciding is None or deciding.exclusion:
            return True
        if not self._look_inside(folder, max(matched)):
            return False
        return any(entry.path.startswith(folder + "/") for entry in self.walk(root))

    def _look_inside(self, folder: str, deciding: int) -> bool:
        """Whether an excluded folder may hold a path that a later `!` pattern re-includes."""
        return any(index > deciding and pattern.may_match_below(folder) for index, pattern in self._exclusions)

    def walk(self, root: Path) -> list[Entry]:
        """What a build with these patterns sends from `root`, sorted; a folder is listed when it
        is sent itself or holds something that is. Links are not followed."""
        found: list[Entry] = []
        stack: list[tuple[Path, str, frozenset[int]]] = [(root, "", frozenset())]
        while stack:
            folder, rel, inherited = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    children = sorted(listing, key=lambda entry: entry.name)
            except OSError as exc:
                raise ProjectError(
                    f"nbship cannot read the folder {rel or root}/ ({exc.strerror}), which the build would send. "
                    "Make it readable for your user, or list it in .dockerignore."
                ) from exc
            for child in children:
                path = f"{rel}/{child.name}" if rel else child.name
                matched = self._matched(path, inherited)
                deciding = self._decides(matched)
                out = deciding is not None and not deciding.exclusion
                is_dir = child.is_dir(follow_symlinks=False)
                if is_dir and (not out or self._look_inside(path, max(matched))):
                    stack.append((Path(child.path), path, matched))
                if out:
                    continue
                if child.is_file(follow_symlinks=False) and not os.access(child.path, os.R_OK):
                    raise ProjectError(
                        f"nbship cannot read {path} (permission denied), which the build would send. "
                        "Make it readable for your user, or list it in .dockerignore."
                    )
                found.append(Entry(path, child.stat(follow_symlinks=False)))
        return _with_parents(root, found)


def _with_parents(root: Path, entries: list[Entry]) -> list[Entry]:
    """Adds the folders that are not sent themselves but hold something that is (Docker creates them)."""
    known = {entry.path for entry in entries}
    extra: list[Entry] = []
    for entry in entries:
        parent = entry.path.rpartition("/")[0]
        while parent and parent not in known:
            known.add(parent)
            extra.append(Entry(parent, (root / parent).lstat()))
            parent = parent.rpartition("/")[0]
    return sorted([*entries, *extra], key=lambda entry: entry.path)


def lines(patterns: Iterable[Pattern]) -> tuple[str, ...]:
    """The .dockerignore lines for `patterns`, which Docker reads back as the same list."""
    return tuple(pattern.source for pattern in patterns)
