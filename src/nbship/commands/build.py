"""Building: the Dockerfile from the project's plan, locks, and the image (only when inputs changed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker.utils.build

from nbship import __version__, locking
from nbship.engine.build import Builder, BuilderChoice, BuildRequest, build_image, choose_builder
from nbship.engine.client import DockerClient
from nbship.errors import ProjectError, UsageError
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
    strip: bool | None = None  # None: the project's `strip` setting (default on)
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


def lock(*, path: Path, options: LockOptions | None = None) -> list[LockOutcome]:
    """Writes the project's locks (nbship.lock for environment.yml, requirements.lock for pip) unless current."""
    return locking.lock_project(detect(path), options or LockOptions())


def build_project(client: DockerClient, project: Project, options: BuildOptions, reporter: Reporter) -> BuildOutcome:
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
    return build_project(DockerClient(), project, options, reporter or RecordingReporter())
