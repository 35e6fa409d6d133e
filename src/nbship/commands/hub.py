"""nbship hub: JupyterHub serving the project's image to a lab or a class, on this machine or a
Docker Swarm; and Zero to JupyterHub values for the same image on Kubernetes.

`hub up` builds what it needs (the project's image when it changed, the users' image made
hub-ready, and once per nbship version the hub image), then starts the hub with nbship's state
put into its volume. Each user's server runs the project's image with the user's own work volume,
which the image fills and refreshes at every start exactly as for `nbship up`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nbship import contract as c
from nbship import envvars
from nbship.commands.build import ca_secret_files
from nbship.commands.serve import Target, bind_choice, connect_for, image_and_target, project_target, target_of
from nbship.engine.base import Builder, BuildRequest, HubEngine, ImageInfo
from nbship.errors import NbshipError, ProjectError, UsageError
from nbship.hub import images, k8s
from nbship.hub import runtime as hubs
from nbship.hub import spec as s
from nbship.hub.client import HubClient, HubUser
from nbship.hub.runtime import Hub
from nbship.hub.state import new_password, next_state
from nbship.options import BuilderChoice, BuildOptions, EngineChoice, HubOptions
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import servers, volumes
from nbship.settings import AuthenticatorSettings, HubSettings
from nbship.sources.open import ProjectPath, open_project


@dataclass(frozen=True)
class HubOutcome:
    hub: Hub
    admin_token: str  # an API token with the scopes hub/spec.API_SCOPES
    users: tuple[HubUser, ...]
    passwords: Mapping[str, str] = field(default_factory=dict)  # made now (user -> password): shown once
    started: bool = True  # False: the running hub already served this, and was left alone
    login: str = "password"  # how users log in: nbship's passwords, or the authenticator's class


@dataclass(frozen=True)
class HubStatus:
    hub: Hub
    admin_token: str | None
    users: tuple[HubUser, ...]
    note: str = ""  # why the users could not be listed, when they could not


@dataclass(frozen=True)
class HubDownOutcome:
    hub: Hub | None
    removed_servers: tuple[str, ...]  # users' servers nbship removed after the hub stopped
    removed_volumes: tuple[str, ...]
    kept_volumes: tuple[str, ...]


@dataclass(frozen=True)
class UsersImageOutcome:
    image: str  # the hub-ready image users' servers run
    source: str  # the project's image (or the one given) it was made from
    built: bool  # False: it was there already (or the source was hub-ready)


@dataclass(frozen=True)
class K8sOutcome:
    values_file: Path
    secrets_file: Path | None  # the values holding secrets (0600), when there are any
    passwords: Mapping[str, str] = field(default_factory=dict)  # the shared passwords made now


def hub_engine(choice: EngineChoice | None, path: ProjectPath | None = None, image: str | None = None) -> HubEngine:
    """The engine the hub runs on, chosen as every command's is; only Docker can serve a hub."""
    engine = connect_for(choice, path, image, None)
    if not isinstance(engine, HubEngine):
        raise UsageError(
            f"nbship hub needs Docker: JupyterHub starts users' servers through the Docker API (DockerSpawner), "
            f"and this engine is {engine.name}. Run it with Docker: --engine docker, or NBSHIP_ENGINE=docker."
        )
    return engine


# -- images ----------------------------------------------------------------------------------


def _builder(
    engine: HubEngine, build_options: BuildOptions, setting: BuilderChoice
) -> tuple[Builder, tuple[tuple[str, Path], ...]]:
    secrets = ca_secret_files(build_options)
    choice = build_options.builder or setting
    return engine.choose_builder(choice, needs_secrets=bool(secrets)), secrets


