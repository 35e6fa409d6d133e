"""What the image's environment leaves out of what was installed, decided file by file; the
environment's assembly (assemble.py, run with the environment's own Python at the end of the env
stage) copies everything else. `nbship build --no-strip` and `strip = false` leave nothing out.
Standard-library Python only; it stays in the build stage and never reaches the image.

What goes, and why it is safe (bench/RESULTS.md measures each part):
- `tests/` folders inside packages: test suites that no import of the package reaches.
  A package that imports its own `tests` outside them (bottleneck does) keeps them.
- Source maps (`*.js.map`, `*.css.map`): only a browser's developer tools read them.
- C, C++ and Cython sources next to the extension module built from them: never read at run time.
- setuptools (with pkg_resources and its distutils hook) and wheel, which a virtualenv gets:
  build tools, kept when an installed package requires one or the project names it.
- Bytecode: all of it, and the Jupyter server and kernel packages (the dependency closure of the
  server the image runs) get theirs compiled anew, so JupyterLab starts without compiling ~80
  packages first. The analysis packages compile on their first import, as uv leaves them.
- Debug sections of shared libraries (elf.py).
- Type stubs of packages that are not installed: a vendored copy of typeshed's `stubs/` (jedi
  carries stubs for ~200 distributions, 13 MB) keeps the folders of the distributions the
  environment has (by name, or by a top-level module it installs); the others describe code
  no notebook here can import (and jedi 0.19+ never reads that folder).
- Duplicates: files of one layer with the same bytes and mode are written once and hard-linked
  (JupyterLab's wheel installs its 17 MB of static assets twice, in the package and in
  share/jupyter/lab); both paths stay, and a write through one copies the file up in the
  container's own layer, leaving the other as it was.

pip stays (without its bytecode): `%pip install` in a notebook keeps working.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The distributions whose dependency closure starts the server and the kernel.
SERVER_ROOTS = ("jupyterlab", "notebook", "jupyter-server", "ipykernel")
BUILD_TOOLS = {
    "setuptools": ("setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth"),
    "wheel": ("wheel",),
}
SOURCE_MAP_SUFFIXES = (".js.map", ".css.map", ".mjs.map")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str, extras: Iterable[str] = ()) -> str | None:
    """The name of a Requires-Dist entry, or None when it belongs to an extra not in `extras`."""
    marker = _EXTRA_MARKER.search(requirement)
    if marker is not None and canonical(marker.group(1)) not in set(extras):
        return None
    match = _NAME.match(requirement)
    return canonical(match.group(1)) if match else None


def requested_extras(requirement: str) -> set[str]:
    """The extras a Requires-Dist entry asks for: `jsonschema[format-nongpl]` -> {"format-nongpl"}."""
    match = _NAME.match(requirement)
    if match is None or not match.group(2):
        return set()
    return {canonical(extra) for extra in match.group(2).split(",") if extra.strip()}


class _Read(md.PathDistribution):
    """A distribution whose metadata and file list are read once: importlib parses METADATA anew
    on every `.metadata` and `.requires`, and the assembly asks each several times."""

    @functools.cached_property
    def metadata(self) -> Any:  # importlib's own type differs across Python versions
        return super().metadata

    @functools.cached_property
    def files(self) -> Any:
        return super().files


def installed(site: Path) -> dict[str, md.Distribution]:
    found: dict[str, md.Distribution] = {}
    folders = sorted(str(getattr(d, "_path", "")) for d in md.distributions(path=[str(site)]))
    for dist in (_Read(Path(folder)) for folder in folders if folder):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist)
    return found


def closure(dists: dict[str, md.Distribution], roots: Iterable[str]) -> set[str]:
    """The distributions `roots` need to run, following the extras each requirement asks for."""
    extras: dict[str, set[str]] = {}
    seen: set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name not in dists:
            continue
        seen.add(name)
        for requirement in dists[name].requires or ():
            needed = requirement_name(requirement, extras.get(name, set()))
            if needed is None:
                continue
            wanted = requested_extras(requirement)
            if needed not in seen or not wanted <= extras.get(needed, set()):
                extras.setdefault(needed, set()).update(wanted)
                todo.append(needed)
    return seen


def size_of(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum((Path(folder) / f).lstat().st_size for folder, _, files in os.walk(path) for f in files)


def _walk_dirs(root: Path) -> Iterator[Path]:
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            yield Path(folder) / name


_IMPORTS_TESTS = re.compile(
    r"^[ \t]*(?:(?:from|import)[ \t]+[\w.]*\btests\b|from[ \t]+[\w.]+[ \t]+import[ \t][^#\n]*\btests\b)", re.MULTILINE
)


def imports_its_tests(package: Path) -> bool:
    """Whether a module of the package outside its test suites imports a `tests` module (bottleneck's
    __init__ does): then its tests are part of what it runs, and stay."""
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "tests"]
        for name in files:
            if name.endswith(".py") and name != "conftest.py":
                text = (Path(folder) / name).read_text(encoding="utf-8", errors="replace")
                if "tests" in text and _IMPORTS_TESTS.search(text):
                    return True
    return False


def find_tests(site: Path) -> list[Path]:
    """`tests` folders below a package (never a top-level module that happens to be called so)."""
    found = [d for d in _walk_dirs(site) if d.name == "tests" and d.parent != site]
    verdicts: dict[str, bool] = {}
    doomed: list[Path] = []
    for folder in found:
        top = folder.relative_to(site).parts[0]
        if top not in verdicts:
            verdicts[top] = imports_its_tests(site / top)
        if not verdicts[top] and not any(parent in doomed for parent in folder.parents):
            doomed.append(folder)
    return doomed


def find_extension_sources(site: Path) -> list[Path]:
    """C, C++ and Cython sources shipped beside the extension module compiled from them."""
    found: list[Path] = []
    for folder, _, files in os.walk(site):
        built = {name.split(".")[0] for name in files if name.endswith(".so")}
        for name in files:
            stem, _, suffix = name.partition(".")
            if suffix in {"c", "cpp", "pyx"} and stem in built:
                found.append(Path(folder) / name)
    return found


def find_source_maps(prefix: Path) -> list[Path]:
    return [Path(folder) / n for folder, _, files in os.walk(prefix) for n in files if n.endswith(SOURCE_MAP_SUFFIXES)]


def find_build_tools(site: Path, dists: dict[str, md.Distribution], keep: set[str]) -> list[Path]:
    users = [d for name, d in dists.items() if name not in BUILD_TOOLS]
    needed = {n for d in users for r in d.requires or () if (n := requirement_name(r))}
    found: list[Path] = []
    for tool, top_levels in BUILD_TOOLS.items():
        if tool in keep or tool in needed or tool not in dists:
            continue
        found += [site / entry for entry in top_levels if (site / entry).exists() or (site / entry).is_symlink()]
        found += [info for info in sorted(site.glob("*.dist-info")) if canonical(info.name.split("-")[0]) == tool]
    return found


_STUB_FILES = (".pyi", "METADATA.toml", "py.typed")


def _stubs_only(folder: Path) -> bool:
    """Whether a folder holds type stubs and nothing else (typeshed's layout)."""
    return all(name.endswith(_STUB_FILES) for _, _, files in os.walk(folder) for name in files)


def find_absent_stubs(site: Path, dists: dict[str, md.Distribution]) -> list[Path]:
    """Folders of a vendored typeshed `stubs/` (one per distribution) whose distribution is not
    installed and none of whose top-level modules is."""
    importable = {name.split(".")[0] for name in os.listdir(site)}
    found: list[Path] = []
    for stubs in sorted(d for d in _walk_dirs(site) if d.name == "stubs" and d.parent != site):
        try:
            entries = sorted(stubs.iterdir())
        except OSError:
            continue
        if not entries or not all(e.is_dir() and not e.is_symlink() and _stubs_only(e) for e in entries):
            continue
        for dist in entries:
            tops = {name.split(".")[0] for name in os.listdir(dist)} - {"METADATA", "py"}
            if canonical(dist.name) not in dists and not tops & importable:
                found.append(dist)
    return found


def find_bytecode(site: Path) -> list[Path]:
    return [d for d in _walk_dirs(site) if d.name == "__pycache__"]


def server_sources(site: Path, dists: dict[str, md.Distribution], names: set[str]) -> set[Path]:
    """The server's own modules (below `site`), whose bytecode the image ships."""
    inside = str(site.resolve()) + os.sep
    files: set[Path] = set()
    for name in names:
        for entry in dists[name].files or ():
            if entry.suffix == ".py":
                path = Path(str(dists[name].locate_file(entry))).resolve()
                if str(path).startswith(inside):
                    files.add(path)
    return files


# Below this a hard link saves little: a tar member's header is 512 bytes either way.
LINK_MIN_SIZE = 1024


def find_duplicates(files: Iterable[tuple[int, str, int, int]]) -> dict[str, str]:
    """Path -> the first earlier path of the same group (layer) with the same bytes and mode, over
    (group, path, size, mode) in the order the files are written; only sizes two files share are
    read."""
    candidates: dict[tuple[int, int, int], list[str]] = {}
    for group, path, size, mode in files:
        if size >= LINK_MIN_SIZE:
            candidates.setdefault((group, size, mode), []).append(path)
    links: dict[str, str] = {}
    for paths in candidates.values():
        if len(paths) < 2:
            continue
        first: dict[bytes, str] = {}
        for path in paths:
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).digest()
            if digest in first:
                links[path] = first[digest]
            else:
                first[digest] = path
    return links


