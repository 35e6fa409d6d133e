"""What an engine reports back, in nbship's own types: images, containers, volumes and builds.

Apart from the seam (base.py) because the commands that only look (status, the up-to-date check
of build and up) need these values and nothing else of it: the seam's protocols and requests are
a few milliseconds of start-up those commands do not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nbship.resources import Resources


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    size: int
    env: Mapping[str, str]
    workdir: str
    user: str
    architecture: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()  # NAME@sha256:... for each registry the image came from


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str  # the reference it was started from
    image_id: str
    labels: Mapping[str, str]
    status: str  # created, running, exited, ...
    env: Mapping[str, str]
    exit_code: int | None = None
    resources: Resources = field(default_factory=Resources)  # the limits it was started with


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    labels: Mapping[str, str]
    created: str


@dataclass(frozen=True)
class BuildStep:
    stage: str  # the Dockerfile stage ("" when the builder does not say)
    instruction: str  # e.g. "COPY . /opt/..." as the builder shows it
    cached: bool  # False: it ran in this build


@dataclass(frozen=True)
class BuildReport:
    """What a build did, step by step (the builder's own steps and FROM lines left out)."""

    steps: tuple[BuildStep, ...] = ()

    @property
    def rebuilt(self) -> tuple[BuildStep, ...]:
        return tuple(step for step in self.steps if not step.cached)