def _build(
    engine: HubEngine,
    *,
    dockerfile: str,
    tag: str,
    labels: Mapping[str, str],
    builder: Builder,
    secrets: tuple[tuple[str, Path], ...],
    reporter: Reporter,
    context: Path | None = None,
) -> ImageInfo:
    with tempfile.TemporaryDirectory(prefix="nbship-hub-") as folder:
        root = Path(folder)
        if context is None:
            images.write_hub_context(root)
        request = BuildRequest(
            context=root, dockerfile=dockerfile, ignore=(), tag=tag, builder=builder, labels=labels, secrets=secrets
        )
        engine.build(request, reporter)
    built = engine.image(tag)
    assert built is not None, "engine.build checks that the tag exists"
    return built


def ensure_hub_image(
    engine: HubEngine, builder: Builder, secrets: tuple[tuple[str, Path], ...], reporter: Reporter
) -> ImageInfo:
    """The hub image, built when this engine lacks it (once per nbship version)."""
    reference = images.hub_image(buildkit=builder.kind == "buildkit")
    found = engine.image(reference)
    if found is not None:
        return found
    reporter.info(f"Building the hub image {reference} (JupyterHub and its proxy; once per nbship version).")
    text = images.hub_dockerfile(buildkit=builder.kind == "buildkit")
    return _build(
        engine, dockerfile=text, tag=reference, labels={}, builder=builder, secrets=secrets, reporter=reporter
    )


def ensure_users_image(
    engine: HubEngine,
    source: str,
    info: ImageInfo,
    builder: Builder,
    secrets: tuple[tuple[str, Path], ...],
    reporter: Reporter,
    *,
    tag: str | None = None,
) -> tuple[str, ImageInfo, bool]:
    """The hub-ready image for `source` (its reference, the image, and whether it was built now)."""
    wanted = images.users_image(source, dict(info.labels), tag)
    if not wanted.derived:
        return wanted.reference, info, False
    text = images.singleuser_dockerfile(source, buildkit=builder.kind == "buildkit")
    # What the image is made from: a new project image (or a new nbship) makes a new one.
    fingerprint = hashlib.sha256(f"{text}\0{info.id}".encode()).hexdigest()[:32]
    existing = engine.image(wanted.reference)
    if existing is not None and existing.labels.get(c.LABEL_FINGERPRINT) == fingerprint:
        return wanted.reference, existing, False
    reporter.info(f"Making {source} hub-ready as {wanted.reference} (adds JupyterHub's single-user server).")
    with tempfile.TemporaryDirectory(prefix="nbship-hub-") as empty:
        built = _build(
            engine,
            dockerfile=text,
            tag=wanted.reference,
            labels={c.LABEL_FINGERPRINT: fingerprint},
            builder=builder,
            secrets=secrets,
            reporter=reporter,
            context=Path(empty),
        )
    if existing is not None and existing.id != built.id:
        engine.remove_untagged_image(existing.id)
    return wanted.reference, built, True


