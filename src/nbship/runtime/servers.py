"""JupyterLab servers: start a project's container, wait until it answers, stop it, find it."""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from nbship import contract as c
from nbship.errors import Interrupted, NbshipError, PortInUseError, RunError, UsageError
from nbship.resources import Resources

if TYPE_CHECKING:
    # `nbship status` lists servers with this module: the seam's protocols and requests, and the
    # option values, load with the commands that start one.
    from nbship.engine.base import Engine, EngineReader, HostUser, Mount
    from nbship.engine.info import ContainerInfo, ImageInfo
    from nbship.options import Env
    from nbship.reporter import Reporter

WorkMountKind = Literal["volume", "host", "none"]


@dataclass(frozen=True)
class WorkMount:
    """What is mounted on the image's work folder: a named volume, a host folder, or a throwaway volume."""

    kind: WorkMountKind
    source: str = ""  # the volume's name or the host folder; "" for kind "none"

    @property
    def label(self) -> str:
        """How the container records it (io.nbship.mount), read back by `from_label`."""
        return f"{self.kind}:{self.source}" if self.source else self.kind

    @classmethod
    def from_label(cls, label: str) -> WorkMount | None:
        kind, _, source = label.partition(":")
        if kind == "volume" and source:
            return cls("volume", source)
        if kind == "host" and source:
            return cls("host", source)
        if kind == "none":
            return cls("none")
        return None

    def engine_mount(self, target: str) -> Mount:
        from nbship.engine.base import Mount

        if self.kind == "host":
            return Mount("bind", self.source, target)
        if self.kind == "none":
            return Mount("anonymous", "", target)
        return Mount("volume", self.source, target)

    def describe(self) -> str:
        if self.kind == "volume":
            return f"your work is kept in the volume {self.source}"
        if self.kind == "host":
            return f"the work folder is your project folder {self.source}"
        return "nothing is kept: the work folder goes with the container (--mount none)"


@dataclass(frozen=True)
class ServerSpec:
    image: str
    image_info: ImageInfo  # inspected once by the caller
    project_id: str
    project_path: str
    mount: WorkMount
    port: int = c.CONTAINER_PORT
    bind: str = c.LOOPBACK
    token: str | None = None
    user: HostUser | None = None  # whose files the bind mount holds; None: the image's notebook user
    ready_timeout: float = 180.0
    env: Env = ()  # the user's variables (-e, --env-file); the token is set apart
    resources: Resources = field(default_factory=Resources)
    command: tuple[str, ...] | None = None  # None: the image's own (nbship's images serve JupyterLab)


@dataclass(frozen=True)
class Server:
    container_name: str
    container_id: str
    image: str
    image_id: str
    project_id: str
    project_path: str
    bind: str
    port: int
    token: str
    status: str
    mount: WorkMount | None = None
    engine: str = ""  # the engine that runs it ("docker", "podman"), where the command knows it

    @property
    def url(self) -> str:
        return f"http://{c.LOOPBACK}:{self.port}/lab?token={self.token}"


def new_token() -> str:
    import secrets  # here, not at the top: `status` imports this module and never makes a token

    return secrets.token_hex(32)  # 32 random bytes


def container_name(project_id: str) -> str:
    return f"nbship-{project_id}"


def image_workdir(image: ImageInfo | None) -> str:
    """Where the image keeps the user's work: nbship's images say so in NBSHIP_WORKDIR.

    The image is input like any other: the path goes into a --mount option and compose.yaml, so
    it must be a plain absolute path (a ',' adds a mount option, a line break a YAML key)."""
    if image is None:
        return c.WORKDIR
    value = image.env.get(c.WORKDIR_ENV, "")
    where = c.WORKDIR_ENV
    if not value.startswith("/"):
        value = image.workdir if image.workdir not in {"", "/"} else c.WORKDIR
        where = "WorkingDir"
    from nbship.values import container_path_problem, shown

    problem = container_path_problem(value)
    if problem:
        name = image.tags[0] if image.tags else image.id
        raise UsageError(
            f"The image {name} gives its work folder as '{shown(value)}' ({where}), and {problem}, so nbship "
            "will not mount a volume there or write it into a compose file. Rebuild the image with a plain "
            f"work folder, such as {c.WORKDIR}."
        )
    return value


