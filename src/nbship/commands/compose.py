"""compose: a compose.yaml (and the token in .env) that serves the project with `docker compose up`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nbship import contract as c
from nbship.commands.build import build_project
from nbship.engine import connect
from nbship.errors import ProjectError, UsageError
from nbship.options import BuildOptions, ComposeOptions
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.project.text import read_text
from nbship.references import validate_reference
from nbship.render import compose as compose_render
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import servers, volumes
from nbship.sources.open import ProjectPath, open_project


@dataclass(frozen=True)
class ComposeOutcome:
    compose_file: Path
    env_file: Path
    image: str
    volume: str
    notes: tuple[str, ...]


def compose(
    *,
    path: ProjectPath,
    options: ComposeOptions | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> ComposeOutcome:
    """Writes compose.yaml (and the token into .env, 0600, ignored by git) beside the project; for a
    fetched project, whose copy is nbship's, into the current folder."""
    options = options or ComposeOptions()
    reporter = reporter or RecordingReporter()
    project = open_project(path, reporter=reporter)
    folder = Path.cwd() if project.origin else project.root
    target = folder / "compose.yaml"
    if (
        target.exists()
        and not options.force
        and not compose_render.written_by_nbship(target.read_text(encoding="utf-8", errors="replace"))
    ):
        raise ProjectError(
            f"{target} exists and nbship did not write it, so it was left alone. Pass --force to "
            "replace it (your file will be overwritten), or move it away first."
        )
    if options.token is not None and len(options.token) < 16:
        raise UsageError("--token is too short to protect the server: use at least 16 characters.")
    if options.image and project.input(DockerfileInput) is None:
        # nbship's own image of this project: its work folder is the contract's, so no daemon is asked.
        chosen, workdir = validate_reference(options.image), c.WORKDIR
    elif options.image:
        chosen = validate_reference(options.image)
        workdir = servers.image_workdir(connect().image(chosen))
    else:
        outcome = build_project(connect(), project, build_options or BuildOptions(), reporter)
        chosen, workdir = outcome.image, servers.image_workdir(outcome.info)
    chosen_port = options.port or project.settings.port or c.CONTAINER_PORT
    if not 0 < chosen_port < 65536:
        raise UsageError(f"--port {chosen_port} is not a port number (1-65535).")
    volume = volumes.volume_name(project.project_id)
    text = compose_render.render_compose(
        compose_render.ComposeSpec(
            title=project.name,
            image=chosen,
            port=chosen_port,
            container_port=c.CONTAINER_PORT,
            workdir=workdir,
            volume=volume,
            labels=volumes.volume_labels(project.project_id, project.label),
        )
    )
    notes = _write_env(folder, options.token)
    target.write_text(text, encoding="utf-8")
    return ComposeOutcome(target, folder / ".env", chosen, volume, tuple(notes))


def _write_env(root: Path, token: str | None) -> list[str]:
    env_file = root / ".env"
    existing = read_text(env_file, env_file.name) if env_file.exists() else None
    kept = compose_render.token_in(existing) if existing else None
    text, changed = compose_render.env_with_token(existing, token or kept or servers.new_token(), replace=bool(token))
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
    added = compose_render.gitignore_with(read_text(gitignore, gitignore.name) if gitignore.exists() else None, ".env")
    if added is not None:
        gitignore.write_text(added, encoding="utf-8")
        notes.append("added .env to .gitignore, so the token is never committed")
    return notes
