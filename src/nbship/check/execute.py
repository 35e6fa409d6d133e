"""Runs the notebook runner in a fresh container of the image and brings its results back.

The runner and its config go in with `put_archive` before the container starts, and the results
come out with `get_archive` after it ends: no bind mount, so nothing on the host is writable from
the container and the same works with a remote daemon.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from nbship import contract as c
from nbship.check.results import NotebookResult, parse_results
from nbship.engine.base import ContainerSpec, Engine
from nbship.errors import Interrupted, NbshipError, NotFoundError, RunError
from nbship.options import Env
from nbship.render.support import payload_file
from nbship.reporter import Reporter
from nbship.resources import Resources

EVENT_PREFIX = c.CHECK_EVENT_PREFIX  # the runner's (payload/check_runner.py)
_IN_DIR = "/tmp/nbship-check"  # noqa: S108 - inside the throwaway container, not on the host
_IN_PARENT = "/tmp"  # noqa: S108 - likewise
_OUT_DIR = "/tmp/nbship-check-out"  # noqa: S108 - likewise
_EXIT_FATAL = 3
_EXIT_NO_COMMAND = 127


@dataclass(frozen=True)
class RunSpec:
    image: str
    notebooks: tuple[str, ...] | None  # None: every notebook found in the project folder
    timeout: int  # seconds per cell
    network: bool
    skip_dirs: tuple[str, ...]
    keep_originals: bool  # also bring back the notebooks as the image has them (for comparisons)
    startup_timeout: int = 120
    env: Env = ()  # the user's variables for the notebooks (-e, --env-file)
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class RunOutcome:
    results: tuple[NotebookResult, ...]
    executed: dict[str, bytes]  # path -> the executed notebook
    originals: dict[str, bytes]  # path -> the notebook as the image delivers it
    root: str  # the folder the notebooks were found in, inside the image


class MissingNotebooks(RunError):
    """Notebooks asked for by name that the image does not have."""

    def __init__(self, missing: list[str], available: list[str]) -> None:
        super().__init__(f"Not in the image: {', '.join(missing)}")
        self.missing = missing
        self.available = available


def _tar(files: dict[str, bytes], folder: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(folder)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar(data: bytes, *, strip: int = 1) -> dict[str, bytes]:
    """Regular files of a `docker cp` tar, by path below its first `strip` folders. Links and odd
    names are skipped: the archive comes from a container, so it is never trusted with paths."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts[strip:]
            if not member.isfile() or not parts or any(part in {"..", ""} for part in parts):
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                files["/".join(parts)] = handle.read()
    return files


def image_files(engine: Engine, image: str, paths: tuple[str, ...]) -> dict[str, bytes]:
    """Files read out of the image (those that exist), without running it."""
    container = engine.create(ContainerSpec(image=image, labels={c.LABEL_CHECK: "true"}, network=False)).id
    found: dict[str, bytes] = {}
    try:
        for path in paths:
            try:
                archive = engine.get_archive(container, path)
            except NotFoundError:
                continue
            found.update(untar(archive, strip=0))
    finally:
        engine.remove_container(container, stop_timeout=1)
    return found


def _config(spec: RunSpec) -> bytes:
    return json.dumps(
        {
            "output": _OUT_DIR,
            "timeout": spec.timeout,
            "startup_timeout": spec.startup_timeout,
            "skip_dirs": sorted(spec.skip_dirs),
            "notebooks": list(spec.notebooks) if spec.notebooks is not None else None,
            "keep_originals": spec.keep_originals,
        }
    ).encode()


class _Events:
    """Splits the container's log stream into lines: runner events and everything else."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.fatal: dict[str, Any] | None = None
        self.other: list[str] = []
        self._pending = ""

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk.decode(errors="replace")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""

    def _line(self, line: str) -> None:
        if not line.startswith(EVENT_PREFIX):
            self.other.append(line)
            self.reporter.log(line)
            return
        try:
            event = json.loads(line[len(EVENT_PREFIX) :])
        except ValueError:
            self.other.append(line)
            return
        if event.get("event") == "start":
            self.reporter.step(f"running {event['path']} ({event['index'] + 1} of {event['total']})")
        elif event.get("event") == "fatal":
            self.fatal = event


def _runner_failure(spec: RunSpec, code: int, events: _Events) -> NbshipError:
    tail = "\n".join(events.other[-30:])
    fatal = events.fatal
    if fatal is not None and fatal.get("kind") == "missing-notebooks":
        return MissingNotebooks(list(fatal.get("missing", [])), list(fatal.get("available", [])))
    if fatal is not None and fatal.get("kind") == "no-nbclient":
        return RunError(
            f"The image {spec.image} cannot run notebooks headless: its Python ({fatal.get('python')}) lacks "
            f"nbclient ({fatal.get('message')}). Images nbship builds have it; in your own Dockerfile, install "
            "nbclient and ipykernel (pip install nbclient ipykernel) and build again."
        )
    if code == _EXIT_NO_COMMAND:
        return RunError(
            f"The image {spec.image} has no python3 on its PATH, so nbship cannot run its notebooks there. "
            "Check the image's PATH (or its entrypoint), or build it with nbship.",
            details=tail or None,
        )
    return RunError(
        f"Running the notebooks in {spec.image} failed before they could be reported (exit code {code}). "
        "The container's last output is below; the image's entrypoint or start script may have failed.",
        details=tail or None,
    )


def _start(engine: Engine, spec: RunSpec) -> str:
    container = engine.create(
        ContainerSpec(
            image=spec.image,
            command=("python3", f"{_IN_DIR}/runner.py", f"{_IN_DIR}/config.json"),
            labels={c.LABEL_CHECK: "true"},
            # No network unless asked: an analysis that silently downloads is not reproducible.
            network=spec.network,
            env=dict(spec.env),
            resources=spec.resources,
        )
    ).id
    try:
        runner = payload_file("check_runner.py")
        bundle = _tar({"runner.py": runner, "config.json": _config(spec)}, PurePosixPath(_IN_DIR).name)
        engine.put_archive(container, _IN_PARENT, bundle)
        engine.start(container)
    except BaseException:
        engine.remove_container(container, stop_timeout=1)
        raise
    return container


def run_check(engine: Engine, spec: RunSpec, reporter: Reporter) -> RunOutcome:
    """Executes the notebooks in a new container, which is removed afterwards in every case."""
    reporter.step(f"starting a container of {spec.image}{'' if spec.network else ' (no network)'}")
    container = _start(engine, spec)
    events = _Events(reporter)
    try:
        for chunk in engine.logs(container, follow=True):
            events.feed(chunk)
        events.close()
        code = engine.wait(container)
        if code != 0:
            raise _runner_failure(spec, code, events)
        files = untar(engine.get_archive(container, _OUT_DIR))
    except KeyboardInterrupt:
        raise Interrupted("Check interrupted: its container was removed.") from None
    finally:
        engine.remove_container(container, stop_timeout=1)
    if "results.json" not in files:
        raise RunError(f"The notebook runner in {spec.image} ended without results. Run again with -v to see its log.")
    results_text = files["results.json"].decode()
    return RunOutcome(
        results=tuple(parse_results(results_text)),
        executed={name[len("executed/") :]: data for name, data in files.items() if name.startswith("executed/")},
        originals={name[len("original/") :]: data for name, data in files.items() if name.startswith("original/")},
        root=str(json.loads(results_text).get("root", "")),
    )
