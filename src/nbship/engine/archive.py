"""Tar streams between nbship and an engine: read from chunks, and members moved under another top
folder, never out of it. Engines hand volumes over as tars (Docker's archive endpoints put them
under a folder, Podman's volume export does not), and nbship's volume export and import rename
members between those layouts with these functions."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator


class ChunkReader(io.RawIOBase):
    """A file object over a stream of byte chunks, so tarfile can read it as it arrives."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def relative(name: str, top: str) -> str | None:
    """A member name below `top` ('.' for `top` itself; `top` "" : the archive's root), or None
    when it is outside it or climbs out with '..'."""
    parts = [p for p in name.split("/") if p not in {"", "."}]
    if top:
        if not parts or parts[0] != top:
            return None
        parts = parts[1:]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts) or "."


def renamed(rel: str, top: str) -> str:
    if rel == ".":
        return top
    return f"{top}/{rel}"


def _move(member: tarfile.TarInfo, *, top: str, rename: str) -> bool:
    """Renames `member` from under `top` to under `rename`; False when it is outside `top` (or a
    hard link to something outside it)."""
    rel = relative(member.name, top)
    if rel is None:
        return False
    member.name = renamed(rel, rename)
    # A long name came in a pax header, which tarfile would write out again in place of the new name.
    member.pax_headers = {key: value for key, value in member.pax_headers.items() if key != "path"}
    if member.islnk():
        linked = relative(member.linkname, top)
        if linked is None:
            return False
        member.linkname = renamed(linked, rename)
        member.pax_headers = {key: value for key, value in member.pax_headers.items() if key != "linkpath"}
    return True


def copy_members(source: tarfile.TarFile, target: tarfile.TarFile, *, top: str, rename: str) -> int:
    """Copies members from `source` (names under `top`) into `target` (names under `rename`)."""
    count = 0
    for member in source:
        if not _move(member, top=top, rename=rename):
            continue
        target.addfile(member, source.extractfile(member) if member.isfile() else None)
        count += 1
    return count


_CHUNK = 1 << 20


def moved(chunks: Iterator[bytes], *, top: str, rename: str) -> Iterator[bytes]:
    """The tar stream `chunks` with its members moved from under `top` to under `rename`, as a
    stream again: headers are rewritten, file contents pass through a chunk at a time."""
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks)), mode="r|") as source:
        for member in source:
            if not _move(member, top=top, rename=rename):
                continue
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            handle = source.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            while chunk := handle.read(_CHUNK):
                yield chunk
            if member.size % tarfile.BLOCKSIZE:
                yield tarfile.NUL * (tarfile.BLOCKSIZE - member.size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)
