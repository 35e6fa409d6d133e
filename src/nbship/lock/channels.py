"""What a conda build gets besides its context: channel credentials and local channels, both as
BuildKit secrets, so neither a password nor a host path ends up in a layer or busts the cache.

A local channel (a folder on the host) is locked with file:// URLs, which a build container
cannot open. For the length of the build, nbship serves the locked packages of those folders,
and only them, over HTTP on the docker bridge address; the secret `nbship-channel-map` tells
the installer in the build where to find them. The lock is a file of the project, so it is not
trusted: a package is served only when it resolves (links followed) inside a folder channel that
environment.yml names and its bytes have the sha256 the lock records, checked again as it is sent.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nbship import contract as c
from nbship.errors import LockError, UsageError
from nbship.lock import lockfile
from nbship.lock.conda import channel_url
from nbship.options import DEFAULT_PLATFORM
from nbship.project.kinds.environment_yml import CondaInput


@dataclass(frozen=True)
class LocalPackage:
    path: Path  # links followed: inside one of environment.yml's folder channels
    sha256: bytes  # as the lock records it


class _LockedFilesHandler(http.server.BaseHTTPRequestHandler):
    """Serves exactly the files it was given, by URL path; everything else is 404."""

    files: dict[str, LocalPackage] = {}  # noqa: RUF012 - replaced per server by a subclass

    def log_message(self, format: str, *args: object) -> None:
        pass  # the build's own log says what was fetched

    def do_GET(self) -> None:
        package = self.files.get(self.path)
        try:
            data = package.path.read_bytes() if package is not None else None
        except OSError:
            data = None
        # Checked as it is sent, too: a file swapped after the check is not served.
        if package is None or data is None or hashlib.sha256(data).digest() != package.sha256:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def channel_folders(spec: CondaInput) -> tuple[Path, ...]:
    """The folder channels environment.yml names, links followed."""
    urls = (channel_url(channel, spec.path.parent) for channel in spec.channels)
    return tuple(Path(unquote(urlsplit(url).path)).resolve() for url in urls if url.startswith("file://"))


def local_packages(spec: CondaInput, lock_display: str) -> dict[str, LocalPackage]:
    """file:// package URL → the package, for every locked package of a local channel; a lock entry
    outside those channels, without a hash or with other bytes than it locked is refused."""
    folders = channel_folders(spec)
    found: dict[str, LocalPackage] = {}
    hashes = lockfile.conda_hashes(spec.lock_path, display=lock_display)
    for url in lockfile.packages(spec.lock_path, DEFAULT_PLATFORM, display=lock_display).conda:
        if not url.startswith("file://"):
            continue
        named = Path(unquote(urlsplit(url).path))
        resolved = named.resolve()
        if not any(resolved.is_relative_to(folder) for folder in folders):
            raise LockError(
                f"{lock_display} names the package file {named}, which is not inside a folder channel that "
                f"{spec.display} names, so nbship will not serve it to the build. Run `nbship lock --update` "
                "to write the lock anew from the channels."
            )
        if not resolved.is_file():
            raise UsageError(
                f"The local conda channel no longer has {named}, which {lock_display} names. "
                "Rebuild the channel, or run `nbship lock --update`."
            )
        expected = bytes.fromhex(hashes[url]) if re.fullmatch(r"[0-9a-f]{64}", hashes.get(url, "")) else None
        if expected is None or hashlib.sha256(resolved.read_bytes()).digest() != expected:
            raise LockError(
                f"{named} is not the package {lock_display} locked (its sha256 differs, or the lock has none): "
                "the channel changed since the lock was written. Run `nbship lock --update`."
            )
        found[url] = LocalPackage(resolved, expected)
    return found


@contextmanager
def _serve(files: dict[str, LocalPackage], host: str) -> Iterator[dict[str, str]]:
    """Serves the files on host:<free port>; yields the map of file:// URL prefixes to served ones."""
    routes: dict[str, LocalPackage] = {}
    folders: dict[str, str] = {}
    for url, path in sorted(files.items()):
        folder = url.rsplit("/", 2)[0] + "/"  # the channel: above <subdir>/<file>
        key = folders.setdefault(folder, f"/c{len(folders)}/")
        routes[key + url[len(folder) :]] = path
    handler = type("Handler", (_LockedFilesHandler,), {"files": routes})
    try:
        server = http.server.ThreadingHTTPServer((host, 0), handler)
    except OSError as exc:
        raise UsageError(
            f"nbship could not serve the local conda channel to the build on {host} ({exc}). "
            "Serve the channel over HTTP yourself and name its URL in environment.yml."
        ) from exc
    thread = threading.Thread(target=functools.partial(server.serve_forever, poll_interval=0.2), daemon=True)
    thread.start()
    base = f"http://{host}:{server.server_address[1]}"
    try:
        yield {folder: base + key for folder, key in folders.items()}
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def conda_secrets(
    spec: CondaInput, *, lock_display: str, auth_file: Path | None, gateway: Callable[[], str]
) -> Iterator[tuple[tuple[str, Path], ...]]:
    """The build's extra secrets, valid (and local channels served) while the context is open.
    `gateway` gives the address build containers reach the host at (asked only when needed)."""
    secrets: list[tuple[str, Path]] = []
    if auth_file is not None:
        if not auth_file.is_file():
            raise UsageError(f"The channel credentials file {auth_file} does not exist (--channel-auth).")
        secrets.append((c.CHANNEL_AUTH_SECRET, auth_file.resolve()))
    files = local_packages(spec, lock_display)
    if not files:
        yield tuple(secrets)
        return
    with _serve(files, gateway()) as mapping, tempfile.TemporaryDirectory(prefix="nbship-channels-") as tmp:
        map_file = Path(tmp) / "channel-map.json"
        map_file.write_text(json.dumps(mapping), encoding="utf-8")
        yield (*secrets, (c.CHANNEL_MAP_SECRET, map_file))
