"""Building: the Dockerfile from the project's plan, locks, and the image (only when inputs changed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from nbship import __version__
from nbship import contract as c
from nbship.commands import rendered
from nbship.commands import reproducible as repro
from nbship.commands.fresh import BuildInputs, BuildOutcome, up_to_date_message
from nbship.commands.source_date import git as _git
from nbship.commands.source_date import source_date
from nbship.engine import Engine
from nbship.engine.base import Builder, BuildRequest
from nbship.engine.buildlog import NotInContext
from nbship.engine.info import ImageInfo
from nbship.errors import BuildError, ProjectError, UsageError
from nbship.ignore import Matcher, Pattern
from nbship.ignore import lines as ignore_lines
from nbship.lock import manage as locks
from nbship.options import BuildOptions, ImageOptions
from nbship.project.detect import Project
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.project.plan import BuildPlan, make_plan, notebook_uid, python_of
from nbship.references import split_reference, validate_reference
from nbship.render import support
from nbship.render.dockerignore import context_entries, context_patterns, render_dockerignore
from nbship.reporter import RecordingReporter, Reporter
from nbship.sources.open import ProjectPath, open_project, refuse_fetched
from nbship.values import public_url
from nbship.writing import NewFile, preflight, write_all


def default_tag(project: Project) -> str:
    # A fetched project is tagged after its ref (repo:v1.2), so two refs of one repository coexist.
    return project.settings.image or f"{project.slug}:{project.origin.tag if project.origin else 'latest'}"


def plan_for(
    project: Project, options: ImageOptions, *, buildkit: bool, own_folder: bool = False, mount_context: bool = True
) -> BuildPlan:
    """The plan of the project's image; `own_folder`: the support files come from .nbship-image/;
    `mount_context`: the builder keys a step on the context it mounts (BuildKit does)."""
    support_image = None if own_folder else support.support_image()
    return make_plan(project, options, buildkit=buildkit, support_image=support_image, mount_context=mount_context)


def dockerfile(
    *, path: ProjectPath, options: ImageOptions | None = None, buildkit: bool = True, reporter: Reporter | None = None
) -> str:
    """The Dockerfile nbship builds for the project (the project's own one when it has it)."""
    project = open_project(path, reporter=reporter)
    own = project.input(DockerfileInput)
    if own is not None:
        return own.text()
    return rendered.dockerfile(plan_for(project, options or ImageOptions(), buildkit=buildkit))


def init(
    *,
    path: ProjectPath,
    options: ImageOptions | None = None,
    buildkit: bool = True,
    channel_auth: Path | None = None,
    force: bool = False,
) -> list[Path]:
    """Writes the Dockerfile, nbship's support files beside it (.nbship-image/) and a .dockerignore
    when there is none, so that a plain `docker build` works on the project folder."""
    refuse_fetched(path, "write a Dockerfile and its support files into it")
    project = open_project(path)
    # Where detection looks for it: binder/Dockerfile in a project with a binder/ folder.
    target = project.config_dir / "Dockerfile"
    own = project.input(DockerfileInput)
    if own is not None and not force:
        raise ProjectError(
            f"{project.rel(own.path)} already exists and nbship builds it as is. "
            "To replace it with nbship's, run `nbship init --force` (your file will be overwritten)."
        )
    generated = dataclasses.replace(project, inputs=tuple(i for i in project.inputs if i is not own))
    # Built by whatever the user runs, Buildah too: the copy of the project is a COPY step.
    plan = plan_for(generated, options or ImageOptions(), buildkit=buildkit, own_folder=True, mount_context=False)
    text = rendered.dockerfile(plan)
    files = [NewFile(target, text.encode())]
    files += [NewFile(path, data, mode) for path, data, mode in support.folder_files(project.root)]
    if project.dockerignore is None:
        files.append(NewFile(project.root / ".dockerignore", render_dockerignore().encode()))
    preflight(files, root=project.root)
    # The Dockerfile installs nbship.lock: write it now, so that a plain `docker build` works too.
    locks.ensure_locks(generated, python=plan.python.version, channel_auth=channel_auth, reporter=RecordingReporter())
    return write_all(files, root=project.root)


def _source_labels(project: Project) -> dict[str, str]:
    """Where the image's content came from: the fetched reference and what it resolved to, or the
    folder's git checkout (never a local path: pushed images would carry it to everyone)."""
    if project.origin is not None:
        return {
            c.OCI_SOURCE: project.origin.source_url,
            c.OCI_REVISION: project.origin.revision,
            c.LABEL_SOURCE: project.origin.reference,
        }
    revision = _git(project.root, "rev-parse", "HEAD")
    if revision and _git(project.root, "status", "--porcelain"):
        revision += "-dirty"
    # No local path as a fallback: pushed images would carry it to everyone who pulls them. Nor
    # the credentials a remote may have been cloned with (https://user:token@host/...).
    remote = _git(project.root, "config", "--get", "remote.origin.url")
    source = public_url(remote) if remote else None
    return {**({c.OCI_SOURCE: source} if source else {}), c.OCI_REVISION: revision or "unversioned"}


def _labels(project: Project, fingerprint: str) -> dict[str, str]:
    return {
        **_source_labels(project),
        c.OCI_CREATED: dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        c.OCI_TITLE: project.name,
        c.LABEL_VERSION: __version__,
        c.LABEL_PROJECT_ID: project.project_id,
        c.LABEL_FINGERPRINT: fingerprint,
    }


def fingerprint(root: Path, dockerfile_text: str, ignore: tuple[Pattern, ...]) -> str:
    """Changes whenever a build could give another image: any file's name, size, time or mode,
    the Dockerfile, or the ignore list. Only stats files, so it is cheap on large data."""
    digest = hashlib.sha256()
    digest.update(dockerfile_text.encode())
    digest.update("\n".join(ignore_lines(ignore)).encode())
    for entry in context_entries(root, ignore):
        stat = entry.stat
        digest.update(f"\0{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_mode}".encode())
    return digest.hexdigest()[:32]


def own_dockerfile_notice(project: Project) -> str:
    own = project.input(DockerfileInput)
    assert own is not None
    return f"Using the project's own {project.rel(own.path)} as is (as Binder does)."


def _dockerfile_text(
    project: Project, options: BuildOptions, builder: Builder, reporter: Reporter
) -> tuple[str, str, str | None]:
    """The Dockerfile to build, the Python version it is for (locks are made for that one), and its
    base image (None for the project's own Dockerfile)."""
    own = project.input(DockerfileInput)
    if own is not None:
        reporter.info(own_dockerfile_notice(project))
        return own.text(), python_of(project).version, None
    buildkit = builder.kind == "buildkit"
    plan = plan_for(project, options.image, buildkit=buildkit, mount_context=builder.mounts_keyed)
    return rendered.dockerfile(plan), plan.python.version, plan.base_image


def base_digest(engine: Engine, base_image: str) -> str:
    """The base image's digest as this engine has it: its registry digest when it was pulled, else
    its image id (a local image has no other); empty when the build will pull it."""
    found = engine.image(base_image)
    if found is None:
        return ""
    wanted = split_reference(base_image)
    if wanted.digest:
        return wanted.digest
    for digest in found.repo_digests:
        name, _, value = digest.partition("@")
        if (split_reference(name).domain, split_reference(name).path) == (wanted.domain, wanted.path):
            return value
    return found.id


def sbom_build_args(engine: Engine, project: Project, base_image: str | None) -> dict[str, str]:
    """What the SBOM step of nbship's Dockerfile reads: the base image's digest and the build's clock."""
    if base_image is None:
        return {}
    args = {c.BASE_DIGEST_ENV: base_digest(engine, base_image)}
    clock = source_date(project.root)
    if clock is not None:
        args[c.SOURCE_DATE_EPOCH_ENV] = str(clock.epoch)
    return args


def own_build_args(project: Project, options: ImageOptions) -> dict[str, str]:
    """What Binder passes to a project's own Dockerfile, so its `ARG NB_USER` / `ARG NB_UID` lines
    name the notebook user (nbship's own Dockerfile has them written in)."""
    if project.input(DockerfileInput) is None:
        return {}
    # The same uid nbship's own Dockerfile would have: --user-id, else the settings.
    return {c.NB_USER_ENV: c.NB_USER, c.NB_UID_ENV: str(notebook_uid(project, options))}


def ca_secret_files(options: BuildOptions) -> tuple[tuple[str, Path], ...]:
    if options.ca_bundle is None:
        return ()
    bundle = options.ca_bundle.expanduser().resolve()
    if not bundle.is_file():
        raise UsageError(
            f"The CA bundle {options.ca_bundle} does not exist. Give the path of a PEM file (--ca-bundle)."
        )
    return ((c.CA_SECRET, bundle),)


def ensure_support_image(engine: Engine) -> None:
    """The image holding nbship's support files, made on this engine when it lacks it."""
    reference = support.support_image()
    if engine.image(reference) is None:
        repository, tag = reference.rsplit(":", 1)
        engine.import_image(support.support_archive(), repository=repository, tag=tag)


def build_project(engine: Engine, project: Project, options: BuildOptions, reporter: Reporter) -> BuildOutcome:
    tag = validate_reference(options.tag or default_tag(project))
    for item in project.ignored:
        reporter.warn(item.reason)
    secrets = ca_secret_files(options)
    choice = options.builder or project.settings.builder
    builder = engine.choose_builder(choice, needs_secrets=bool(secrets))
    text, python, base_image = _dockerfile_text(project, options, builder, reporter)
    locks.ensure_locks(project, python=python, channel_auth=options.channel_auth, reporter=reporter)
    ignore = context_patterns(project)
    build_args = {**own_build_args(project, options.image), **sbom_build_args(engine, project, base_image)}
    # Build arguments change the image as much as the Dockerfile does.
    arg_lines = "".join(f"\n# build-arg {key}={value}" for key, value in sorted(build_args.items()))
    reproducible = repro.wanted(project, options)
    when = repro.clock(project, reporter) if reproducible else None
    wanted = (
        repro.content_fingerprint(project.root, text + arg_lines, ignore)
        if reproducible
        else fingerprint(project.root, text + arg_lines, ignore)
    )
    # What a no-change build of this project says again, for the record of this build (fresh.py).
    notices = [("warn", item.reason) for item in project.ignored]
    if base_image is None:
        notices.append(("info", own_dockerfile_notice(project)))
    inputs = BuildInputs(ignore_lines(ignore), wanted, base_image, tuple(notices), engine.name)
    existing = engine.image(tag)
    fresh = existing is not None and existing.labels.get(c.LABEL_FINGERPRINT) == wanted
    if existing is not None and fresh and not (options.rebuild or options.no_cache):
        reporter.info(up_to_date_message(tag))
        return BuildOutcome(tag, existing.id, existing.size, "none", False, existing, inputs=inputs)
    ensure_support_image(engine)  # the own Dockerfile's image gets its SBOM from it too
    reporter.info(f"Building {tag} with {builder.description}.")
    with locks.build_secrets(project, channel_auth=options.channel_auth, gateway=engine.build_host) as extra:
        if extra and builder.kind != "buildkit":
            builder = engine.choose_builder(choice, needs_secrets=True)  # says why it cannot
        request = BuildRequest(
            context=project.root,
            dockerfile=text,
            ignore=ignore_lines(ignore),
            tag=tag,
            builder=builder,
            labels=repro.labels(project, _labels(project, wanted), when) if when else _labels(project, wanted),
            secrets=(*secrets, *extra),
            build_args=build_args,
            no_cache=options.no_cache,
        )
        try:
            report = engine.build(request, reporter)
        except NotInContext as exc:
            raise _not_in_context(project, ignore, exc) from exc
    own = project.input(DockerfileInput)
    if own is not None:
        from nbship.commands.own_sbom import add_sbom, final_base  # the project's own Dockerfile only

        base = final_base(text)
        own_args = {**(sbom_build_args(engine, project, base) if base else {}), **build_args}
        plain = engine.image(tag)
        if add_sbom(engine, project, tag, builder, base, own_args, reporter) and plain is not None:
            engine.remove_untagged_image(plain.id)  # the image without its SBOM: left dangling otherwise
    built: ImageInfo | None
    if when is not None:
        from nbship.runtime.reproducible import normalize_image  # tar and image tools: only when asked

        built = normalize_image(engine, tag, when.epoch)
    else:
        built = engine.image(tag)
    assert built is not None, "engine.build checks that the tag exists"
    if existing is not None and existing.id != built.id:
        # The image this tag named before is now dangling; without this every rebuild would leave one.
        engine.remove_untagged_image(existing.id)
    return BuildOutcome(tag, built.id, built.size, builder.description, True, built, report, inputs)


def _not_in_context(project: Project, ignore: tuple[Pattern, ...], exc: NotInContext) -> BuildError:
    """Which line of which ignore list left out the file a COPY names, and what to do about it."""
    deciding = Matcher(ignore).deciding(exc.path)
    if deciding is not None and not deciding.exclusion:
        if deciding.line is not None:
            return BuildError(
                f"The build copies {exc.path}, but the project's .dockerignore leaves it out of the build context "
                f"(line {deciding.line}: '{deciding.text}'). Remove that line, or add the line '!{exc.path}' after it.",
                details=exc.details,
            )
        return BuildError(
            f"The build copies {exc.path}, but nbship never sends a file matching '{deciding.text}' into a build "
            "(secrets, version control data, caches and virtualenvs stay out of images). Rename or move the file.",
            details=exc.details,
        )
    if not (project.root / exc.path).exists():
        return BuildError(
            f"The build copies {exc.path}, which the project does not have. Create it, or change the "
            "Dockerfile line that copies it.",
            details=exc.details,
        )
    return exc
