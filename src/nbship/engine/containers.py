"""Running JupyterLab: start a project's container, wait until it answers, stop it, find it."""

from __future__ import annotations

import contextlib
import errno
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from docker.models.containers import Container

from nbship.engine.client import DockerClient
from nbship.errors import Interrupted, NbshipError, PortInUseError, RunError
from nbship.reporter import Reporter

LABEL_PROJECT_ID = "io.nbship.project-id"
LABEL_PROJECT_PATH = "io.nbship.project-path"
LABEL_PORT = "io.nbship.port"
LABEL_BIND = "io.nbship.bind"
LABEL_MANAGED = "io.nbship.managed"
LABEL_MOUNT = "io.nbship.mount"
DEFAULT_WORKDIR = "/home/jovyan/work"
MountKind = Literal["volume", "host", "none"]
CONTAINER_PORT = 8888
TOKEN_ENV = "JUPYTER_TOKEN"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class WorkMount:
    """What is mounted on the image's work folder: a named volume, a host folder, or a throwaway volume."""

    kind: MountKind
    source: str = ""  # the volume's name or the host folder; "" for kind "none"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.source}" if self.source else self.kind

    def describe(self) -> str:
        if self.kind == "volume":
            return f"your work is kept in the volume {self.source}"
        if self.kind == "host":
            return f"the work folder is your project folder {self.source}"
        return "nothing is kept: the work folder goes with the container (--mount none)"


@dataclass(frozen=True)
class RunOptions:
    image: str
    project_id: str
    project_path: str
    mount: WorkMount
    port: int = 8888
    bind: str = LOOPBACK
    token: str | None = None
    user: str | None = None  # uid:gid to run as; None: the image's notebook user
    ready_timeout: float = 180.0


@dataclass(frozen=True)
class Server:
    container_name: str
    container_id: str
    image: str
    project_id: str
    project_path: str
    bind: str
    port: int
    token: str
    status: str
    mount: str = ""

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/lab?token={self.token}"


def new_token() -> str:
    return secrets.token_hex(32)  # 32 random bytes


def container_name(project_id: str) -> str:
    return f"nbship-{project_id}"


def _port_free(bind: str, port: int) -> bool:
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
        if _port_free(bind, candidate):
            return candidate
    return None


def _port_error(bind: str, port: int) -> PortInUseError:
    free = next_free_port(bind, port + 1)
    suggestion = f"Use --port {free} (free now)" if free else "Choose another port with --port"
    return PortInUseError(
        f"Port {port} on {bind} is already in use, so JupyterLab cannot be published there. "
        f"{suggestion}, or stop whatever uses port {port}."
    )


def server_of(container: Container) -> Server | None:
    labels = container.labels or {}
    if LABEL_PROJECT_ID not in labels:
        return None
    env = dict(item.split("=", 1) for item in container.attrs.get("Config", {}).get("Env", []) if "=" in item)
    return Server(
        container_name=str(container.name),
        container_id=str(container.id),
        image=str(container.attrs.get("Config", {}).get("Image", "")),
        project_id=labels[LABEL_PROJECT_ID],
        project_path=labels.get(LABEL_PROJECT_PATH, ""),
        bind=labels.get(LABEL_BIND, LOOPBACK),
        port=int(labels.get(LABEL_PORT, CONTAINER_PORT)),
        token=env.get(TOKEN_ENV, ""),
        status=str(container.status),
        mount=labels.get(LABEL_MOUNT, ""),
    )


def find_project_container(client: DockerClient, project_id: str) -> Container | None:
    found = client.containers(labels={LABEL_PROJECT_ID: project_id})
    return found[0] if found else None


def list_servers(client: DockerClient) -> list[Server]:
    servers = [server_of(c) for c in client.containers(labels={LABEL_MANAGED: "true"}, all=False)]
    return sorted((s for s in servers if s is not None), key=lambda s: s.project_path)


def _answers(port: int, token: str) -> bool:
    url = f"http://{LOOPBACK}:{port}/api/status?token={token}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            json.load(response)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(client: DockerClient, container: Container, lines: int = 30) -> str:
    with contextlib.suppress(NbshipError):
        return b"".join(client.logs(container, follow=False, tail=lines)).decode(errors="replace")
    return ""


