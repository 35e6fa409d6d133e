"""clean: remove what nbship made for a project (or for every project), and say what it freed."""

from __future__ import annotations

from pathlib import Path

from nbship.commands import reproducible
from nbship.engine import connect
from nbship.options import EngineChoice
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import cleanup
from nbship.runtime.cleanup import CleanOutcome, Scope
from nbship.sources.open import ProjectPath, engine_setting, open_project


def clean(
    *,
    path: ProjectPath | None = None,
    everything: bool = False,
    volumes_too: bool = False,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> CleanOutcome:
    """Removes the project's stopped containers and its images (with `everything`: those of every
    project, nbship's own support images and the build cache its builds made). Volumes, with the
    work in them, only with `volumes_too`. Running containers and what they use stay."""
    reporter = reporter or RecordingReporter()
    if everything:
        scope, setting = Scope(None, "every project"), None
    else:
        # What a link's project left here is named by what it resolved to last: no fetch needed.
        project = open_project(path or Path("."), refresh=False)
        scope = Scope(project.project_id, project.label, image_identity=reproducible.identity(project))
        setting = engine_setting(project)
    chosen = connect(engine, setting=setting or "auto", reporter=reporter)
    return cleanup.clean(chosen, scope, volumes_too=volumes_too, reporter=reporter)