def hub_image(
    *,
    path: ProjectPath | None = None,
    image: str | None = None,
    tag: str | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> UsersImageOutcome:
    """The project's image (built when needed), or `image`, made hub-ready: what `hub up` runs for
    each user, and what a cluster needs in a registry (`nbship push --image` it)."""
    reporter = reporter or RecordingReporter()
    build_options = build_options or BuildOptions()
    on = hub_engine(engine, path, image)
    source, info, target = image_and_target(on, path, image, build_options, reporter)
    builder, secrets = _builder(on, build_options, target.settings.builder)
    reference, _, built = ensure_users_image(
        on, source, info, builder, secrets, reporter, tag=validate_reference(tag) if tag else None
    )
    return UsersImageOutcome(reference, source, built)


# -- hub up ----------------------------------------------------------------------------------


def _check_options(options: HubOptions) -> None:
    if options.port is not None and not 0 < options.port < 65536:
        raise UsageError(f"--port {options.port} is not a port number (1-65535).")
    if options.idle_timeout is not None and options.idle_timeout < 0:
        raise UsageError(f"--idle-timeout {options.idle_timeout}: give seconds (0 keeps idle servers running).")
    if options.resources.gpus is not None:
        raise UsageError("--gpus is not offered for hub users' servers yet; leave it out.")
    envvars.check_names(options.env)


def _names(given: tuple[str, ...], setting: tuple[str, ...], previous: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The users a hub serves: those named now, else the settings', else the last `hub up`'s."""
    if given:
        names, where = given, what
    elif setting:
        names, where = setting, f"{what.removeprefix('--')}s in [hub]:"
    else:
        return previous
    return tuple(dict.fromkeys(s.check_user_name(name, what=where) for name in names))


def authenticator_spec(settings: AuthenticatorSettings | None, root: Path | None) -> s.AuthenticatorSpec | None:
    """The authenticator of [hub.authenticator], its secrets read now from the environment or files."""
    if settings is None:
        return None
    found: dict[str, str] = {}
    for key, source in settings.secrets.items():
        where = f"[hub.authenticator.secrets] {key}"
        if source.env is not None:
            value = os.environ.get(source.env)
            if not value:
                raise UsageError(
                    f"{where} is read from the environment variable {source.env}, which is not set: set it "
                    f"(`export {source.env}=...`, from your OAuth application's page, say) and run again."
                )
        else:
            assert source.file is not None, "SecretSource holds one of them"
            file = Path(source.file).expanduser()
            if not file.is_absolute():
                file = (root or Path.cwd()) / file
            try:
                value = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UsageError(f"{where} is read from {file}, which cannot be read ({exc.strerror}).") from exc
            if root is not None and file.resolve().is_relative_to(root.resolve()):
                raise UsageError(
                    f"{where}: {file} is inside the project folder, which the image is built from, so the "
                    "secret would end up in the image. Keep it outside the project (e.g. ~/.config/...)."
                )
        found[key] = value
    return s.AuthenticatorSpec(settings.class_name, settings.traits, found)


def project_authenticator(target: Target, reporter: Reporter) -> s.AuthenticatorSpec | None:
    """The project's [hub.authenticator], unless the project was fetched: a downloaded nbship.toml
    cannot choose who may log in, nor which of the user's variables or files go to an OAuth
    provider as secrets."""
    settings = target.settings.hub.authenticator
    if settings is not None and target.fetched:
        reporter.warn(
            f"The nbship.toml of {target.label} names an authenticator ({settings.class_name}), but a fetched "
            "project cannot choose how its hub logs people in, nor which secrets it reads: using nbship's "
            "passwords. Clone the project to use its authenticator."
        )
        return None
    return authenticator_spec(settings, target.root)


def hub_up(
    *,
    path: ProjectPath | None = None,
    options: HubOptions | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> HubOutcome:
    """Starts (or updates) the project's hub and returns once it answers, with the passwords made
    now. A running hub that already serves exactly this is left as it is, with its users' servers."""
    options = options or HubOptions()
    reporter = reporter or RecordingReporter()
    build_options = build_options or BuildOptions()
    _check_options(options)
    on = hub_engine(engine, path)
    socket = on.daemon_socket()
    if socket is None:
        raise UsageError(
            "The hub starts users' servers through the engine's socket, mounted into its container, and nbship "
            "reaches this engine over the network (DOCKER_HOST or a docker context with tcp:// or ssh://). Run "
            "nbship hub on the engine's own machine."
        )
    image, info, target = image_and_target(on, path, options.image, build_options, reporter)
    settings: HubSettings = target.settings.hub
    swarm = options.swarm if options.swarm is not None else settings.swarm
    if swarm:
        hubs.require_swarm_manager(on)
    builder, secrets = _builder(on, build_options, target.settings.builder)
    users_ref, users_info, _ = ensure_users_image(on, image, info, builder, secrets, reporter)
    hub_info = ensure_hub_image(on, builder, secrets, reporter)
    hub_ref = images.hub_image(buildkit=builder.kind == "buildkit")
    previous, found = hubs.previous_state(on, target.project_id, hub_ref)
    auth = project_authenticator(target, reporter)
    users = _names(options.users, settings.users, previous.users, "--user")
    admins = _names(options.admins, settings.admins, previous.admins, "--admin")
    if auth is None and not (users or admins):
        raise UsageError(
            "Name the hub's users: `--user NAME` (repeatable; each gets a password) and `--admin NAME`, or "
            'users = ["alice", "bob"] in [hub] of nbship.toml. An authenticator of your own ([hub.authenticator], '
            "OAuth say) decides who may log in instead."
        )
    spec = s.HubSpec(
        project_id=target.project_id,
        project_path=target.label,
        image=users_ref,
        image_id=users_info.id,
        hub_image=hub_ref,
        workdir=servers.image_workdir(users_info),
        users=users,
        admins=admins,
        port=options.port or settings.port or c.HUB_PORT,
        bind=bind_choice(target, options.bind, reporter, setting=settings.bind, key=("hub", "bind")),
        swarm=swarm,
        idle_timeout=options.idle_timeout if options.idle_timeout is not None else settings.idle_timeout,
        start_timeout=options.ready_timeout or target.settings.ready_timeout,
        resources=options.resources.merged(target.settings.resources),
        env=options.env,
        authenticator=auth,
    )
    state, made = next_state(spec, previous, renew=options.new_passwords)
    login = auth.class_name if auth is not None else "password"
    client = HubClient(f"http://{hubs.reach_host(spec.bind)}:{spec.port}", state.admin_token)
    if hubs.unchanged(found, previous, state, hub_info.id):
        assert found is not None, "unchanged() needs a running hub"
        reporter.info(f"The hub for {target.label} already serves {users_ref} to these users: left running as it is.")
        return HubOutcome(
            hubs.hub_of(found, previous.hub), state.admin_token, tuple(client.users()), {}, started=False, login=login
        )
    holds_port = found is not None and found.status == "running" and found.labels.get(c.LABEL_PORT) == str(spec.port)
    if not holds_port and not servers.port_free(spec.bind, spec.port):
        raise servers.port_error(spec.bind, spec.port)
    if found is not None:
        reporter.info(
            f"Restarting the hub of {target.label}: users' servers stop now (their work stays in their volumes)."
        )
        hubs.stop(on, target.project_id)
    if spec.bind != c.LOOPBACK:
        reporter.warn(
            f"The hub will be reachable from other machines on {spec.bind}:{spec.port}; only its logins protect it. "
            "Put HTTPS in front of it (a reverse proxy) before passwords cross a network."
        )
    reporter.step(f"starting JupyterHub for {users_ref}")
    hub = hubs.start(on, spec, state, socket, reporter)
    return HubOutcome(hub, state.admin_token, tuple(client.users()), made, started=True, login=login)


def hub_logs(*, hub: Hub, engine: EngineChoice | None = None) -> Iterator[str]:
    """The hub's log as it comes, until the hub stops."""
    on = hub_engine(engine)
    for chunk in on.logs(hub.container_name, follow=True):
        yield from chunk.decode(errors="replace").splitlines()


# -- hub down, status ------------------------------------------------------------------------


def hub_down(
    *,
    path: ProjectPath | None = None,
    image: str | None = None,
    volumes_too: bool = False,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> HubDownOutcome:
    """Stops the project's hub and every user's server. The users' volumes (and the hub's own,
    which keeps its users and their password hashes) stay unless `volumes_too`."""
    reporter = reporter or RecordingReporter()
    on = hub_engine(engine, path, image)
    target = target_of(on, path, image)
    found = hubs.find_hub(on, target.project_id)
    hub = hubs.hub_of(found, hubs.read_state(on, found.id).hub) if found is not None else None
    _, removed = hubs.stop(on, target.project_id)
    owned = sorted(item.name for item in on.volumes(labels={c.LABEL_HUB: target.project_id}))
    if not volumes_too:
        return HubDownOutcome(hub, removed, (), tuple(owned))
    if owned:
        reporter.info(f"Removing the hub's volumes, with every user's work in them: {', '.join(owned)}.")
    for name in owned:
        volumes.remove(on, name)
    return HubDownOutcome(hub, removed, tuple(owned), ())


def hub_status(*, path: ProjectPath | None = None, engine: EngineChoice | None = None) -> list[HubStatus]:
    """The hubs on this engine (PATH's only, when given), each with its users and their servers."""
    on = hub_engine(engine, path)
    wanted = target_of(on, path, None).project_id if path is not None else None
    found: list[HubStatus] = []
    for container in hubs.list_hubs(on):
        if wanted is not None and container.labels.get(c.LABEL_HUB) != wanted:
            continue
        previous = hubs.read_state(on, container.id)
        hub = hubs.hub_of(container, previous.hub)
        users: tuple[HubUser, ...] = ()
        note = ""
        if container.status != "running":
            note = f"the hub is {container.status}"
        elif previous.admin_token is None:
            note = "the hub's state holds no API token nbship can use"
        else:
            try:
                users = tuple(HubClient(hub.url.removesuffix("/hub/"), previous.admin_token).users())
            except NbshipError as exc:
                note = exc.message
        found.append(HubStatus(hub, previous.admin_token, users, note))
    return found


# -- hub k8s ---------------------------------------------------------------------------------


def hub_k8s(
    *,
    path: ProjectPath | None = None,
    image: str,
    output: Path,
    storage: str = k8s.DEFAULT_STORAGE,
    force: bool = False,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> K8sOutcome:
    """Writes Zero to JupyterHub values for `image` (hub-ready, in a registry the cluster reaches);
    secrets, when there are any, go to a second file beside it, readable by its owner only."""
    reporter = reporter or RecordingReporter()
    project = open_project(path or Path("."), reporter=reporter)
    reference = validate_reference(image)
    k8s.image_parts(reference)
    settings = project.settings.hub
    output = output.expanduser()
    secrets_file = output.with_name(f"{output.stem}.secret{output.suffix or '.yaml'}")
    for target in (output, secrets_file):
        if (
            target.exists()
            and not force
            and not k8s.written_by_nbship(target.read_text(encoding="utf-8", errors="replace"))
        ):
            raise ProjectError(
                f"{target} exists and nbship did not write it, so it was left alone. Pass --force to replace it, "
                "or choose another file with -o."
            )
    if project.input(DockerfileInput) is None:
        # nbship's own image of this project: its user and work folder are the contract's (no daemon asked).
        uid: int | None = project.settings.user_id
        workdir = c.WORKDIR
    else:
        uid, workdir = None, servers.image_workdir(connect_for(engine, path, None, reporter).image(reference))
    auth = project_authenticator(project_target(project), reporter)
    users = _names((), settings.users, (), "--user")
    admins = _names((), settings.admins, (), "--admin")
    spec = k8s.K8sSpec(
        project=project.name,
        image=reference,
        uid=uid,
        workdir=workdir,
        users=users,
        admins=admins,
        idle_timeout=settings.idle_timeout,
        storage=storage,
        resources=project.settings.resources,
        authenticator=auth,
        labels={c.LABEL_HUB: project.project_id},
    )
    passwords: dict[str, str] = {}
    if auth is None:
        passwords["user_password"] = new_password()
        if admins:
            passwords["admin_password"] = new_password() + new_password()  # the authenticator asks for 32+
    secret = k8s.secret_values(spec, passwords)
    note = (
        "Install: helm upgrade --install hub jupyterhub/jupyterhub -f "
        + output.name
        + (f" -f {secrets_file.name}" if secret else "")
        + f"\nThe image must be hub-ready and pushed: nbship hub image -t {reference}, then nbship push --image "
        f"{reference} --to {reference}."
    )
    text = k8s.render(k8s.values(spec, shared_password=auth is None), title=project.name, note=note)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    written: Path | None = None
    if secret is not None:
        body = k8s.render(secret, title=f"{project.name} (secrets: keep this file private)", note="")
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.chmod(secrets_file, 0o600)
        written = secrets_file
    return K8sOutcome(output, written, passwords)
