"""What a conda build gets besides its context: channel credentials and local channels, both as
BuildKit secrets, so neither a password nor a host path ends up in a layer or busts the cache.

A local channel (a folder on the host) is locked with file:// URLs, which a build container
cannot open. For the length of the build, nbship serves the locked packages of those folders,
and only them, over HTTP on the docker bridge address; the secret `nbship-channel-map` tells
the installer in the build where to find them.
"""

from __future__ import annotations

import functools
import http.server
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nbship import contract as c
from nbship.errors import UsageError
from nbship.lock.conda import locked_urls
from nbship.options import DEFAULT_PLATFORM


class _LockedFilesHandler(http.server.BaseHTTPRequestHandler):
    """Serves exactly the files it was given, by URL path; everything else is 404."""

    files: dict[str, Path] = {}  # noqa: RUF012 - replaced per server by a subclass

    def log_message(self, format: str, *args: object) -> None:
        pass  # the build's own log says what was fetched

    def do_GET(self) -> None:
        path = self.files.get(self.path)
        if path is None or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _local_files(lock_file: Path) -> dict[str, Path]:
    """file:// package URL → the file, for every locked package in a local channel."""
    return {
        url: Path(unquote(urlsplit(url).path))
        for url in locked_urls(lock_file, DEFAULT_PLATFORM)
        if url.startswith("file://")
    }


@contextmanager
def _serve(files: dict[str, Path], host: str) -> Iterator[dict[str, str]]:
    """Serves the files on host:<free port>; yields the map of file:// URL prefixes to served ones."""
    routes: dict[str, Path] = {}
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
    lock_file: Path, *, auth_file: Path | None, gateway: Callable[[], str]
) -> Iterator[tuple[tuple[str, Path], ...]]:
    """The build's extra secrets, valid (and local channels served) while the context is open.
    `gateway` gives the address build containers reach the host at (asked only when needed)."""
    secrets: list[tuple[str, Path]] = []
    if auth_file is not None:
        if not auth_file.is_file():
            raise UsageError(f"The channel credentials file {auth_file} does not exist (--channel-auth).")
        secrets.append((c.CHANNEL_AUTH_SECRET, auth_file.resolve()))
    files = _local_files(lock_file)
    if not files:
        yield tuple(secrets)
        return
    missing = sorted(str(path) for path in files.values() if not path.is_file())
    if missing:
        raise UsageError(
            f"The local conda channel no longer has {missing[0]}, which nbship.lock names. "
            "Rebuild the channel, or run `nbship lock --update`."
        )
    with _serve(files, gateway()) as mapping, tempfile.TemporaryDirectory(prefix="nbship-channels-") as tmp:
        map_file = Path(tmp) / "channel-map.json"
        map_file.write_text(json.dumps(mapping), encoding="utf-8")
        yield (*secrets, (c.CHANNEL_MAP_SECRET, map_file))
