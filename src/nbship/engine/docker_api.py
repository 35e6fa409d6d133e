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

import json
import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from nbship.engine.docker_endpoint import DockerEndpoint, TlsFiles, resolve
from nbship.engine.info import ContainerInfo, ImageInfo
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


Answer = tuple[int, dict[str, str], bytes]  # status, headers (names in lower case), body


def _plain_request(sock: socket.socket, method: str, path: str) -> Answer:
    """One request as HTTP/1.0 on a connection of its own: the daemon answers without chunking and
    closes when done, so the answer is all there is to read. The standard library's http.client
    would import ssl and the email parser (several milliseconds of `nbship status`) for this."""
    with sock:
        length = "" if method == "GET" else "Content-Length: 0\r\n"
        sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\n{length}\r\n".encode("ascii"))
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    head, separator, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if not separator or len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise ConnectionError("the daemon's answer is not HTTP")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = headers.get("content-length", "")
    return int(status[1]), headers, body[: int(length)] if length.isdigit() else body


def _tls_request(address: str, port: int, tls: TlsFiles, method: str, path: str, timeout: float) -> Answer:
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert and tls.key:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    connection = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
    try:
        connection.request(method, path, headers={"Host": "docker"})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    except http.client.HTTPException as exc:
        raise ConnectionError(str(exc) or type(exc).__name__) from exc
    finally:
        connection.close()


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

    def _send(self, method: str, path: str) -> Answer:
        host = self.endpoint.host
        parts = urlsplit(host) if host else None
        if parts is None or parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            try:
                sock.connect(parts.path if parts is not None else DEFAULT_SOCKET)
            except OSError:
                sock.close()
                raise
            return _plain_request(sock, method, path)
        address, port, tls = parts.hostname or "localhost", parts.port, self.endpoint.tls
        if tls is not None:
            return _tls_request(address, port or 2376, tls, method, path, self._timeout)
        return _plain_request(socket.create_connection((address, port or 2375), timeout=self._timeout), method, path)

    def _exchange(self, path: str, what: str, method: str = "GET") -> Answer:
        """`method` `path`: its status, headers and body; `what` reads like a docker command, for messages."""
        try:
            return self._send(method, path)
        except OSError as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise DockerUnavailableError(
                f"Cannot reach the Docker daemon at {self.endpoint.describe()} during `{what}` ({reason}). {START_HINT}"
            ) from exc

    def _request(self, path: str, what: str, method: str = "GET") -> Any:
        """`method` `path`, its JSON answer."""
        status, _, body = self._exchange(path, what, method)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if status == 404:
            raise NotFoundError(f"{what}: not found ({_message(data, body)}).")
        if status >= 400 or data is None:
            raise _refused(what, status, _message(data, body))
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

    def _get(self, path: str, what: str, query: Mapping[str, str] | None = None, *, method: str = "GET") -> Any:
        self.connect()
        suffix = f"?{urlencode(query)}" if query else ""
        return self._request(f"{self._prefix}{path}{suffix}", what, method)

    def info(self) -> dict[str, Any]:
        """`docker info`'s JSON: the server's version and security options (rootless)."""
        data = self._get("/info", "docker info")
        return dict(data) if isinstance(data, dict) else {}

    def remove_image(self, reference: str) -> None:
        """Removes one image (never by force), and its untagged parents."""
        self._get(f"/images/{quote(reference, safe='/:')}", f"docker rmi {reference}", {"force": "0"}, method="DELETE")

    def containers(self, *, labels: Mapping[str, str], all: bool = True) -> list[ContainerInfo]:
        filters = json.dumps({"label": [f"{key}={value}" for key, value in labels.items()]})
        what = f"docker ps{' -a' if all else ''} --filter label=..."
        listed = self._get("/containers/json", what, {"all": "1" if all else "0", "filters": filters})
        found = []
        for summary in listed if isinstance(listed, list) else []:
            ident = str(summary.get("Id") or "")
            try:
                found.append(container_info(self._get(f"/containers/{quote(ident)}/json", f"docker inspect {ident}")))
            except NotFoundError:
                continue  # removed between the listing and the inspect, as the SDK's ignore_removed
        return found

    def image(self, reference: str) -> ImageInfo | None:
        try:
            attrs = self._get(f"/images/{quote(reference, safe='/:')}/json", f"docker image inspect {reference}")
        except NotFoundError:
            return None
        return image_info(attrs)


def _refused(what: str, status: int, message: str) -> DockerCommandError:
    return DockerCommandError(f"Docker refused `{what}`: {message}", command=what, returncode=status, output=message)


def _message(data: Any, body: bytes) -> str:
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"]).strip()[:300]
    return body.decode(errors="replace").strip()[:300] or "no answer"
