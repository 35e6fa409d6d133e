"""push and login: the project's image in a registry, with the engine's own credentials."""

from __future__ import annotations

from pathlib import Path

from nbship.commands.build import build_project
from nbship.engine import connect
from nbship.errors import NotFoundError, UsageError
from nbship.options import BuildOptions, EngineChoice
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import registry
from nbship.runtime.registry import PushOutcome
from nbship.sources.open import ProjectPath, engine_setting, open_project


def push(
    *,
    to: str,
    path: ProjectPath | None = None,
    image: str | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> PushOutcome:
    """Pushes `image` (or the project's image, built when needed) as `to`."""
    reporter = reporter or RecordingReporter()
    target = registry.validate_push_target(to)  # before any build or network work
    project = open_project(path or Path("."), reporter=reporter) if not image or path is not None else None
    chosen = connect(engine, setting=engine_setting(project), reporter=reporter)
    if image:
        source = validate_reference(image)
        if chosen.image(source) is None:
            raise NotFoundError(
                f"The image {source} is not on this machine: build it, or name one `{chosen.name} images` lists."
            )
    else:
        assert project is not None
        source = build_project(chosen, project, build_options or BuildOptions(), reporter).image
    reporter.info(f"Pushing {source} as {target}.")
    return registry.push(chosen, source, target, reporter)


def login(
    *,
    registry_host: str,
    username: str,
    password: str,
    engine: EngineChoice | None = None,
    reporter: Reporter | None = None,
) -> str:
    if not username:
        raise UsageError("Give the user name with --username.")
    return registry.login(connect(engine, reporter=reporter), registry_host, username, password)
