"""The no-change build's short cut: whether the last build of a folder still stands, decided
before the build's machinery (detection, settings, locks, the Dockerfile, the docker SDK) is imported.

After each `build` of a local folder, nbship records what that build read, as stats: every file
and folder the build context walk sends (with the ignore list it used), every entry at the
project's top and in its binder folders (where detection and settings look), git's HEAD (the
build's clock comes from the last commit), nbship's own files, the docker and podman programs
on PATH (the builder depends on them), the environment variables that choose anything, the
options, and the image id it produced with its fingerprint label. The next `build` of the same
folder with the same options compares stats only; when every one is the same, and the engine still
has that image id under that tag (and the same base image), it says what a full no-change build
says and stops. Anything else, a missing or unreadable record, a file changed while the record
was made, a fetched project, `--rebuild`: the full path, which decides as before.

Stats are compared as (size, mtime, ctime, inode, mode): ctime cannot be set back, so a tool
that restores an old mtime on a changed file (rsync -t, tar, cp -p) still changes it. A file
whose time is at or just before the start of the run that recorded is "racy" (its next change
could fall in the same clock tick) and keeps the run from recording, as git does for its index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbship import __version__
from nbship import contract as c
from nbship.cachedir import cache_home, own_digest, stat_key
from nbship.engine import connect_reader
from nbship.engine.info import BuildReport, ImageInfo
from nbship.errors import NbshipError
from nbship.reporter import RecordingReporter

if TYPE_CHECKING:
    from nbship.engine.base import Engine, EngineReader
    from nbship.options import BuildOptions, EngineChoice
    from nbship.project.detect import Project
    from nbship.reporter import Reporter
    from nbship.sources.refs import ProjectPath

RECORD_FORMAT = 2
# Where detection and the settings look besides the top of the project (nbship's binder folders).
_CONFIG_DIRS = ("binder", ".binder")
# Variables that choose an engine, a daemon, a setting, a clock, an index or a cache.
_ENV_PREFIXES = ("NBSHIP_", "DOCKER_", "PODMAN_", "CONTAINER_", "GIT_", "UV_", "PIP_", "CONDA_", "RATTLER_", "XDG_")
_ENV_NAMES = ("PATH", "HOME", c.SOURCE_DATE_EPOCH_ENV)
# How long before the recording run began a change still counts as racy, by the clock's tick:
# file systems with whole-second times (FAT keeps two seconds) against the kernel's coarse clock.
_RACY_COARSE_NS = 2_000_000_000
_RACY_FINE_NS = 50_000_000


@dataclass(frozen=True)
class BuildInputs:
    """What a build read that the record needs and only the full path knows."""

    ignore: tuple[str, ...]  # the context's ignore lines, as the build sent them
    fingerprint: str  # the image's fingerprint label
    base_image: str | None  # None: the project's own Dockerfile names its base
    notices: tuple[tuple[str, str], ...] = ()  # ("info"|"warn", text): what a no-change build also says
    engine: str = ""  # the engine that built it


@dataclass(frozen=True)
class BuildOutcome:
    image: str
    image_id: str
    size: int
    builder: str
    built: bool  # False: the image was up to date and no build ran
    info: ImageInfo  # the image as the engine has it, so callers need not inspect it again
    report: BuildReport = dataclasses.field(default_factory=BuildReport)  # each step of the build, cached or run
    inputs: BuildInputs | None = None  # None: a build whose inputs nbship does not record
    from_record: bool = False  # True: found up to date from the record of the last build, without reading the project


def up_to_date_message(tag: str) -> str:
    return f"{tag} is up to date: nothing in the project changed since it was built."


def _stat_line(name: str, path: Path | str) -> str:
    return f"{name}\0{stat_key(path)}"


def _git_lines(root: Path) -> Iterator[str] | None:
    """git's HEAD and the ref it names, for the nearest repository above `root`; None when nbship
    cannot tell cheaply (a worktree's or submodule's .git file)."""
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            break
        if dot_git.exists():
            return None
    else:
        return iter(("git\0none",))
    lines = [_stat_line(".git/HEAD", dot_git / "HEAD"), _stat_line(".git/packed-refs", dot_git / "packed-refs")]
    try:
        head = (dot_git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        head = ""
    if head.startswith("ref: "):
        lines.append(_stat_line(head, dot_git / head.removeprefix("ref: ")))
    return iter(lines)


def _programs() -> Iterator[str]:
    for folder in os.get_exec_path():
        for name in ("docker", "podman"):
            candidate = os.path.join(folder, name)
            if os.path.exists(candidate):
                yield _stat_line(candidate, candidate)


def _walk(root: Path, ignore: tuple[str, ...]) -> Iterator[tuple[str, os.stat_result | None]]:
    from nbship import ignore as ignoring

    patterns = ignoring.compile_lines(ignoring.parse("\n".join(ignore)))
    for entry in ignoring.Matcher(patterns).walk(root):
        yield entry.path, entry.stat
    for folder in ("", *_CONFIG_DIRS):
        try:
            with os.scandir(root / folder) as listing:
                for item in sorted(listing, key=lambda item: item.name):
                    yield f"//{folder}/{item.name}", item.stat(follow_symlinks=False)
        except OSError:
            yield f"//{folder}", None


@dataclass(frozen=True)
class _State:
    digest: str
    racy_since: int  # the newest mtime or ctime among the project's files, in ns


def _state(root: Path, options: BuildOptions, engine: EngineChoice | None, ignore: tuple[str, ...]) -> _State | None:
    git = _git_lines(root)
    if git is None:
        return None
    digest = hashlib.sha256()

    def add(lines: Iterable[str]) -> None:
        for line in lines:
            digest.update(line.encode("utf-8", "surrogateescape") + b"\n")

    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES)
    add([f"format {RECORD_FORMAT}", f"nbship {__version__}", f"root {root}", f"options {options!r}"])
    add([f"engine {engine}", *(f"env {k}={v}" for k, v in env), *ignore])
    add(git)
    add(_programs())
    add([f"own {own_digest()}"])
    newest = 0
    for path, st in _walk(root, ignore):
        if st is None:
            add([f"{path}\0-"])
            continue
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
        coarse = st.st_ctime_ns % 1_000_000_000 == 0
        newest = max(newest, st.st_ctime_ns + (_RACY_COARSE_NS if coarse else _RACY_FINE_NS))
        add([f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_mode}"])
    return _State(digest.hexdigest(), newest)


def _record_path(root: Path, options: BuildOptions, engine: EngineChoice | None) -> Path:
    """One record per folder and options: `build` and `up` of one folder often differ in options
    (a tag, a builder), and one would otherwise overwrite the other's record at every turn."""
    key = f"{root}\0{options!r}\0{engine}"
    return cache_home() / "builds" / f"{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()[:32]}.json"


