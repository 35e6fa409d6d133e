"""Sharing: compose files, registries, and the volumes that keep the work."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nbship.commands.build import BuildOptions, build_project
from nbship.engine import containers, registry, volumes
from nbship.engine.client import DockerClient
from nbship.errors import NotFoundError, ProjectError, UsageError
from nbship.project.detect import detect
from nbship.references import validate_reference
from nbship.render import compose as compose_render
from nbship.reporter import RecordingReporter, Reporter


@dataclass(frozen=True)
class ComposeOutcome:
    compose_file: Path
    env_file: Path
    image: str
    volume: str
    notes: tuple[str, ...]


def compose(
    *,
    path: Path,
    image: str | None = None,
    port: int | None = None,
    token: str | None = None,
    force: bool = False,
    build_options: BuildOptions = BuildOptions(),
    reporter: Reporter | None = None,
) -> ComposeOutcome:
    """Writes compose.yaml (and the token into .env, 0600, ignored by git) beside the project."""
    reporter = reporter or RecordingReporter()
    project = detect(path)
    target = project.root / "compose.yaml"
    if target.exists() and not force and not compose_render.written_by_nbship(target.read_text(encoding="utf-8")):
        raise ProjectError(
            f"{project.rel(target)} exists and nbship did not write it, so it was left alone. Pass --force to "
            "replace it (your file will be overwritten), or move it away first."
        )
    if token is not None and len(token) < 16:
        raise UsageError("--token is too short to protect the server: use at least 16 characters.")
    client = DockerClient()
    chosen = validate_reference(image) if image else build_project(client, project, build_options, reporter).image
    chosen_port = port or project.settings.port or containers.CONTAINER_PORT
    if not 0 < chosen_port < 65536:
        raise UsageError(f"--port {chosen_port} is not a port number (1-65535).")
    volume = volumes.volume_name(project.project_id)
    text = compose_render.render_compose(
        compose_render.ComposeSpec(
            title=project.name,
            image=chosen,
            port=chosen_port,
            container_port=containers.CONTAINER_PORT,
            workdir=containers.image_workdir(client, chosen),
            volume=volume,
            labels=volumes.volume_labels(project.project_id, str(project.root)),
        )
    )
    notes = _write_env(project.root, token)
    target.write_text(text, encoding="utf-8")
    return ComposeOutcome(target, project.root / ".env", chosen, volume, tuple(notes))


def _write_env(root: Path, token: str | None) -> list[str]:
    env_file = root / ".env"
    existing = env_file.read_text(encoding="utf-8") if env_file.exists() else None
    kept = compose_render.token_in(existing) if existing else None
    text, changed = compose_render.env_with_token(
        existing, token or kept or containers.new_token(), replace=bool(token)
    )
    notes = []
    if changed:
        # Created 0600 from the start, so the token is never readable by others, even briefly.
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        notes.append(f"wrote the token into {env_file.name} (readable by you only)")
    else:
        notes.append(f"kept the token already in {env_file.name}")
    os.chmod(env_file, 0o600)
    gitignore = root / ".gitignore"
    added = compose_render.gitignore_with(gitignore.read_text(encoding="utf-8") if gitignore.exists() else None, ".env")
    if added is not None:
        gitignore.write_text(added, encoding="utf-8")
        notes.append("added .env to .gitignore, so the token is never committed")
    return notes


def push(
    *,
    to: str,
    path: Path | None = None,
    image: str | None = None,
    build_options: BuildOptions = BuildOptions(),
    reporter: Reporter | None = None,
) -> registry.PushOutcome:
    """Pushes `image` (or the project's image, built when needed) as `to`."""
    reporter = reporter or RecordingReporter()
    target = registry.validate_push_target(to)  # before any build or network work
    client = DockerClient()
    if image:
        source = validate_reference(image)
        if client.image(source) is None:
            raise NotFoundError(
                f"The image {source} is not on this machine: build it, or name one `docker images` lists."
            )
    else:
        source = build_project(client, detect(path or Path(".")), build_options, reporter).image
    reporter.info(f"Pushing {source} as {target}.")
    return registry.push(client, source, target, reporter)


def login(*, registry_host: str, username: str, password: str) -> str:
    if not username:
        raise UsageError("Give the user name with --username.")
    return registry.login(DockerClient(), registry_host, username, password)


def volume_list() -> list[volumes.VolumeInfo]:
    return volumes.list_volumes(DockerClient())


def volume_create(*, name: str) -> str:
    volumes.create(DockerClient(), name, {volumes.LABEL_MANAGED: "true"})
    return name


def volume_remove(*, name: str) -> volumes.VolumeInfo:
    return volumes.remove(DockerClient(), name)


def volume_export(*, name: str, dest: Path, force: bool = False) -> int:
    return volumes.export(DockerClient(), name, dest, force=force)


def volume_import(*, name: str, source: Path, owner: int = 1000) -> int:
    return volumes.import_(DockerClient(), name, source, {volumes.LABEL_MANAGED: "true"}, owner=owner)
