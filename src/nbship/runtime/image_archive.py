"""One file to deposit: an image as `docker save` writes it, plus what a reader needs beside it.

The file is a plain tar that `docker load -i FILE` (and `podman load`) reads as it is: docker
save's own members first, then contract.ARCHIVE_FOLDER (the SBOM, the locks, the README, how to run
it, archive.json), which the loaders skip, and last contract.ARCHIVE_CHECKSUMS, the sha256 of every
other member in `sha256sum` format (so `tar -xf FILE && sha256sum -c nbship-archive/SHA256SUMS`
checks it without nbship). Before loading, nbship reads the whole file once and refuses it when a
member is missing, extra, cut short or altered, or when the image config is not the image id the
archive names; only then does the engine see it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nbship import contract as c
from nbship.engine.base import Engine
from nbship.errors import NbshipError, ProjectError, UsageError
from nbship.reporter import Reporter


@dataclass(frozen=True)
class ArchiveOutcome:
    path: Path
    image: str
    image_id: str
    size: int  # bytes of the archive file
    sha256: str  # of the whole file, to quote beside a deposit
    extras: tuple[str, ...]  # the members of ARCHIVE_FOLDER


@dataclass(frozen=True)
class CheckedArchive:
    path: Path
    images: tuple[str, ...]  # the tags docker save recorded
    image_id: str
    info: dict[str, Any]  # archive.json


_KEEP = 4 * 1024 * 1024  # members kept in memory while checking: the JSON documents, never layers


class Progress:
    """Reports how far a long copy is, at most every few seconds or tenth of the way."""

    def __init__(self, reporter: Reporter, what: str, total: int) -> None:
        self.reporter, self.what, self.total = reporter, what, max(total, 1)
        self.done, self._shown, self._at = 0, -1, 0.0

    def add(self, count: int) -> None:
        self.done += count
        tenth = min(self.done * 10 // self.total, 10)
        now = time.monotonic()
        if tenth != self._shown or now - self._at > 5:
            self._shown, self._at = tenth, now
            percent = min(self.done * 100 // self.total, 100)
            self.reporter.step(f"{self.what}: {percent}% ({self.done / 1e6:.0f} of {self.total / 1e6:.0f} MB)")


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it and reports progress."""

    def __init__(self, source: IO[bytes], progress: Progress | None) -> None:
        self.source, self.progress, self.digest = source, progress, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        self.digest.update(data)
        if self.progress is not None:
            self.progress.add(len(data))
        buffer[: len(data)] = data
        return len(data)


