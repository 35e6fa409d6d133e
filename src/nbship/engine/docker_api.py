"""Docker's Engine API read with the standard library: the light path for the commands that only look.

`nbship status` (and the up-to-date check of build and up) asks the daemon a few read-only
questions: which containers carry nbship's labels, what an image's id is. Importing the docker
SDK (requests, urllib3, the SDK's mixins) costs more than the whole CLI, so these questions go
over `http.client` instead: to a unix socket, or over TCP, with TLS where the docker context has
TLS material. Where this client does not apply (ssh:// hosts, named pipes, DOCKER_HOST with the
TLS variables, whose rules the SDK owns) `applies` says so and the seam uses the SDK. Plain
connections speak HTTP/1.0 on a socket (no chunking: the daemon closes after its answer); TLS
goes through http.client, imported only then.

What a container's JSON means is decided here once (`container_info`): the SDK's Container
objects carry the same inspect JSON, and docker_values reads them through this function.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from nbship.engine.docker_endpoint import DockerEndpoint, TlsFiles, resolve
from nbship.engine.info import ContainerInfo, ImageInfo, VolumeInfo
from nbship.errors import DockerCommandError, DockerUnavailableError, NotFoundError
from nbship.resources import GpuRequest, Resources

# Engine API 1.40 is Docker 19.03, the oldest release with BuildKit's secrets and cache mounts.
MIN_API = (1, 40)
DEFAULT_SOCKET = "/var/run/docker.sock"
START_HINT = (
    "Start it and try again: on Linux `sudo systemctl start docker` (or run `sudo dockerd` where "
    "there is no systemd; `systemctl --user start docker` for rootless Docker), on macOS and Windows "
    "start Docker Desktop (or `colima start`). If it is running, check DOCKER_HOST, `docker context ls`, "
    "and that your user may use the Docker socket; or use Podman with --engine podman."
)


def api_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (0, 0)


def api_refusal(server: str, where: str) -> str | None:
    """The one-paragraph refusal of a daemon whose Engine API is older than nbship needs; None when new enough."""
    if api_version(server) >= MIN_API:
        return None
    return (
        f"The Docker daemon at {where} speaks Engine API {server}; nbship needs {MIN_API[0]}.{MIN_API[1]} or "
        "later (Docker 19.03 or later). Upgrade Docker, or use Podman with --engine podman."
    )


def env_pairs(items: Any) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in items or [] if "=" in str(item))


def container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    """A container as the seam has it, from the daemon's inspect JSON."""
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    code = state.get("ExitCode")
    host = attrs.get("HostConfig") or {}
    requests = host.get("DeviceRequests") or []
    resources = Resources(
        memory=int(host["Memory"]) if host.get("Memory") else None,
        cpus=int(host["NanoCpus"]) / 1e9 if host.get("NanoCpus") else None,
        gpus=GpuRequest(count=int(requests[0].get("Count") or 0), text="(set)") if requests else None,
    )
    return ContainerInfo(
        id=str(attrs.get("Id") or ""),
        name=str(attrs.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or ""),
        image_id=str(attrs.get("Image") or ""),
        labels=dict(config.get("Labels") or {}),
        status=str(state.get("Status") or ""),
        env=env_pairs(config.get("Env")),
        exit_code=int(code) if code is not None else None,
        resources=resources,
    )


def volume_info(attrs: Mapping[str, Any]) -> VolumeInfo:
    """A volume as the seam has it, from the daemon's inspect JSON."""
    return VolumeInfo(
        name=str(attrs.get("Name") or ""),
        labels=dict(attrs.get("Labels") or {}),
        created=str(attrs.get("CreatedAt") or ""),
    )


