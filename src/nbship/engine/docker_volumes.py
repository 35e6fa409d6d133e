"""A Docker volume's files in and out as a tar stream, through the daemon's archive endpoints on a
helper container that is created and never started, so no program runs on the volume's files."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from nbship import contract as c
from nbship.engine.archive import moved
from nbship.engine.base import ContainerSpec, Mount

if TYPE_CHECKING:
    from nbship.engine.docker import DockerEngine

# The volume helper: a one-layer image nbship imports itself (an empty /nbship folder).
HELPER_IMAGE = (c.HELPER_REPOSITORY, "1")
_HELPER_PARENT = "/nbship"
_HELPER_NAME = "volume"


@contextlib.contextmanager
def volume_helper(engine: DockerEngine, name: str) -> Iterator[str]:
    """A created, never started container with the volume at /nbship/volume, for the archive
    endpoints. Unpacked at /nbship with the volume's root as the top entry, the root keeps the
    archive's owner and mode; unpacked at the mount point, Docker skips the "." entry."""
    repository, tag = HELPER_IMAGE
    if engine.image(f"{repository}:{tag}") is None:
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as tar:
            folder = tarfile.TarInfo(_HELPER_PARENT.strip("/"))
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
        engine.import_image(layer.getvalue(), repository=repository, tag=tag)
    container = engine.create(
        ContainerSpec(
            image=f"{repository}:{tag}",
            command=("nbship-volume-helper",),  # never run; an image without a command needs one to be created
            mounts=(Mount("volume", name, f"{_HELPER_PARENT}/{_HELPER_NAME}"),),
            labels={c.LABEL_MANAGED: "true"},
        )
    )
    try:
        yield container.id
    finally:
        engine.remove_container(container.id)


def export_volume(engine: DockerEngine, name: str) -> Iterator[bytes]:
    with volume_helper(engine, name) as helper:
        found = engine.sdk_container(helper)
        path = f"{_HELPER_PARENT}/{_HELPER_NAME}"
        stream, _ = engine.call(f"docker cp {helper}:{path} -", lambda: found.get_archive(path))
        yield from moved(iter(stream), top=_HELPER_NAME, rename=".")


def import_volume(engine: DockerEngine, name: str, data: IO[bytes]) -> None:
    with volume_helper(engine, name) as helper:
        found = engine.sdk_container(helper)
        # A generator: the SDK sends it chunked, as it is read from the caller's archive.
        stream = moved(iter(lambda: data.read(1 << 20), b""), top="", rename=_HELPER_NAME)
        engine.call(f"docker cp - {helper}:{_HELPER_PARENT}", lambda: found.put_archive(_HELPER_PARENT, stream))
