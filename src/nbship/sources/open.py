"""The one place a command's project argument (a folder or a source reference) becomes a Project,
or only its Identity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbship.errors import UsageError
from nbship.options import EngineChoice
from nbship.project.identity import Identity, identify
from nbship.reporter import RecordingReporter, Reporter
from nbship.sources.refs import ProjectPath, SourceRef

if TYPE_CHECKING:
    from nbship.project.detect import Project

__all__ = ["ProjectPath", "engine_setting", "open_identity", "open_project", "refuse_fetched"]


def open_project(where: ProjectPath, *, reporter: Reporter | None = None, refresh: bool = True) -> Project:
    """The project at a folder, or fetched from a reference (`refresh=False`: as fetched last,
    without the network, for commands that act on what already runs)."""
    from nbship.project.detect import detect  # every input kind's parser: only for commands that need them

    if isinstance(where, SourceRef):
        from nbship.sources.fetch import fetch  # the HTTP and git machinery, only when a link is given

        fetched = fetch(where, reporter=reporter or RecordingReporter(), refresh=refresh)
        return detect(fetched.tree.project, origin=fetched.origin)
    return detect(where)


def open_identity(where: ProjectPath, *, reporter: Reporter | None = None, refresh: bool = True) -> Identity:
    """Which project `where` is (name, id, settings): a folder's without detecting its inputs; a
    link's from its fetched copy, detected as `open_project` does (a Project is its Identity)."""
    if isinstance(where, SourceRef):
        return open_project(where, reporter=reporter, refresh=refresh)
    return identify(where)


def engine_setting(project: Identity | None) -> EngineChoice:
    """The engine a project's settings ask for. A fetched project's are not followed: which engine
    runs is this machine's choice (--engine, NBSHIP_ENGINE, a folder's own settings), not a download's."""
    return project.settings.engine if project is not None and project.origin is None else "auto"


def refuse_fetched(where: ProjectPath, doing: str) -> None:
    """A fetched project is read-only input: nbship writes nothing into its copy for the user."""
    if not isinstance(where, SourceRef):
        return
    if where.kind == "git":
        how = (
            f"clone it first (git clone {where.source_url}"
            + (f", then git checkout {where.ref}" if where.ref else "")
            + ")"
        )
    else:
        how = "download and unpack it into a folder of your own first"
    raise UsageError(
        f"{where} is fetched into nbship's cache as read-only input, so nbship will not {doing}. To make the "
        f"project your own, {how}, then run the command on that folder."
    )