@dataclass
class Trim:
    """What the image's environment leaves out (path -> why: the part of the report it counts in),
    and the server's sources to compile."""

    drop: dict[Path, str] = field(default_factory=dict)
    compile: set[Path] = field(default_factory=set)

    def saved(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for path, part in self.drop.items():
            totals[part] = totals.get(part, 0) + size_of(path)
        return totals


def plan(prefix: Path, keep: set[str], site: Path, dists: dict[str, md.Distribution] | None = None) -> Trim:
    """What to leave out of the environment at `prefix` whose site-packages is `site` (whose
    distributions are `dists`, when read already)."""
    dists = installed(site) if dists is None else dists
    trim = Trim()
    parts = (
        ("tests", find_tests(site)),
        ("source maps", find_source_maps(prefix)),
        ("extension sources", find_extension_sources(site)),
        ("build tools", find_build_tools(site, dists, keep)),
        ("stubs of absent packages", find_absent_stubs(site, dists)),
        ("bytecode", find_bytecode(site)),
    )
    for part, paths in parts:
        for path in paths:
            if not any(parent in trim.drop for parent in path.parents):
                trim.drop.setdefault(path, part)
    gone = {canonical(path.name.split("-")[0]) for path, part in trim.drop.items() if path.name.endswith(".dist-info")}
    kept = {name: dist for name, dist in dists.items() if name not in gone}
    trim.compile = server_sources(site, kept, closure(kept, SERVER_ROOTS))
    return trim
