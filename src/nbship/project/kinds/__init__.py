"""The input kinds nbship reads, in the order they are detected. A new kind is one module in this
folder (detect, parse, its part of the plan and its Dockerfile fragments) and one line below."""

from __future__ import annotations

from nbship.project.kinds import (
    apt,
    dockerfile,
    environment_yml,
    package,
    pip_lock,
    pipfile,
    postbuild,
    r,
    requirements,
    runtime,
    start,
)
from nbship.project.kinds.base import Kind

# Earlier kinds are seen by later ones (environment.yml makes a Pipfile unused, a Pipfile requirements.txt;
# the R kind reads runtime.txt's R part), in the order of Binder's build packs.
KINDS: tuple[Kind, ...] = (
    dockerfile,
    environment_yml,
    pipfile,
    requirements,
    pip_lock,
    package,
    runtime,
    r,
    apt,
    postbuild,
    start,
)
