"""Trims a freshly installed environment before it is copied into the final image.

The env stage runs this file (/opt/nbship/build/nbship-slim, one of nbship's support files) with the
environment's own Python after every install step (`nbship build --no-strip` and `strip = false`
turn it off). It is standard-library Python only, and it stays in the build stage: it never
reaches the image.

What goes, and why it is safe (bench/RESULTS.md measures each part):
- `tests/` folders inside packages: test suites that no import of the package reaches.
  A package that imports its own `tests` outside them (bottleneck does) keeps them.
- Source maps (`*.js.map`, `*.css.map`): only a browser's developer tools read them.
- C, C++ and Cython sources next to the extension module built from them: never read at run time.
- setuptools (with pkg_resources and its distutils hook) and wheel, which `python -m venv` adds:
  build tools, kept when an installed package requires one or the project names it.
- Bytecode, except for the Jupyter server and kernel packages (the dependency closure of the
  server the image runs): those are compiled here, so JupyterLab starts without compiling ~80
  packages first. The analysis packages compile on their first import, as uv leaves them.

pip stays (without its bytecode): `%pip install` in a notebook keeps working.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata as md
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


def installed(site: Path) -> dict[str, md.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in md.distributions(path=[str(site)]) if d.metadata["Name"]}


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


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum((Path(folder) / f).lstat().st_size for folder, _, files in os.walk(path) for f in files)


def _remove(path: Path) -> int:
    size = _size(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


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


def remove_tests(site: Path) -> int:
    """`tests` folders below a package (never a top-level module that happens to be called so)."""
    doomed = [d for d in _walk_dirs(site) if d.name == "tests" and d.parent != site]
    verdicts: dict[str, bool] = {}
    total = 0
    for folder in doomed:
        top = folder.relative_to(site).parts[0]
        if top not in verdicts:
            verdicts[top] = imports_its_tests(site / top)
        if not verdicts[top] and folder.exists():
            total += _remove(folder)
    return total


def remove_extension_sources(site: Path) -> int:
    """C, C++ and Cython sources shipped beside the extension module compiled from them."""
    total = 0
    for folder, _, files in os.walk(site):
        built = {name.split(".")[0] for name in files if name.endswith(".so")}
        for name in files:
            stem, _, suffix = name.partition(".")
            if suffix in {"c", "cpp", "pyx"} and stem in built:
                total += _remove(Path(folder) / name)
    return total


def remove_source_maps(prefix: Path) -> int:
    total = 0
    for folder, _, files in os.walk(prefix):
        for name in files:
            if name.endswith(SOURCE_MAP_SUFFIXES):
                total += _remove(Path(folder) / name)
    return total


def remove_build_tools(site: Path, dists: dict[str, md.Distribution], keep: set[str]) -> int:
    users = [d for name, d in dists.items() if name not in BUILD_TOOLS]
    needed = {n for d in users for r in d.requires or () if (n := requirement_name(r))}
    total = 0
    for tool, top_levels in BUILD_TOOLS.items():
        if tool in keep or tool in needed or tool not in dists:
            continue
        for entry in top_levels:
            if (site / entry).exists():
                total += _remove(site / entry)
        for info in site.glob("*.dist-info"):
            if canonical(info.name.split("-")[0]) == tool:
                total += _remove(info)
    return total


def _server_files(dists: dict[str, md.Distribution], names: set[str]) -> set[Path]:
    files: set[Path] = set()
    for name in names:
        for entry in dists[name].files or ():
            if entry.suffix == ".py":
                files.add(Path(str(dists[name].locate_file(entry))).resolve())
    return files


def compile_server(site: Path, dists: dict[str, md.Distribution], names: set[str]) -> tuple[int, int]:
    """Removes bytecode outside the server's packages and compiles theirs; returns (removed, written)."""
    keep = _server_files(dists, names)
    removed = 0
    for folder in [d for d in _walk_dirs(site) if d.name == "__pycache__"]:
        for pyc in list(folder.iterdir()):
            if (folder.parent / (pyc.name.split(".")[0] + ".py")).resolve() not in keep:
                removed += _remove(pyc)
        if not any(folder.iterdir()):
            folder.rmdir()
    before = _bytecode_size(site)
    inside = str(site.resolve()) + os.sep
    targets = sorted(str(p) for p in keep if str(p).startswith(inside) and p.exists())
    # Compiling is CPU-bound under the GIL: processes, one per core.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_compile, targets, chunksize=64))
    return removed, _bytecode_size(site) - before


def _compile(path: str) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


def _bytecode_size(site: Path) -> int:
    return sum(_size(d) for d in _walk_dirs(site) if d.name == "__pycache__")


def slim(prefix: Path, keep: set[str], *, site: Path | None = None) -> dict[str, int]:
    """Trims the environment at `prefix` (its site-packages: the one on this Python's path)."""
    if site is None:
        site = Path(next(p for p in sys.path if p.endswith("site-packages") and p.startswith(str(prefix))))
    dists = installed(site)
    saved = {
        "tests": remove_tests(site),
        "source maps": remove_source_maps(prefix),
        "extension sources": remove_extension_sources(site),
        "build tools": remove_build_tools(site, dists, keep),
    }
    dists = installed(site)
    removed, written = compile_server(site, dists, closure(dists, SERVER_ROOTS))
    saved["bytecode"] = removed
    saved["server bytecode added"] = -written
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbship-slim", description="Trim an environment for the image.")
    parser.add_argument("prefix", type=Path, help="the environment (run this file with its Python)")
    parser.add_argument("--keep", action="append", default=[], help="a build tool the project asks for")
    args = parser.parse_args(argv)
    saved = slim(args.prefix, {canonical(k) for k in args.keep})
    compiled = -saved.pop("server bytecode added")
    parts = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in saved.items())
    print(f"nbship-slim: removed {parts}; compiled the server's bytecode {compiled / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
