"""Reading a file out of an image without running anything of it: a created, never started
container, asked through the archive endpoint (as `docker cp` does), then removed."""

from __future__ import annotations

import io
import posixpath
import tarfile

from nbship.engine.base import ContainerSpec, Engine
from nbship.errors import NotFoundError


def read_image_file(engine: Engine, reference: str, path: str, *, limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The bytes of the regular file at `path` in the image, or None when the image has none there."""
    probe = engine.create(ContainerSpec(image=reference, command=("nbship-read",), network=False))
    try:
        try:
            archive = engine.get_archive(probe.id, path)
        except NotFoundError:
            return None
    finally:
        engine.remove_container(probe.id)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = next((m for m in tar.getmembers() if m.name == posixpath.basename(path)), None)
        if member is None or not member.isfile() or member.size > limit:
            return None
        extracted = tar.extractfile(member)
        return extracted.read() if extracted is not None else None
