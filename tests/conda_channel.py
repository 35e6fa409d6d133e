"""A small, valid conda channel written by the tests (no conda channel is reachable here).

Packages are .tar.bz2 archives with info/index.json, info/paths.json, info/files and, for text
files that carry the build prefix, info/has_prefix: what rattler reads to install and relocate.
repodata.json is written here too (with sha256, md5, size and a fixed timestamp per package), so
the same channel gives byte-identical repodata, and --exclude-newer has real dates to cut at.
"""

from __future__ import annotations

import base64
import bz2
import datetime as dt
import functools
import hashlib
import http.server
import io
import json
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# conda-build's long placeholder: a prefix the installer rewrites in text files it is listed for.
PLACEHOLDER = "/opt/conda_build_placeholder_" + "_placehold" * 12


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    subdir: str = "noarch"
    files: Mapping[str, bytes] = field(default_factory=dict)
    depends: Sequence[str] = ()
    with_prefix: Sequence[str] = ()  # text files that carry PLACEHOLDER
    published: str = "2024-01-15"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-0.tar.bz2"

    @property
    def timestamp_ms(self) -> int:
        day = dt.date.fromisoformat(self.published)
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)

    def index(self) -> dict[str, object]:
        index: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "build": "0",
            "build_number": 0,
            "depends": list(self.depends),
            "license": "BSD-3-Clause",
            "subdir": self.subdir,
            "timestamp": self.timestamp_ms,
        }
        if self.subdir == "noarch":
            index["noarch"] = "generic"
        return index


def _member(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def build_package(package: Package) -> bytes:
    paths = []
    for path, data in sorted(package.files.items()):
        entry: dict[str, object] = {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if path in package.with_prefix:
            entry["prefix_placeholder"] = PLACEHOLDER
            entry["file_mode"] = "text"
        paths.append(entry)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        _member(tar, "info/index.json", json.dumps(package.index(), sort_keys=True).encode())
        _member(tar, "info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode())
        _member(tar, "info/files", "".join(f"{path}\n" for path in sorted(package.files)).encode())
        if package.with_prefix:
            lines = "".join(f"{PLACEHOLDER} text {path}\n" for path in package.with_prefix)
            _member(tar, "info/has_prefix", lines.encode())
        for path, data in sorted(package.files.items()):
            _member(tar, path, data, 0o755 if path.startswith("bin/") else 0o644)
    return bz2.compress(raw.getvalue())


def write_channel(root: Path, packages: Sequence[Package]) -> Path:
    """Writes the packages and repodata.json for linux-64 and noarch (both always present)."""
    repodata: dict[str, dict[str, dict[str, object]]] = {"noarch": {}, "linux-64": {}}
    for package in packages:
        data = build_package(package)
        folder = root / package.subdir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / package.filename).write_bytes(data)
        record = dict(package.index())
        record.update(
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - conda's repodata format carries md5
            size=len(data),
        )
        repodata[package.subdir][package.filename] = record
    for subdir, records in repodata.items():
        (root / subdir).mkdir(parents=True, exist_ok=True)
        document = {"info": {"subdir": subdir}, "packages": records, "packages.conda": {}, "repodata_version": 1}
        (root / subdir / "repodata.json").write_text(json.dumps(document, sort_keys=True, indent=1))
    return root


def _script(text: str) -> bytes:
    return f"#!/bin/sh\n{text}\n".encode()


# The channel every conda test uses. `relocatable` carries the build prefix in a script and a
# config file, plus a static library and a source map that the image must not keep.
TEST_PACKAGES: tuple[Package, ...] = (
    Package("greeting", "1.0", files={"share/greeting/hello.txt": b"hello 1.0\n"}, published="2023-03-01"),
    Package("greeting", "2.0", files={"share/greeting/hello.txt": b"hello 2.0\n"}, published="2024-06-01"),
    Package(
        "relocatable",
        "1.0",
        subdir="linux-64",
        depends=("greeting >=1",),
        files={
            "bin/where-am-i": _script(f'echo "{PLACEHOLDER}"'),
            "etc/relocatable.conf": f"data_dir = {PLACEHOLDER}/share/greeting\n".encode(),
            "lib/librelocatable.a": b"!<arch>\n" + b"\0" * 4096,
            "share/relocatable/app.js": b"console.log('hi');\n",
            "share/relocatable/app.js.map": b'{"version":3,"mappings":""}' + b" " * 8192,
        },
        with_prefix=("bin/where-am-i", "etc/relocatable.conf"),
        published="2023-05-01",
    ),
    Package("needs-old-greeting", "1.0", depends=("greeting <1",), files={"share/old.txt": b"old\n"}),
    Package("greeting", "0.9", files={"share/greeting/hello.txt": b"hello 0.9\n"}, published="2022-01-01"),
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    credentials: str | None = None  # "user:password": the channel then needs HTTP basic auth

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _allowed(self) -> bool:
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="channel"')
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._allowed():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._allowed():
            super().do_HEAD()


@dataclass(frozen=True)
class TestCA:
    ca: Path  # the CA certificate (PEM): what --ca-bundle gets
    cert: Path  # the server's certificate for the address, signed by the CA
    key: Path


def make_ca(folder: Path, ip: str) -> TestCA:
    """A throwaway CA and a server certificate for `ip`, made with the openssl command."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=nbship test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={ip}")
    (folder / "ext.cnf").write_text(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
    )  # fmt: skip
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses the certificate is what some tests want; it is no server error


@contextmanager
def serve(folder: Path, host: str, credentials: str | None = None, tls: TestCA | None = None) -> Iterator[str]:
    """Serves `folder` over HTTP (HTTPS with `tls`) on host:<free port>; yields the base URL."""
    handler = type("Handler", (_QuietHandler,), {"credentials": credentials})
    server = _QuietServer((host, 0), functools.partial(handler, directory=str(folder)))
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        # The handshake happens in each request's own thread: done at accept, one client that
        # stalls in it (an aborted download) would hold up every other one.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
