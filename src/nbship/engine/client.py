"""The one way nbship talks to Docker: the Engine API through the docker SDK, and the docker CLI
where only it gives what is needed (BuildKit builds, interactive shells).

Every failure becomes an NbshipError; DockerCommandError carries the command, exit code and output.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import docker
import docker.errors
import docker.types
from docker.models.containers import Container
from docker.models.images import Image
from docker.models.volumes import Volume

from nbship.errors import DockerCommandError, DockerUnavailableError, NotFoundError

T = TypeVar("T")

_START_HINT = (
    "Start it and try again: on Linux `sudo systemctl start docker` (or run `sudo dockerd` where "
    "there is no systemd), on macOS and Windows start Docker Desktop. If it is running, check "
    "DOCKER_HOST and that your user may use the Docker socket."
)


@dataclass(frozen=True)
class BuildkitCli:
    """A docker CLI able to run BuildKit builds, and how it was recognised."""

    path: str
    how: str  # "buildx plugin" or "built-in BuildKit (client X)"


def _docker_clis() -> list[str]:
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    if Path("/usr/bin/docker").is_file():
        found.append("/usr/bin/docker")
    return list(dict.fromkeys(found))


def _quiet(cmd: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.cache
def find_buildkit_cli() -> BuildkitCli | None:
    """The first docker CLI on PATH that builds with BuildKit, or None (then: classic builder).

    A CLI from 23.0 on needs the buildx plugin for BuildKit; older ones have it built in.
    """
    for cli in _docker_clis():
        buildx = _quiet([cli, "buildx", "version"])
        if buildx is not None and buildx.returncode == 0:
            return BuildkitCli(cli, "buildx plugin")
        version = _quiet([cli, "version", "--format", "{{.Client.Version}}"])
        if version is None:
            continue
        match = re.match(r"(\d+)\.", version.stdout.strip())
        if match and 18 < int(match.group(1)) < 23:
            return BuildkitCli(cli, f"built-in BuildKit (docker client {version.stdout.strip()})")
    return None


def docker_cli() -> str:
    """Any docker CLI, for commands every version has (exec, run -it)."""
    clis = _docker_clis()
    if not clis:
        raise DockerUnavailableError(
            "No docker command was found on PATH. Install Docker (the engine and its command-line "
            "client), then try again."
        )
    return clis[0]


class DockerClient:
    """A lazily connected Engine API client whose calls raise nbship errors only."""

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None

    @property
    def sdk(self) -> docker.DockerClient:
        if self._client is None:
            try:
                client = docker.from_env(timeout=120)
                client.ping()
            except docker.errors.DockerException as exc:
                raise DockerUnavailableError(f"Cannot reach the Docker daemon ({_short(exc)}). {_START_HINT}") from exc
            self._client = client
        return self._client

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Runs one SDK call; `what` reads like a docker command, for the error message."""
        try:
            return fn()
        except docker.errors.NotFound as exc:
            raise NotFoundError(f"{what}: not found ({_short(exc)}).") from exc
        except docker.errors.APIError as exc:
            raise DockerCommandError(
                f"Docker refused `{what}`: {_short(exc)}",
                command=what,
                returncode=exc.status_code,
                output=str(exc.explanation or exc),
            ) from exc
        except docker.errors.DockerException as exc:
            raise DockerUnavailableError(
                f"Lost the Docker daemon during `{what}` ({_short(exc)}). {_START_HINT}"
            ) from exc

    def image(self, reference: str) -> Image | None:
        try:
            return self.call(f"docker image inspect {reference}", lambda: self.sdk.images.get(reference))
        except NotFoundError:
            return None

    def remove_untagged_image(self, image_id: str) -> bool:
        """Removes an image that lost its last tag to a rebuild; keeps it when a container uses it."""
        try:
            image = self.sdk.images.get(image_id)
            if image.tags:
                return False
            self.sdk.images.remove(image_id, noprune=False)
        except docker.errors.DockerException:
            return False  # in use, or already gone: either way nothing of the user's is at stake
        return True

    def bridge_gateway(self) -> str:
        """The host's address on the default bridge network: where build containers reach the host."""
        network = self.call("docker network inspect bridge", lambda: self.sdk.networks.get("bridge"))
        configs = (network.attrs.get("IPAM") or {}).get("Config") or []
        gateway = next((str(config["Gateway"]) for config in configs if config.get("Gateway")), None)
        return gateway or "172.17.0.1"

    def containers(self, *, labels: dict[str, str], all: bool = True) -> list[Container]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return self.call("docker ps --filter label=...", lambda: self.sdk.containers.list(all=all, filters=filters))

    def container(self, name: str) -> Container | None:
        try:
            return self.call(f"docker container inspect {name}", lambda: self.sdk.containers.get(name))
        except NotFoundError:
            return None

    def run_detached(self, image: str, *, work_mount: tuple[str, str, str] | None = None, **kwargs: Any) -> Container:
        """`docker run -d`; work_mount is (kind, source, target) with kind volume, host or none."""
        if work_mount is not None:
            kind, source, target = work_mount
            if kind == "host":
                kwargs["mounts"] = [docker.types.Mount(target, source, type="bind")]
            else:  # an empty source makes an anonymous volume
                kwargs["mounts"] = [docker.types.Mount(target, source or None, type="volume")]
        return self.call(f"docker run -d {image}", lambda: self.sdk.containers.run(image, detach=True, **kwargs))

    def create_container(self, image: str, **kwargs: Any) -> Container:
        """A container that is created but not started (files can be put into it first)."""
        return self.call(f"docker create {image}", lambda: self.sdk.containers.create(image, **kwargs))

    def start(self, container: Container) -> None:
        self.call(f"docker start {container.name}", container.start)

    def wait(self, container: Container) -> int:
        result = self.call(f"docker wait {container.name}", container.wait)
        return int(result.get("StatusCode", -1))

    def put_archive(self, container: Container, path: str, data: bytes | IO[bytes]) -> None:
        """Unpacks the tar `data` (bytes, or a file streamed as it is read) into `path` (`docker cp` into it)."""
        self.call(f"docker cp - {container.name}:{path}", lambda: container.put_archive(path, data))

    def get_archive(self, container: Container, path: str) -> bytes:
        """`path` in the container as a tar (`docker cp` out of it); NotFoundError when it is missing."""

        def read() -> bytes:
            stream, _ = container.get_archive(path)
            return b"".join(stream)

        return self.call(f"docker cp {container.name}:{path} -", read)

    def remove_container(self, container: Container, *, stop_timeout: int = 10) -> None:
        def stop_and_remove() -> None:
            container.reload()
            if container.status in {"running", "restarting", "paused"}:
                container.stop(timeout=stop_timeout)
            # v=True: an anonymous volume (--mount none) goes with its container; named ones never do.
            container.remove(force=True, v=True)

        # Already gone (auto-removed, or removed by hand) is the goal reached.
        with contextlib.suppress(NotFoundError):
            self.call(f"docker rm -f {container.name}", stop_and_remove)

    def volume(self, name: str) -> Volume | None:
        try:
            return self.call(f"docker volume inspect {name}", lambda: self.sdk.volumes.get(name))
        except NotFoundError:
            return None

    def volumes(self, *, labels: dict[str, str]) -> list[Volume]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return self.call("docker volume ls --filter label=...", lambda: self.sdk.volumes.list(filters=filters))

    def create_volume(self, name: str, *, labels: dict[str, str]) -> Volume:
        return self.call(f"docker volume create {name}", lambda: self.sdk.volumes.create(name, labels=labels))

    def remove_volume(self, volume: Volume) -> None:
        self.call(f"docker volume rm {volume.name}", lambda: volume.remove())

    def containers_using(self, volume_name: str) -> list[Container]:
        filters = {"volume": volume_name}
        return self.call(
            f"docker ps -a --filter volume={volume_name}", lambda: self.sdk.containers.list(all=True, filters=filters)
        )

    def import_image(self, tar_bytes: bytes, *, repository: str, tag: str) -> None:
        self.call(
            f"docker import - {repository}:{tag}",
            lambda: self.sdk.api.import_image_from_data(tar_bytes, repository=repository, tag=tag),
        )

    def archive_stream(self, container: Container, path: str) -> Iterator[bytes]:
        """Like get_archive, in chunks as they come: for volumes too large to hold in memory."""
        stream, _ = self.call(f"docker cp {container.name}:{path} -", lambda: container.get_archive(path))
        return iter(stream)

    def tag_image(self, source: str, repository: str, tag: str) -> None:
        image = self.image(source)
        if image is None:
            raise NotFoundError(f"The image {source} is not on this machine; build it first (nbship build).")
        self.call(f"docker tag {source} {repository}:{tag}", lambda: image.tag(repository, tag))

    def push_stream(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        """`docker push` as JSON events; credentials come from Docker's config or credential store."""
        return self.call(
            f"docker push {repository}:{tag}",
            lambda: iter(self.sdk.api.push(repository, tag=tag, stream=True, decode=True)),
        )

    def pull_stream(self, repository: str, tag: str | None, digest: str | None) -> Iterator[dict[str, Any]]:
        ref = f"@{digest}" if digest else f":{tag or 'latest'}"
        return self.call(
            f"docker pull {repository}{ref}",
            lambda: iter(self.sdk.api.pull(repository, tag=digest or tag or "latest", stream=True, decode=True)),
        )

    def remove_image(self, reference: str) -> None:
        self.call(f"docker rmi {reference}", lambda: self.sdk.images.remove(reference))

    def cli_with_input(self, cli: str, args: Sequence[str], text: str) -> tuple[int, str]:
        """Runs the docker CLI with `text` on its stdin (a password), returning exit code and output."""
        command = [cli, *args]
        try:
            result = subprocess.run(command, input=text, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DockerCommandError(
                f"Could not run {cli} {args[0]}: {exc}", command=" ".join(command), returncode=None, output=""
            ) from exc
        return result.returncode, result.stdout + result.stderr

    def logs(self, container: Container, *, follow: bool, tail: int | str = "all") -> Iterator[bytes]:
        if follow:
            stream = self.call(
                f"docker logs -f {container.name}", lambda: container.logs(stream=True, follow=True, tail=tail)
            )
            return iter(stream)
        data = self.call(f"docker logs {container.name}", lambda: container.logs(tail=tail))
        return iter([data])

    def run_cli(self, cli: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> int:
        """Runs the docker CLI attached to the user's terminal (shell, exec): returns its exit code."""
        command = [cli, *args]
        try:
            return subprocess.call(command, env={**os.environ, **(env or {})})
        except OSError as exc:
            raise DockerCommandError(
                f"Could not run {cli}: {exc}", command=" ".join(command), returncode=None, output=""
            ) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


class CliProcess:
    """A docker CLI command whose merged output is read line by line (a BuildKit build)."""

    def __init__(self, command: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            raise DockerCommandError(
                f"Could not run {self.command[0]}: {exc}", command=" ".join(self.command), returncode=None, output=""
            ) from exc

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            yield line.rstrip("\n")

    def wait(self) -> int:
        return self._proc.wait()

    def kill(self) -> None:
        """Stops the command (Ctrl-C): the CLI cancels its build on SIGTERM."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
