"""The builder probe's answer, remembered in nbship's cache folder.

Finding a docker CLI that builds with BuildKit runs up to two commands per client on PATH (about
0.1 s on every build). The answer depends only on which clients there are, which CLI plugins
they can find, their configuration (the current context, extra plugin folders) and the
environment they run with, so it is kept under a key made of exactly those: each client's and
each buildx plugin's path, size and mtime, the config file's, the DOCKER_* variables and the
variables the engine pins. When any of them changes, the key does and the probe runs again. The
record is a cache: unreadable or missing, it is simply made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from nbship.cachedir import cache_home
from nbship.engine import docker_cli
from nbship.engine.docker_cli import BuildkitCli, FrozenEnv

RECORD_FORMAT = 1
# Where docker clients look for CLI plugins besides the user's config folder (cli-plugins/manager).
PLUGIN_FOLDERS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def _stat_line(path: Path | str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path} -"
    return f"{path} {st.st_size} {st.st_mtime_ns}"


def _config_folder(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("DOCKER_CONFIG")
    return Path(explicit).expanduser() if explicit else Path.home() / ".docker"


def _key_lines(env: FrozenEnv, environ: Mapping[str, str]) -> Iterator[str]:
    merged = dict(environ)
    for name, value in env:
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    yield f"format {RECORD_FORMAT}"
    yield f"PATH={merged.get('PATH', '')}"
    for key in sorted(merged):
        if key.startswith("DOCKER_"):
            yield f"{key}={merged[key]}"
    for cli in docker_cli.docker_clis():
        yield _stat_line(cli)
    config = _config_folder(merged)
    yield _stat_line(config / "config.json")
    for folder in (str(config / "cli-plugins"), *PLUGIN_FOLDERS):
        yield _stat_line(Path(folder, "docker-buildx"))


def probe_key(env: FrozenEnv = (), environ: Mapping[str, str] | None = None) -> str:
    """What the probe's answer depends on, as one digest."""
    lines = _key_lines(env, os.environ if environ is None else environ)
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def record_path() -> Path:
    return cache_home() / "builder-probe.json"


def _read(key: str) -> tuple[bool, BuildkitCli | None]:
    """(found, answer) from the record; found is False when there is none for `key`."""
    try:
        record = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or record.get("key") != key:
        return False, None
    answer = record.get("answer")
    if answer is None:
        return True, None
    if isinstance(answer, dict) and isinstance(answer.get("path"), str) and isinstance(answer.get("how"), str):
        return True, BuildkitCli(answer["path"], answer["how"])
    return False, None


def _write(key: str, answer: BuildkitCli | None) -> None:
    target = record_path()
    record = {
        "format": RECORD_FORMAT,
        "key": key,
        "answer": None if answer is None else {"path": answer.path, "how": answer.how},
    }
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, target)
    except OSError:
        pass  # a cache: the next build probes again


def buildkit_cli(env: FrozenEnv = ()) -> BuildkitCli | None:
    """docker_cli.find_buildkit_cli's answer, from the record when nothing it depends on changed."""
    key = probe_key(env)
    found, answer = _read(key)
    if found and (answer is None or Path(answer.path).is_file()):
        return answer
    answer = docker_cli.find_buildkit_cli(env)
    _write(key, answer)
    return answer