def _image_key(image: ImageInfo | None) -> list[str]:
    return [] if image is None else [image.id, *sorted(image.repo_digests)]


def _local_root(path: ProjectPath) -> Path | None:
    return path.expanduser().resolve() if isinstance(path, Path) else None


def _wanted(options: BuildOptions) -> bool:
    return not (options.rebuild or options.no_cache)


def lookup(
    path: ProjectPath,
    options: BuildOptions,
    *,
    engine: EngineChoice | None,
    reporter: Reporter,
    reader: EngineReader | None = None,
) -> BuildOutcome | None:
    """The outcome of the last build when nothing it read changed and its image is still there; else None."""
    root = _local_root(path)
    if root is None or not _wanted(options):
        return None
    try:
        record = json.loads(_record_path(root, options, engine).read_text(encoding="utf-8"))
        ignore = tuple(str(line) for line in record["ignore"])
        state = _state(root, options, engine, ignore)
        if state is None or record["format"] != RECORD_FORMAT or record["state"] != state.digest:
            return None
        reader = reader or connect_reader(engine, setting=record["engine"], reporter=reporter)
        found = reader.image(str(record["tag"]))
        if found is None or found.id != record["image_id"]:
            return None
        if found.labels.get(c.LABEL_FINGERPRINT) != record["fingerprint"]:
            return None
        if record["base_image"] is not None and _image_key(reader.image(record["base_image"])) != record["base"]:
            return None
        notices = [(str(kind), str(text)) for kind, text in record["notices"]]
    except (OSError, ValueError, KeyError, TypeError, NbshipError):
        return None  # no record, an unreadable one, or an engine that does not answer: the full path decides
    for kind, text in notices:
        (reporter.warn if kind == "warn" else reporter.info)(text)
    reporter.info(up_to_date_message(str(record["tag"])))
    return BuildOutcome(str(record["tag"]), found.id, found.size, "none", False, found, from_record=True)