def image_info(attrs: Mapping[str, Any]) -> ImageInfo:
    """An image as the seam has it, from the daemon's inspect JSON."""
    config = attrs.get("Config") or {}
    return ImageInfo(
        id=str(attrs.get("Id") or ""),
        tags=tuple(str(tag) for tag in attrs.get("RepoTags") or () if tag != "<none>:<none>"),
        labels=dict(config.get("Labels") or {}),
        size=int(attrs.get("Size") or 0),
        env=env_pairs(config.get("Env")),
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        architecture=str(attrs.get("Architecture") or ""),
        entrypoint=tuple(str(word) for word in config.get("Entrypoint") or ()),
        cmd=tuple(str(word) for word in config.get("Cmd") or ()),
        repo_digests=tuple(str(digest) for digest in attrs.get("RepoDigests") or ()),
    )


_JSON = "application/json"
Answer = tuple[int, dict[str, str], bytes]  # status, headers (names in lower case), body


def _send_head(sock: socket.socket, method: str, path: str, body: bytes, content_type: str) -> None:
    length = "" if method == "GET" else f"Content-Length: {len(body)}\r\n"
    kind = f"Content-Type: {content_type}\r\n" if body else ""
    sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\n{length}{kind}\r\n".encode("ascii") + body)


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise ConnectionError("the daemon's answer is not HTTP")
    return int(status[1]), {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
    }


def _plain_request(sock: socket.socket, method: str, path: str, body: bytes = b"", content_type: str = _JSON) -> Answer:
    """One request as HTTP/1.0 on a connection of its own: the daemon answers without chunking and
    closes when done, so the answer is all there is to read. The standard library's http.client
    would import ssl and the email parser (several milliseconds of `nbship status`) for this."""
    with sock:
        _send_head(sock, method, path, body, content_type)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    head, separator, rest = b"".join(chunks).partition(b"\r\n\r\n")
    if not separator:
        raise ConnectionError("the daemon's answer is not HTTP")
    status, headers = _head(head)
    length = headers.get("content-length", "")
    return status, headers, rest[: int(length)] if length.isdigit() else rest


def _plain_stream(sock: socket.socket, path: str) -> tuple[int, bytes, Iterator[bytes]]:
    """A GET whose answer goes on as long as the daemon writes (a followed log): the status, what
    came with the headers, and the rest as it arrives. The socket closes when the iterator ends."""
    _send_head(sock, "GET", path, b"", "")
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(1 << 16)
        if not chunk:
            sock.close()
            raise ConnectionError("the daemon's answer is not HTTP")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status, _ = _head(head)

    def more() -> Iterator[bytes]:
        with sock:
            while chunk := sock.recv(1 << 16):
                yield chunk

    return status, rest, more()


def frames(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The payloads of Docker's multiplexed stream (an 8-byte header: stream, 3 zero bytes, the
    size as a big-endian uint32), stdout and stderr together, as `docker logs` shows them."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            if payload := buffer[8 : 8 + size]:
                yield payload
            buffer = buffer[8 + size :]
    if buffer[8:]:
        yield buffer[8:]  # a frame cut short when the container went: what arrived of it


def _tls_response(
    address: str, port: int, tls: TlsFiles, method: str, path: str, body: bytes, kind: str, timeout: float | None
) -> Any:
    """The answer's http.client response (its connection closes with it): TLS goes through http.client and ssl."""
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert and tls.key:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    connection = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
    headers = {"Host": "docker", **({"Content-Type": kind} if body else {})}
    try:
        connection.request(method, path, body=body or None, headers=headers)
        return connection.getresponse()
    except http.client.HTTPException as exc:
        connection.close()
        raise ConnectionError(str(exc) or type(exc).__name__) from exc
    except BaseException:
        connection.close()
        raise


def _tls_request(
    address: str, port: int, tls: TlsFiles, method: str, path: str, body: bytes, kind: str, timeout: float
) -> Answer:
    import http.client

    response = _tls_response(address, port, tls, method, path, body, kind, timeout)
    try:
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    except http.client.HTTPException as exc:
        raise ConnectionError(str(exc) or type(exc).__name__) from exc
    finally:
        response.close()


