"""Reading files out of an image without running anything of it: a created, never started
container, asked through the archive endpoint (as `docker cp` does), then removed."""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterable

from nbship.engine.base import ContainerSpec, Engine
from nbship.errors import NotFoundError

_LIMIT = 64 * 1024 * 1024  # these are documents (an SBOM, a lock, a README), never data


def _regular_file(archive: bytes, path: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = next((m for m in tar.getmembers() if m.name == posixpath.basename(path)), None)
        if member is None or not member.isfile() or member.size > _LIMIT:
            return None
        extracted = tar.extractfile(member)
        return extracted.read() if extracted is not None else None


def read_image_files(engine: Engine, reference: str, paths: Iterable[str]) -> dict[str, bytes]:
    """The regular files among `paths` that the image has, by path (a link or a folder is skipped)."""
    probe = engine.create(ContainerSpec(image=reference, command=("nbship-read",), network=False))
    found: dict[str, bytes] = {}
    try:
        for path in paths:
            try:
                data = _regular_file(engine.get_archive(probe.id, path), path)
            except NotFoundError:
                continue
            if data is not None:
                found[path] = data
    finally:
        engine.remove_container(probe.id)
    return found


def read_image_file(engine: Engine, reference: str, path: str) -> bytes | None:
    return read_image_files(engine, reference, [path]).get(path)
