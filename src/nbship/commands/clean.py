"""clean: remove what nbship made for a project (or for every project), and say what it freed."""

from __future__ import annotations

from pathlib import Path

from nbship.commands import reproducible
from nbship.engine import connect
from nbship.project.detect import detect
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import cleanup
from nbship.runtime.cleanup import CleanOutcome, Scope


def clean(
    *, path: Path | None = None, everything: bool = False, volumes_too: bool = False, reporter: Reporter | None = None
) -> CleanOutcome:
    """Removes the project's stopped containers and its images (with `everything`: those of every
    project, nbship's own support images and the build cache its builds made). Volumes, with the
    work in them, only with `volumes_too`. Running containers and what they use stay."""
    reporter = reporter or RecordingReporter()
    if everything:
        scope = Scope(None, "every project")
    else:
        project = detect(path or Path("."))
        scope = Scope(project.project_id, str(project.root), image_identity=reproducible.identity(project))
    return cleanup.clean(connect(), scope, volumes_too=volumes_too, reporter=reporter)
