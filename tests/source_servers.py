"""Real servers for fetched sources, on 127.0.0.1: git over smart HTTP (`git http-backend` as CGI,
optionally behind basic auth), and HTTP servers answering the way Zenodo (InvenioRDM), Figshare,
Dataverse, doi.org and plain file hosts document their APIs, with faults on request."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIT = ["git", "-c", "user.name=nbship tests", "-c", "user.email=tests@nbship.invalid", "-c", "init.defaultBranch=main"]


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@dataclass
class Served:
    """A running server: its base URL and every request it answered (method, path, headers)."""

    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def seen(self, header: str) -> list[str]:
        return [headers[header] for _, _, headers in self.requests if header in headers]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up early (a streamed response closed unread) is normal here; the
        # default handler would print a traceback into the output of the command under test.
        pass


@contextlib.contextmanager
def _run(handler: type[http.server.BaseHTTPRequestHandler], served: Served) -> Iterator[Served]:
    server = _Server(("127.0.0.1", 0), handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served: Served

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        self.served.requests.append((self.command, self.path, dict(self.headers.items())))

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- git over smart HTTP ----------------------------------------------------------------------


@contextlib.contextmanager
def git_server(root: Path, *, auth: tuple[str, str] | None = None) -> Iterator[Served]:
    """Serves the bare repositories below `root` as http://127.0.0.1:PORT/NAME.git."""
    expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

    class Handler(_Quiet):
        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            self._record()
            if expected and self.headers.get("Authorization") != expected:
                self.send(401, b"login required\n", {"WWW-Authenticate": 'Basic realm="git"'})
                return
            path, _, query = self.path.partition("?")
            env = {
                **os.environ,
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": urllib.parse.unquote(path),
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "REMOTE_ADDR": "127.0.0.1",
                "REMOTE_USER": auth[0] if auth else "",
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            body = self._body() if self.command == "POST" else b""
            env["CONTENT_LENGTH"] = str(len(body))
            result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            status, headers = 200, {}
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers[key.strip()] = value.strip()
            self.send(status, payload, headers)

    handler = type("GitHandler", (Handler,), {"served": Served("")})
    with _run(handler, handler.served) as served:
        yield served


@contextlib.contextmanager
def git_daemon(root: Path, port: int) -> Iterator[str]:
    """Serves the repositories below `root` over git:// (`git daemon`) on 127.0.0.1:port."""
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"git://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if _listening(port):
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def make_repository(root: Path, name: str, files: dict[str, bytes]) -> tuple[Path, Path]:
    """A bare repository `root/name` holding `files` on main, and a work clone to push changes from."""
    bare = root / name
    git("init", "-q", "--bare", str(bare))
    work = root.with_name(f"{root.name}-work") / name  # beside the served folder, never inside it
    git("clone", "-q", str(bare), str(work))
    write_tree(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "first", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    git("--git-dir", str(bare), "symbolic-ref", "HEAD", "refs/heads/main")
    return bare, work


def commit_and_push(work: Path, files: dict[str, bytes], message: str, *, branch: str = "main") -> str:
    write_tree(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-qm", message, cwd=work)
    git("push", "-q", "origin", f"HEAD:{branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def project_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tar_gz(files: dict[str, bytes], top: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], top: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in files.items():
            archive.writestr(f"{top}/{rel}" if top else rel, data)
    return buffer.getvalue()


# -- record APIs --------------------------------------------------------------------------------

Route = Callable[["_Quiet", re.Match[str], str], None]


@contextlib.contextmanager
def route_server(routes_for: Callable[[Callable[[], str]], list[tuple[str, Route]]]) -> Iterator[Served]:
    """An HTTP server answering GET/HEAD by the first route whose regex matches the path (query
    apart); `routes_for` gets a function giving the server's own base URL, for the links it serves."""
    holder = Served("")
    compiled = [(re.compile(pattern), route) for pattern, route in routes_for(lambda: holder.url)]

    class Handler(_Quiet):
        def do_GET(self) -> None:
            self._record()
            path, _, query = self.path.partition("?")
            for pattern, route in compiled:
                match = pattern.fullmatch(urllib.parse.unquote(path))
                if match:
                    route(self, match, query)
                    return
            self.send(404, b'{"status": 404, "message": "not found"}', {"Content-Type": "application/json"})

        do_HEAD = do_GET

    handler = type("RouteHandler", (Handler,), {"served": holder})
    with _run(handler, holder) as served:
        yield served


def send_json(handler: _Quiet, data: Any, status: int = 200) -> None:
    handler.send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


def redirect(handler: _Quiet, location: str, status: int = 302) -> None:
    handler.send(status, b"", {"Location": location})


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Deposits:
    """The records the servers hold: id -> files, and which need a token."""

    zenodo: dict[str, dict[str, bytes]] = field(default_factory=dict)
    zenodo_concepts: dict[str, str] = field(default_factory=dict)  # concept id -> latest version id
    figshare: dict[str, dict[str, bytes]] = field(default_factory=dict)
    dataverse: dict[str, dict[str, bytes]] = field(default_factory=dict)  # persistent id -> files
    files: dict[str, bytes] = field(default_factory=dict)  # plain downloads: name -> bytes
    restricted: dict[str, str] = field(default_factory=dict)  # record id -> token it needs
    cut_off: dict[str, int] = field(default_factory=dict)  # file name -> how many more times to cut it


def zenodo_routes(deposits: Deposits, base: Callable[[], str]) -> list[tuple[str, Route]]:
    """InvenioRDM's record API as Zenodo serves it (GET /api/records/{id}, its files listing and contents)."""

    def allowed(handler: _Quiet, record: str) -> bool:
        token = deposits.restricted.get(record)
        if token and handler.headers.get("Authorization") != f"Bearer {token}":
            send_json(handler, {"status": 403, "message": "Permission denied."}, 403)
            return False
        return True

    def entry(record: str, name: str, data: bytes) -> dict[str, Any]:
        content = f"{base()}/api/records/{record}/files/{urllib.parse.quote(name)}/content"
        return {
            "key": name,
            "size": len(data),
            "checksum": f"md5:{md5(data)}",
            "links": {"self": content, "content": content},
        }

    def record(handler: _Quiet, match: re.Match[str], query: str) -> None:
        rid = match["id"]
        if rid in deposits.zenodo_concepts:
            redirect(handler, f"{base()}/api/records/{deposits.zenodo_concepts[rid]}", 301)
            return
        if rid not in deposits.zenodo:
            send_json(handler, {"status": 404, "message": "PID does not exist."}, 404)
            return
        if not allowed(handler, rid):
            return
        files = deposits.zenodo[rid]
        send_json(
            handler,
            {
                "id": int(rid),
                "conceptrecid": next((c for c, v in deposits.zenodo_concepts.items() if v == rid), rid),
                "doi": f"10.5281/zenodo.{rid}",
                "metadata": {"title": f"Deposit {rid}", "version": "1.0"},
                "files": [entry(rid, name, data) for name, data in files.items()],
                "links": {"self": f"{base()}/api/records/{rid}", "files": f"{base()}/api/records/{rid}/files"},
            },
        )

    def listing(handler: _Quiet, match: re.Match[str], query: str) -> None:
        rid = match["id"]
        if rid not in deposits.zenodo or not allowed(handler, rid):
            if rid not in deposits.zenodo:
                send_json(handler, {"status": 404}, 404)
            return
        entries = [entry(rid, name, data) for name, data in deposits.zenodo[rid].items()]
        send_json(handler, {"enabled": bool(entries), "entries": entries, "links": {}})

    def content(handler: _Quiet, match: re.Match[str], query: str) -> None:
        rid, name = match["id"], match["name"]
        if rid not in deposits.zenodo or name not in deposits.zenodo[rid]:
            send_json(handler, {"status": 404}, 404)
        elif allowed(handler, rid):
            send_file(handler, deposits, name, deposits.zenodo[rid][name])

    def landing(handler: _Quiet, match: re.Match[str], query: str) -> None:
        rid = match["id"]
        if rid in deposits.zenodo_concepts:
            redirect(handler, f"{base()}/records/{deposits.zenodo_concepts[rid]}")
        else:
            handler.send(200, b"<html>a Zenodo record</html>", {"Content-Type": "text/html"})

    return [
        (r"/api/records/(?P<id>\w+)", record),
        (r"/api/records/(?P<id>\w+)/files", listing),
        (r"/api/records/(?P<id>\w+)/files/(?P<name>.+)/content", content),
        (r"/records/(?P<id>\w+)", landing),
        (r"/doi/(?P<doi>.+)", lambda h, m, q: redirect(h, f"{base()}/records/{m['doi'].rsplit('.', 1)[-1]}")),
    ]


def figshare_routes(deposits: Deposits, base: Callable[[], str]) -> list[tuple[str, Route]]:
    """Figshare's public API (GET /v2/articles/{id}[/versions/{v}]) and its downloader."""

    def article(handler: _Quiet, match: re.Match[str], query: str) -> None:
        aid = match["id"]
        if aid not in deposits.figshare:
            send_json(handler, {"message": "Entity not found: article", "code": "EntityNotFound"}, 404)
            return
        files = [
            {
                "id": index + 1,
                "name": name,
                "size": len(data),
                "is_link_only": False,
                "download_url": f"{base()}/ndownloader/files/{aid}/{urllib.parse.quote(name)}",
                "supplied_md5": md5(data),
                "computed_md5": md5(data),
            }
            for index, (name, data) in enumerate(deposits.figshare[aid].items())
        ]
        files.append(
            {
                "id": 99,
                "name": "Source code",
                "size": 0,
                "is_link_only": True,
                "download_url": "https://example.invalid/x",
            }
        )
        version = int(match["version"] or 2)
        send_json(
            handler,
            {
                "id": int(aid),
                "title": f"Article {aid}",
                "version": version,
                "doi": f"10.6084/m9.figshare.{aid}.v{version}",
                "files": files,
            },
        )

    def download(handler: _Quiet, match: re.Match[str], query: str) -> None:
        send_file(handler, deposits, match["name"], deposits.figshare[match["id"]][match["name"]])

    return [
        (r"/v2/articles/(?P<id>\d+)(?:/versions/(?P<version>\d+))?", article),
        (r"/ndownloader/files/(?P<id>\d+)/(?P<name>.+)", download),
        (
            r"/articles/[^/]+/[^/]+/\d+(?:/\d+)?",
            lambda h, m, q: h.send(200, b"<html>an article</html>", {"Content-Type": "text/html"}),
        ),
    ]


def dataverse_routes(deposits: Deposits, base: Callable[[], str]) -> list[tuple[str, Route]]:
    """Dataverse's native API: the dataset by persistent id, and the access API for its files."""
    ids: dict[int, tuple[str, str]] = {}

    def pid_of(query: str) -> str:
        return urllib.parse.parse_qs(query).get("persistentId", [""])[0]

    def dataset(handler: _Quiet, match: re.Match[str], query: str) -> None:
        pid = pid_of(query)
        if pid not in deposits.dataverse:
            send_json(handler, {"status": "ERROR", "message": f"Dataset with Persistent ID {pid} not found."}, 404)
            return
        token = deposits.restricted.get(pid)
        if token and handler.headers.get("X-Dataverse-key") != token:
            send_json(handler, {"status": "ERROR", "message": "Bad api key"}, 401)
            return
        files = []
        for name, data in deposits.dataverse[pid].items():
            file_id = 1000 + len(ids)
            ids[file_id] = (pid, name)
            folder, _, label = name.rpartition("/")
            files.append(
                {
                    "label": label,
                    **({"directoryLabel": folder} if folder else {}),
                    "restricted": False,
                    "dataFile": {
                        "id": file_id,
                        "filename": label,
                        "filesize": len(data),
                        "md5": md5(data),
                        "checksum": {"type": "MD5", "value": md5(data)},
                    },
                }
            )
        send_json(
            handler,
            {
                "status": "OK",
                "data": {
                    "id": 1,
                    "identifier": pid.rsplit("/", 1)[-1],
                    "persistentUrl": f"https://doi.org/{pid.removeprefix('doi:')}",
                    "latestVersion": {
                        "versionNumber": 1,
                        "versionMinorNumber": 0,
                        "versionState": "RELEASED",
                        "files": files,
                    },
                },
            },
        )

    def access(handler: _Quiet, match: re.Match[str], query: str) -> None:
        pid, name = ids[int(match["id"])]
        send_file(handler, deposits, name, deposits.dataverse[pid][name])

    return [
        (r"/api/datasets/:persistentId/?", dataset),
        (r"/api/access/datafile/(?P<id>\d+)", access),
        (r"/citation", lambda h, m, q: redirect(h, f"{base()}/dataset.xhtml?{q}")),
        (r"/dataset.xhtml", lambda h, m, q: h.send(200, b"<html>a dataset</html>", {"Content-Type": "text/html"})),
    ]


def file_routes(deposits: Deposits, base: Callable[[], str]) -> list[tuple[str, Route]]:
    """Plain downloads, and a page that is not an archive."""

    def served(handler: _Quiet, match: re.Match[str], query: str) -> None:
        name = match["name"]
        if name not in deposits.files:
            handler.send(404, b"not found")
        else:
            send_file(handler, deposits, name, deposits.files[name])

    return [
        (r"/files/(?P<name>.+)", served),
        (r"/page", lambda h, m, q: h.send(200, b"<html>just a page</html>", {"Content-Type": "text/html"})),
    ]


def doi_routes(targets: dict[str, str], base: Callable[[], str]) -> list[tuple[str, Route]]:
    """doi.org's resolver: GET /{doi} answers 302 to the URL registered for it, 404 for others."""

    def resolve(handler: _Quiet, match: re.Match[str], query: str) -> None:
        doi = match["doi"].lower()
        target = next((url for key, url in targets.items() if key.lower() == doi), None)
        if target is None:
            handler.send(404, b"<html>DOI Not Found</html>", {"Content-Type": "text/html"})
        else:
            redirect(handler, target)

    return [(r"/(?P<doi>10\..+)", resolve)]


def send_file(handler: _Quiet, deposits: Deposits, name: str, data: bytes) -> None:
    """The bytes with their length; a name in `cut_off` gets half of them and a closed connection."""
    remaining = deposits.cut_off.get(name, 0)
    if remaining:
        deposits.cut_off[name] = remaining - 1
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(2)
        return
    etag = f'"{md5(data)}"'
    if handler.headers.get("If-None-Match") == etag:
        handler.send(304, b"", {"ETag": etag})
        return
    handler.send(200, data, {"Content-Type": "application/octet-stream", "ETag": etag})
