"""sbom: the image's software bill of materials (SPDX 2.3 JSON), as the image itself carries it at
contract.SBOM (written by its last build step from what is installed: payload/sbom.py)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbship import contract as c
from nbship.commands.build import build_project
from nbship.commands.serve import connect_for, given_image
from nbship.engine import Engine
from nbship.engine.base import ImageInfo
from nbship.errors import NotFoundError, ProjectError
from nbship.options import BuildOptions, EngineChoice
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime.image_files import read_image_file
from nbship.sources.open import ProjectPath, open_project


@dataclass(frozen=True)
class Sbom:
    image: str  # the reference it was read from
    image_id: str
    text: bytes  # the document exactly as the image holds it
    document: dict[str, Any]

    @property
    def digest(self) -> str:
        """sha256 of the document's bytes: what a report names to say which SBOM it saw."""
        return "sha256:" + hashlib.sha256(self.text).hexdigest()


def image_sbom(engine: Engine, reference: str, image_id: str) -> Sbom | None:
    """The SBOM the image carries, or None when it has none (an image nbship did not build)."""
    text = read_image_file(engine, reference, c.SBOM)
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ProjectError(f"{c.SBOM} in {reference} is not JSON ({exc}); rebuild the image with nbship.") from exc
    if not isinstance(document, dict) or document.get("spdxVersion") != "SPDX-2.3":
        raise ProjectError(f"{c.SBOM} in {reference} is no SPDX 2.3 document; rebuild the image with nbship.")
    return Sbom(reference, image_id, text, document)


def chosen_image(
    engine: Engine, path: ProjectPath | None, image: str | None, build_options: BuildOptions | None, reporter: Reporter
) -> tuple[str, ImageInfo]:
    """`image` as given (pulled when needed), else the project's image (built when needed)."""
    if image:
        reference = validate_reference(image)
        return reference, given_image(engine, reference, reporter)
    project = open_project(path or Path("."), reporter=reporter)
    outcome = build_project(engine, project, build_options or BuildOptions(), reporter)
    return outcome.image, outcome.info


def sbom(
    *,
    path: ProjectPath | None = None,
    image: str | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> Sbom:
    """The SBOM of `image` (pulled when needed), or of the project's image (built when needed)."""
    reporter = reporter or RecordingReporter()
    chosen = connect_for(engine, path, image, reporter)
    reference, info = chosen_image(chosen, path, image, build_options, reporter)
    found = image_sbom(chosen, reference, info.id)
    if found is None:
        raise NotFoundError(
            f"The image {reference} has no SBOM at {c.SBOM}. nbship writes one into every image it builds, "
            "with the image's own python3: an image from the project's own Dockerfile that has no python3 "
            "(3.8 or newer) gets none, nor does one another tool or an older nbship built. Install python3 in "
            "the Dockerfile and build with nbship (--rebuild for an image an older nbship made)."
        )
    return found