def port_free(bind: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError as exc:
            if exc.errno in {errno.EADDRINUSE, errno.EACCES}:
                return False
            raise
    return True


def next_free_port(bind: str, start: int) -> int | None:
    for candidate in range(start, min(start + 200, 65536)):
        if port_free(bind, candidate):
            return candidate
    return None


def port_error(bind: str, port: int) -> PortInUseError:
    free = next_free_port(bind, port + 1)
    suggestion = f"Use --port {free} (free now)" if free else "Choose another port with --port"
    return PortInUseError(
        f"Port {port} on {bind} is already in use, so JupyterLab cannot be published there. "
        f"{suggestion}, or stop whatever uses port {port}."
    )


def server_of(container: ContainerInfo) -> Server | None:
    labels = container.labels
    if c.LABEL_PROJECT_ID not in labels:
        return None
    return Server(
        container_name=container.name,
        container_id=container.id,
        image=container.image,
        image_id=container.image_id,
        project_id=labels[c.LABEL_PROJECT_ID],
        project_path=labels.get(c.LABEL_PROJECT_PATH, ""),
        bind=labels.get(c.LABEL_BIND, c.LOOPBACK),
        port=int(labels.get(c.LABEL_PORT, c.CONTAINER_PORT)),
        token=container.env.get(c.TOKEN_ENV, ""),
        status=container.status,
        mount=WorkMount.from_label(labels.get(c.LABEL_MOUNT, "")),
    )


def find_project_container(engine: Engine, project_id: str) -> ContainerInfo | None:
    found = engine.containers(labels={c.LABEL_PROJECT_ID: project_id})
    return found[0] if found else None


def list_servers(engine: EngineReader) -> list[Server]:
    servers = [server_of(found) for found in engine.containers(labels={c.LABEL_MANAGED: "true"}, all=False)]
    return sorted((s for s in servers if s is not None), key=lambda s: s.project_path)


def _answers(port: int, token: str) -> bool:
    import urllib.request  # here, not at the top: `status` imports this module and never polls

    url = f"http://{c.LOOPBACK}:{port}/api/status?token={token}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            json.load(response)
            return bool(response.status == 200)
    except (OSError, ValueError):  # urllib's URLError is an OSError
        return False


def log_tail(engine: Engine, container: str, lines: int = 30) -> str:
    with contextlib.suppress(NbshipError):
        return b"".join(engine.logs(container, follow=False, tail=lines)).decode(errors="replace")
    return ""


# A short poll: `up` returns as soon as the server answers; each miss costs one refused local connection.
_POLL = 0.05


def wait_ready(engine: Engine, container: str, port: int, token: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    next_look = 0.0
    while time.monotonic() < deadline:
        if _answers(port, token):
            return
        # Whether the container still runs is asked twice a second, not at every poll: an inspect
        # costs ten times a refused connection, and a start that fails takes longer than that.
        if time.monotonic() < next_look:
            time.sleep(_POLL)
            continue
        next_look = time.monotonic() + 0.5
        found = engine.container(container)
        if found is None or found.status in {"exited", "dead"}:
            code = found.exit_code if found is not None else None
            raise RunError(
                f"The JupyterLab container stopped during start-up (exit code {code}). Its last log "
                "lines are below; fix the cause (often the project's start script) and run nbship up again.",
                details=log_tail(engine, container),
            )
        time.sleep(_POLL)
    raise RunError(
        f"JupyterLab did not answer on port {port} within {timeout:.0f} s. Its last log lines are below; "
        "`nbship logs` shows all of them.",
        details=log_tail(engine, container),
    )


def _same_server(found: ContainerInfo, server: Server, spec: ServerSpec) -> bool:
    if found.status != "running" or (server.port, server.bind) != (spec.port, spec.bind):
        return False
    if spec.token is not None and spec.token != server.token:
        return False
    if server.mount != spec.mount or any(found.env.get(name) != value for name, value in spec.env):
        return False
    limits = found.resources
    if (limits.memory, limits.cpus, limits.gpus is None) != (
        spec.resources.memory,
        spec.resources.cpus,
        spec.resources.gpus is None,
    ):
        return False
    return found.image_id == spec.image_info.id and _answers(server.port, server.token)


def start_server(engine: Engine, spec: ServerSpec, reporter: Reporter) -> Server:
    """Starts JupyterLab for a project and returns once it answers (the container is removed on failure)."""
    from nbship.engine.base import ContainerSpec, PortBinding

    old = find_project_container(engine, spec.project_id)
    old_server = server_of(old) if old is not None else None
    if old is not None and old_server is not None and _same_server(old, old_server, spec):
        # `up` twice leaves the running server (and its kernels) alone, like `docker compose up`.
        reporter.info(f"JupyterLab for this project is already running from {spec.image} ({old.name}).")
        return old_server
    token = spec.token or new_token()
    holds_port = old_server is not None and old_server.status == "running" and old_server.port == spec.port
    # Check the port first, so a busy port does not cost the user the server that is running now.
    if not holds_port and not port_free(spec.bind, spec.port):
        raise port_error(spec.bind, spec.port)
    if old is not None:
        reporter.info(f"Replacing the project's previous container {old.name}.")
        engine.remove_container(old.id)
        if not port_free(spec.bind, spec.port):
            raise port_error(spec.bind, spec.port)
    name = container_name(spec.project_id)
    labels = {
        c.LABEL_MANAGED: "true",
        c.LABEL_PROJECT_ID: spec.project_id,
        c.LABEL_PROJECT_PATH: spec.project_path,
        c.LABEL_PORT: str(spec.port),
        c.LABEL_BIND: spec.bind,
        c.LABEL_MOUNT: spec.mount.label,
    }
    run = ContainerSpec(
        image=spec.image,
        name=name,
        labels=labels,
        # The token is given by environment, never --allow-root: the image runs as its notebook user.
        env={**dict(spec.env), c.TOKEN_ENV: token},
        ports=(PortBinding(c.CONTAINER_PORT, spec.bind, spec.port),),
        mounts=(spec.mount.engine_mount(image_workdir(spec.image_info)),),
        host_user=spec.user,
        resources=spec.resources,
        command=spec.command,
    )
    started: ContainerInfo | None = None
    try:
        try:
            started = engine.run(run)
        except NbshipError as exc:
            leftover = engine.container(name)
            if leftover is not None:
                engine.remove_container(leftover.id)
            if "address already in use" in str(exc) or "port is already allocated" in str(exc):
                raise port_error(spec.bind, spec.port) from exc
            raise
        reporter.step("waiting for JupyterLab to answer")
        wait_ready(engine, started.id, spec.port, token, spec.ready_timeout)
    except KeyboardInterrupt:
        if started is not None:
            engine.remove_container(started.id, stop_timeout=2)
        raise Interrupted("Start-up interrupted: the container was removed.") from None
    except NbshipError:
        if started is not None:
            engine.remove_container(started.id, stop_timeout=2)
        raise
    _relay_start_messages(engine, started.id, reporter)
    running = engine.container(started.id)
    server = server_of(running) if running is not None else None
    if server is None:
        raise RunError(f"The JupyterLab container {name} disappeared right after it started.")
    return server


def _relay_start_messages(engine: Engine, container: str, reporter: Reporter) -> None:
    """The image's start-up says what it did to the work folder (refresh, kept versions): pass it on."""
    for line in log_tail(engine, container, lines=200).splitlines():
        if not line.startswith("nbship: "):
            continue
        text = line.removeprefix("nbship: ")
        # Counts of what the refresh did are news; every other line is something the user should look at.
        if text.startswith(("refreshed the work folder", "finished filling the work folder")):
            reporter.info(text)
        else:
            reporter.warn(text)


def follow_logs(engine: Engine, server: Server) -> Iterator[str]:
    if engine.container(server.container_name) is None:
        return
    for chunk in engine.logs(server.container_name, follow=True):
        yield from chunk.decode(errors="replace").splitlines()


def stop_server(engine: Engine, project_id: str) -> Server | None:
    found = find_project_container(engine, project_id)
    if found is None:
        return None
    server = server_of(found)
    engine.remove_container(found.id)
    return server
