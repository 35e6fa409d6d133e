"""A hub on the engine: its network, its state volume, its container (started with nbship's state
put into it), and what it started for its users.

The hub container is created, given its state (a tar into its state volume) and only then started,
so no secret is ever on a command line, in a label or in an environment variable. The hub reaches
the engine through the engine's socket, mounted into its container, and starts each user's server
on the hub's own network (a bridge; an attachable overlay with --swarm), where the hub is known
by its container's name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from nbship import contract as c
from nbship.engine.base import ContainerInfo, ContainerSpec, HubEngine, Mount, PortBinding
from nbship.errors import Interrupted, NbshipError, NotFoundError, RunError, UsageError
from nbship.hub import spec as s
from nbship.hub.client import HubClient
from nbship.hub.state import HubState, Previous, archive, read_archive
from nbship.reporter import Reporter
from nbship.runtime import servers, volumes

STATE_PATH = f"{c.HUB_STATE_DIR}/{c.HUB_STATE_FOLDER}"
STOP_TIMEOUT = 60  # seconds the hub gets to stop every user's server before it is killed


@dataclass(frozen=True)
class Hub:
    project_id: str
    project_path: str
    container_name: str
    container_id: str
    status: str
    port: int
    bind: str
    image: str  # what users' servers run
    swarm: bool

    @property
    def url(self) -> str:
        return f"http://{reach_host(self.bind)}:{self.port}/hub/"


def reach_host(bind: str) -> str:
    """Where this machine reaches a port published on `bind`."""
    return c.LOOPBACK if bind in {"0.0.0.0", "::", ""} else bind  # noqa: S104 - it compares, it binds nothing


def hub_of(container: ContainerInfo, hub: Mapping[str, object]) -> Hub:
    """The hub of `container`, which serves what `hub` (its hub.json) says."""
    labels = container.labels
    return Hub(
        project_id=labels.get(c.LABEL_HUB, ""),
        project_path=labels.get(c.LABEL_PROJECT_PATH, ""),
        container_name=container.name,
        container_id=container.id,
        status=container.status,
        port=int(labels.get(c.LABEL_PORT, c.HUB_PORT)),
        bind=labels.get(c.LABEL_BIND, c.LOOPBACK),
        image=str(hub.get("image", "")),
        swarm=hub.get("spawner") == "swarm",
    )


def find_hub(engine: HubEngine, project_id: str) -> ContainerInfo | None:
    found = engine.containers(labels={c.LABEL_HUB: project_id, c.LABEL_HUB_ROLE: "hub"})
    return found[0] if found else None


def list_hubs(engine: HubEngine) -> list[ContainerInfo]:
    return sorted(engine.containers(labels={c.LABEL_HUB_ROLE: "hub"}), key=lambda item: item.name)


def read_state(engine: HubEngine, container: str) -> Previous:
    try:
        return read_archive(engine.get_archive(container, STATE_PATH))
    except NotFoundError:
        return Previous()


@contextlib.contextmanager
def _reader(engine: HubEngine, project_id: str, hub_image: str) -> Iterator[str]:
    """A created, never started container of the hub image with the state volume mounted."""
    created = engine.create(
        ContainerSpec(
            image=hub_image,
            command=("true",),
            labels={c.LABEL_MANAGED: "true"},
            mounts=(Mount("volume", s.hub_name(project_id), c.HUB_STATE_DIR),),
            network=False,
        )
    )
    try:
        yield created.id
    finally:
        engine.remove_container(created.id)


def previous_state(engine: HubEngine, project_id: str, hub_image: str) -> tuple[Previous, ContainerInfo | None]:
    """What the last `hub up` left (from the hub's container, else from its volume), and the hub's
    container when there is one."""
    found = find_hub(engine, project_id)
    if found is not None:
        return read_state(engine, found.id), found
    if engine.volume(s.hub_name(project_id)) is None:
        return Previous(), None
    with _reader(engine, project_id, hub_image) as reader:
        return read_state(engine, reader), None


def unchanged(found: ContainerInfo | None, previous: Previous, state: HubState, hub_image_id: str) -> bool:
    """The running hub already serves exactly this state (so `hub up` leaves users' servers be)."""
    return (
        found is not None
        and found.status == "running"
        and found.image_id == hub_image_id
        and dict(previous.files) == state.files()
    )


def _network(engine: HubEngine, spec: s.HubSpec) -> None:
    labels = s.container_labels(spec.project_id, spec.project_path)
    found = engine.network(spec.name)
    wanted = "overlay" if spec.swarm else "bridge"
    if found is not None and found.driver != wanted:
        # From one host to a swarm or back: the old network is empty now, since the hub is stopped.
        engine.remove_network(spec.name)
        found = None
    if found is None:
        engine.create_network(spec.name, overlay=spec.swarm, labels=labels)


def start(engine: HubEngine, spec: s.HubSpec, state: HubState, socket: str, reporter: Reporter) -> Hub:
    """Starts the hub (its network and state volume made when missing) and returns once it answers."""
    _network(engine, spec)
    volumes.ensure(engine, spec.name, {**s.hub_labels(spec.project_id, spec.project_path), c.LABEL_HUB_ROLE: "state"})
    if not servers.port_free(spec.bind, spec.port):
        raise servers.port_error(spec.bind, spec.port)
    run = ContainerSpec(
        image=spec.hub_image,
        name=spec.name,
        labels=s.hub_container_labels(spec.project_id, spec.project_path, port=spec.port, bind=spec.bind),
        ports=(PortBinding(c.HUB_PORT, spec.bind, spec.port),),
        mounts=(Mount("volume", spec.name, c.HUB_STATE_DIR), Mount("bind", socket, c.ENGINE_SOCKET)),
        network_name=spec.name,
    )
    created: ContainerInfo | None = None
    try:
        created = engine.create(run)
        engine.put_archive(created.id, c.HUB_STATE_DIR, archive(state))
        engine.start(created.id)
        reporter.step("waiting for JupyterHub to answer")
        wait_ready(engine, created.id, HubClient(f"http://{reach_host(spec.bind)}:{spec.port}"), spec.start_timeout)
    except KeyboardInterrupt:
        if created is not None:
            engine.remove_container(created.id, stop_timeout=5)
        raise Interrupted("Start-up interrupted: the hub's container was removed.") from None
    except NbshipError as exc:
        if created is not None:
            engine.remove_container(created.id, stop_timeout=5)
        if "address already in use" in str(exc) or "port is already allocated" in str(exc):
            raise servers.port_error(spec.bind, spec.port) from exc
        raise
    running = engine.container(created.id)
    if running is None:
        raise RunError(f"The hub's container {spec.name} disappeared right after it started.")
    return hub_of(running, state.hub)


def wait_ready(engine: HubEngine, container: str, client: HubClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.answers():
            return
        found = engine.container(container)
        if found is None or found.status in {"exited", "dead"}:
            raise RunError(
                f"The hub stopped during start-up (exit code {found.exit_code if found else None}). Its last log "
                "lines are below; a setting of the hub's authenticator is the usual cause ([hub] in nbship.toml).",
                details=servers.log_tail(engine, container),
            )
        time.sleep(0.2)
    raise RunError(
        f"JupyterHub did not answer at {client.base} within {timeout:.0f} s. Its last log lines are below.",
        details=servers.log_tail(engine, container),
    )


def server_containers(engine: HubEngine, project_id: str) -> list[ContainerInfo]:
    return engine.containers(labels={c.LABEL_HUB: project_id, c.LABEL_HUB_ROLE: "server"})


def stop(engine: HubEngine, project_id: str) -> tuple[ContainerInfo | None, tuple[str, ...]]:
    """Stops the hub (which stops its users' servers), removes what is left of those servers, and
    the hub's network. Returns the hub's container and the servers nbship had to remove itself."""
    found = find_hub(engine, project_id)
    if found is not None:
        engine.remove_container(found.id, stop_timeout=STOP_TIMEOUT)
    removed: list[str] = []
    services = engine.services(labels={c.LABEL_HUB: project_id})
    for service in services:
        engine.remove_service(service.id)
        removed.append(service.name)
    if found is not None or services:
        _wait_gone(engine, project_id)  # the hub's own stop, or the swarm, takes them away
    for container in server_containers(engine, project_id):
        engine.remove_container(container.id)
        removed.append(container.name)
    _remove_network(engine, s.hub_name(project_id))
    return found, tuple(removed)


def _wait_gone(engine: HubEngine, project_id: str, timeout: float = 30.0) -> None:
    """A removed service's tasks stop in their own time (and hold their volumes until then)."""
    deadline = time.monotonic() + timeout
    while server_containers(engine, project_id) and time.monotonic() < deadline:
        time.sleep(0.5)


def _remove_network(engine: HubEngine, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            engine.remove_network(name)
            return
        except NbshipError:
            # An overlay network stays in use until the swarm has let go of the last task.
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def require_swarm_manager(engine: HubEngine) -> None:
    role = engine.swarm_role()
    if role == "manager":
        return
    if role == "worker":
        raise UsageError(
            "This Docker engine is a swarm worker, and a hub with --swarm starts services, which only a "
            "manager can: run `nbship hub up --swarm` against a manager node (DOCKER_HOST or a docker context)."
        )
    raise UsageError(
        "--swarm runs each user's server as a Docker Swarm service, and this Docker engine is not in a swarm. "
        "Make it one with `docker swarm init` (then `docker swarm join` other machines), or leave out --swarm "
        "to serve everyone from this machine."
    )
