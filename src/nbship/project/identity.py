"""Which project a folder is: its root, name, id and settings. Commands that act on a project's
container, volume or last build need no more, so they read this without detecting the project's
inputs (detection loads the parser of every input kind)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from nbship.errors import ProjectError
from nbship.project.origin import Origin
from nbship.settings import Settings, load_settings
from nbship.values import control_character, shown


@dataclass(frozen=True)
class Identity:
    root: Path
    name: str
    slug: str  # the name made safe for image and container names
    project_id: str  # slug + short hash of the absolute path (or of a fetched source's reference)
    settings: Settings
    settings_file: Path | None
    origin: Origin | None = None  # set when the project was fetched from a link: root is nbship's copy

    @property
    def label(self) -> str:
        """How the project is named to the user and in labels: its folder, or its source reference."""
        return self.origin.reference if self.origin else str(self.root)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "project"


def project_id(slug: str, identity: str) -> str:
    """A project's id: its slug and a short hash of what identifies it (a folder's absolute path, a
    source's reference, an image's repository), so two projects of one name keep apart."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def _project_name(settings: Settings, default: str) -> str:
    """The project's name, which the Dockerfile, labels and compose file carry: one plain line.
    `default` is the folder's name, or the name a fetched project's link gives it."""
    name = settings.name or default
    if control_character(name):
        where = "The name setting" if settings.name else "The project folder's name"
        raise ProjectError(
            f"{where} '{shown(name)}' holds a line break or another control character, which nbship will not "
            'write into a Dockerfile or a label. Set name = "..." in nbship.toml to a plain name, or rename the folder.'
        )
    return name


def identify(path: Path, *, origin: Origin | None = None) -> Identity:
    """The project at `path`, by name and id. Raises ProjectError when it is no project folder. With
    `origin` (a fetched source), the name and id come from the source, not the path."""
    root = path.expanduser().resolve()
    if not root.exists():
        raise ProjectError(
            f"The project folder {path} does not exist. Check the path, or run nbship from inside the project."
        )
    if not root.is_dir():
        raise ProjectError(f"{path} is a file, not a project folder. Give nbship the folder that holds the notebooks.")
    settings, settings_file = load_settings(root)
    name = _project_name(settings, origin.name if origin else root.name)
    slug = slugify(name)
    return Identity(
        root=root,
        name=name,
        slug=slug,
        project_id=project_id(slug, origin.identity if origin else str(root)),
        settings=settings,
        settings_file=settings_file,
        origin=origin,
    )
