"""nbship's Python API: what the CLI, the tests and other programs call. Keyword-only, typed,
no printing and no exiting: results are returned, problems raised as NbshipError."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.utils.build

from nbship import __version__
from nbship.engine import containers, registry, volumes
from nbship.engine.build import Builder, BuilderChoice, BuildRequest, build_image, choose_builder
from nbship.engine.client import DockerClient, docker_cli
from nbship.errors import NotFoundError, ProjectError, RunError, UsageError
from nbship.project.detect import Project, detect, slugify
from nbship.project.plan import BuildPlan, Installer, PlanOptions, make_plan
from nbship.references import validate_reference
from nbship.render import compose as compose_render
from nbship.render.dockerfile import render_dockerfile
from nbship.render.dockerignore import ignore_patterns, render_dockerignore
from nbship.reporter import RecordingReporter, Reporter

LABEL_FINGERPRINT = "io.nbship.fingerprint"


@dataclass(frozen=True)
class BuildOptions:
    tag: str | None = None
    base_image: str | None = None
    user_id: int = 1000
    installer: Installer = "uv"
    builder: BuilderChoice = "auto"
    ca_bundle: Path | None = None
    no_cache: bool = False
    rebuild: bool = False  # build even when no input changed
    strip: bool | None = None  # None: the project's `strip` setting (default on)


@dataclass(frozen=True)
class BuildOutcome:
    image: str
    image_id: str
    size: int
    builder: str
    built: bool  # False: the image was up to date and no build ran


def _plan(project: Project, options: BuildOptions, *, buildkit: bool) -> BuildPlan:
    if not 0 < options.user_id < 2**31:
        raise UsageError(
            f"--user-id {options.user_id} cannot be the notebook user's id: it must be a non-root uid "
            "(1 or more), such as 1000 or your own `id -u`."
        )
    base = options.base_image or project.settings.base_image
    if base is not None:
        validate_reference(base, what="base image")
    return make_plan(
        project,
        PlanOptions(
            base_image=options.base_image,
            user_id=options.user_id,
            installer=options.installer,
            buildkit=buildkit,
            strip=options.strip,
        ),
    )


def default_tag(project: Project) -> str:
    return project.settings.image or f"{project.slug}:latest"


def dockerfile(*, path: Path, options: BuildOptions = BuildOptions(), buildkit: bool = True) -> str:
    """The Dockerfile nbship builds for the project (the project's own one when it has it)."""
    project = detect(path)
    if project.dockerfile is not None:
        return project.dockerfile.read_text(encoding="utf-8")
    return render_dockerfile(_plan(project, options, buildkit=buildkit))


def init(*, path: Path, options: BuildOptions = BuildOptions(), force: bool = False) -> list[Path]:
    """Writes the Dockerfile (and a .dockerignore when there is none) into the project."""
    project = detect(path)
    # Where detection looks for it: binder/Dockerfile in a project with a binder/ folder.
    target = project.config_dir / "Dockerfile"
    if project.dockerfile is not None and not force:
        raise ProjectError(
            f"{project.rel(project.dockerfile)} already exists and nbship builds it as is. "
            "To replace it with nbship's, run `nbship init --force` (your file will be overwritten)."
        )
    text = render_dockerfile(_plan(project, options, buildkit=True))
    target.write_text(text, encoding="utf-8")
    written = [target]
    if project.dockerignore is None:
        ignore = project.root / ".dockerignore"
        ignore.write_text(render_dockerignore(None), encoding="utf-8")
        written.append(ignore)
    return written


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _labels(project: Project, fingerprint: str) -> dict[str, str]:
    revision = _git(project.root, "rev-parse", "HEAD")
    if revision and _git(project.root, "status", "--porcelain"):
        revision += "-dirty"
    # No local path as a fallback: pushed images would carry it to everyone who pulls them.
    source = _git(project.root, "config", "--get", "remote.origin.url")
    return {
        **({"org.opencontainers.image.source": source} if source else {}),
        "org.opencontainers.image.revision": revision or "unversioned",
        "org.opencontainers.image.created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.title": project.name,
        "io.nbship.version": __version__,
        "io.nbship.project-id": project.project_id,
        LABEL_FINGERPRINT: fingerprint,
    }


def fingerprint(root: Path, dockerfile_text: str, ignore: list[str]) -> str:
    """Changes whenever a build could give another image: any file's name, size, time or mode,
    the Dockerfile, or the ignore list. Only stats files, so it is cheap on large data."""
    digest = hashlib.sha256()
    digest.update(dockerfile_text.encode())
    digest.update("\n".join(ignore).encode())
    for rel in sorted(docker.utils.build.exclude_paths(str(root), ignore)):
        try:
            stat = (root / rel).lstat()
        except OSError:
            continue
        digest.update(f"\0{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_mode}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Prepared:
    builder: Builder
    request: BuildRequest


def _prepare(project: Project, options: BuildOptions, reporter: Reporter) -> _Prepared:
    tag = validate_reference(options.tag or default_tag(project))
    builder = choose_builder(options.builder, ca_bundle=options.ca_bundle)
    ignore = ignore_patterns(project.dockerignore)
    if project.dockerfile is not None:
        reporter.info(f"Using the project's own {project.rel(project.dockerfile)} as is (as Binder does).")
        text = project.dockerfile.read_text(encoding="utf-8")
    else:
        text = render_dockerfile(_plan(project, options, buildkit=builder.kind == "buildkit"))
    inputs = fingerprint(project.root, text, ignore)
    request = BuildRequest(
        context=project.root,
        dockerfile=text,
        ignore=tuple(ignore),
        tag=tag,
        labels=_labels(project, inputs),
        ca_bundle=options.ca_bundle.expanduser().resolve() if options.ca_bundle else None,
        no_cache=options.no_cache,
    )
    return _Prepared(builder, request)


def _build_project(client: DockerClient, project: Project, options: BuildOptions, reporter: Reporter) -> BuildOutcome:
    prepared = _prepare(project, options, reporter)
    request = prepared.request
    existing = client.image(request.tag)
    wanted = request.labels[LABEL_FINGERPRINT]
    fresh = existing is not None and (existing.labels or {}).get(LABEL_FINGERPRINT) == wanted
    if existing is not None and fresh and not (options.rebuild or options.no_cache):
        reporter.info(f"{request.tag} is up to date: nothing in the project changed since it was built.")
        return BuildOutcome(request.tag, str(existing.id), int(existing.attrs.get("Size", 0)), "none", False)
    reporter.info(f"Building {request.tag} with {prepared.builder.description}.")
    result = build_image(client, prepared.builder, request, reporter)
    if existing is not None and existing.id != result.image_id:
        # The image this tag named before is now dangling; without this every rebuild would leave one.
        client.remove_untagged_image(str(existing.id))
    return BuildOutcome(result.image, result.image_id, result.size, result.builder.description, True)


def build(*, path: Path, options: BuildOptions = BuildOptions(), reporter: Reporter | None = None) -> BuildOutcome:
    """Builds the project's image when its inputs changed since the last build."""
    project = detect(path)
    return _build_project(DockerClient(), project, options, reporter or RecordingReporter())


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
        image = _build_project(client, project, build_options, reporter).image
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
    chosen = validate_reference(image) if image else _build_project(client, project, build_options, reporter).image
    reporter.info(f"No running container for this project: opening a shell in a new one from {chosen}.")
    code = client.run_cli(docker_cli(), ["run", "--rm", *flags, chosen, *command])
    if code == 125:
        raise RunError(f"docker could not start a container from {chosen} (exit code 125); see the message above.")
    return code


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
    chosen = validate_reference(image) if image else _build_project(client, project, build_options, reporter).image
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
        source = _build_project(client, detect(path or Path(".")), build_options, reporter).image
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


__all__ = [
    "BuildOptions",
    "BuildOutcome",
    "ComposeOutcome",
    "DownOutcome",
    "UpOptions",
    "build",
    "compose",
    "dockerfile",
    "down",
    "follow",
    "init",
    "login",
    "logs",
    "push",
    "shell",
    "status",
    "up",
    "volume_create",
    "volume_export",
    "volume_import",
    "volume_list",
    "volume_remove",
]
