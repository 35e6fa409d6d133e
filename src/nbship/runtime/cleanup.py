"""Removing what nbship made: its stopped containers, its images, its build cache and (when asked)
its volumes. Only what carries nbship's marks is ever touched: its labels, its own image
repositories, and build steps of its Dockerfiles (which name nbship's folders and secrets)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbship import contract as c
from nbship.engine.base import ContainerInfo, Engine, ImageInfo
from nbship.errors import DockerCommandError, NotFoundError
from nbship.reporter import Reporter
from nbship.runtime import volumes

_RECORD_ID = re.compile(r"^[A-Za-z0-9]+$")
# Text only nbship's own Dockerfile steps hold: its folders in the image, its build secrets.
_CACHE_MARKS = (c.NBSHIP_DIR, f"{c.SECRET_DIR}/{c.CA_SECRET}")
# Images nbship imports itself (no labels: they are files, not builds).
_OWN_REPOSITORIES = (c.SUPPORT_REPOSITORY, c.HELPER_REPOSITORY)


@dataclass(frozen=True)
class Scope:
    """Whose things: one project (its id), or everything nbship made on this engine."""

    project_id: str | None  # None: every project
    label: str  # for messages
    image_identity: str | None = None  # what reproducible images name the project by (not the folder)


@dataclass(frozen=True)
class RemovedImage:
    name: str  # its tags, or its id when it had none
    size: int  # bytes no other image shared


@dataclass(frozen=True)
class CleanOutcome:
    containers: tuple[str, ...]
    images: tuple[RemovedImage, ...]
    volumes: tuple[str, ...]
    kept: tuple[str, ...]  # what stayed and why, one sentence each
    build_cache: int  # bytes of build cache removed
    freed: int  # bytes the engine's storage shrank by, build cache included


def _ours(container: ContainerInfo, scope: Scope) -> bool:
    labels = container.labels
    if scope.project_id is None:
        return labels.get(c.LABEL_MANAGED) == "true" or labels.get(c.LABEL_CHECK) == "true"
    return scope.project_id in {labels.get(c.LABEL_PROJECT_ID), labels.get(c.LABEL_RUN), labels.get(c.LABEL_HUB)}


def _containers(engine: Engine, scope: Scope) -> list[ContainerInfo]:
    found = {
        item.id: item
        for labels in ({c.LABEL_MANAGED: "true"}, {c.LABEL_CHECK: "true"})
        for item in engine.containers(labels=labels, all=True)
    }
    return sorted((item for item in found.values() if _ours(item, scope)), key=lambda item: item.name)


def _images(engine: Engine, scope: Scope) -> list[ImageInfo]:
    if scope.project_id is not None:
        names = sorted({scope.project_id, scope.image_identity or scope.project_id})
        found = {i.id: i for name in names for i in engine.images(labels={c.LABEL_PROJECT_ID: name})}
        return list(found.values())
    # Every image nbship builds carries its version label; the support images are nbship's by name.
    return [image for image in engine.images() if c.LABEL_VERSION in image.labels or _own_repository(image)]


def _own_repository(image: ImageInfo) -> bool:
    return any(tag.rsplit(":", 1)[0] in _OWN_REPOSITORIES for tag in image.tags)


def _remove_image(engine: Engine, image: ImageInfo) -> bool:
    try:
        for tag in image.tags:
            engine.remove_image(tag)
        if not image.tags or engine.image(image.id) is not None:
            engine.remove_image(image.id)
    except NotFoundError:
        return True
    except DockerCommandError:
        return False  # a container of another tool uses it, or a child image: it stays
    return True


def nbship_cache_records(engine: Engine) -> tuple[str, ...]:
    return tuple(
        record.id
        for record in engine.disk_usage().build_cache
        if not record.in_use
        and _RECORD_ID.match(record.id)
        and any(mark in record.description for mark in _CACHE_MARKS)
    )


def clean(engine: Engine, scope: Scope, *, volumes_too: bool, reporter: Reporter) -> CleanOutcome:
    before = engine.disk_usage()
    kept: list[str] = []
    removed_containers: list[str] = []
    busy_images: set[str] = set()
    for container in _containers(engine, scope):
        if container.status in {"running", "restarting", "paused"}:
            busy_images.add(container.image_id)
            kept.append(f"{container.name} is running (`nbship down` stops a server)")
            continue
        engine.remove_container(container.id)
        removed_containers.append(container.name)
    removed_images: list[RemovedImage] = []
    # Containers nbship did not make may use its images too: those images stay whole.
    others = {item.image_id: item.name for item in engine.containers(labels={}, all=True)}
    for image in sorted(_images(engine, scope), key=lambda item: item.tags or (item.id,)):
        name = ", ".join(image.tags) or image.id[:19]
        if image.id in busy_images:
            kept.append(f"{name}: a running container uses it")
        elif image.id in others:
            kept.append(f"{name}: the container {others[image.id]} uses it")
        elif _remove_image(engine, image):
            removed_images.append(RemovedImage(name, before.unique_sizes.get(image.id, 0)))
        else:
            kept.append(f"{name}: Docker refused to remove it (another image or container depends on it)")
    removed_volumes = _clean_volumes(engine, scope, kept, reporter) if volumes_too else []
    cache = engine.prune_build_cache(nbship_cache_records(engine)) if scope.project_id is None else 0
    after = engine.disk_usage()
    return CleanOutcome(
        containers=tuple(removed_containers),
        images=tuple(removed_images),
        volumes=tuple(removed_volumes),
        kept=tuple(kept),
        build_cache=cache,
        freed=max(0, before.layers_size - after.layers_size) + cache,
    )


def _clean_volumes(engine: Engine, scope: Scope, kept: list[str], reporter: Reporter) -> list[str]:
    candidates = _volumes(engine, scope)
    if candidates:
        reporter.info(f"Removing {len(candidates)} volume(s), with the work in them: {', '.join(candidates)}.")
    removed = []
    for name in candidates:
        users = engine.containers_using(name)
        if users:
            kept.append(f"the volume {name}: used by {', '.join(sorted(u.name for u in users))}")
            continue
        volumes.remove(engine, name)
        removed.append(name)
    return removed


def _volumes(engine: Engine, scope: Scope) -> list[str]:
    managed = engine.volumes(labels={c.LABEL_MANAGED: "true"})
    if scope.project_id is None:
        return sorted(volume.name for volume in managed)
    own = volumes.volume_name(scope.project_id)
    return sorted(
        volume.name
        for volume in managed
        if volume.labels.get(c.LABEL_PROJECT_ID) == scope.project_id or volume.name == own
    )
