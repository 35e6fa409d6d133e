"""What `--json` prints, command by command: the one place its field names are spelled (the README
lists them; a field keeps its name and meaning once released, new ones may be added)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbship.api import (
        ArchiveOutcome,
        BuildOutcome,
        CleanOutcome,
        HubOutcome,
        HubStatus,
        LockOutcome,
        PushOutcome,
        Server,
        WorkVolume,
    )
    from nbship.hub.client import HubUser
    from nbship.hub.runtime import Hub

FORMAT = 1  # bumped when a field changes meaning or goes away


def build(outcome: BuildOutcome) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "image": outcome.image,
        "id": outcome.image_id,
        "size": outcome.size,
        "built": outcome.built,
        "from_record": outcome.from_record,
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


def _hub(found: Hub) -> dict[str, Any]:
    return {
        "project": found.project_path,
        "url": found.url,
        "port": found.port,
        "bind": found.bind,
        "image": found.image,
        "container": found.container_name,
        "status": found.status,
        "swarm": found.swarm,
    }


def _hub_users(users: tuple[HubUser, ...], passwords: dict[str, str] | None = None) -> dict[str, Any]:
    made = passwords or {}
    return {
        user.name: {
            "admin": user.admin,
            **({"password": made.get(user.name)} if passwords is not None else {}),
            "server": user.server,
            "url": user.url,
            "last_activity": user.last_activity,
        }
        for user in users
    }


def hub(outcome: HubOutcome) -> dict[str, Any]:
    """`hub up`: a password is there only when it was made now (null: the user keeps theirs)."""
    return {
        "format": FORMAT,
        **_hub(outcome.hub),
        "started": outcome.started,
        "admin_token": outcome.admin_token,
        "users": _hub_users(outcome.users, dict(outcome.passwords)),
    }


def hubs(found: list[HubStatus]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "hubs": [
            {
                **_hub(item.hub),
                "admin_token": item.admin_token,
                "users": _hub_users(item.users),
                "note": item.note or None,
            }
            for item in found
        ],
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
