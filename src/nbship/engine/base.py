"""The engine seam: what nbship asks of a container engine, in nbship's own types.

Every image, container, volume, build and registry call of nbship goes through an `Engine`.
Implementations (nbship.engine.docker, nbship.engine.podman) turn each failure into an
NbshipError: a call the engine refused is a DockerCommandError carrying the command, its exit
code and output; a missing object is NotFoundError; an engine that does not answer is
DockerUnavailableError. Nothing above this module sees an SDK object or builds an engine command
line, and nothing above it asks which engine it has: where engines differ (user namespaces,
volume archives, loopback registries), the implementation does what the caller asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable

# What the engine reports back is defined in info.py; named here too, as the seam's vocabulary.
from nbship.engine.info import BuildReport as BuildReport
from nbship.engine.info import BuildStep as BuildStep
from nbship.engine.info import ContainerInfo as ContainerInfo
from nbship.engine.info import ImageInfo as ImageInfo
from nbship.engine.info import VolumeInfo as VolumeInfo
from nbship.errors import UsageError
from nbship.options import BuilderChoice
from nbship.reporter import Reporter
from nbship.resources import Resources

MountKind = Literal["volume", "bind", "anonymous"]


@dataclass(frozen=True)
class CacheRecord:
    """One entry of the engine's build cache."""

    id: str
    description: str  # what made it, e.g. "mount / from exec /bin/sh -c ..." for a RUN step
    size: int
    in_use: bool


@dataclass(frozen=True)
class DiskUsage:
    layers_size: int  # all image layers together
    unique_sizes: Mapping[str, int]  # image id -> bytes no other image shares
    build_cache: tuple[CacheRecord, ...]


@dataclass(frozen=True)
class Mount:
    """What a container gets at `target`: a named volume, a host folder (bind) or a throwaway volume."""

    kind: MountKind
    source: str  # the volume's name or the host folder; "" for an anonymous volume
    target: str


@dataclass(frozen=True)
class HostUser:
    """A user of the machine nbship runs on, by number."""

    uid: int
    gid: int


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    name: str | None = None
    command: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[Mount, ...] = ()
    # Whose files the bind mounts hold: what the container writes there must belong to this host
    # user. Each engine decides how (the uid itself, or a user namespace mapped onto it); None: the
    # image's own user.
    host_user: HostUser | None = None
    network: bool = True  # False: no network at all (loopback still works)
    workdir: str | None = None  # None: the image's WORKDIR
    resources: Resources = field(default_factory=Resources)  # memory, CPUs and GPUs it may use
    network_name: str | None = None  # attach to this network instead of the engine's default one
    # No process in the container gains privileges (a setuid file in a volume runs as its caller).
    no_new_privileges: bool = True


@dataclass(frozen=True)
class Builder:
    """How an engine builds: with BuildKit (cache and secret mounts) or the classic builder."""

    kind: Literal["buildkit", "classic"]
    description: str
    # A RUN with a read-only bind mount is rerun when what it mounts changes (BuildKit). Buildah
    # before 1.35 reuses the step whatever the mount shows, so its Dockerfile copies instead.
    mounts_keyed: bool = True


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: str  # the Dockerfile's text
    ignore: tuple[str, ...]  # .dockerignore patterns applied to the context
    tag: str
    builder: Builder
    labels: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[tuple[str, Path], ...] = ()  # BuildKit secrets (id, file): the CA bundle, channel credentials
    build_args: Mapping[str, str] = field(default_factory=dict)  # never secrets: they are kept in the image
    no_cache: bool = False


def unreachable_host(engine: str) -> UsageError:
    """A rootless engine's builds run in a network namespace of their own: no address of this
    machine's reaches them, so nbship cannot serve a local conda channel to them."""
    return UsageError(
        f"Builds of rootless {engine} cannot reach a server on this machine, which is how nbship hands a local "
        "conda channel to the build: serve the channel over HTTP(S) and name its URL in environment.yml, or build "
        "with a root daemon."
    )


class EngineReader(Protocol):
    """The read-only part of an engine, which `connect_reader` may serve without the engine's SDK."""

    name: str

    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]: ...

    def image(self, reference: str) -> ImageInfo | None: ...


