"""The light Engine API client (engine/docker_api.py) without a daemon: where it applies, how the
daemon's JSON becomes the seam's values, and what a daemon that is not there gives."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.engine import connect_reader
from nbship.engine.docker_api import (
    DockerApi,
    _plain_request,
    _plain_stream,
    applies,
    container_info,
    frames,
    image_info,
)
from nbship.engine.docker_endpoint import DEFAULT_CONTEXT, DockerEndpoint, TlsFiles
from nbship.errors import DockerCommandError, DockerUnavailableError


def _host(host: str) -> DockerEndpoint:
    return DockerEndpoint(host, "DOCKER_HOST", DEFAULT_CONTEXT)


@pytest.mark.parametrize(
    ("endpoint", "environ", "expected"),
    [
        (DockerEndpoint("", "no DOCKER_HOST or docker context set", DEFAULT_CONTEXT), {}, True),
        (_host("unix:///run/user/1000/docker.sock"), {}, True),
        (_host("tcp://10.0.0.5:2375"), {}, True),
        (_host("tcp://10.0.0.5:2376"), {"DOCKER_TLS_VERIFY": "1"}, False),  # the SDK's TLS variables
        (_host("tcp://10.0.0.5:2376"), {"DOCKER_CERT_PATH": "/certs"}, False),
        (_host("tcp://10.0.0.5:2375"), {"DOCKER_TLS_VERIFY": ""}, True),  # empty: off, as the SDK reads it
        (_host("ssh://me@build-host"), {}, False),
        (_host("npipe:////./pipe/docker_engine"), {}, False),
        (DockerEndpoint("tcp://h:2376", "docker context remote", "remote", TlsFiles(None, None, None, True)), {}, True),
    ],
)
def test_where_the_light_client_applies(endpoint: DockerEndpoint, environ: dict[str, str], expected: bool) -> None:
    assert applies(endpoint, environ) is expected


def test_the_seam_gives_the_light_client_for_a_socket_and_the_sdk_for_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBSHIP_ENGINE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    assert isinstance(connect_reader("docker"), DockerApi)
    monkeypatch.setenv("DOCKER_HOST", "ssh://me@build-host")
    from nbship.engine.docker import DockerEngine

    assert isinstance(connect_reader("docker"), DockerEngine)


def test_no_daemon_is_a_clear_error_naming_where(tmp_path: Path) -> None:
    socket = tmp_path / "no-daemon.sock"
    api = DockerApi(_host(f"unix://{socket}"))
    with pytest.raises(DockerUnavailableError) as raised:
        api.containers(labels={"io.nbship.managed": "true"})
    assert str(socket) in raised.value.message and "Start it and try again" in raised.value.message


_text = st.text(max_size=12)
_labels = st.dictionaries(_text, _text, max_size=4)
_env = st.lists(st.one_of(_text, st.tuples(_text.filter(lambda k: "=" not in k), _text).map("=".join)), max_size=4)


@given(
    ident=_text,
    name=_text,
    labels=st.one_of(st.none(), _labels),
    env=st.one_of(st.none(), _env),
    status=st.one_of(st.none(), _text),
    code=st.one_of(st.none(), st.integers(-255, 255)),
    memory=st.one_of(st.none(), st.integers(0, 2**40)),
)
def test_container_json_loses_nothing_the_seam_keeps(
    ident: str,
    name: str,
    labels: dict[str, str] | None,
    env: list[str] | None,
    status: str | None,
    code: int | None,
    memory: int | None,
) -> None:
    attrs: dict[str, Any] = {
        "Id": ident,
        "Name": "/" + name,
        "Image": "sha256:abc",
        "Config": {"Image": "x:1", "Labels": labels, "Env": env},
        "State": {"Status": status, "ExitCode": code},
        "HostConfig": {"Memory": memory},
    }
    info = container_info(attrs)
    assert (info.id, info.name, info.image, info.image_id) == (ident, name.lstrip("/"), "x:1", "sha256:abc")
    assert dict(info.labels) == (labels or {})
    assert info.status == (status or "") and info.exit_code == code
    assert info.resources.memory == (memory or None)
    assert dict(info.env) == dict(item.split("=", 1) for item in env or [] if "=" in item)
    assert container_info({}).id == ""  # nothing at all: empty values, no exception


@given(tags=st.lists(_text, max_size=3), digests=st.lists(_text, max_size=3), labels=st.one_of(st.none(), _labels))
def test_image_json_loses_nothing_the_seam_keeps(
    tags: list[str], digests: list[str], labels: dict[str, str] | None
) -> None:
    attrs = {
        "Id": "sha256:1",
        "RepoTags": [*tags, "<none>:<none>"],
        "RepoDigests": digests,
        "Config": {"Labels": labels},
    }
    info = image_info(attrs)
    assert info.tags == tuple(tags) and info.repo_digests == tuple(digests) and dict(info.labels) == (labels or {})
    assert image_info({}).id == ""


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """What the light client reads from a daemon that answers `raw` and closes, over a real socket pair."""
    ours, daemon = socket.socketpair()
    with daemon:
        daemon.sendall(raw)
        daemon.shutdown(socket.SHUT_WR)
        answer = _plain_request(ours, "GET", "/_ping")
        assert daemon.recv(1024).startswith(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    return answer


def test_an_answer_is_read_to_its_length_or_its_end() -> None:
    status, headers, body = _answer(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOKextra")
    assert (status, headers["api-version"], body) == (200, "1.41", b"OK")
    status, headers, body = _answer(b'HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{"message": "x"}')
    assert (status, body) == (404, b'{"message": "x"}') and "content-length" not in headers


@pytest.mark.parametrize(
    "raw", [b"", b"OK", b"HTTP/1.0 200 OK\r\n", b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.0 abc\r\n\r\n"]
)
def test_what_is_not_http_is_a_connection_error(raw: bytes) -> None:
    with pytest.raises(ConnectionError):
        _answer(raw)


@given(st.binary(max_size=300))
def test_any_answer_reads_or_is_a_connection_error(raw: bytes) -> None:
    try:
        status, headers, body = _answer(raw)
    except ConnectionError:
        return
    assert status >= 0 and all(name == name.lower() for name in headers) and body in raw


class _FakeDaemon:
    """A unix socket that answers each request with the next canned answer, keeping the request lines."""

    def __init__(self, folder: Path, answers: list[bytes]) -> None:
        import threading

        self.path = folder / "daemon.sock"
        self.requests: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(4)
        self._answers = answers
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for answer in self._answers:
            connection, _ = self._server.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(4096)
                self.requests.append(request.decode().split("\r\n", 1)[0])
                connection.sendall(answer)
        self._server.close()


def _json(status: str, body: str) -> bytes:
    return f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}".encode()


_PING = b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n\r\nOK"


def test_info_and_image_removal_over_the_socket(tmp_path: Path) -> None:
    daemon = _FakeDaemon(
        tmp_path,
        [
            _PING,
            _json("200 OK", '{"ServerVersion": "20.10", "SecurityOptions": ["name=rootless"]}'),
            _json("200 OK", '[{"Deleted": "sha256:1"}]'),
            _json("409 Conflict", '{"message": "image is being used by running container"}'),
        ],
    )
    api = DockerApi(_host(f"unix://{daemon.path}"))
    assert api.info()["SecurityOptions"] == ["name=rootless"]
    api.remove_image("sha256:1")
    with pytest.raises(DockerCommandError) as refused:
        api.remove_image("app:1")
    assert refused.value.returncode == 409 and "being used" in refused.value.message
    assert "docker rmi app:1" in refused.value.message
    assert daemon.requests == [
        "GET /_ping HTTP/1.0",
        "GET /v1.40/info HTTP/1.0",
        "DELETE /v1.40/images/sha256:1?force=0 HTTP/1.0",
        "DELETE /v1.40/images/app:1?force=0 HTTP/1.0",
    ]


def test_the_engine_answers_image_questions_without_the_sdk(tmp_path: Path) -> None:
    import subprocess
    import sys

    daemon = _FakeDaemon(
        tmp_path,
        [_PING, _json("404 Not Found", '{"message": "No such image: app:1"}'), _json("200 OK", "{}")],
    )
    code = (
        "import sys\nfrom nbship.engine.docker import DockerEngine\nfrom nbship.engine.docker_endpoint import "
        f"DockerEndpoint\nengine = DockerEngine(DockerEndpoint('unix://{daemon.path}', 'DOCKER_HOST', 'default'))\n"
        "engine.connect()\nprint(engine.image('app:1'), engine.rootless)\n"
        "print(*sorted({m.split('.')[0] for m in sys.modules} & {'docker', 'requests'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["None False", ""], result.stdout + result.stderr
    assert daemon.requests == [
        "GET /_ping HTTP/1.0",
        "GET /v1.40/images/app:1/json HTTP/1.0",
        "GET /v1.40/info HTTP/1.0",
    ]


def _framed(parts: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data for kind, data in parts)


@given(
    parts=st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=8),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
)
def test_a_multiplexed_log_reads_back_whole_however_it_arrives(parts: list[tuple[int, bytes]], cuts: list[int]) -> None:
    raw = _framed(parts)
    points = sorted({0, len(raw), *(cut for cut in cuts if cut < len(raw))})
    chunks = [raw[a:b] for a, b in itertools.pairwise(points)]
    assert b"".join(frames(chunks)) == b"".join(data for _, data in parts)
    assert all(frames(chunks))  # no empty payloads


@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_log_end_without_an_exception(raw: bytes) -> None:
    assert len(b"".join(frames([raw]))) <= len(raw)


def test_a_followed_answer_arrives_as_it_is_written() -> None:
    ours, daemon = socket.socketpair()
    with daemon:
        daemon.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nfirst ")
        status, first, rest = _plain_stream(ours, "/v1.40/containers/x/logs?follow=1")
        assert daemon.recv(1024).startswith(b"GET /v1.40/containers/x/logs?follow=1 HTTP/1.0\r\n")
        assert (status, first) == (200, b"first ")
        daemon.sendall(b"second")
        assert next(rest) == b"second"
    assert list(rest) == []
    assert ours.fileno() == -1  # closed with the answer's end


def test_a_request_body_goes_with_its_length_and_type() -> None:
    ours, daemon = socket.socketpair()
    with daemon:
        daemon.sendall(b'HTTP/1.0 201 Created\r\nContent-Length: 11\r\n\r\n{"Id": "a"}')
        daemon.shutdown(socket.SHUT_WR)
        answer = _plain_request(ours, "POST", "/v1.40/containers/create", b'{"Image": "i"}')
        sent = daemon.recv(1024)
    assert answer == (201, {"content-length": "11"}, b'{"Id": "a"}')
    assert b"Content-Length: 14\r\nContent-Type: application/json\r\n\r\n" in sent and sent.endswith(b'{"Image": "i"}')
