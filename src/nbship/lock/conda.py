"""environment.yml → nbship.lock: a solve with py-rattler on the host, written in rattler's lock
format (the one pixi reads), with exact package URLs and hashes.

The lock starts with comment lines that rattler's parser skips. They record a digest of the
inputs it was solved from, so a changed environment.yml is noticed without solving again.
"""

from __future__ import annotations

import asyncio
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
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import rattler
from rattler import BuildString, Channel, GenericVirtualPackage, LockChannel, LockFile, LockPlatform, PackageName
from rattler import Version as CondaVersion
from rattler.exceptions import (
    FetchRepoDataError,
    GatewayError,
    InvalidChannelError,
    ParseCondaLockError,
    SolverError,
)

from nbship import contract as c
from nbship.errors import LockError, ProjectError, UsageError
from nbship.lock.header import LockHeader, read_header, relock_platforms
from nbship.options import DEFAULT_PLATFORM, PLATFORMS, Platform
from nbship.project.kinds.environment_yml import LOCK_NAME, CondaInput

AUTH_ENV = c.RATTLER_AUTH_ENV
# What the image's system offers the solver: glibc and kernel at least as old as any supported base.
_VIRTUAL = {"__unix": "0", "__linux": "4.18", "__glibc": "2.28"}
_ARCH = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}

LockState = Literal["missing", "stale", "current"]


@dataclass(frozen=True)
class LockResult:
    path: Path
    state_before: LockState
    solved: bool  # False: the existing lock was current and is used as is
    packages: dict[str, int]  # platform -> number of locked conda packages


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
    if re.match(r"^[a-z][a-z0-9+.-]*://", channel, re.IGNORECASE):
        return _strip_credentials(channel).rstrip("/") + "/"
    if channel.startswith((".", "/", "~")):
        folder = (base / Path(channel).expanduser()).resolve()
        return folder.as_uri().rstrip("/") + "/"
    try:
        return Channel(channel).base_url
    except InvalidChannelError as exc:
        raise ProjectError(f"'{channel}' is not a channel nbship understands ({exc}). Use a name or a URL.") from exc


def inputs_digest(spec: CondaInput, exclude_newer: str | None) -> str:
    channels = [channel_url(channel, spec.path.parent) for channel in spec.channels]
    payload = {"channels": channels, "conda": list(spec.conda), "pip": list(spec.pip), "exclude_newer": exclude_newer}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read(path: Path, display: str) -> LockFile:
    try:
        return LockFile.from_path(path)
    except (ParseCondaLockError, OSError) as exc:
        raise LockError(
            f"{display} is not a lock file nbship can read ({exc}). Run `nbship lock --update` to write it anew."
        ) from exc


def lock_state(spec: CondaInput, platform: str = DEFAULT_PLATFORM) -> LockState:
    path = lock_path(spec)
    if not path.is_file():
        return "missing"
    header = read_header(path)
    if header is None or header.inputs != inputs_digest(spec, header.exclude_newer):
        return "stale"
    lock = _read(path, _display(spec, path))
    return "current" if platform in {p.name for p in lock.platforms()} else "stale"


def _display(spec: CondaInput, path: Path) -> str:
    return str(Path(spec.display).parent / path.name) if "/" in spec.display else path.name


def _virtual_packages(platform: str) -> list[GenericVirtualPackage]:
    packages = [
        GenericVirtualPackage(PackageName(name), CondaVersion(version), BuildString("0"))
        for name, version in _VIRTUAL.items()
    ]
    packages.append(GenericVirtualPackage(PackageName("__archspec"), CondaVersion("1"), BuildString(_ARCH[platform])))
    return packages


def locked_records(path: Path, platform: str) -> list[rattler.RepoDataRecord]:
    if not path.is_file():
        return []
    try:
        environment = LockFile.from_path(path).default_environment()
    except (ParseCondaLockError, OSError):
        return []
    if environment is None:
        return []
    return list(environment.conda_repodata_records().get(platform, []))


def _solve_error(spec: CondaInput, platform: str, exc: Exception) -> LockError:
    text = " ".join(str(exc).split())
    text = re.sub(r"^Cannot solve the request because of:\s*", "", text).rstrip(".")
    return LockError(
        f"{spec.display} cannot be solved for {platform}: {text}. Change the version asked for in "
        f"{spec.display} (or add the channel that has it), then run `nbship lock` again."
    )


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