class Engine(Protocol):
    """What nbship needs from a container engine. One instance talks to one daemon."""

    name: str  # "docker" or "podman"

    @property
    def description(self) -> str:
        """The engine as a user knows it, e.g. "Podman 4.3.1 (rootless)"; may ask the engine."""

    @property
    def compose_command(self) -> str:
        """The command that runs a compose file with this engine, e.g. "docker compose"."""

    # -- images
    def image(self, reference: str) -> ImageInfo | None: ...

    def remove_untagged_image(self, image_id: str) -> bool:
        """Removes an image that lost its last tag to a rebuild; False when it is tagged or in use."""

    def tag_image(self, source: str, repository: str, tag: str) -> None: ...

    def images(self, *, labels: Mapping[str, str] | None = None) -> list[ImageInfo]:
        """Tagged and untagged images, those carrying every label given (None: all)."""

    def remove_image(self, reference: str) -> None:
        """Untags `reference` (a tag), or removes the image (an id); never forced."""

    def disk_usage(self) -> DiskUsage: ...

    def prune_build_cache(self, record_ids: tuple[str, ...]) -> int:
        """Removes these build cache records (those in use stay); the bytes freed."""

    def import_image(self, tar_bytes: bytes, *, repository: str, tag: str) -> None:
        """A one-layer image from a tar of files (no pull, no build)."""

    def save_image(self, reference: str) -> Iterator[bytes]:
        """The image (config, layers, its tag) as `docker save` writes it, in chunks."""
        ...

    def load_image(self, data: IO[bytes]) -> tuple[str, ...]:
        """Loads a `docker save` tar read from `data`; returns what was loaded (tags, else ids)."""
        ...

    def choose_builder(self, requested: BuilderChoice, *, needs_secrets: bool) -> Builder: ...

    def build(self, request: BuildRequest, reporter: Reporter) -> BuildReport:
        """Builds and tags `request.tag`; raises BuildError with the failing step's log."""

    def build_host(self) -> str:
        """The host's address as build containers reach it (the default bridge's gateway)."""

    # -- containers
    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]: ...

    def container(self, name: str) -> ContainerInfo | None: ...

    def containers_using(self, volume: str) -> list[ContainerInfo]: ...

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Creates and starts a container in the background (`docker run -d`)."""

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        """Creates a container without starting it (files can be put into it first)."""

    def start(self, container: str) -> None: ...

    def wait(self, container: str) -> int: ...

    def remove_container(self, container: str, *, stop_timeout: int = 10) -> None:
        """Stops and removes it with its anonymous volumes; already gone is fine."""

    def logs(self, container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]: ...

    def put_archive(self, container: str, path: str, data: bytes | IO[bytes]) -> None: ...

    def get_archive(self, container: str, path: str) -> bytes: ...

    def exec_interactive(
        self, container: str, command: tuple[str, ...], *, tty: bool, env: Mapping[str, str] | None = None
    ) -> int:
        """Runs `command` in a running container attached to the user's terminal; its exit code."""

    def run_interactive(self, spec: ContainerSpec, *, tty: bool, stdin: bool = True) -> int:
        """Runs a new container attached to the user's terminal (its output, and its input when
        `stdin`), removed afterwards in every case, Ctrl-C included; the command's exit code."""

    # -- volumes
    def volume(self, name: str) -> VolumeInfo | None: ...

    def volumes(self, *, labels: Mapping[str, str]) -> list[VolumeInfo]: ...

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> VolumeInfo: ...

    def remove_volume(self, name: str) -> None: ...

    def export_volume(self, name: str) -> Iterator[bytes]:
        """The volume's files as a tar stream: member names relative to its root (the root itself
        is "." when present), owners and modes as stored."""

    def import_volume(self, name: str, data: IO[bytes]) -> None:
        """Unpacks a tar in the layout export_volume gives into the existing volume `name`, owners
        and modes as recorded; its "." member sets the volume root's owner and mode."""

    # -- registries
    def push(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        """`push` as JSON progress events; credentials as the engine keeps them."""

    def pull(self, repository: str, tag: str | None, digest: str | None) -> Iterator[dict[str, Any]]: ...

    def login(self, registry: str, username: str, password: str) -> tuple[int, str]:
        """Logs in so that later pushes and pulls find the credentials; (exit code, output)."""


# -- What `nbship hub` needs besides: networks, Swarm services, the engine's own socket ----------

SwarmRole = Literal["inactive", "worker", "manager"]


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    driver: str  # "bridge", "overlay", ...
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    name: str
    labels: Mapping[str, str]


@runtime_checkable
class HubEngine(Engine, Protocol):
    """An engine that can run a JupyterHub which starts users' servers itself: the hub reaches the
    engine through its socket, and users' servers share a network with the hub."""

    def daemon_socket(self) -> str | None:
        """The engine's socket as the engine's own host sees it (a path to mount into the hub's
        container), or None when nbship reaches the engine another way (TCP, SSH)."""

    def swarm_role(self) -> SwarmRole: ...

    def network(self, name: str) -> NetworkInfo | None: ...

    def create_network(self, name: str, *, overlay: bool, labels: Mapping[str, str]) -> NetworkInfo:
        """A bridge network, or (`overlay`) an attachable Swarm overlay network."""

    def remove_network(self, name: str) -> None:
        """Already gone is fine."""

    def services(self, *, labels: Mapping[str, str]) -> list[ServiceInfo]:
        """The Swarm services carrying every label given; none when the engine is no swarm manager."""

    def remove_service(self, service: str) -> None:
        """Removes the Swarm service and its tasks; already gone is fine."""
