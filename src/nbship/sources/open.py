"""The one place a command's project argument (a folder or a source reference) becomes a Project."""

from __future__ import annotations

from nbship.errors import UsageError
from nbship.project.detect import Project, detect
from nbship.reporter import RecordingReporter, Reporter
from nbship.sources.refs import ProjectPath, SourceRef

__all__ = ["ProjectPath", "open_project", "refuse_fetched"]


def open_project(where: ProjectPath, *, reporter: Reporter | None = None, refresh: bool = True) -> Project:
    """The project at a folder, or fetched from a reference (`refresh=False`: as fetched last,
    without the network, for commands that act on what already runs)."""
    if isinstance(where, SourceRef):
        from nbship.sources.fetch import fetch  # the HTTP and git machinery, only when a link is given

        fetched = fetch(where, reporter=reporter or RecordingReporter(), refresh=refresh)
        return detect(fetched.tree.project, origin=fetched.origin)
    return detect(where)


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
