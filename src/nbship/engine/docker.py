"""Docker behind the engine seam: the Engine API through the docker SDK, and the docker CLI where
only it gives what is needed (BuildKit builds, `login`, interactive shells; see docker_cli.py).

Both address the daemon docker_endpoint.resolve chose once (DOCKER_HOST, or the docker context,
with its TLS material): the SDK client is built from it and every CLI run is pinned to it.
Rootless Docker is recognised from the daemon's security options: there the container's root
is the user who runs the daemon, so that is who writes into a bind-mounted folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, TypeVar

from nbship.engine import builder_probe, docker_cli, docker_volumes
from nbship.engine.base import (
    Builder,
    BuildReport,
    BuildRequest,
    CacheRecord,
    ContainerInfo,
    ContainerSpec,
    DiskUsage,
    HostUser,
    ImageInfo,
    NetworkInfo,
    ServiceInfo,
    SwarmRole,
    VolumeInfo,
    unreachable_host,
)
from nbship.engine.docker_api import MIN_API, START_HINT, DockerApi, api_refusal, api_version, applies
from nbship.engine.docker_create import create_body
from nbship.engine.docker_endpoint import DockerEndpoint, resolve
from nbship.engine.docker_values import (
    container_info,
    env_file,
    gpu_error,
    image_info,
    network_info,
    refused_gpus,
    short,
    volume_info,
)
from nbship.errors import (
    BuildError,
    DockerCommandError,
    DockerUnavailableError,
    Interrupted,
    NbshipError,
    NotFoundError,
    RunError,
    UsageError,
)
from nbship.options import BuilderChoice
from nbship.reporter import Reporter

if TYPE_CHECKING:  # the SDK (with requests) is imported when a call needs it: `sdk`, `call`
    import docker
    from docker.models.containers import Container

T = TypeVar("T")


class DockerEngine:
    """A lazily connected Docker engine whose calls raise nbship errors only."""

    name = "docker"
    compose_command = "docker compose"

    def __init__(self, endpoint: DockerEndpoint | None = None) -> None:
        self._endpoint = endpoint
        self._client: docker.DockerClient | None = None
        self._light: DockerApi | None = None

    @property
    def light(self) -> DockerApi | None:
        """The standard-library client for the calls it makes, when it can reach this daemon: the
        SDK (and requests) is imported only for what it alone does, or for ssh:// hosts."""
        if self._light is None and applies(self.endpoint):
            self._light = DockerApi(self.endpoint, timeout=120)
        return self._light

    @property
    def endpoint(self) -> DockerEndpoint:
        if self._endpoint is None:
            self._endpoint = resolve()
        return self._endpoint

    def connect(self) -> None:
        """Asks whether the daemon answers; DockerUnavailableError naming where nbship looked."""
        if self.light is not None:
            self.light.connect(timeout=15)
        else:
            self._sdk_client()

    def _sdk_client(self, *, timeout: int = 120) -> docker.DockerClient:
        """The SDK client, once the daemon answered; DockerUnavailableError naming where nbship looked."""
        if self._client is None:
            import docker.errors
            import requests
            from docker.constants import DEFAULT_DOCKER_API_VERSION

            where = self.endpoint.describe()
            kwargs = self.endpoint.sdk_kwargs(os.environ)
            # Asked with a short timeout whether it answers, and which API it speaks; the client for
            # the work then speaks the newest version both sides know.
            if applies(self.endpoint):
                server = DockerApi(self.endpoint, timeout=min(timeout, 15)).server_api()
            else:
                try:
                    probe = self._client_for(kwargs, version=f"{MIN_API[0]}.{MIN_API[1]}", timeout=min(timeout, 15))
                    server = str(probe.api.version(api_version=False).get("ApiVersion") or "0.0")
                except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                    raise DockerUnavailableError(
                        f"Cannot reach the Docker daemon at {where} ({short(exc)}). {START_HINT}"
                    ) from exc
            refusal = api_refusal(server, where)
            if refusal is not None:
                raise DockerUnavailableError(refusal)
            newest = min(server, DEFAULT_DOCKER_API_VERSION, key=api_version)
            self._client = self._client_for(kwargs, version=newest, timeout=timeout)
        return self._client

    @staticmethod
    def _client_for(kwargs: dict[str, Any], *, version: str, timeout: int) -> docker.DockerClient:
        import docker

        client = docker.DockerClient(version=version, timeout=timeout, **kwargs)
        if kwargs.get("tls"):
            # requests verifies with REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE when either is set, not with the
            # endpoint's own CA (which the docker CLI uses): no environment settings for this session.
            client.api.trust_env = False
        return client

    @property
    def sdk(self) -> docker.DockerClient:
        return self._sdk_client()

    @functools.cached_property
    def _info(self) -> dict[str, Any]:
        if self.light is not None:
            return self.light.info()
        return dict(self.call("docker info", self.sdk.info))

    @property
    def rootless(self) -> bool:
        return any("name=rootless" in str(option) for option in self._info.get("SecurityOptions") or [])

    @property
    def description(self) -> str:
        version = self._info.get("ServerVersion") or "?"
        return f"Docker {version}{' (rootless)' if self.rootless else ''} at {self.endpoint.describe()}"

    def _cli_env(self) -> dict[str, str | None]:
        return self.endpoint.cli_env()

    def _user(self, host_user: HostUser | None) -> str | None:
        """Who the container runs as so that its files on bind mounts belong to `host_user`."""
        if host_user is None:
            return None
        if self.rootless:
            # Rootless Docker maps the container's root onto the user running the daemon, and every
            # other uid onto a sub-uid: only root writes files that user owns.
            return "0:0"
        return f"{host_user.uid}:{host_user.gid}"

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Runs one SDK call; `what` reads like a docker command, for the error message."""
        import docker.errors
        import requests

        try:
            return fn()
        except docker.errors.NotFound as exc:
            raise NotFoundError(f"{what}: not found ({short(exc)}).") from exc
        except docker.errors.APIError as exc:
            raise DockerCommandError(
                f"Docker refused `{what}`: {short(exc)}",
                command=what,
                returncode=exc.status_code,
                output=str(exc.explanation or exc),
            ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise DockerUnavailableError(
                f"Lost the Docker daemon during `{what}` ({short(exc)}). {START_HINT}"
            ) from exc

    def sdk_container(self, name: str) -> Container:
        return self.call(f"docker container inspect {name}", lambda: self.sdk.containers.get(name))

    # -- images ----------------------------------------------------------------------------

    def image(self, reference: str) -> ImageInfo | None:
        if self.light is not None:
            return self.light.image(reference)
        try:
            found = self.call(f"docker image inspect {reference}", lambda: self.sdk.images.get(reference))
        except NotFoundError:
            return None
        return image_info(found)

    def remove_untagged_image(self, image_id: str) -> bool:
        if self.light is not None:
            try:
                found = self.light.image(image_id)
                if found is None or found.tags:
                    return False
                self.light.remove_image(image_id)
            except NbshipError:
                return False  # in use, or already gone: either way nothing of the user's is at stake
            return True
        import docker.errors

        try:
            image = self.sdk.images.get(image_id)
            if image.tags:
                return False
            self.sdk.images.remove(image_id, noprune=False)
        except docker.errors.DockerException:
            return False  # in use, or already gone: either way nothing of the user's is at stake
        return True

    def tag_image(self, source: str, repository: str, tag: str) -> None:
        image = self.call(f"docker image inspect {source}", lambda: self.sdk.images.get(source))
        self.call(f"docker tag {source} {repository}:{tag}", lambda: image.tag(repository, tag))

    def images(self, *, labels: Mapping[str, str] | None = None) -> list[ImageInfo]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]} if labels else None
        found = self.call("docker images --filter label=...", lambda: self.sdk.images.list(all=False, filters=filters))
        return [image_info(image) for image in found]

    def remove_image(self, reference: str) -> None:
        self.call(f"docker rmi {reference}", lambda: self.sdk.api.remove_image(reference, force=False, noprune=False))

    def disk_usage(self) -> DiskUsage:
        usage = self.call("docker system df", self.sdk.api.df)
        return DiskUsage(
            layers_size=int(usage.get("LayersSize") or 0),
            unique_sizes={
                str(image["Id"]): max(0, int(image.get("Size") or 0) - max(0, int(image.get("SharedSize") or 0)))
                for image in usage.get("Images") or []
            },
            build_cache=tuple(
                CacheRecord(
                    id=str(record["ID"]),
                    description=str(record.get("Description") or ""),
                    size=int(record.get("Size") or 0),
                    in_use=bool(record.get("InUse")),
                )
                for record in usage.get("BuildCache") or []
            ),
        )

    def prune_build_cache(self, record_ids: tuple[str, ...]) -> int:
        if not record_ids:
            return 0
        # The daemon takes one value per filter, matched as a regular expression: one alternation
        # names every record (ids are letters and digits only, so nothing in them needs escaping).
        wanted = '"^(' + "|".join(record_ids) + ')$"'
        result = self.call(
            "docker builder prune --filter id=...",
            lambda: self.sdk.api.prune_builds(filters={"id": wanted}, all=True),
        )
        return int((result or {}).get("SpaceReclaimed") or 0)

    def import_image(self, tar_bytes: bytes, *, repository: str, tag: str) -> None:
        if self.light is not None:
            return self.light.import_image(tar_bytes, repository=repository, tag=tag)
        self.call(
            f"docker import - {repository}:{tag}",
            lambda: self.sdk.api.import_image_from_data(tar_bytes, repository=repository, tag=tag),
        )

    def save_image(self, reference: str) -> Iterator[bytes]:
        stream = self.call(f"docker save {reference}", lambda: self.sdk.api.get_image(reference, chunk_size=1 << 20))
        return iter(stream)

    def load_image(self, data: IO[bytes]) -> tuple[str, ...]:
        messages = self.call("docker load", lambda: list(self.sdk.api.load_image(data)))
        loaded: list[str] = []
        for message in messages:
            if isinstance(message, dict) and message.get("error"):
                raise DockerCommandError(
                    f"Docker refused `docker load`: {message['error']}",
                    command="docker load",
                    returncode=1,
                    output=str(message["error"]),
                )
            text = str(message.get("stream", "")) if isinstance(message, dict) else ""
            for prefix in ("Loaded image: ", "Loaded image ID: "):
                if text.startswith(prefix):
                    loaded.append(text[len(prefix) :].strip())
        return tuple(loaded)

    def choose_builder(self, requested: BuilderChoice, *, needs_secrets: bool) -> Builder:
        cli = builder_probe.buildkit_cli(docker_cli.frozen(self._cli_env())) if requested != "classic" else None
        # Which daemon, when it is not the obvious one: a context, DOCKER_HOST, a rootless daemon.
        where = f" on {self.description}" if self.endpoint.configured or self.rootless else ""
        if cli is not None:
            return Builder("buildkit", f"BuildKit via {cli.path} ({cli.how}){where}")
        if requested == "buildkit":
            raise UsageError(
                "BuildKit was asked for (--builder buildkit) but no docker command here can use it: "
                "install the docker buildx plugin, or use a docker client older than 23.0."
            )
        if needs_secrets:
            raise UsageError(
                "This build needs BuildKit secrets (--ca-bundle, channel credentials, or a local conda channel "
                "nbship serves to the build), which keep those files out of every image layer, and only the "
                "classic builder is available here. Install the docker buildx plugin and try again."
            )
        why = "as asked" if requested == "classic" else "no docker command with BuildKit was found; no download cache"
        return Builder("classic", f"the classic builder ({why}){where}")

    def build(self, request: BuildRequest, reporter: Reporter) -> BuildReport:
        if request.builder.kind == "buildkit":
            cli = builder_probe.buildkit_cli(docker_cli.frozen(self._cli_env()))
            assert cli is not None, "choose_builder found it"
            done = docker_cli.buildkit_build(cli.path, request, reporter, env=self._cli_env())
        else:
            if request.secrets:
                raise UsageError("Build secrets need BuildKit, and this build uses the classic builder.")
            from nbship.engine.docker_classic import classic_build

            done = classic_build(self, request, reporter)
        if self.image(request.tag) is None:
            raise BuildError(f"The build finished but the image {request.tag} is not there. Build again with --debug.")
        return done

    def build_host(self) -> str:
        if self.rootless:
            raise unreachable_host("Docker")
        network = self.call("docker network inspect bridge", lambda: self.sdk.networks.get("bridge"))
        configs = (network.attrs.get("IPAM") or {}).get("Config") or []
        gateway = next((str(config["Gateway"]) for config in configs if config.get("Gateway")), None)
        return gateway or "172.17.0.1"

    # -- containers ------------------------------------------------------------------------

    # ignore_removed: the SDK inspects each listed container, and one removed in between (by another
    # command on the same daemon) would otherwise fail the whole listing as "not found".
    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]:
        if self.light is not None:
            return self.light.containers(labels=labels, all=all)
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        found = self.call(
            "docker ps --filter label=...",
            lambda: self.sdk.containers.list(all=all, filters=filters, ignore_removed=True),
        )
        return [container_info(container) for container in found]

    def container(self, name: str) -> ContainerInfo | None:
        if self.light is not None:
            return self.light.container(name)
        try:
            return container_info(self.sdk_container(name))
        except NotFoundError:
            return None

    def containers_using(self, volume: str) -> list[ContainerInfo]:
        if self.light is not None:
            return self.light.containers_using(volume)
        filters = {"volume": volume}
        found = self.call(
            f"docker ps -a --filter volume={volume}",
            lambda: self.sdk.containers.list(all=True, filters=filters, ignore_removed=True),
        )
        return [container_info(container) for container in found]

    def _create(self, spec: ContainerSpec, what: str, body: dict[str, Any]) -> str:
        """Creates the container `body` describes (create_body: the one translation of a spec, for
        either client); returns its id."""
        if self.light is not None:
            return self.light.create_container(body, name=spec.name)
        made = self.call(what, lambda: self.sdk.api.create_container_from_config(body, name=spec.name))
        return str(made["Id"])

    def _inspected(self, container: str, what: str) -> ContainerInfo:
        """The container just made by `what`, as either client reads it."""
        if self.light is None:
            return container_info(self.sdk_container(container))
        found = self.light.container(container)
        if found is None:
            raise NotFoundError(f"{what}: the container {container} went as soon as it was made.")
        return found

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        what = f"docker run -d {spec.image}"
        try:
            ident = self._create(spec, what, create_body(spec, user=self._user(spec.host_user)))
            self._start(ident)
            return self._inspected(ident, what)
        except DockerCommandError as exc:
            if not refused_gpus(exc):
                raise
            if spec.name:
                self.remove_container(spec.name)  # created, then refused at its start
            raise gpu_error(exc.message) from exc

    def create(self, spec: ContainerSpec, *, tty: bool = False, stdin: bool = False) -> ContainerInfo:
        what = f"docker create {spec.image}"
        body = create_body(spec, user=self._user(spec.host_user), attach=True, tty=tty, stdin=stdin)
        return self._inspected(self._create(spec, what, body), what)

    def _start(self, container: str) -> None:
        if self.light is not None:
            self.light.start(container)
        else:
            self.call(f"docker start {container}", lambda: self.sdk.api.start(container))

    def start(self, container: str) -> None:
        try:
            self._start(container)
        except DockerCommandError as exc:
            if refused_gpus(exc):
                raise gpu_error(exc.message) from exc
            raise

    def wait(self, container: str) -> int:
        result = self.call(f"docker wait {container}", self.sdk_container(container).wait)
        return int(result.get("StatusCode", -1))

    def remove_container(self, container: str, *, stop_timeout: int = 10) -> None:
        if self.light is not None:
            return self.light.remove_container(container, stop_timeout=stop_timeout)

        def stop_and_remove() -> None:
            found = self.sdk.containers.get(container)
            if found.status in {"running", "restarting", "paused"}:
                found.stop(timeout=stop_timeout)
            # v=True: an anonymous volume (--mount none) goes with its container; named ones never do.
            found.remove(force=True, v=True)

        # Already gone (auto-removed, or removed by hand) is the goal reached.
        with contextlib.suppress(NotFoundError):
            self.call(f"docker rm -f {container}", stop_and_remove)

    def logs(self, container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        if self.light is not None:
            return self.light.logs(container, follow=follow, tail=tail)
        found = self.sdk_container(container)
        lines: int | str = "all" if tail is None else tail
        if follow:
            return iter(
                self.call(f"docker logs -f {container}", lambda: found.logs(stream=True, follow=True, tail=lines))
            )
        return iter([self.call(f"docker logs {container}", lambda: found.logs(tail=lines))])

    def put_archive(self, container: str, path: str, data: bytes | IO[bytes]) -> None:
        found = self.sdk_container(container)
        self.call(f"docker cp - {container}:{path}", lambda: found.put_archive(path, data))

    def get_archive(self, container: str, path: str) -> bytes:
        found = self.sdk_container(container)

        def read() -> bytes:
            stream, _ = found.get_archive(path)
            return b"".join(stream)

        return self.call(f"docker cp {container}:{path} -", read)

    def exec_interactive(
        self, container: str, command: tuple[str, ...], *, tty: bool, env: Mapping[str, str] | None = None
    ) -> int:
        with env_file(env or {}) as env_args:
            return docker_cli.run_attached(
                ["exec", "-it" if tty else "-i", *env_args, container, *command], env=self._cli_env()
            )

    def run_interactive(self, spec: ContainerSpec, *, tty: bool, stdin: bool = True) -> int:
        # Created through the API (so the environment never appears on a command line), then
        # started by the CLI, which attaches the terminal and passes Ctrl-C on to the container.
        created = self.create(spec, tty=tty, stdin=stdin)
        try:
            try:
                code = docker_cli.run_attached(
                    ["start", "--attach", *(["--interactive"] if stdin else []), created.id], env=self._cli_env()
                )
            except KeyboardInterrupt:
                raise Interrupted("Interrupted: the container was stopped and removed.") from None
            ended = self.container(created.id)
            if ended is not None and ended.status == "created":  # never started: the CLI said why
                if spec.resources.gpus is not None:
                    raise gpu_error(f"docker start exited with {code}; its message is above")
                raise RunError(f"A container of {spec.image} could not start; Docker's message is above.")
            return ended.exit_code if ended is not None and ended.exit_code is not None else code
        finally:
            self.remove_container(created.id, stop_timeout=3)

    # -- volumes ---------------------------------------------------------------------------

    def volume(self, name: str) -> VolumeInfo | None:
        if self.light is not None:
            return self.light.volume(name)
        try:
            return volume_info(self.call(f"docker volume inspect {name}", lambda: self.sdk.volumes.get(name)))
        except NotFoundError:
            return None

    def volumes(self, *, labels: Mapping[str, str]) -> list[VolumeInfo]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        found = self.call("docker volume ls --filter label=...", lambda: self.sdk.volumes.list(filters=filters))
        return [volume_info(volume) for volume in found]

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> VolumeInfo:
        if self.light is not None:
            return self.light.create_volume(name, labels=labels)
        created = self.call(f"docker volume create {name}", lambda: self.sdk.volumes.create(name, labels=dict(labels)))
        return volume_info(created)

    def remove_volume(self, name: str) -> None:
        volume = self.call(f"docker volume inspect {name}", lambda: self.sdk.volumes.get(name))
        self.call(f"docker volume rm {name}", volume.remove)

    def export_volume(self, name: str) -> Iterator[bytes]:
        return docker_volumes.export_volume(self, name)

    def import_volume(self, name: str, data: IO[bytes]) -> None:
        docker_volumes.import_volume(self, name, data)

    # -- registries ------------------------------------------------------------------------

    def push(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        return self.call(
            f"docker push {repository}:{tag}",
            lambda: iter(self.sdk.api.push(repository, tag=tag, stream=True, decode=True)),
        )

    def pull(self, repository: str, tag: str | None, digest: str | None) -> Iterator[dict[str, Any]]:
        ref = f"@{digest}" if digest else f":{tag or 'latest'}"
        return self.call(
            f"docker pull {repository}{ref}",
            lambda: iter(self.sdk.api.pull(repository, tag=digest or tag or "latest", stream=True, decode=True)),
        )

    def login(self, registry: str, username: str, password: str) -> tuple[int, str]:
        # The CLI, not the SDK's login: only the CLI stores the credentials where pushes find them.
        return docker_cli.run_with_input(
            ["login", registry, "--username", username, "--password-stdin"], password, env=self._cli_env()
        )

    # -- what a hub needs besides ----------------------------------------------------------

    def daemon_socket(self) -> str | None:
        adapter = self.sdk.api.get_adapter(self.sdk.api.base_url)
        path = getattr(adapter, "socket_path", None)
        return str(path) if path else None

    def swarm_role(self) -> SwarmRole:
        swarm = self.call("docker info", self.sdk.info).get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active":
            return "inactive"
        return "manager" if swarm.get("ControlAvailable") else "worker"

    def network(self, name: str) -> NetworkInfo | None:
        try:
            found = self.call(f"docker network inspect {name}", lambda: self.sdk.networks.get(name))
        except NotFoundError:
            return None
        return network_info(found)

    def create_network(self, name: str, *, overlay: bool, labels: Mapping[str, str]) -> NetworkInfo:
        driver = "overlay" if overlay else "bridge"
        created = self.call(
            f"docker network create --driver {driver} {name}",
            lambda: self.sdk.networks.create(
                name, driver=driver, attachable=overlay or None, labels=dict(labels), check_duplicate=True
            ),
        )
        return network_info(created)

    def remove_network(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            network = self.call(f"docker network inspect {name}", lambda: self.sdk.networks.get(name))
            self.call(f"docker network rm {name}", network.remove)

    def services(self, *, labels: Mapping[str, str]) -> list[ServiceInfo]:
        if self.swarm_role() != "manager":
            return []  # only a manager lists services; elsewhere there are none nbship could remove
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        found = self.call("docker service ls --filter label=...", lambda: self.sdk.services.list(filters=filters))
        return [
            ServiceInfo(
                id=str(item.id),
                name=str(item.name),
                labels=dict((item.attrs.get("Spec") or {}).get("Labels") or {}),
            )
            for item in found
        ]

    def remove_service(self, service: str) -> None:
        with contextlib.suppress(NotFoundError):
            found = self.call(f"docker service inspect {service}", lambda: self.sdk.services.get(service))
            self.call(f"docker service rm {service}", found.remove)
