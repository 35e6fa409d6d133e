"""What `--json` prints, command by command: the one place its field names are spelled (the README
lists them; a field keeps its name and meaning once released, new ones may be added)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbship.api import ArchiveOutcome, BuildOutcome, CleanOutcome, LockOutcome, PushOutcome, Server, WorkVolume

FORMAT = 1  # bumped when a field changes meaning or goes away


def build(outcome: BuildOutcome) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "image": outcome.image,
        "id": outcome.image_id,
        "size": outcome.size,
        "built": outcome.built,
        "builder": outcome.builder,
        "rebuilt": [{"stage": step.stage, "step": step.instruction} for step in outcome.report.rebuilt],
        "cached_steps": sum(1 for step in outcome.report.steps if step.cached),
    }


def server(found: Server) -> dict[str, Any]:
    mount = found.mount
    return {
        "project": found.project_path,
        "url": found.url,
        "port": found.port,
        "bind": found.bind,
        "token": found.token,
        "container": found.container_name,
        "status": found.status,
        "image": found.image,
        "mount": mount.kind if mount else None,
        "volume": mount.source if mount and mount.kind == "volume" else None,
        "folder": mount.source if mount and mount.kind == "host" else None,
    }


def servers(found: list[Server]) -> dict[str, Any]:
    return {"format": FORMAT, "servers": [server(item) for item in found]}


def volumes(found: list[WorkVolume]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "volumes": [
            {"name": v.name, "project": v.project_path or None, "created": v.created, "used_by": list(v.used_by)}
            for v in found
        ],
    }


def push(outcome: PushOutcome) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "reference": outcome.reference,
        "digest": outcome.digest or None,
        "source": outcome.source or None,
        "layers_pushed": outcome.layers_pushed,
        "layers_present": outcome.layers_present,
    }


def locks(outcomes: list[LockOutcome]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "locks": [
            {
                "path": str(item.path),
                "source": item.source,
                "written": item.written,
                "packages": dict(item.packages),
                "notes": list(item.notes),
            }
            for item in outcomes
        ],
    }


def clean(outcome: CleanOutcome) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "containers": list(outcome.containers),
        "images": [{"image": item.name, "size": item.size} for item in outcome.images],
        "volumes": list(outcome.volumes),
        "kept": list(outcome.kept),
        "build_cache": outcome.build_cache,
        "freed": outcome.freed,
    }


def archive(outcome: ArchiveOutcome) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "file": str(outcome.path),
        "image": outcome.image,
        "id": outcome.image_id,
        "size": outcome.size,
        "sha256": outcome.sha256,
        "documents": list(outcome.extras),
    }
