"""Pipfile and Pipfile.lock, read strictly into pip's terms.

Each entry becomes one of three things: a hashed registry pin (the lock's, installed with
--require-hashes), a pip requirement line without a hash (a Pipfile's specs, a VCS or URL entry),
or a local path inside the project (installed from the project's sources). Paths are relative to
the file's own folder, as pipenv reads them (binder/Pipfile names the root as `..`), and must stay
inside the project.

The Pipfile is parsed with tomllib (its errors carry the line); its pipenv hash, which a
Pipfile.lock records to say which Pipfile it was locked from, comes from plette, the Pipfile
library pipenv itself uses, so "out of date" means here what it means to pipenv.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from nbship.errors import InputFileError
from nbship.project.python import KNOWN_PYTHONS
from nbship.project.text import decode, nesting_guard, read_bytes
from nbship.values import control_character, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Section = Literal["default", "develop"]
# The Pipfile's names of the two sections a Pipfile.lock calls default and develop.
PIPFILE_SECTIONS: tuple[tuple[str, Section], ...] = (("packages", "default"), ("dev-packages", "develop"))
_VCS = ("git", "hg", "svn", "bzr")
# PEP 508 marker names a Pipfile entry may give as keys of their own (`sys_platform = "== 'linux'"`).
_MARKER_KEYS = (
    "os_name",
    "sys_platform",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
)
# Keys pipenv knows that change nothing about what gets installed from the entry.
_INERT_KEYS = ("index", "name", "os_markers", "skip_resolver", "pip_args", "no_binary", "hashes", "version")
_ENTRY_KEYS = frozenset(
    {"extras", "editable", "markers", "path", "file", "ref", "subdirectory", *_VCS, *_MARKER_KEYS, *_INERT_KEYS}
)
_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+)*$")
_HASH_RE = re.compile(r"^(sha256|sha384|sha512):[0-9a-f]+$")


@dataclass(frozen=True)
class LocalPath:
    """A path entry: relative to the project root (`.` is the project itself)."""

    path: str
    editable: bool
    name: str

    def args(self) -> tuple[str, ...]:
        target = "." if self.path == "." else f"./{self.path}"
        return ("-e", target) if self.editable else (target,)


@dataclass(frozen=True)
class PipfileData:
    """What nbship installs from a Pipfile or a Pipfile.lock."""

    names: frozenset[str]  # canonical names of every entry, both sections
    hashed: int  # lock entries pinned with hashes (the build converts the lock itself)
    lines: tuple[str, ...]  # pip requirement lines without hashes, options first
    local: tuple[LocalPath, ...]
    python: str | None  # "3.10"; "3" for any Python 3
    python_key: str | None  # where it came from: "[requires] python_version"


class _Reader:
    def __init__(self, path: Path, display: str, root: Path) -> None:
        self.path = path
        self.display = display
        self.root = root.resolve()
        self.text = ""

    def fail(self, problem: str, fix: str, *, key: str | None = None) -> InputFileError:
        return InputFileError(self.display, self.line_of(key) if key else None, problem, fix)

    def line_of(self, key: str) -> int | None:
        """The line that names `key` (`key =` in TOML, `"key":` in JSON), for messages."""
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*[=:]', re.MULTILINE | re.IGNORECASE)
        match = pattern.search(self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def read_text(self) -> str:
        self.text = decode(read_bytes(self.path, self.display), self.display)
        return self.text

    def mapping(self, value: Any, what: str, key: str | None = None) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a table of names and values", "See the Pipfile format.", key=key)
        return value

    def string(self, value: Any, what: str, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(f"{what} must be a string, not {type(value).__name__}", "Quote the value.", key=key)
        # Every value ends up in a pip requirements file, and so in the Dockerfile's RUN line that
        # writes it: a line break there would start a new requirement, or a new instruction.
        if control_character(value):
            raise self.fail(
                f"there is a line break or another control character in {what} ('{shown(value)}')",
                "Write it on one line.",
                key=key,
            )
        return value

    def local_path(self, name: str, raw: str, *, editable: bool) -> LocalPath:
        target = (self.path.parent / raw).resolve()
        try:
            rel = target.relative_to(self.root).as_posix()
        except ValueError:
            raise self.fail(
                f"'{name}' names the path '{raw}', which is outside the project folder",
                "Keep packages installed from a path inside the project.",
                key=name,
            ) from None
        if not target.exists():
            raise self.fail(
                f"'{name}' names the path '{raw}', which does not exist",
                "Fix the path (it is relative to the file's folder) or remove the entry.",
                key=name,
            )
        return LocalPath(rel or ".", editable, canonicalize_name(name))

    def url(self, name: str, raw: str) -> str:
        parts = urlsplit(raw)
        if "${" in raw or parts.username or parts.password:
            raise self.fail(
                f"the URL of '{name}' carries credentials or environment variables, which would end up in the image",
                "Use a public URL: nbship does not pass index credentials to builds yet.",
                key=name,
            )
        return raw

    def requirement(self, name: str, line: str) -> str:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise self.fail(
                f"'{name}' does not make a valid requirement ('{line}': {str(exc).splitlines()[0]})",
                "Write versions like '==1.2' or '>=2', '*' for any version.",
                key=name,
            ) from exc
        return line

    def markers(self, name: str, entry: Mapping[str, Any]) -> str:
        parts: list[str] = []
        if "markers" in entry:
            parts.append(self.string(entry["markers"], f"the markers of '{name}'", name))
        for key in _MARKER_KEYS:
            if key in entry:
                parts.append(f"{key} {self.string(entry[key], f'{key} of {name!r}', name)}")
        if not parts:
            return ""
        joined = " and ".join(f"({part})" if len(parts) > 1 else part for part in parts)
        try:
            Marker(joined)
        except InvalidMarker as exc:
            raise self.fail(
                f"the markers of '{name}' are not valid ({joined})",
                "Write them as in PEP 508, e.g. markers = \"sys_platform == 'linux'\".",
                key=name,
            ) from exc
        return f" ; {joined}"

    def extras(self, name: str, entry: Mapping[str, Any]) -> str:
        extras = entry.get("extras", [])
        if not isinstance(extras, list) or not all(isinstance(x, str) and x for x in extras):
            raise self.fail(f"the extras of '{name}' must be a list of names", 'Write extras = ["name"].', key=name)
        return f"[{','.join(extras)}]" if extras else ""

    def vcs(self, name: str, entry: Mapping[str, Any], scheme: str) -> str:
        url = self.url(name, self.string(entry[scheme], f"the {scheme} URL of '{name}'", name))
        ref = entry.get("ref")
        if ref is not None:
            url += "@" + self.string(ref, f"the ref of '{name}'", name)
        sub = entry.get("subdirectory")
        fragment = f"subdirectory={self.string(sub, f'the subdirectory of {name!r}', name)}" if sub else ""
        if entry.get("editable"):
            return f"-e {scheme}+{url}#egg={name}" + (f"&{fragment}" if fragment else "")
        return self.requirement(
            name, f"{name}{self.extras(name, entry)} @ {scheme}+{url}" + (f"#{fragment}" if fragment else "")
        ) + self.markers(name, entry)

    def entry(self, name: str, value: Any, *, locked: bool) -> str | LocalPath | None:
        """One entry as pip reads it; None: a hashed pin of a lock (converted in the build)."""
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
            raise self.fail(f"'{name}' is not a package name", "Use the name the package has on PyPI.", key=name)
        if isinstance(value, str) and not locked:
            value = {"version": value}  # `six = "==1.16"` is short for `six = {version = "==1.16"}`
        entry = self.mapping(value, f"the entry of '{name}'", name)
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            raise self.fail(
                f"'{name}' has keys pipenv does not know: {', '.join(unknown)}",
                "Check their spelling (ref, not commit; path, file, git, version, extras, markers, editable).",
                key=name,
            )
        editable = entry.get("editable", False)
        if not isinstance(editable, bool):
            raise self.fail(f"editable of '{name}' must be true or false", "Write editable = true.", key=name)
        if "path" in entry:
            return self.local_path(name, self.string(entry["path"], f"the path of '{name}'", name), editable=editable)
        for scheme in _VCS:
            if scheme in entry:
                return self.vcs(name, entry, scheme)
        if "file" in entry:
            raw = self.string(entry["file"], f"the file of '{name}'", name)
            if "://" not in raw or raw.startswith("file:"):
                return self.local_path(name, raw.removeprefix("file://").removeprefix("file:"), editable=editable)
            line = self.requirement(name, f"{name}{self.extras(name, entry)} @ {self.url(name, raw)}")
            return None if locked and self.hashes(name, entry) else line + self.markers(name, entry)
        version = entry.get("version", "*")
        version = self.string(version, f"the version of '{name}'", name).strip()
        if locked:
            if not version.startswith("==") or not self.hashes(name, entry):
                raise self.fail(
                    f"'{name}' is not pinned with hashes (version '{version}'), "
                    "so nbship cannot check what it installs",
                    "Lock again with `pipenv lock`, or delete Pipfile.lock to install from the Pipfile.",
                    key=name,
                )
            self.requirement(name, f"{name}{self.extras(name, entry)}{version}")
            self.markers(name, entry)
            return None
        spec = "" if version == "*" else version
        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            hint = f" Did you mean '=={spec}'?" if _VERSION_RE.match(spec) else ""
            raise self.fail(
                f"'{spec}' is not a version specifier for '{name}'",
                f"Write it like '==1.2', '>=2' or '*'.{hint}",
                key=name,
            ) from None
        return self.requirement(name, f"{name}{self.extras(name, entry)}{spec}") + self.markers(name, entry)

    def hashes(self, name: str, entry: Mapping[str, Any]) -> bool:
        hashes = entry.get("hashes", [])
        if not isinstance(hashes, list) or not all(isinstance(h, str) and _HASH_RE.match(h) for h in hashes):
            raise self.fail(
                f"the hashes of '{name}' are not a list of 'sha256:...' values",
                "Lock again with `pipenv lock`.",
                key=name,
            )
        return bool(hashes)

    def sources(self, sources: Any) -> list[str]:
        """--index-url / --extra-index-url lines, in the order the file names its sources."""
        if sources is None:
            return []
        if not isinstance(sources, list):
            raise self.fail("the sources must be a list of tables", "Write [[source]] sections.", key="source")
        lines: list[str] = []
        for number, source in enumerate(sources):
            table = self.mapping(source, "a [[source]]", "source")
            url = self.url("source", self.string(table.get("url"), "the url of a [[source]]", "url"))
            lines.append(f"{'--index-url' if number == 0 else '--extra-index-url'} {url}")
            if table.get("verify_ssl") is False and (host := urlsplit(url).hostname):
                lines.append(f"--trusted-host {host}")
        return lines

    def python(self, requires: Any, where: str) -> tuple[str | None, str | None]:
        if requires is None:
            return None, None
        table = self.mapping(requires, where, "requires")
        for key in ("python_full_version", "python_version"):
            if key in table:
                raw = str(table[key]).strip()
                match = _VERSION_RE.match(raw)
                if not match:
                    raise self.fail(
                        f"{key} '{raw}' is not a Python version", 'Write it like python_version = "3.11".', key=key
                    )
                version = match.group(1) if match.group(2) is None else f"{match.group(1)}.{int(match.group(2))}"
                if version.startswith("3.") and version not in KNOWN_PYTHONS:
                    # Refused here, offline, rather than by a base image that does not exist.
                    raise self.fail(
                        f"{key} '{raw}' asks for Python {version}, which nbship cannot build for",
                        f"Write one of {', '.join(KNOWN_PYTHONS)}.",
                        key=key,
                    )
                return version, f"{where} {key}"
        return None, None

    def collect(self, sections: Mapping[Section, Mapping[str, Any]], *, locked: bool) -> tuple[Any, ...]:
        names: set[str] = set()
        lines: list[str] = []
        local: list[LocalPath] = []
        hashed = 0
        for _section, entries in sections.items():
            for name, value in entries.items():
                key = canonicalize_name(name)
                if key in names:
                    continue  # in both sections: the default section's entry is the one installed
                names.add(key)
                result = self.entry(name, value, locked=locked)
                if result is None:
                    hashed += 1
                elif isinstance(result, LocalPath):
                    local.append(result)
                else:
                    lines.append(result)
        return frozenset(names), hashed, tuple(lines), tuple(local)


def read_pipfile(path: Path, display: str, root: Path) -> PipfileData:
    reader = _Reader(path, display, root)
    try:
        with nesting_guard(display):
            data = tomllib.loads(reader.read_text())
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputFileError(
            display, int(line.group(1)) if line else None, f"this is not valid TOML ({exc})", "Fix the syntax."
        ) from exc
    sections = {section: reader.mapping(data.get(key, {}), f"[{key}]", key) for key, section in PIPFILE_SECTIONS}
    names, _, lines, local = reader.collect(sections, locked=False)
    options = reader.sources(data.get("source"))
    pipenv = reader.mapping(data.get("pipenv", {}), "[pipenv]", "pipenv")
    if pipenv.get("allow_prereleases") is True:
        options.append("--pre")
    python, key = reader.python(data.get("requires"), "[requires]")
    return PipfileData(names, 0, (*options, *lines), local, python, key)


def read_pipfile_lock(path: Path, display: str, root: Path) -> PipfileData:
    reader = _Reader(path, display, root)
    try:
        with nesting_guard(display):
            data = json.loads(reader.read_text())
    except json.JSONDecodeError as exc:
        raise InputFileError(
            display, exc.lineno, f"this is not valid JSON ({exc.msg})", "Lock again with `pipenv lock`."
        ) from exc
    lock = reader.mapping(data, "Pipfile.lock", None)
    meta = reader.mapping(lock.get("_meta", {}), "_meta", "_meta")
    sections: dict[Section, Mapping[str, Any]] = {
        section: reader.mapping(lock.get(section, {}), f"'{section}'", section) for _, section in PIPFILE_SECTIONS
    }
    names, hashed, lines, local = reader.collect(sections, locked=True)
    reader.sources(meta.get("sources"))  # checked here; the build's converter writes them
    python, key = reader.python(meta.get("requires"), "_meta requires")
    return PipfileData(names, hashed, lines, local, python, key)


def locked_pipfile_hash(path: Path) -> str | None:
    """The Pipfile hash a Pipfile.lock records (`_meta.hash.sha256`), if it has one."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8-sig")).get("_meta", {})
        value = meta.get("hash", {}).get("sha256")
    except (ValueError, AttributeError, OSError):
        return None
    return value if isinstance(value, str) else None


def pipfile_hash(path: Path) -> str | None:
    """pipenv's hash of a Pipfile (None when plette cannot read it; read_pipfile said why already)."""
    import plette

    try:
        with path.open(encoding="utf-8-sig") as handle:
            return str(plette.Pipfile.load(handle).get_hash().value)
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return None
