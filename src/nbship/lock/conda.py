"""environment.yml → nbship.lock: a solve with py-rattler, written in rattler's lock format (the
one pixi reads), with exact package URLs and hashes: the conda packages, and the pip: section
compiled by uv with the packages conda already provides left out (lock/conda_pip.py).

The lock starts with comment lines that rattler's parser skips. They record a digest of the
inputs it was solved from, so a changed environment.yml is noticed without solving again.

Every rattler call that starts its async runtime runs in a worker process (lock/worker.py):
`write_lock` hands the work to one, which runs `write_lock_in_worker`. Reading a lock is YAML
(lock/lockfile.py), in nbship's own process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from nbship import contract as c
from nbship.errors import ProjectError, UsageError
from nbship.lock import lockfile, worker
from nbship.lock.header import LockHeader, read_header, relock_platforms
from nbship.options import DEFAULT_PLATFORM, PLATFORMS, Platform
from nbship.project.kinds.environment_yml import LOCK_NAME, CondaInput, parse_environment

AUTH_ENV = c.RATTLER_AUTH_ENV

LockState = Literal["missing", "stale", "current"]


@dataclass(frozen=True)
class LockResult:
    path: Path
    state_before: LockState
    solved: bool  # False: the existing lock was current and is used as is
    packages: dict[str, int]  # platform -> number of locked packages (conda and PyPI)
    notes: tuple[str, ...] = ()  # what the user should know about how it was locked


def lock_path(spec: CondaInput) -> Path:
    return spec.lock_path


def parse_date(value: str) -> dt.datetime:
    """--exclude-newer: a day (that whole day included) or an ISO time, UTC unless it says otherwise."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc) - dt.timedelta(milliseconds=1)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"--exclude-newer {value!r} is not a date: write it as 2024-05-31 or 2024-05-31T12:00:00Z."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return str(urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)))


def channel_url(channel: str, base: Path) -> str:
    """A channel as environment.yml names it → the URL solves and locks use (no credentials in it)."""
    from rattler import Channel, ChannelConfig  # parsing only: no runtime starts
    from rattler.exceptions import InvalidChannelError

    if re.match(r"^[a-z][a-z0-9+.-]*://", channel, re.IGNORECASE):
        return _strip_credentials(channel).rstrip("/") + "/"
    if channel.startswith((".", "/", "~")):
        folder = (base / Path(channel).expanduser()).resolve()
        return folder.as_uri().rstrip("/") + "/"
    # A channel name is read as conda reads it: below the channel alias, which a mirror changes
    # (conda's CONDA_CHANNEL_ALIAS, the environment form of .condarc's channel_alias).
    alias = os.environ.get("CONDA_CHANNEL_ALIAS", "").strip()
    try:
        if alias:
            return str(Channel(channel, ChannelConfig(channel_alias=alias.rstrip("/") + "/")).base_url)
        return str(Channel(channel).base_url)
    except InvalidChannelError as exc:
        raise ProjectError(f"'{channel}' is not a channel nbship understands ({exc}). Use a name or a URL.") from exc


