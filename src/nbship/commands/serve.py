"""Serving: JupyterLab from a project's image or any image, its work volume, logs and shells."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nbship import contract as c
from nbship import envvars
from nbship.commands.fresh import build_when_needed, lookup
from nbship.engine import Engine, connect
from nbship.engine.base import ContainerSpec, HostUser, ImageInfo, Mount
from nbship.errors import NbshipError, NotFoundError, RegistryError, UsageError
from nbship.options import BuildOptions, EngineChoice, Env, MountChoice, UpOptions
from nbship.project import identity
from nbship.project.identity import Identity, identify, slugify
from nbship.references import split_reference, validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.resources import Resources
from nbship.runtime import own_image, registry, servers, volumes
from nbship.runtime.servers import Server, WorkMount
from nbship.settings import Settings, env_name, load_settings
from nbship.sources.open import ProjectPath, engine_setting, open_identity, open_project, refuse_fetched


@dataclass(frozen=True)
class Target:
    """Whose container it is: a project folder, or an image run with no project (`up --image REF`)."""

    project_id: str
    label: str  # the project's folder (or source reference), or "image REF"
    root: Path | None
    settings: Settings  # the project's (its file and NBSHIP_* variables), or NBSHIP_* alone
    fetched: bool = False  # root is nbship's copy of a link's project: read-only input, never a work folder
    repository: str = ""  # the image's repository, for `up --image REF` with no project


def project_target(project: Identity) -> Target:
    return Target(project.project_id, project.label, project.root, project.settings, fetched=project.origin is not None)


def image_target(reference: str, image: ImageInfo | None) -> Target:
    # Images nbship built carry the project's identity, so each project keeps one volume across tags.
    parts = split_reference(reference)
    repository = f"{parts.domain}/{parts.path}" if parts.domain else parts.path
    project_id = (image.labels.get(c.LABEL_PROJECT_ID) if image else None) or identity.project_id(
        slugify(repository.rsplit("/", 1)[-1]), repository
    )
    return Target(project_id, f"image {reference}", None, load_settings(None)[0], repository=repository)


def connect_for(
    engine: EngineChoice | None, path: ProjectPath | None, image: str | None, reporter: Reporter | None
) -> Engine:
    """The engine of a command about a project's container: the project's setting decides unless
    the caller chose (an image alone has no project; a link's project is not fetched to decide)."""
    folder = path if isinstance(path, Path) else Path(".") if path is None and image is None else None
    return connect(engine, setting=engine_setting(identify(folder) if folder else None), reporter=reporter)


def target_of(engine: Engine, path: ProjectPath | None, image: str | None) -> Target:
    """Whose container `down` and `logs` look for: PATH's project, or an image run on its own."""
    if path is not None or image is None:
        # What already runs was started from what the reference resolved to then: no fetch needed.
        return project_target(open_identity(path or Path("."), refresh=False))
    reference = validate_reference(image)
    return image_target(reference, engine.image(reference))


def image_and_target(
    engine: Engine,
    path: ProjectPath | None,
    image: str | None,
    build_options: BuildOptions | None,
    reporter: Reporter,
    *,
    engine_choice: EngineChoice | None = None,
) -> tuple[str, ImageInfo, Target]:
    """The image a container runs (`image` as given, pulled when needed; else the project's, built
    when needed) and whose container it is. A folder and an image: that folder's settings and
    volume, that image. `engine_choice`: the caller's, which the record of the last build names."""
    started = time.time_ns()
    where = path or Path(".")
    if image:
        chosen = validate_reference(image)
        info = given_image(engine, chosen, reporter)
        target = (
            project_target(open_identity(where, reporter=reporter)) if path is not None else image_target(chosen, info)
        )
        return chosen, info, target
    options = build_options or BuildOptions()
    if isinstance(where, Path):
        # While the record of the last build stands, the project's inputs are as they were built
        # from: which project it is suffices, and its inputs are not detected again.
        known = lookup(where, options, engine=engine_choice, reporter=reporter, reader=engine)
        if known is not None:
            return known.image, known.info, project_target(identify(where))
    project = open_project(where, reporter=reporter)
    outcome = build_when_needed(
        engine,
        where,
        project,
        options,
        reporter,
        engine_choice=engine_choice,
        started_ns=started,
        looked=isinstance(where, Path),
    )
    return outcome.image, outcome.info, project_target(project)


def check_mount(mount: MountChoice, volume: str | None) -> None:
    if volume is not None and mount != "volume":
        raise UsageError(f"--volume attaches a named volume, so it cannot go with --mount {mount}.")


def _check_up_options(options: UpOptions) -> None:
    """What can be refused before any engine work."""
    if options.token is not None and len(options.token) < 16:
        raise UsageError(
            "--token is too short to protect the server: use at least 16 characters (nbship's own are 64)."
        )
    if options.mount is not None:
        check_mount(options.mount, options.volume)
    if options.port is not None and not 0 < options.port < 65536:
        raise UsageError(f"--port {options.port} is not a port number (1-65535).")
    envvars.check_names(
        options.env,
        reserved=envvars.RESERVED | {c.TOKEN_ENV},
        hint={c.TOKEN_ENV: "Give the server's token with --token."},
    )


def refuse_host_mount(path: ProjectPath | None, mount: MountChoice | None, doing: str) -> None:
    """`--mount host` on a link: refused before anything is fetched (the copy is nbship's)."""
    if mount == "host":
        refuse_fetched(path or Path("."), doing)


def mount_choice(target: Target, given: MountChoice | None, reporter: Reporter) -> MountChoice:
    """The work folder's kind: the option, else the settings. A `mount = "host"` setting (the
    project's file or NBSHIP_MOUNT) gives way to the volume for a fetched project, whose folder is
    nbship's copy; the option itself was refused before the fetch."""
    kind = given or target.settings.mount
    if kind == "host" and target.fetched:
        reporter.warn(
            f"The mount setting says host, but {target.label} is fetched into nbship's cache as read-only input, "
            "so the work goes into the project's volume instead. Clone the project to work in its folder."
        )
        return "volume"
    return kind


def bind_choice(
    target: Target,
    given: str | None,
    reporter: Reporter,
    *,
    setting: str | None = None,
    key: tuple[str, ...] = ("bind",),
) -> str:
    """The address to publish on: the option, else the settings (`setting`, read from `key`, or
    `bind`). A downloaded project's own file cannot open the server to the network: only the user
    can (--bind or the setting's NBSHIP_ variable)."""
    if given:
        return given
    bind = setting or target.settings.bind
    if bind != c.LOOPBACK and target.fetched and env_name(key if setting else ("bind",)) not in os.environ:
        reporter.warn(
            f"The nbship.toml of {target.label} asks to serve on {bind}, but a fetched project cannot open "
            f"the server to other machines by itself: serving on {c.LOOPBACK}. Give --bind {bind} to open it."
        )
        return c.LOOPBACK
    return bind


def work_mount(engine: Engine, target: Target, kind: MountChoice, volume: str | None) -> WorkMount:
    return prepare_work_mount(engine, target, kind, volume)[0]


def prepare_work_mount(engine: Engine, target: Target, kind: MountChoice, volume: str | None) -> tuple[WorkMount, bool]:
    """The work mount, and whether this start created its volume."""
    check_mount(kind, volume)
    if kind == "none":
        return WorkMount("none"), False
    if kind == "host":
        if target.root is None:
            raise UsageError("--mount host needs a project folder: give PATH, or use the default --mount volume.")
        return WorkMount("host", str(target.root)), False
    if volume is not None:
        volumes.require(engine, volume)
        return WorkMount("volume", volume), False
    name = volumes.volume_name(target.project_id)
    _, created = volumes.ensure(engine, name, volumes.volume_labels(target.project_id, target.label, target.repository))
    return WorkMount("volume", name), created


def _remove_if_unused(engine: Engine, mount: WorkMount, reporter: Reporter) -> None:
    """After a failed start: the volume it made goes when nothing in it is the user's."""
    try:
        if not engine.containers_using(mount.source) and volumes.holds_nothing_of_the_users(engine, mount.source):
            volumes.remove(engine, mount.source)
            reporter.info(f"Removed the volume {mount.source} that this start made: nothing was kept in it.")
    except NbshipError as exc:
        reporter.warn(f"The volume {mount.source} this start made was left in place ({exc}).")


def host_user(mount: WorkMount, reporter: Reporter) -> HostUser | None:
    """Whose files a bind-mounted checkout holds: what the container writes there stays theirs."""
    if mount.kind != "host" or not hasattr(os, "getuid"):
        return None
    if os.getuid() != 0:
        return HostUser(os.getuid(), os.getgid())
    # Root on the host (sudo, CI): the folder's owner, not root, so no root-owned file appears in it.
    owner = Path(mount.source).stat()
    if owner.st_uid != 0:
        return HostUser(owner.st_uid, owner.st_gid)
    reporter.warn(
        f"{mount.source} belongs to root, and JupyterLab runs as the image's notebook user, so it cannot save "
        "into it. Give the folder to your own user (chown), or use the default --mount volume."
    )
    return None


def given_image(engine: Engine, reference: str, reporter: Reporter) -> ImageInfo:
    """An image named by the user, pulled when this machine does not have it."""
    found = engine.image(reference)
    if found is None:
        registry.pull(engine, reference, reporter)
        found = engine.image(reference)
    if found is None:
        raise RegistryError(f"The pull of {reference} ended without the image; try `docker pull {reference}`.")
    return found


def up(
    *,
    path: ProjectPath | None = None,
    options: UpOptions | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> Server:
    """Builds when needed (or pulls `options.image`), starts JupyterLab and returns once it answers.

    With `options.image` and no `path`, the image is served on its own: it carries the notebooks,
    data and environment, and its work is kept in a volume named after the image's project."""
    options = options or UpOptions()
    reporter = reporter or RecordingReporter()
    _check_up_options(options)
    refuse_host_mount(path, options.mount, "mount it as the work folder (--mount host)")
    chosen = connect_for(engine, path, options.image, reporter)
    image, info, target = image_and_target(chosen, path, options.image, build_options, reporter, engine_choice=engine)
    settings = target.settings
    port = options.port or settings.port or c.CONTAINER_PORT
    bind = bind_choice(target, options.bind, reporter)
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number (1-65535).")
    if bind != c.LOOPBACK:
        reporter.warn(f"JupyterLab will be reachable from other machines on {bind}:{port}; only the token protects it.")
    # Before anything is made: an image with no Jupyter to serve says so now.
    command = own_image.server_command(chosen, image, info)
    if command is not None:
        reporter.info(
            f"{image} does not start Jupyter by itself (its command is `{own_image.describe_command(info)}`): "
            f"serving it with its {command[0]}, as Binder does."
        )
    mount, created = prepare_work_mount(chosen, target, mount_choice(target, options.mount, reporter), options.volume)
    spec = servers.ServerSpec(
        image=image,
        image_info=info,
        project_id=target.project_id,
        project_path=target.label,
        mount=mount,
        port=port,
        bind=bind,
        token=options.token,
        user=host_user(mount, reporter),
        ready_timeout=options.ready_timeout or settings.ready_timeout,
        env=options.env,
        resources=options.resources.merged(settings.resources),
        command=command,
    )
    reporter.step(f"starting JupyterLab from {image}")
    try:
        server = servers.start_server(chosen, spec, reporter)
    except NbshipError:
        if created:
            _remove_if_unused(chosen, mount, reporter)
        raise
    reporter.info(mount.describe() + ".")
    return dataclasses.replace(server, engine=chosen.name)


def follow(*, server: Server, engine: EngineChoice | None = None) -> Iterator[str]:
    """The server's log as it grows, from the engine that runs it (`server.engine`, as `up` set it)."""
    return servers.follow_logs(connect(engine or _engine_of(server)), server)


def _engine_of(server: Server) -> EngineChoice | None:
    return "podman" if server.engine == "podman" else "docker" if server.engine == "docker" else None


@dataclass(frozen=True)
class DownOutcome:
    server: Server | None
    removed_volumes: tuple[str, ...]
    kept_volumes: tuple[str, ...]


def down(
    *,
    path: ProjectPath | None = None,
    image: str | None = None,
    volumes_too: bool = False,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> DownOutcome:
    """Stops and removes the project's container. Its volume stays unless `volumes_too`."""
    reporter = reporter or RecordingReporter()
    chosen = connect_for(engine, path, image, reporter)
    target = target_of(chosen, path, image)
    server = servers.stop_server(chosen, target.project_id)
    own = volumes.volume_name(target.project_id)
    kept: list[str] = []
    mount = server.mount if server is not None else None
    if mount is not None and mount.kind == "volume" and mount.source != own:
        kept.append(mount.source)
    if not volumes_too:
        if chosen.volume(own) is not None:
            kept.append(own)
        return DownOutcome(server, (), tuple(kept))
    removed: list[str] = []
    found = chosen.volume(own)
    if found is not None and not volumes.created_for(found, target.project_id, target.repository):
        # Named after the project id the image claims, but made for something else: not this run's.
        made_for = found.labels.get(c.LABEL_PROJECT_PATH) or "something other than nbship"
        reporter.warn(
            f"Kept the volume {own}: it holds the work of {made_for}, not of {target.label}. "
            f"`nbship volume rm {own}` removes it if that work is no longer needed."
        )
        kept.append(own)
    elif found is not None:
        reporter.info(f"Removing the volume {own}: the work kept in it for {target.label} is deleted.")
        volumes.remove(chosen, own)
        removed.append(own)
    return DownOutcome(server, tuple(removed), tuple(kept))


def logs(
    *,
    path: ProjectPath | None = None,
    image: str | None = None,
    follow: bool = False,
    engine: EngineChoice | None = None,
    reporter: Reporter | None = None,
) -> Iterator[str]:
    chosen = connect_for(engine, path, image, reporter)
    target = target_of(chosen, path, image)
    container = servers.find_project_container(chosen, target.project_id)
    if container is None:
        how = f"--image {image}" if path is None and image else str(path or ".")
        raise NotFoundError(f"No nbship container for {target.label}: start one with `nbship up {how}`.")
    for chunk in chosen.logs(container.id, follow=follow):
        yield from chunk.decode(errors="replace").splitlines()


def shell(
    *,
    path: ProjectPath,
    image: str | None = None,
    build_options: BuildOptions | None = None,
    interactive_tty: bool = True,
    reporter: Reporter | None = None,
    command: tuple[str, ...] = ("/bin/bash",),
    env: Env = (),
    resources: Resources | None = None,
    engine: EngineChoice | None = None,
) -> int:
    """Runs an interactive shell in the project's running container, else in a new one from its image
    (on the project's volume when it has one)."""
    reporter = reporter or RecordingReporter()
    envvars.check_names(env)
    project = open_project(path, reporter=reporter)
    chosen = connect(engine, setting=engine_setting(project), reporter=reporter)
    container = servers.find_project_container(chosen, project.project_id)
    if container is not None and container.status == "running":
        reporter.info(f"Opening a shell in the running container {container.name}.")
        if resources is not None and resources != Resources():
            reporter.warn(
                "The running container keeps the limits it was started with: --memory, --cpus and --gpus "
                "apply to new containers."
            )
        return chosen.exec_interactive(container.name, command, tty=interactive_tty, env=dict(env))
    if image:
        reference = validate_reference(image)
        info = given_image(chosen, reference, reporter)
    else:
        from nbship.commands.build import build_project

        outcome = build_project(chosen, project, build_options or BuildOptions(), reporter)
        reference, info = outcome.image, outcome.info
    volume = volumes.volume_name(project.project_id)
    mounts: tuple[Mount, ...] = ()
    if chosen.volume(volume) is not None:
        # The project's work, not a fresh copy: what the shell changes is what JupyterLab will see.
        mounts = (WorkMount("volume", volume).engine_mount(servers.image_workdir(info)),)
        reporter.info(f"No running container for this project: a new one from {reference}, on the volume {volume}.")
    else:
        reporter.info(f"No running container for this project: opening a shell in a new one from {reference}.")
    spec = ContainerSpec(
        image=reference,
        command=command,
        mounts=mounts,
        env=dict(env),
        resources=(resources or Resources()).merged(project.settings.resources),
    )
    return chosen.run_interactive(spec, tty=interactive_tty)
