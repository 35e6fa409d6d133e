"""Serving: JupyterLab from a project's image or any image, its work volume, logs and shells."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nbship.commands.build import BuildOptions, build_project
from nbship.engine import containers, registry, volumes
from nbship.engine.client import DockerClient, docker_cli
from nbship.errors import NotFoundError, RunError, UsageError
from nbship.project.detect import detect, slugify
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter


@dataclass(frozen=True)
class UpOptions:
    image: str | None = None  # run this image as given instead of building the project
    port: int | None = None
    token: str | None = None
    bind: str = containers.LOOPBACK
    mount: containers.MountKind = "volume"
    volume: str | None = None  # an existing named volume to use instead of the project's own
    ready_timeout: float = 180.0


@dataclass(frozen=True)
class Target:
    """Whose server it is: a project folder, or an image run with no project (`up --image REF`)."""

    project_id: str
    label: str  # the project's folder, or "image REF"
    root: Path | None
    port: int | None  # from the project's settings


def _target(client: DockerClient, path: Path | None, image: str | None) -> Target:
    if path is not None or image is None:
        project = detect(path or Path("."))
        return Target(project.project_id, str(project.root), project.root, project.settings.port)
    reference = validate_reference(image)
    found = client.image(reference)
    labels = (found.labels or {}) if found is not None else {}
    # Images nbship built carry the project's identity, so each project keeps one volume across tags.
    repository = reference.rsplit("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
    project_id = labels.get("io.nbship.project-id") or (
        f"{slugify(repository.rsplit('/', 1)[-1])}-{hashlib.sha256(repository.encode()).hexdigest()[:8]}"
    )
    return Target(project_id, f"image {reference}", None, None)


def _check_up_options(options: UpOptions) -> None:
    """What can be refused before any Docker work."""
    if options.token is not None and len(options.token) < 16:
        raise UsageError(
            "--token is too short to protect the server: use at least 16 characters (nbship's own are 64)."
        )
    if options.volume is not None and options.mount != "volume":
        raise UsageError(f"--volume attaches a named volume, so it cannot go with --mount {options.mount}.")
    if options.port is not None and not 0 < options.port < 65536:
        raise UsageError(f"--port {options.port} is not a port number (1-65535).")


def _work_mount(client: DockerClient, target: Target, options: UpOptions) -> containers.WorkMount:
    if options.mount == "none":
        return containers.WorkMount("none")
    if options.mount == "host":
        if target.root is None:
            raise UsageError("--mount host needs a project folder: give PATH, or use the default --mount volume.")
        return containers.WorkMount("host", str(target.root))
    if options.volume is not None:
        volumes.require(client, options.volume)
        return containers.WorkMount("volume", options.volume)
    name = volumes.volume_name(target.project_id)
    volumes.ensure(client, name, volumes.volume_labels(target.project_id, target.label))
    return containers.WorkMount("volume", name)


def _host_user(mount: containers.WorkMount, reporter: Reporter) -> str | None:
    """Who the server runs as on a bind-mounted checkout: files it writes there stay the user's."""
    if mount.kind != "host" or not hasattr(os, "getuid"):
        return None
    if os.getuid() != 0:
        return f"{os.getuid()}:{os.getgid()}"
    # Root on the host (sudo, CI): the folder's owner, not root, so no root-owned file appears in it.
    owner = Path(mount.source).stat()
    if owner.st_uid != 0:
        return f"{owner.st_uid}:{owner.st_gid}"
    reporter.warn(
        f"{mount.source} belongs to root, and JupyterLab runs as the image's notebook user, so it cannot save "
        "into it. Give the folder to your own user (chown), or use the default --mount volume."
    )
    return None


