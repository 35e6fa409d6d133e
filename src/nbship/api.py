"""nbship's Python API: what the CLI, the tests and other programs call. Keyword-only, typed,
no printing and no exiting: results are returned, problems raised as NbshipError."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.utils.build

from nbship import __version__, locking
from nbship.engine import containers
from nbship.engine.build import Builder, BuilderChoice, BuildRequest, build_image, choose_builder
from nbship.engine.client import DockerClient, docker_cli
from nbship.errors import NotFoundError, ProjectError, RunError, UsageError
from nbship.locking import LockOptions, LockOutcome
from nbship.project.detect import Project, detect
from nbship.project.plan import BuildPlan, Installer, PlanOptions, make_plan
from nbship.references import validate_reference
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
    channel_auth: Path | None = None  # conda channel credentials (rattler's JSON format), a build secret only


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
            base_image=options.base_image, user_id=options.user_id, installer=options.installer, buildkit=buildkit
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
    # The Dockerfile installs nbship.lock: write it now, so that a plain `docker build` works too.
    generated = dataclasses.replace(project, dockerfile=None)
    locking.ensure_locks(generated, channel_auth=options.channel_auth, reporter=RecordingReporter())
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
    source = _git(project.root, "config", "--get", "remote.origin.url") or project.root.as_uri()
    return {
        "org.opencontainers.image.source": source,
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


def lock(*, path: Path, options: LockOptions | None = None) -> list[LockOutcome]:
    """Writes the project's locks (nbship.lock for environment.yml, requirements.lock for pip) unless current."""
    return locking.lock_project(detect(path), options or LockOptions())


def _build_project(client: DockerClient, project: Project, options: BuildOptions, reporter: Reporter) -> BuildOutcome:
    locking.ensure_locks(project, channel_auth=options.channel_auth, reporter=reporter)
    prepared = _prepare(project, options, reporter)
    request = prepared.request
    existing = client.image(request.tag)
    wanted = request.labels[LABEL_FINGERPRINT]
    fresh = existing is not None and (existing.labels or {}).get(LABEL_FINGERPRINT) == wanted
    if existing is not None and fresh and not (options.rebuild or options.no_cache):
        reporter.info(f"{request.tag} is up to date: nothing in the project changed since it was built.")
        return BuildOutcome(request.tag, str(existing.id), int(existing.attrs.get("Size", 0)), "none", False)
    reporter.info(f"Building {request.tag} with {prepared.builder.description}.")
    with locking.build_secrets(project, channel_auth=options.channel_auth, gateway=client.bridge_gateway) as secrets:
        result = build_image(client, prepared.builder, dataclasses.replace(request, secrets=secrets), reporter)
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
    ready_timeout: float = 180.0


def up(
    *,
    path: Path,
    options: UpOptions = UpOptions(),
    build_options: BuildOptions = BuildOptions(),
    reporter: Reporter | None = None,
) -> containers.Server:
    """Builds when needed, starts JupyterLab and returns once it answers."""
    reporter = reporter or RecordingReporter()
    project = detect(path)
    client = DockerClient()
    if options.token is not None and len(options.token) < 16:
        raise UsageError(
            "--token is too short to protect the server: use at least 16 characters (nbship's own are 64)."
        )
    if options.image:
        image = validate_reference(options.image)
        if client.image(image) is None:
            raise NotFoundError(
                f"The image {image} is not on this machine. Build it (nbship build -t {image}) or pull it first."
            )
    else:
        image = _build_project(client, project, build_options, reporter).image
    port = options.port or project.settings.port or containers.CONTAINER_PORT
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number (1-65535).")
    if options.bind != containers.LOOPBACK:
        reporter.warn(
            f"JupyterLab will be reachable from other machines on {options.bind}:{port}; only the token protects it."
        )
    run = containers.RunOptions(
        image=image,
        project_id=project.project_id,
        project_path=str(project.root),
        port=port,
        bind=options.bind,
        token=options.token,
        ready_timeout=options.ready_timeout,
    )
    reporter.step(f"starting JupyterLab from {image}")
    return containers.start_server(client, run, reporter)


def follow(*, server: containers.Server) -> Iterator[str]:
    return containers.follow_logs(DockerClient(), server)


def down(*, path: Path) -> containers.Server | None:
    """Stops and removes the project's container; None when there was none."""
    project = detect(path)
    return containers.stop_server(DockerClient(), project.project_id)


def logs(*, path: Path, follow: bool = False) -> Iterator[str]:
    project = detect(path)
    client = DockerClient()
    container = containers.find_project_container(client, project.project_id)
    if container is None:
        raise NotFoundError(f"No nbship container for {project.root}: start one with `nbship up {path}`.")
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


__all__ = [
    "BuildOptions",
    "BuildOutcome",
    "LockOptions",
    "LockOutcome",
    "UpOptions",
    "build",
    "dockerfile",
    "down",
    "follow",
    "init",
    "lock",
    "logs",
    "shell",
    "status",
    "up",
]