class _Chunks(io.RawIOBase):
    """An iterator of byte chunks (docker save's stream) as a file to read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.rest:
            try:
                self.rest = next(self.chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self.rest))
        buffer[:count], self.rest = self.rest[:count], self.rest[count:]
        return count


def _add(tar: tarfile.TarFile, name: str, data: bytes, sums: list[tuple[str, str]]) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))
    sums.append((hashlib.sha256(data).hexdigest(), name))


def write_archive(
    engine: Engine,
    reference: str,
    *,
    image_id: str,
    image_size: int,
    extras: dict[str, bytes],
    output: Path,
    force: bool,
    reporter: Reporter,
) -> ArchiveOutcome:
    """Writes `reference` and `extras` (names inside ARCHIVE_FOLDER) into `output`, atomically."""
    if output.exists() and not force:
        raise UsageError(f"{output} already exists. Give another file with -o, or --force to replace it.")
    if not output.parent.is_dir():
        raise UsageError(f"The folder {output.parent} does not exist: create it, or give another file with -o.")
    partial = output.with_name(f".{output.name}.partial")
    sums: list[tuple[str, str]] = []
    progress = Progress(reporter, f"Writing {output.name}", image_size)
    try:
        with partial.open("wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as out:
            with tarfile.open(fileobj=io.BufferedReader(_Chunks(engine.save_image(reference))), mode="r|") as saved:
                for member in saved:
                    source = saved.extractfile(member) if member.isfile() else None
                    if source is None:
                        out.addfile(member)
                        continue
                    reader = _Hashing(source, progress)
                    out.addfile(member, io.BufferedReader(reader))
                    sums.append((reader.digest.hexdigest(), member.name))
            for name, data in sorted(extras.items()):
                _add(out, f"{c.ARCHIVE_FOLDER}/{name}", data, sums)
            listing = "".join(f"{digest}  {name}\n" for digest, name in sums)
            _add(out, c.ARCHIVE_CHECKSUMS, listing.encode(), [])
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    whole = hashlib.sha256()
    with output.open("rb") as written:
        for block in iter(lambda: written.read(1 << 20), b""):
            whole.update(block)
    return ArchiveOutcome(output, reference, image_id, output.stat().st_size, whole.hexdigest(), tuple(sorted(extras)))


def _refuse(path: Path, why: str) -> NbshipError:
    return ProjectError(
        f"{path} is not a complete nbship archive ({why}). Nothing was loaded. Copy the file again "
        "from where it was deposited, and compare its sha256 with the one given there."
    )


def _parse_sums(path: Path, text: str) -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise _refuse(path, f"its {c.ARCHIVE_CHECKSUMS} has a line that is no checksum")
        listed[name] = digest
    return listed


def check_archive(path: Path, reporter: Reporter) -> CheckedArchive:
    """Reads the whole archive once; raises unless every member is there with its recorded sha256."""
    if not path.is_file():
        raise UsageError(f"The archive {path} does not exist (give the file `nbship archive -o` wrote).")
    seen: dict[str, str] = {}
    small: dict[str, bytes] = {}
    listing: str | None = None
    progress = Progress(reporter, f"Checking {path.name}", path.stat().st_size)
    try:
        with path.open("rb") as handle, tarfile.open(fileobj=handle, mode="r|") as tar:
            for member in tar:
                if listing is not None:
                    raise _refuse(path, f"{member.name} follows the checksums, which come last")
                source = tar.extractfile(member) if member.isfile() else None
                if source is None:
                    continue
                reader = _Hashing(source, progress)
                data = _drain(reader, keep=member.size <= _KEEP)
                if member.name == c.ARCHIVE_CHECKSUMS:
                    listing = data.decode("utf-8", errors="replace")
                    continue
                seen[member.name] = reader.digest.hexdigest()
                if member.size <= _KEEP:
                    small[member.name] = data  # manifest.json, the image config, archive.json among them
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _refuse(path, f"it ends early or is damaged: {exc}") from exc
    if listing is None:
        raise _refuse(path, f"it has no {c.ARCHIVE_CHECKSUMS}: it was cut short, or nbship did not write it")
    listed = _parse_sums(path, listing)
    altered = sorted(name for name, digest in listed.items() if seen.get(name) not in (None, digest))
    missing = sorted(set(listed) - set(seen))
    extra = sorted(set(seen) - set(listed))
    for problem, names in (("altered", altered), ("missing", missing), ("not listed", extra)):
        if names:
            raise _refuse(path, f"{problem}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}")
    return _described(path, small)


def _drain(reader: _Hashing, *, keep: bool) -> bytes:
    kept = []
    while block := reader.read(1 << 20):
        if keep:
            kept.append(block)
    return b"".join(kept)


def _described(path: Path, small: dict[str, bytes]) -> CheckedArchive:
    try:
        manifest = json.loads(small["manifest.json"])
        info = json.loads(small.get(c.ARCHIVE_INFO, b"{}"))
        config_name = str(manifest[0]["Config"])
        tags = tuple(str(tag) for tag in manifest[0].get("RepoTags") or ())
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _refuse(path, f"its manifest.json does not name one image: {exc}") from exc
    config = small.get(config_name)
    image_id = "sha256:" + hashlib.sha256(config).hexdigest() if config is not None else ""
    if not image_id or image_id != digest_id(str(info.get("image_id", image_id))):
        raise _refuse(path, "its image config is not the image the archive names")
    return CheckedArchive(path, tags, image_id, info)


def digest_id(image_id: str) -> str:
    """An image id as the digest of its config: Docker says `sha256:HEX`, Podman the bare HEX."""
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def load_checked(engine: Engine, checked: CheckedArchive, reporter: Reporter) -> tuple[str, ...]:
    """Gives the checked archive to the engine; returns the tags (else the id) it loaded."""
    progress = Progress(reporter, f"Loading {checked.path.name}", checked.path.stat().st_size)
    with checked.path.open("rb") as handle:
        loaded = engine.load_image(io.BufferedReader(_Hashing(handle, progress)))
    found = engine.image(checked.images[0] if checked.images else checked.image_id)
    if found is None or digest_id(found.id) != checked.image_id:
        raise ProjectError(
            f"Loading {checked.path} did not give the image {checked.image_id} it holds "
            f"(the engine reported {', '.join(loaded) or 'nothing'})."
        )
    return checked.images or (checked.image_id,)