def up(
    *,
    path: Path | None = None,
    options: UpOptions = UpOptions(),
    build_options: BuildOptions = BuildOptions(),
    reporter: Reporter | None = None,
) -> containers.Server:
    """Builds when needed (or pulls `options.image`), starts JupyterLab and returns once it answers.

    With `options.image` and no `path`, the image is served on its own: it carries the notebooks,
    data and environment, and its work is kept in a volume named after the image's project."""
    reporter = reporter or RecordingReporter()
    _check_up_options(options)
    client = DockerClient()
    if options.image:
        image = validate_reference(options.image)
        if client.image(image) is None:
            registry.pull(client, image, reporter)
    else:
        project = detect(path or Path("."))
        image = build_project(client, project, build_options, reporter).image
    target = _target(client, path, options.image)
    port = options.port or target.port or containers.CONTAINER_PORT
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number (1-65535).")
    if options.bind != containers.LOOPBACK:
        reporter.warn(
            f"JupyterLab will be reachable from other machines on {options.bind}:{port}; only the token protects it."
        )
    mount = _work_mount(client, target, options)
    run = containers.RunOptions(
        image=image,
        project_id=target.project_id,
        project_path=target.label,
        mount=mount,
        port=port,
        bind=options.bind,
        token=options.token,
        user=_host_user(mount, reporter),
        ready_timeout=options.ready_timeout,
    )
    reporter.step(f"starting JupyterLab from {image}")
    server = containers.start_server(client, run, reporter)
    reporter.info(mount.describe() + ".")
    return server


def follow(*, server: containers.Server) -> Iterator[str]:
    return containers.follow_logs(DockerClient(), server)


@dataclass(frozen=True)
class DownOutcome:
    server: containers.Server | None
    removed_volumes: tuple[str, ...]
    kept_volumes: tuple[str, ...]


def down(
    *, path: Path | None = None, image: str | None = None, volumes_too: bool = False, reporter: Reporter | None = None
) -> DownOutcome:
    """Stops and removes the project's container. Its volume stays unless `volumes_too`."""
    reporter = reporter or RecordingReporter()
    client = DockerClient()
    target = _target(client, path, image)
    server = containers.stop_server(client, target.project_id)
    own = volumes.volume_name(target.project_id)
    kept: list[str] = []
    if server is not None and server.mount.startswith("volume:") and server.mount != f"volume:{own}":
        kept.append(server.mount.removeprefix("volume:"))
    if not volumes_too:
        if client.volume(own) is not None:
            kept.append(own)
        return DownOutcome(server, (), tuple(kept))
    removed: list[str] = []
    if client.volume(own) is not None:
        reporter.info(f"Removing the volume {own}: the work kept in it for {target.label} is deleted.")
        volumes.remove(client, own)
        removed.append(own)
    return DownOutcome(server, tuple(removed), tuple(kept))


def logs(*, path: Path | None = None, image: str | None = None, follow: bool = False) -> Iterator[str]:
    client = DockerClient()
    target = _target(client, path, image)
    container = containers.find_project_container(client, target.project_id)
    if container is None:
        how = f"--image {image}" if path is None and image else str(path or ".")
        raise NotFoundError(f"No nbship container for {target.label}: start one with `nbship up {how}`.")
    for chunk in client.logs(container, follow=follow):
        yield from chunk.decode(errors="replace").splitlines()


def status() -> list[containers.Server]:
    return containers.list_servers(DockerClient())


def shell(
    *,
    path: Path,
    image: str | None = None,
    build_options: BuildOptions = BuildOptions(),
    interactive_tty: bool = True,
    reporter: Reporter | None = None,
    command: tuple[str, ...] = ("/bin/bash",),
) -> int:
    """Runs an interactive shell in the project's running container, else in a new one from its image."""
    reporter = reporter or RecordingReporter()
    project = detect(path)
    client = DockerClient()
    flags = ["-it"] if interactive_tty else ["-i"]
    container = containers.find_project_container(client, project.project_id)
    if container is not None and container.status == "running":
        reporter.info(f"Opening a shell in the running container {container.name}.")
        return client.run_cli(docker_cli(), ["exec", *flags, str(container.name), *command])
    chosen = validate_reference(image) if image else build_project(client, project, build_options, reporter).image
    volume = volumes.volume_name(project.project_id)
    mount: list[str] = []
    if client.volume(volume) is not None:
        # The project's work, not a fresh copy: what the shell changes is what JupyterLab will see.
        mount = ["-v", f"{volume}:{containers.image_workdir(client, chosen)}"]
        reporter.info(f"No running container for this project: a new one from {chosen}, on the volume {volume}.")
    else:
        reporter.info(f"No running container for this project: opening a shell in a new one from {chosen}.")
    code = client.run_cli(docker_cli(), ["run", "--rm", *flags, *mount, chosen, *command])
    if code == 125:
        raise RunError(f"docker could not start a container from {chosen} (exit code 125); see the message above.")
    return code
