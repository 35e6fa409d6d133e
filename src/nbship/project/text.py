"""Reading a project's files as the tools after nbship read them, with every failure a message.

Every input kind reads its files through here: UTF-8 with or without a byte-order mark (pip,
uv and PyYAML accept one), any line ending (CRLF from Windows, as pip and apt read them), and a
file that cannot be read (binary, another encoding, unreadable, a folder, a link that loops or
leads out of the project, a structure nested thousands deep) is an InputFileError naming it.
"""

from __future__ import annotations

import errno
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbship.errors import InputFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# How deep `-r`/`-c` includes may nest. pip itself stops near 250 (its recursion limit); no real
# project comes near 50, and a chain that long is a mistake or an attack.
MAX_INCLUDE_DEPTH = 50

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def os_problem(exc: OSError) -> tuple[str, str]:
    """What an OSError on reading a project file means, and what to do: (problem, fix)."""
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file", "Replace it with a file, or rename the folder."
    if isinstance(exc, PermissionError):
        return "nbship may not read it (permission denied)", "Make it readable for your user (chmod u+r)."
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link that loops", "Point the link at a file, or replace it with the file."
    if isinstance(exc, FileNotFoundError):
        return "it is a symbolic link to nothing", "Point the link at a file inside the project, or remove it."
    return f"nbship cannot read it ({exc.strerror or exc})", "Check the file and run nbship again."


def read_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        problem, fix = os_problem(exc)
        raise InputFileError(display, None, problem, fix) from exc


def decode(data: bytes, display: str) -> str:
    """UTF-8 text, without a leading byte-order mark and with every line ending made `\\n`."""
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise InputFileError(display, None, f"it is saved as {encoding}", "Save it as UTF-8 text.")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        problem = "it holds NUL bytes: this is a binary file, not text"
        raise InputFileError(display, line, problem, "Replace it with a text file.")
    try:
        text = data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise InputFileError(
            display, line, f"this is not UTF-8 text (byte 0x{byte} cannot be decoded)", "Save it as UTF-8 text."
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path, display: str) -> str:
    """The file's text (see decode), or an InputFileError naming `display` and what to do."""
    return decode(read_bytes(path, display), display)


@contextmanager
def nesting_guard(display: str) -> Iterator[None]:
    """A parser that recurses (YAML, TOML, JSON) on a structure nested thousands deep fails with a
    message instead of a RecursionError."""
    try:
        yield
    except RecursionError as exc:
        raise InputFileError(
            display, None, "its lists or tables are nested too deeply to read", "Write it with less nesting."
        ) from exc


def load_toml(path: Path, display: str) -> tuple[dict[str, Any], str]:
    """The TOML document at `path` and its text."""
    text = read_text(path, display)
    with nesting_guard(display):
        try:
            return tomllib.loads(text), text
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None)
            if line is None and (found := re.search(r"at line (\d+)", str(exc))):
                line = int(found.group(1))
            raise InputFileError(
                display, line, f"this is not valid TOML ({exc})", "Fix the syntax and run nbship again."
            ) from exc


def check_include_depth(depth: int, display: str, line: int) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        raise InputFileError(
            display,
            line,
            f"the includes (-r/-c) nest more than {MAX_INCLUDE_DEPTH} files deep",
            "Include the files from fewer levels (one file may include many).",
        )


def outside_problem(path: Path, root: Path) -> str | None:
    """Why `path` is not a file of the project at `root`: a link that loops, or one (or a `..`)
    that leads out of it, which would make nbship read a file the build never sees."""
    try:
        resolved = path.resolve(strict=False)
    except (OSError, RuntimeError):  # RuntimeError: a link loop, before Python 3.13
        return "is a symbolic link that loops"
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return "is outside the project folder (or a link leading out of it), which a build never sees"
    return None


def resolve_inside(path: Path, root: Path, display: str, line: int | None = None) -> Path:
    """`path` with its links followed; an InputFileError naming `display` when outside_problem says so."""
    problem = outside_problem(path, root)
    if problem:
        raise InputFileError(display, line, f"it {problem}", "Keep the file, and what links to, inside the project.")
    return path.resolve()