def remember(
    path: ProjectPath,
    options: BuildOptions,
    *,
    engine: EngineChoice | None,
    outcome: BuildOutcome,
    started_ns: int,
    reader: EngineReader | None = None,
) -> bool:
    """Records what `outcome`'s build read, unless something changed since `started_ns` or too close
    before it to tell by stats. Best effort: nbship's state is a cache, so a failure records nothing."""
    root = _local_root(path)
    inputs = outcome.inputs
    if root is None or inputs is None or not _wanted(options) or inputs.engine != "docker":
        return False
    try:
        state = _state(root, options, engine, inputs.ignore)
        if state is None or state.racy_since >= started_ns:
            return False
        reader = reader or connect_reader(engine, setting="docker")
        base = _image_key(reader.image(inputs.base_image)) if inputs.base_image is not None else []
        record: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "state": state.digest,
            "ignore": list(inputs.ignore),
            "tag": outcome.image,
            "image_id": outcome.image_id,
            "fingerprint": inputs.fingerprint,
            "base_image": inputs.base_image,
            "base": base,
            "engine": inputs.engine,
            "notices": [list(notice) for notice in inputs.notices],
        }
        target = _record_path(root, options, engine)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, target)
    except (OSError, NbshipError):
        return False
    return True


def build_when_needed(
    engine: Engine,
    path: ProjectPath,
    project: Project,
    options: BuildOptions,
    reporter: Reporter,
    *,
    engine_choice: EngineChoice | None,
    started_ns: int,
    looked: bool = False,
) -> BuildOutcome:
    """The project's image for a command that detected the project already (up, run, hub): from
    the record when it stands (`looked`: the caller asked it already), else built when needed,
    and recorded. `started_ns`: before the project was read."""
    # No engine call before the record matches: the full path refuses bad input (a tag) before any.
    if not looked:
        known = lookup(path, options, engine=engine_choice, reporter=reporter, reader=engine)
        if known is not None:
            return known
    from nbship.commands.build import build_project

    outcome = build_project(engine, project, options, reporter)
    remember(path, options, engine=engine_choice, outcome=outcome, started_ns=started_ns, reader=engine)
    return outcome


def build(
    *,
    path: ProjectPath,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    engine: EngineChoice | None = None,
) -> BuildOutcome:
    """Builds the project's image when its inputs changed since the last build."""
    options = options or BuildOptions()
    reporter = reporter or RecordingReporter()
    started = time.time_ns()
    known = lookup(path, options, engine=engine, reporter=reporter)
    if known is not None:
        return known
    from nbship.engine import connect
    from nbship.sources.open import engine_setting, open_project

    project = open_project(path, reporter=reporter)
    chosen = connect(engine, setting=engine_setting(project), reporter=reporter)
    return build_when_needed(
        chosen, path, project, options, reporter, engine_choice=engine, started_ns=started, looked=True
    )