async def _solve_all(
    spec: CondaInput,
    channels: list[str],
    platforms: Sequence[str],
    exclude_newer: dt.datetime | None,
    previous: dict[str, list[rattler.RepoDataRecord]],
) -> dict[str, list[rattler.RepoDataRecord]]:
    # The default client carries rattler's authentication middleware (RATTLER_AUTH_FILE, keyring).
    gateway = rattler.Gateway(client=rattler.Client.default_client())
    solved: dict[str, list[rattler.RepoDataRecord]] = {}
    for platform in platforms:
        try:
            records = await rattler.solve(
                sources=[Channel(url) for url in channels],
                specs=list(spec.conda),
                gateway=gateway,
                platforms=[rattler.Subdir(platform), rattler.Subdir("noarch")],
                locked_packages=previous.get(platform) or None,
                virtual_packages=_virtual_packages(platform),
                exclude_newer=exclude_newer,
                timestamp_policy="allow-missing",
                channel_relations="disabled",
                add_pip_as_python_dependency=True,  # as conda does: an environment with Python has pip
            )
        except SolverError as exc:
            raise _solve_error(spec, platform, exc) from exc
        except (FetchRepoDataError, GatewayError) as exc:
            raise LockError(
                f"The channels of {spec.display} could not be read for {platform}: {' '.join(str(exc).split())}. "
                "Check the channel names and URLs, your network, and for a private channel its credentials."
            ) from exc
        solved[platform] = sorted(records, key=lambda record: (record.name.normalized, record.url))
    return solved


def write_lock(
    spec: CondaInput,
    *,
    platforms: Sequence[Platform] = (DEFAULT_PLATFORM,),
    exclude_newer: str | None = None,
    update: bool = False,
    auth_file: Path | None = None,
) -> LockResult:
    """Solves `spec` and writes nbship.lock beside it, unless the lock there is current already.
    The lock covers the platforms asked for and every platform it covered before."""
    for platform in platforms:
        if platform not in PLATFORMS:
            raise UsageError(f"--platform {platform} is not one nbship builds for ({', '.join(PLATFORMS)}).")
    moment = parse_date(exclude_newer) if exclude_newer else None
    path = lock_path(spec)
    header = read_header(path) if path.is_file() else None
    wanted = relock_platforms(platforms, locked_platforms(path))
    try:
        state = lock_state(spec, wanted[0])
    except LockError:
        if not update:
            raise
        state = "stale"  # --update writes an unreadable lock anew, as its message says
    locked_exclude = header.exclude_newer if header else None
    same_cutoff = exclude_newer is None or exclude_newer == locked_exclude
    if state == "current" and same_cutoff and not update and _has_platforms(path, wanted, spec):
        return LockResult(path, state, False, _counts(path, spec))
    if exclude_newer is None and not update:
        # A relock keeps the cutoff the lock was made with; --update drops it, --exclude-newer replaces it.
        exclude_newer = locked_exclude
        moment = parse_date(exclude_newer) if exclude_newer else None
    channels = [channel_url(channel, spec.path.parent) for channel in spec.channels]
    # Without --update, what was locked before stays as it was where the new specs allow it.
    previous: dict[str, list[rattler.RepoDataRecord]] = (
        {} if update else {platform: locked_records(path, platform) for platform in wanted}
    )
    if not spec.conda:
        solved: dict[str, list[rattler.RepoDataRecord]] = {platform: [] for platform in wanted}
    else:
        with credentials(auth_file):
            solved = asyncio.run(_solve_all(spec, channels, wanted, moment, previous))
    lock = LockFile([LockPlatform(platform) for platform in wanted])
    lock.set_channels("default", [LockChannel(url) for url in channels])
    for name, records in solved.items():
        for record in records:
            lock.add_conda_package("default", LockPlatform(name), record)
    written = LockHeader(inputs=inputs_digest(spec, exclude_newer), platforms=wanted, exclude_newer=exclude_newer)
    title = f"Written by nbship from {Path(spec.display).name}: `nbship lock` refreshes it, `nbship build` installs it."
    with tempfile.TemporaryDirectory(prefix="nbship-lock-") as tmp:
        body = Path(tmp) / LOCK_NAME
        lock.to_path(body)
        text = "\n".join(written.lines(title)) + "\n" + body.read_text(encoding="utf-8")
    _write_atomically(path, text)
    return LockResult(path, state, True, {platform: len(records) for platform, records in solved.items()})


def _has_platforms(path: Path, platforms: Sequence[str], spec: CondaInput) -> bool:
    return set(platforms) <= {p.name for p in _read(path, _display(spec, path)).platforms()}


def _counts(path: Path, spec: CondaInput) -> dict[str, int]:
    environment = _read(path, _display(spec, path)).default_environment()
    if environment is None:
        return {}
    return {platform: len(records) for platform, records in environment.conda_repodata_records().items()}


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


def locked_platforms(path: Path) -> tuple[Platform, ...]:
    """The platforms an existing lock covers (none when there is no readable lock)."""
    try:
        names = {platform.name for platform in LockFile.from_path(path).platforms()} if path.is_file() else set()
    except (ParseCondaLockError, OSError):
        return ()
    return tuple(platform for platform in PLATFORMS if platform in names)


def locked_urls(path: Path, platform: str = DEFAULT_PLATFORM) -> list[str]:
    return [record.url for record in locked_records(path, platform)]