def inputs_digest(spec: CondaInput, exclude_newer: str | None, python: str) -> str:
    channels = [channel_url(channel, spec.path.parent) for channel in spec.channels]
    payload = {
        "channels": channels,
        "conda": list(spec.conda),
        "pip": list(spec.pip),
        "exclude_newer": exclude_newer,
        "python": python,  # the Python nbship adds when the file names none, and the pip: section's
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _display(spec: CondaInput, path: Path) -> str:
    return str(Path(spec.display).parent / path.name) if "/" in spec.display else path.name


def lock_state(spec: CondaInput, platform: str = DEFAULT_PLATFORM, *, python: str) -> LockState:
    path = lock_path(spec)
    if not path.is_file():
        return "missing"
    header = read_header(path)
    if header is None or header.inputs != inputs_digest(spec, header.exclude_newer, python):
        return "stale"
    return "current" if platform in lockfile.platforms(path) else "stale"


def locked_platforms(path: Path) -> tuple[Platform, ...]:
    """The platforms an existing lock covers (none when there is no readable lock)."""
    return lockfile.platforms(path)


def locked_urls(path: Path, platform: str = DEFAULT_PLATFORM) -> list[str]:
    return list(lockfile.packages(path, platform).conda) if path.is_file() else []


@contextlib.contextmanager
def credentials(auth_file: Path | None) -> Iterator[None]:
    """Channel credentials for this process's solves: rattler reads the file RATTLER_AUTH_FILE names."""
    if auth_file is None:
        yield
        return
    if not auth_file.is_file():
        raise UsageError(f"The channel credentials file {auth_file} does not exist (--channel-auth).")
    before = os.environ.get(AUTH_ENV)
    os.environ[AUTH_ENV] = str(auth_file.resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(AUTH_ENV, None)
        else:
            os.environ[AUTH_ENV] = before


def write_lock(
    spec: CondaInput,
    *,
    python: str,
    platforms: Sequence[Platform] = (DEFAULT_PLATFORM,),
    exclude_newer: str | None = None,
    update: bool = False,
    auth_file: Path | None = None,
) -> LockResult:
    """Solves `spec` and writes nbship.lock beside it, unless the lock there is current already.
    The lock covers the platforms asked for and every platform it covered before. `python` is the
    project's Python: added from the channels when the file names none, and the pip: section's."""
    for platform in platforms:
        if platform not in PLATFORMS:
            raise UsageError(f"--platform {platform} is not one nbship builds for ({', '.join(PLATFORMS)}).")
    if exclude_newer:
        parse_date(exclude_newer)
    if auth_file is not None and not auth_file.is_file():
        raise UsageError(f"The channel credentials file {auth_file} does not exist (--channel-auth).")
    value = worker.call(
        "write-conda-lock",
        {
            "environment": str(spec.path),
            "display": spec.display,
            "root": str(spec.path.parents[len(Path(spec.display).parts) - 1]),
            "python": python,
            "platforms": list(platforms),
            "exclude_newer": exclude_newer,
            "update": update,
            "auth_file": str(auth_file.resolve()) if auth_file else None,
        },
    )
    return LockResult(
        Path(value["path"]), value["state"], value["solved"], dict(value["packages"]), tuple(value["notes"])
    )


def write_lock_in_worker(arguments: dict[str, Any]) -> dict[str, Any]:
    """The worker's side of `write_lock` (lock/worker.py runs it)."""
    path = Path(arguments["environment"])
    spec = parse_environment(path, arguments["display"], Path(arguments["root"]))
    auth = Path(arguments["auth_file"]) if arguments["auth_file"] else None
    with credentials(auth):
        result = _write_lock(
            spec,
            python=arguments["python"],
            platforms=arguments["platforms"],
            exclude_newer=arguments["exclude_newer"],
            update=arguments["update"],
        )
    return {
        "path": str(result.path),
        "state": result.state_before,
        "solved": result.solved,
        "packages": result.packages,
        "notes": list(result.notes),
    }


def _counts(path: Path, wanted: Sequence[str]) -> dict[str, int]:
    counts = {}
    for platform in wanted:
        locked = lockfile.packages(path, platform)
        counts[platform] = len(locked.conda) + len(locked.pypi)
    return counts


def _write_lock(
    spec: CondaInput, *, python: str, platforms: Sequence[Platform], exclude_newer: str | None, update: bool
) -> LockResult:
    import asyncio

    import rattler

    from nbship.lock import conda_pip, solver

    path = lock_path(spec)
    header = read_header(path) if path.is_file() else None
    wanted = relock_platforms(platforms, locked_platforms(path))
    state = lock_state(spec, wanted[0], python=python)
    locked_exclude = header.exclude_newer if header else None
    same_cutoff = exclude_newer is None or exclude_newer == locked_exclude
    if state == "current" and same_cutoff and not update and set(wanted) <= set(locked_platforms(path)):
        return LockResult(path, state, False, _counts(path, wanted))
    if exclude_newer is None and not update:
        # A relock keeps the cutoff the lock was made with; --update drops it, --exclude-newer replaces it.
        exclude_newer = locked_exclude
    moment = parse_date(exclude_newer) if exclude_newer else None
    channels = [channel_url(channel, spec.path.parent) for channel in spec.channels]
    previous = solver.Previous.read(path, wanted) if not update else solver.Previous()
    solution = asyncio.run(solver.solve(spec, channels, wanted, moment, previous, python=python))
    pins: dict[str, conda_pip.PipPins] = {
        platform: conda_pip.lock_pip(
            spec,
            python=solution.python.get(platform) or python,
            platform=platform,
            provided=solution.provided.get(platform, {}),
            needs_jupyterlab=not solution.jupyterlab[platform],
            exclude_newer=exclude_newer,
            previous=previous.pypi.get(platform, ()),
        )
        for platform in wanted
    }
    lock = rattler.LockFile([rattler.LockPlatform(platform) for platform in wanted])
    lock.set_channels(lockfile.DEFAULT_ENVIRONMENT, [rattler.LockChannel(url) for url in channels])
    for platform, records in solution.records.items():
        for record in records:
            lock.add_conda_package(lockfile.DEFAULT_ENVIRONMENT, rattler.LockPlatform(platform), record)
        for environment, pinned in (
            (lockfile.DEFAULT_ENVIRONMENT, pins[platform].pip),
            (lockfile.JUPYTERLAB_ENVIRONMENT, pins[platform].jupyterlab),
        ):
            for pin in pinned:
                lock.add_pypi_package(environment, rattler.LockPlatform(platform), pin.name, pin.version, pin.location)
    written = LockHeader(
        inputs=inputs_digest(spec, exclude_newer, python), platforms=wanted, exclude_newer=exclude_newer
    )
    title = f"Written by nbship from {Path(spec.display).name}: `nbship lock` refreshes it, `nbship build` installs it."
    with tempfile.TemporaryDirectory(prefix="nbship-lock-") as tmp:
        body = Path(tmp) / LOCK_NAME
        lock.to_path(body)
        text = "\n".join(written.lines(title)) + "\n" + body.read_text(encoding="utf-8")
    _write_atomically(path, text)
    notes = [*spec.notes, *solution.notes, *(note for p in wanted for note in pins[p].notes)]
    packages: dict[str, int] = {
        p: len(solution.records[p]) + len(pins[p].pip) + len(pins[p].jupyterlab) for p in wanted
    }
    return LockResult(path, state, True, packages, tuple(dict.fromkeys(notes)))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