def wait_ready(client: DockerClient, container: Container, port: int, token: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(port, token):
            return
        container.reload()
        if container.status in {"exited", "dead"}:
            code = container.attrs.get("State", {}).get("ExitCode")
            raise RunError(
                f"The JupyterLab container stopped during start-up (exit code {code}). Its last log "
                "lines are below; fix the cause (often the project's start script) and run nbship up again.",
                details=_log_tail(client, container),
            )
        # A short poll: `up` returns as soon as the server answers; each miss costs one local request.
        time.sleep(0.1)
    raise RunError(
        f"JupyterLab did not answer on port {port} within {timeout:.0f} s. Its last log lines are below; "
        "`nbship logs` shows all of them.",
        details=_log_tail(client, container),
    )


def _same_server(client: DockerClient, container: Container, server: Server, options: RunOptions) -> bool:
    if container.status != "running" or (server.port, server.bind) != (options.port, options.bind):
        return False
    if options.token is not None and options.token != server.token:
        return False
    if server.mount != options.mount.label:
        return False
    image = client.image(options.image)
    return image is not None and container.attrs.get("Image") == image.id and _answers(server.port, server.token)


def start_server(client: DockerClient, options: RunOptions, reporter: Reporter) -> Server:
    """Starts JupyterLab for a project and returns once it answers (the container is removed on failure)."""
    old = find_project_container(client, options.project_id)
    old_server = server_of(old) if old is not None else None
    if old is not None and old_server is not None and _same_server(client, old, old_server, options):
        # `up` twice leaves the running server (and its kernels) alone, like `docker compose up`.
        reporter.info(f"JupyterLab for this project is already running from {options.image} ({old.name}).")
        return old_server
    token = options.token or new_token()
    holds_port = (
        old is not None and old_server is not None and old.status == "running" and old_server.port == options.port
    )
    # Check the port first, so a busy port does not cost the user the server that is running now.
    if not holds_port and not _port_free(options.bind, options.port):
        raise _port_error(options.bind, options.port)
    if old is not None:
        reporter.info(f"Replacing the project's previous container {old.name}.")
        client.remove_container(old)
        if not _port_free(options.bind, options.port):
            raise _port_error(options.bind, options.port)
    name = container_name(options.project_id)
    labels = {
        LABEL_MANAGED: "true",
        LABEL_PROJECT_ID: options.project_id,
        LABEL_PROJECT_PATH: options.project_path,
        LABEL_PORT: str(options.port),
        LABEL_BIND: options.bind,
        LABEL_MOUNT: options.mount.label,
    }
    workdir = image_workdir(client, options.image)
    container: Container | None = None
    try:
        try:
            container = client.run_detached(
                options.image,
                name=name,
                labels=labels,
                environment={TOKEN_ENV: token},
                ports={f"{CONTAINER_PORT}/tcp": (options.bind, options.port)},
                work_mount=(options.mount.kind, options.mount.source, workdir),
                user=options.user,
                # The token is given by environment, never --allow-root: the image runs as its notebook user.
            )
        except NbshipError as exc:
            leftover = client.container(name)
            if leftover is not None:
                client.remove_container(leftover)
            if "address already in use" in str(exc) or "port is already allocated" in str(exc):
                raise _port_error(options.bind, options.port) from exc
            raise
        reporter.step("waiting for JupyterLab to answer")
        wait_ready(client, container, options.port, token, options.ready_timeout)
    except KeyboardInterrupt:
        if container is not None:
            client.remove_container(container, stop_timeout=2)
        raise Interrupted("Start-up interrupted: the container was removed.") from None
    except NbshipError:
        if container is not None:
            client.remove_container(container, stop_timeout=2)
        raise
    container.reload()
    _relay_start_messages(client, container, reporter)
    server = server_of(container)
    assert server is not None
    return server


def image_workdir(client: DockerClient, image: str) -> str:
    """Where the image keeps the user's work: nbship's images say so in NBSHIP_WORKDIR."""
    found = client.image(image)
    config = (found.attrs.get("Config") or {}) if found is not None else {}
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        if key == "NBSHIP_WORKDIR" and value.startswith("/"):
            return value
    working = str(config.get("WorkingDir") or "")
    return working if working not in {"", "/"} else DEFAULT_WORKDIR


def _relay_start_messages(client: DockerClient, container: Container, reporter: Reporter) -> None:
    """The image's start-up says what it did to the work folder (refresh, kept versions): pass it on."""
    for line in _log_tail(client, container, lines=200).splitlines():
        if not line.startswith("nbship: "):
            continue
        text = line.removeprefix("nbship: ")
        if text.startswith(("kept your version", "the work folder could not")) or "stays deleted" in text:
            reporter.warn(text)
        else:
            reporter.info(text)


def follow_logs(client: DockerClient, server: Server) -> Iterator[str]:
    container = client.container(server.container_name)
    if container is None:
        return
    for chunk in client.logs(container, follow=True):
        yield from chunk.decode(errors="replace").splitlines()


def stop_server(client: DockerClient, project_id: str) -> Server | None:
    container = find_project_container(client, project_id)
    if container is None:
        return None
    server = server_of(container)
    client.remove_container(container)
    return server
