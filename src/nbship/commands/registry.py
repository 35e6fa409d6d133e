"""push and login: the project's image in a registry, with the engine's own credentials."""

from __future__ import annotations

from pathlib import Path

from nbship.commands.build import build_project
from nbship.engine import connect
from nbship.errors import NotFoundError, UsageError
from nbship.options import BuildOptions
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import registry
from nbship.runtime.registry import PushOutcome
from nbship.sources.open import ProjectPath, open_project


def push(
    *,
    to: str,
    path: ProjectPath | None = None,
    image: str | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> PushOutcome:
    """Pushes `image` (or the project's image, built when needed) as `to`."""
    reporter = reporter or RecordingReporter()
    target = registry.validate_push_target(to)  # before any build or network work
    engine = connect()
    if image:
        source = validate_reference(image)
        if engine.image(source) is None:
            raise NotFoundError(
                f"The image {source} is not on this machine: build it, or name one `docker images` lists."
            )
    else:
        project = open_project(path or Path("."), reporter=reporter)
        source = build_project(engine, project, build_options or BuildOptions(), reporter).image
    reporter.info(f"Pushing {source} as {target}.")
    return registry.push(engine, source, target, reporter)


def login(*, registry_host: str, username: str, password: str) -> str:
    if not username:
        raise UsageError("Give the user name with --username.")
    return registry.login(connect(), registry_host, username, password)