def _tls_dockerhost(environ: Mapping[str, str]) -> bool:
    # The SDK's rule (docker.utils.kwargs_from_env): TLS when DOCKER_CERT_PATH is non-empty or
    # DOCKER_TLS_VERIFY is set to anything but "".
    return bool(environ.get("DOCKER_CERT_PATH")) or environ.get("DOCKER_TLS_VERIFY", "") != ""


def applies(endpoint: DockerEndpoint, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this client can talk to `endpoint`; else the SDK does."""
    env = os.environ if environ is None else environ
    if not endpoint.host:
        return os.name == "posix"
    scheme = urlsplit(endpoint.host).scheme
    if scheme == "unix":
        return True
    if scheme == "tcp":
        return not (endpoint.chosen_by == "DOCKER_HOST" and _tls_dockerhost(env))
    return False


class DockerApi:
    """Questions (and an image's removal) to one Docker daemon, over a plain socket (http.client for TLS).

    Errors are the seam's: DockerUnavailableError when the daemon does not answer, NotFoundError
    for a 404, DockerCommandError (with the request, the status and the daemon's message) otherwise."""

    name = "docker"

    def __init__(self, endpoint: DockerEndpoint | None = None, *, timeout: float = 60) -> None:
        self.endpoint = endpoint if endpoint is not None else resolve()
        self._timeout = timeout
        self._prefix: str | None = None

    def _socket(self, timeout: float | None) -> socket.socket | None:
        """A plain connection to the daemon; None where it speaks TLS."""
        host = self.endpoint.host
        parts = urlsplit(host) if host else None
        if parts is None or parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(parts.path if parts is not None else DEFAULT_SOCKET)
            except OSError:
                sock.close()
                raise
            return sock
        if self.endpoint.tls is not None:
            return None
        return socket.create_connection((parts.hostname or "localhost", parts.port or 2375), timeout=timeout)

    def _tls_address(self) -> tuple[str, int, TlsFiles]:
        parts = urlsplit(self.endpoint.host)
        assert self.endpoint.tls is not None, "a plain socket is used otherwise"
        return parts.hostname or "localhost", parts.port or 2376, self.endpoint.tls

    def _send(self, method: str, path: str, body: bytes, kind: str) -> Answer:
        sock = self._socket(self._timeout)
        if sock is not None:
            return _plain_request(sock, method, path, body, kind)
        return _tls_request(*self._tls_address(), method, path, body, kind, self._timeout)

    def _open_stream(self, path: str, what: str) -> Iterator[bytes]:
        """GET `path`, its body as the daemon writes it, with no timeout (a followed log may be quiet for hours)."""
        try:
            sock = self._socket(None)
            if sock is not None:
                status, first, rest = _plain_stream(sock, path)
                chunks: Iterator[bytes] = itertools.chain([first] if first else [], rest)
            else:
                response = _tls_response(*self._tls_address(), "GET", path, b"", "", None)
                status = response.status
                chunks = _read_all(response)
        except OSError as exc:
            raise self._unreachable(what, exc) from exc
        if status >= 400:
            data = b"".join(chunks)
            message = _message(_json(data), data)
            raise NotFoundError(f"{what}: not found ({message}).") if status == 404 else _refused(what, status, message)
        return chunks

    def _exchange(self, path: str, what: str, method: str = "GET", body: bytes = b"", kind: str = _JSON) -> Answer:
        """`method` `path`: its status, headers and body; `what` reads like a docker command, for messages."""
        try:
            return self._send(method, path, body, kind)
        except OSError as exc:
            raise self._unreachable(what, exc) from exc

    def _unreachable(self, what: str, exc: OSError) -> DockerUnavailableError:
        reason = str(exc).strip() or type(exc).__name__
        return DockerUnavailableError(
            f"Cannot reach the Docker daemon at {self.endpoint.describe()} during `{what}` ({reason}). {START_HINT}"
        )

    def _request(self, path: str, what: str, method: str = "GET", body: bytes = b"", *, empty: bool = False) -> Any:
        """`method` `path`, its JSON answer; `empty`: an answer without a body is the success it means (204, 304)."""
        status, _, answer = self._exchange(path, what, method, body)
        data = _json(answer)
        if status == 404:
            raise NotFoundError(f"{what}: not found ({_message(data, answer)}).")
        if status >= 400 or (data is None and not (empty and not answer.strip())):
            raise _refused(what, status, _message(data, answer))
        return data

    def server_api(self) -> str:
        """The Engine API version the daemon speaks, from /_ping, which answers with it in a header,
        as the docker CLI negotiates: /version also asks containerd and runc for theirs, several
        milliseconds that every command would wait for."""
        status, headers, body = self._exchange("/_ping", "docker version")
        if status >= 400:
            raise _refused("docker version", status, _message(None, body))
        return headers.get("api-version") or "0.0"

    def connect(self, *, timeout: float | None = None) -> None:
        """Asks the daemon which API it speaks (within `timeout` seconds when given: whether it
        answers should not take as long as the work may); DockerUnavailableError naming where nbship looked."""
        if self._prefix is None:
            work = self._timeout
            self._timeout = min(work, timeout) if timeout is not None else work
            try:
                server = self.server_api()
            finally:
                self._timeout = work
            refusal = api_refusal(server, self.endpoint.describe())
            if refusal is not None:
                raise DockerUnavailableError(refusal)
            self._prefix = f"/v{MIN_API[0]}.{MIN_API[1]}"

    def _path(self, path: str, query: Mapping[str, str] | None) -> str:
        self.connect()
        return f"{self._prefix}{path}{f'?{urlencode(query)}' if query else ''}"

    def _get(
        self,
        path: str,
        what: str,
        query: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        body: Any = None,
        empty: bool = False,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        return self._request(self._path(path, query), what, method, data, empty=empty)

    def info(self) -> dict[str, Any]:
        """`docker info`'s JSON: the server's version and security options (rootless)."""
        data = self._get("/info", "docker info")
        return dict(data) if isinstance(data, dict) else {}

    def remove_image(self, reference: str) -> None:
        """Removes one image (never by force), and its untagged parents."""
        self._get(f"/images/{quote(reference, safe='/:')}", f"docker rmi {reference}", {"force": "0"}, method="DELETE")

    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]:
        what = f"docker ps{' -a' if all else ''} --filter label=..."
        return self._listed({"label": [f"{key}={value}" for key, value in labels.items()]}, what, all=all)

    def containers_using(self, volume: str) -> list[ContainerInfo]:
        return self._listed({"volume": [volume]}, f"docker ps -a --filter volume={volume}", all=True)

    def _listed(self, filters: Mapping[str, list[str]], what: str, *, all: bool) -> list[ContainerInfo]:
        listed = self._get("/containers/json", what, {"all": "1" if all else "0", "filters": json.dumps(filters)})
        found = []
        for summary in listed if isinstance(listed, list) else []:
            attrs = self._inspect(str(summary.get("Id") or ""))
            if attrs is not None:  # else removed between the listing and the inspect, as the SDK's ignore_removed
                found.append(container_info(attrs))
        return found

    def _inspect(self, container: str) -> dict[str, Any] | None:
        try:
            attrs = self._get(f"/containers/{quote(container)}/json", f"docker container inspect {container}")
        except NotFoundError:
            return None
        return dict(attrs) if isinstance(attrs, dict) else None

    def container(self, name: str) -> ContainerInfo | None:
        attrs = self._inspect(name)
        return container_info(attrs) if attrs is not None else None

    def create_container(self, body: Mapping[str, Any], *, name: str | None) -> str:
        """Creates a container from docker_create's JSON; its id."""
        what = f"docker create {body.get('Image', '')}"
        created = self._get("/containers/create", what, {"name": name} if name else None, method="POST", body=body)
        ident = created.get("Id") if isinstance(created, dict) else None
        if not ident:
            raise _refused(what, 200, _message(created, b""))
        return str(ident)

    def start(self, container: str) -> None:
        self._get(f"/containers/{quote(container)}/start", f"docker start {container}", method="POST", empty=True)

    def remove_container(self, container: str, *, stop_timeout: int = 10) -> None:
        """Stops it within `stop_timeout` seconds (as `docker stop`: then killed), and removes it with
        its anonymous volumes (named ones never go); gone already is the goal reached."""
        attrs = self._inspect(container)
        if attrs is None:
            return
        with contextlib.suppress(NotFoundError):
            if str((attrs.get("State") or {}).get("Status") or "") in {"running", "restarting", "paused"}:
                path, what = f"/containers/{quote(container)}/stop", f"docker stop {container}"
                self._get(path, what, {"t": str(stop_timeout)}, method="POST", empty=True)
            query = {"force": "1", "v": "1"}
            self._get(
                f"/containers/{quote(container)}", f"docker rm -f {container}", query, method="DELETE", empty=True
            )

    def logs(self, container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        """Its output, stdout and stderr together, as the SDK's `logs` gives it; `follow`: as it grows."""
        attrs = self._inspect(container)
        what = f"docker logs{' -f' if follow else ''} {container}"
        if attrs is None:
            raise NotFoundError(f"{what}: not found (no such container: {container}).")
        query = {
            "stdout": "1",
            "stderr": "1",
            "follow": "1" if follow else "0",
            "tail": "all" if tail is None else str(tail),
        }
        path = self._path(f"/containers/{quote(container)}/logs", query)
        chunks = self._open_stream(path, what)
        # A container with a terminal writes one raw stream; without, stdout and stderr come framed.
        raw = bool((attrs.get("Config") or {}).get("Tty"))
        return chunks if raw else frames(chunks)

    def volume(self, name: str) -> VolumeInfo | None:
        try:
            attrs = self._get(f"/volumes/{quote(name)}", f"docker volume inspect {name}")
        except NotFoundError:
            return None
        return volume_info(attrs)

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> VolumeInfo:
        body = {"Name": name, "Labels": dict(labels)}
        return volume_info(self._get("/volumes/create", f"docker volume create {name}", method="POST", body=body))

    def import_image(self, tar_bytes: bytes, *, repository: str, tag: str) -> None:
        """`docker import`: the tar as the image's one layer. The daemon reports progress, and a
        failure, as JSON lines in a 200 answer."""
        what = f"docker import - {repository}:{tag}"
        query = {"fromSrc": "-", "repo": repository, "tag": tag}
        status, _, answer = self._exchange(
            self._path("/images/create", query), what, "POST", tar_bytes, "application/x-tar"
        )
        failed = [line for line in map(_json, answer.splitlines()) if isinstance(line, dict) and line.get("error")]
        if status >= 400 or failed:
            raise _refused(what, status, _message(failed[0] if failed else _json(answer), answer))

    def image(self, reference: str) -> ImageInfo | None:
        try:
            attrs = self._get(f"/images/{quote(reference, safe='/:')}/json", f"docker image inspect {reference}")
        except NotFoundError:
            return None
        return image_info(attrs)


def _refused(what: str, status: int, message: str) -> DockerCommandError:
    return DockerCommandError(f"Docker refused `{what}`: {message}", command=what, returncode=status, output=message)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _read_all(response: Any) -> Iterator[bytes]:
    with response:
        while chunk := response.read1(1 << 16):
            yield chunk


def _message(data: Any, body: bytes) -> str:
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"]).strip()[:300]
    return body.decode(errors="replace").strip()[:300] or "no answer"
