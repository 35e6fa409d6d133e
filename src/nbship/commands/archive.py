"""archive and load: one file to deposit with a paper (the image, its SBOM, its locks, its README,
how to run it), and that file turned back into the same image, id and tag included, offline."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

from nbship import __version__
from nbship import contract as c
from nbship.commands.sbom import chosen_image, image_sbom
from nbship.commands.serve import connect_for
from nbship.engine import connect
from nbship.options import BuildOptions, EngineChoice
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime.image_archive import ArchiveOutcome, check_archive, load_checked, write_archive
from nbship.runtime.image_files import read_image_files
from nbship.sources.open import ProjectPath

_READMES = ("README.md", "README.rst", "README.txt", "README")

HOW_TO_RUN = """\
{image}
{underline}

This file is a container image ({image_id}) saved with nbship {version},
with what a reader needs beside it in {folder}/: the software bill of materials
(sbom.spdx.json, SPDX 2.3), the project's lock files and README, and archive.json.

Check it (optional: nbship checks it before loading):
    tar -xf ARCHIVE && sha256sum -c {checksums}   (in an empty folder)

Load it (no network needed), then serve JupyterLab on this machine only:
    docker load -i ARCHIVE          (or: podman load -i ARCHIVE)
    docker run --rm -p {loopback}:{port}:{port} {image}
and open the URL with the token that the server prints. With nbship, one step does both:
    nbship up --archive ARCHIVE

Run one notebook or script in it instead:
    docker run --rm {image} jupyter nbconvert --to notebook --execute NOTEBOOK.ipynb --stdout
"""


@dataclass(frozen=True)
class LoadedArchive:
    image: str  # the tag the archive restored (else its id)
    image_id: str
    path: Path


def _lock_paths() -> list[str]:
    return [
        posixpath.join(c.CONTENT_DIR, folder, name) if folder else posixpath.join(c.CONTENT_DIR, name)
        for folder in c.LOCK_FOLDERS
        for name in c.LOCK_FILES
    ]


def archive(
    *,
    output: Path,
    path: ProjectPath | None = None,
    image: str | None = None,
    build_options: BuildOptions | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> ArchiveOutcome:
    """Writes `image` (or the project's image, built when needed) and its documents into `output`."""
    reporter = reporter or RecordingReporter()
    chosen = connect_for(engine, path, image, reporter)
    reference, info = chosen_image(chosen, path, image, build_options, reporter)
    documents = read_image_files(chosen, reference, [*_lock_paths(), *(f"{c.CONTENT_DIR}/{n}" for n in _READMES)])
    extras: dict[str, bytes] = {}
    for found_path, data in documents.items():
        rel = posixpath.relpath(found_path, c.CONTENT_DIR)
        extras[f"locks/{rel}" if posixpath.basename(rel) in c.LOCK_FILES else rel] = data
    found = image_sbom(chosen, reference, info.id)
    if found is not None:
        extras["sbom.spdx.json"] = found.text
    else:
        reporter.warn(f"{reference} has no SBOM ({c.SBOM}): the archive goes without one.")
    extras["HOW-TO-RUN.txt"] = HOW_TO_RUN.format(
        image=reference,
        underline="=" * len(reference),
        image_id=info.id,
        version=__version__,
        folder=c.ARCHIVE_FOLDER,
        checksums=c.ARCHIVE_CHECKSUMS,
        loopback=c.LOOPBACK,
        port=c.CONTAINER_PORT,
    ).encode()
    record = {
        "format": 1,
        "image": reference,
        "image_id": info.id,
        "nbship_version": __version__,
        "sbom_sha256": found.digest if found is not None else None,
        "revision": info.labels.get(c.OCI_REVISION),
    }
    extras[posixpath.basename(c.ARCHIVE_INFO)] = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    reporter.info(f"Saving {reference} ({info.size / 1e6:.0f} MB) into {output}.")
    return write_archive(
        chosen,
        reference,
        image_id=info.id,
        image_size=info.size,
        extras=extras,
        output=output,
        force=force,
        reporter=reporter,
    )


def load_archive(*, file: Path, reporter: Reporter | None = None, engine: EngineChoice | None = None) -> LoadedArchive:
    """Checks the archive whole, then loads it; the image comes back with its id and tag."""
    reporter = reporter or RecordingReporter()
    checked = check_archive(file, reporter)
    loaded = load_checked(connect(engine, reporter=reporter), checked, reporter)
    return LoadedArchive(loaded[0], checked.image_id, file)
