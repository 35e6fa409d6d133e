"""The server's bytecode: compiled once per source, with a fixed time, kept across builds.

    python3 -m nbship_build.bytecode LIST DEST --uid UID [--bytecode-store DIR]

assemble.py compiles the server's modules while it lays the environment out, or, where the
environment runs on the base image's own Python (a virtualenv), leaves LIST (JSON: the
site-packages folder and the modules the server starts from, as the image has them, and pairs of
a source in a layer tree and the path it has in the image) for a stage of its own. That stage runs
this module beside the COPY steps that take the layer trees into the image, so the compile, which
is bound by the processor, is off the build's longest path, which is bound by the disk. It writes
each module's bytecode under DEST at the path it has in the image (DEST/opt/nbship/env/...), and
every folder above with the owner and mode that folder has in the layer trees and the fixed time,
so the COPY of DEST to `/` changes nothing but adds the bytecode, and the layer is the same bytes
whenever the sources are.

Of the server's modules, only those its start can import get bytecode: the modules it starts from,
then, module by module, what their top-level code imports and the dotted names their code holds
as strings (traitlets' classes named in configuration). The rest (completion, export, the lexers)
compiles on first use, as the analysis packages do.

Runs on the image's Python (3.8 or later), standard library only, during the build only.
"""

from __future__ import annotations

import argparse
import dis
import hashlib
import importlib.util
import inspect
import json
import marshal
import os
import re
import stat
import sys
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from types import CodeType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the image's Python may be 3.8, where these are no run-time types
    from collections.abc import Iterable

# The time every file of the environment gets (2001-09-09, as nbship's support files have).
MTIME = 1_000_000_000

if TYPE_CHECKING:
    # A compile job: the source to read, the .pyc to write, the source's path in the image (what
    # tracebacks name), the owner, and the bytecode store (None without one).
    Job = tuple[str, str, str, int, str | None]


def finish(path: str, mode: int | None, uid: int) -> None:
    """The image's owner and the fixed time for a file of the trees (and its mode, unless a link)."""
    if mode is not None:
        os.chmod(path, stat.S_IMODE(mode))
    os.lchown(path, uid, uid)
    os.utime(path, (MTIME, MTIME), follow_symlinks=False)


def write(path: str, data: bytes) -> int:
    with open(path, "wb") as handle:
        handle.write(data)
    return len(data)


def _compiled(source: bytes, final: str) -> tuple[bytes, CodeType] | None:
    try:
        code = compile(source, final, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + (MTIME & 0xFFFFFFFF).to_bytes(4, "little")
    return header + (len(source) & 0xFFFFFFFF).to_bytes(4, "little") + marshal.dumps(code), code


def bytecode(source: bytes, final: str) -> bytes | None:
    """The .pyc Python would write for `source` (named `final` in tracebacks), with the fixed time
    in its header (PEP 552: magic, flags, time, size); None when it does not compile. The same
    bytes as py_compile's, in one write instead of its three."""
    made = _compiled(source, final)
    return None if made is None else made[0]


# The modules the image's server starts from: the `jupyter` command, JupyterLab's and Jupyter
# Server's applications, the kernel's launcher, JupyterHub's single-user server. Those a project
# lacks are left out; the server extensions its configuration enables are added (assemble.py).
START_MODULES = (
    "jupyter_core.command",
    "jupyterlab.labapp",
    "jupyter_server.serverapp",
    "ipykernel_launcher",
    "ipykernel.kernelapp",
    "jupyterhub.singleuser",
)

_OP = dis.opmap
_IMPORT_NAME, _LOAD_CONST, _EXTENDED_ARG = _OP["IMPORT_NAME"], _OP["LOAD_CONST"], _OP["EXTENDED_ARG"]
_LOAD_SMALL_INT = _OP.get("LOAD_SMALL_INT", -1)  # Python 3.14 loads an import's level so
_CACHE = _OP.get("CACHE", 0)
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def imports_of(code: CodeType, module: str, package: bool) -> set[str]:
    """The modules that running `code` (module `module`, a package's `__init__` when `package`)
    may import at once, as absolute names, each with its parents: what the top-level code and the
    class bodies in it import, and every dotted name that any of its code holds as a string."""
    found: set[str] = set()
    here = module if package else module.rpartition(".")[0]
    todo = [(code, True)]
    while todo:
        unit, top = todo.pop()
        for const in unit.co_consts:
            if isinstance(const, CodeType):
                # A class body runs at import; a function body only when called.
                todo.append((const, top and not const.co_flags & inspect.CO_NEWLOCALS))
            elif isinstance(const, str) and len(const) < 200 and _DOTTED.fullmatch(const):
                found.add(const)
        if top:
            found.update(_imported(unit, here))
    return with_parents(found)


def with_parents(names: Iterable[str]) -> set[str]:
    """Each of `names` and the packages above it: importing a module imports its packages first."""
    named: set[str] = set()
    for name in names:
        parts = name.split(".")
        named.update(".".join(parts[: n + 1]) for n in range(len(parts)))
    return named


def _imported(code: CodeType, here: str) -> Iterable[str]:
    """The absolute names each IMPORT_NAME of `code` asks for (its module, and each name taken
    from it, which may be a submodule), relative imports resolved against the package `here`."""
    raw, extended = code.co_code, 0
    loads: list[object] = []  # the constants the last one or two instructions loaded
    for at in range(0, len(raw) - 1, 2):
        op, arg = raw[at], raw[at + 1] | extended
        if op == _EXTENDED_ARG:
            extended = arg << 8
            continue
        extended = 0
        if op == _LOAD_CONST:
            loads = [*loads[-1:], code.co_consts[arg]]
        elif op == _LOAD_SMALL_INT:
            loads = [*loads[-1:], arg]
        elif op == _IMPORT_NAME:
            level, taken = loads if len(loads) == 2 else (0, None)
            name = code.co_names[arg]
            if isinstance(level, int) and level > 0:
                base = here.split(".") if here else []
                if level - 1 >= len(base):
                    continue  # beyond the top package: fails when run
                base = base[: len(base) - (level - 1)]
                name = ".".join(base + ([name] if name else []))
            if name:
                yield name
                if isinstance(taken, tuple):
                    yield from (f"{name}.{item}" for item in taken if isinstance(item, str) and item != "*")
            loads = []
        elif op != _CACHE:
            loads = []


_MADE: set[str] = set()  # the folders this process made, so that each costs one mkdir


def compile_job(job: Job) -> tuple[int, CodeType | None]:
    """Compile one module's source: the size of what was written, and its code. With a bytecode
    store (a folder in the build's cache mount), a source compiled by an earlier build is not
    compiled again: its bytecode depends on the source's bytes, its name and this Python alone."""
    source, cache, final, uid, store = job
    with open(source, "rb") as handle:
        text = handle.read()
    kept, data, code = None, None, None
    if store is not None:
        key = hashlib.sha256(text)
        key.update(f"\0{final}\0{sys.version}\0{importlib.util.MAGIC_NUMBER.hex()}\0{sys.flags.optimize}".encode())
        kept = os.path.join(store, key.hexdigest()[:2], key.hexdigest()[2:])
        try:
            with open(kept, "rb") as handle:
                data = handle.read()
            code = marshal.loads(data[16:])  # noqa: S302 - bytecode an earlier build wrote, which Python loads anyway
        except (OSError, EOFError, ValueError, TypeError):
            data = None
    if data is None or not isinstance(code, CodeType):
        made = _compiled(text, final)
        if made is None:
            return 0, None
        data, code = made
        if kept is not None:
            _store(kept, data)
    folder = os.path.dirname(cache)
    if folder not in _MADE:
        os.makedirs(folder, exist_ok=True)
        _MADE.add(folder)
    write(cache, data)
    finish(cache, 0o644, uid)
    return len(data), code


def _store(path: str, data: bytes) -> None:
    """Keep bytecode for a later build: written aside, then renamed, so no reader sees half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.{os.getpid()}.part"
    write(partial, data)
    os.replace(partial, path)


def module_name(final: str, site: str) -> str | None:
    """The name `final` (a source's path in the image) is imported by from `site`, if any."""
    top = site.rstrip("/") + "/"
    if not final.startswith(top) or not final.endswith(".py"):
        return None
    parts = final[len(top) : -3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None


def _compile_batch(batch: list[tuple[Job, str, bool]]) -> list[tuple[int, list[str]]]:
    """Compile each job of `batch` (with its module's name, and whether it is a package); the
    size written and the modules its import may import, for each."""
    done = []
    for job, module, package in batch:
        size, code = compile_job(job)
        done.append((size, sorted(imports_of(code, module, package)) if code is not None else []))
    return done


def compile_reached(jobs: Iterable[Job], *, site: str, roots: Iterable[str], pool: Executor) -> tuple[int, int]:
    """Compile, in `pool`, the jobs the server's start reaches from `roots` (module names): each
    module compiled is scanned for what it imports, which is compiled next. The bytes written and
    the number of modules compiled."""
    jobs = list(jobs)
    index: dict[str, tuple[Job, str, bool]] = {}
    for job in jobs:
        module = module_name(job[2], site)
        if module is not None:
            index[module] = (job, module, job[2].endswith("/__init__.py"))
    # A folder of modules inside a package that is no package itself is one the package puts on
    # sys.path when it runs (debugpy's vendored pydevd): its modules go by names from there too.
    finals = {job[2] for job in jobs}
    top = site.rstrip("/") + "/"
    for job in jobs:
        folder = os.path.dirname(job[2])
        while folder.startswith(top):
            if f"{folder}/__init__.py" not in finals and f"{os.path.dirname(folder)}/__init__.py" in finals:
                module = module_name(job[2], folder)
                if module is not None and module not in index:
                    index[module] = (job, module, job[2].endswith("/__init__.py"))
            folder = os.path.dirname(folder)
    seen: set[str] = set()
    running: set[Future[list[tuple[int, list[str]]]]] = set()
    written = compiled = 0

    def reach(names: Iterable[str]) -> None:
        """Submit the modules of `names` (parents included already) not compiled yet."""
        found = []
        for name in names:
            if name in index and name not in seen:
                seen.add(name)
                found.append(index[name])
        for at in range(0, len(found), 8):  # small batches keep every core busy from the start
            running.add(pool.submit(_compile_batch, found[at : at + 8]))

    reach(with_parents(roots))
    while running:
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            running.discard(future)
            for size, names in future.result():
                written += size
                compiled += size > 0
                reach(names)
    return written, compiled


class Listing(NamedTuple):
    """What assemble.py leaves for the bytecode stage."""

    site: str  # the site-packages folder, as the image has it
    roots: list[str]  # the modules the server starts from
    pairs: list[tuple[str, str]]  # a source in a layer tree, and its path in the image


def read_list(path: str) -> Listing:
    """The listing assemble.py left; a clear exit on anything else."""
    try:
        with open(path, encoding="utf-8") as handle:
            listed = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"nbship: cannot read the bytecode list {path}: {exc}") from None
    if not isinstance(listed, dict) or not isinstance(listed.get("site"), str):
        raise SystemExit(f'nbship: {path} names no site-packages folder ("site")')
    roots, pairs = listed.get("roots"), listed.get("modules")
    if not isinstance(roots, list) or not all(isinstance(root, str) for root in roots):
        raise SystemExit(f'nbship: {path} has no list of modules to start from ("roots")')
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs
    ):
        raise SystemExit(f'nbship: {path} has no list of [source, path in the image] pairs ("modules")')
    return Listing(listed["site"], roots, [(source, final) for source, final in pairs])


def write_list(path: str, listing: Listing) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"site": listing.site, "roots": listing.roots, "modules": [list(p) for p in listing.pairs]}, handle)


def lay_out(listing: Listing, dest: str, *, uid: int, store: str | None) -> tuple[int, int]:
    """The bytecode of what the server's start reaches, under `dest`, at its path in the image;
    the bytes written and the number of modules."""
    os.makedirs(dest, exist_ok=True)
    jobs: list[Job] = []
    roots: dict[str, str] = {}  # a folder of the image -> a layer tree that has it
    for source, final in listing.pairs:
        if not final.startswith("/") or not source.endswith(final):
            raise SystemExit(f"nbship: the bytecode list pairs {source} with {final}, which it does not end with")
        root = source[: len(source) - len(final)]
        cache = importlib.util.cache_from_source(final)
        jobs.append((source, dest + cache, final, uid, store))
        folder = os.path.dirname(final)
        while folder != "/" and folder not in roots:
            roots[folder] = root
            folder = os.path.dirname(folder)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = compile_reached(jobs, site=listing.site, roots=listing.roots, pool=pool)
    _folders(dest, roots, uid)
    return done


def _folders(dest: str, roots: dict[str, str], uid: int) -> None:
    """Each folder under `dest` as the layer trees have it (a folder only this stage makes, such
    as __pycache__: the notebook user's, 0755), with the fixed time; `dest` itself too."""
    for folder, dirs, _ in os.walk(dest, topdown=False):
        for name in dirs:
            path = os.path.join(folder, name)
            real = path[len(dest) :]
            tree = roots.get(real)
            try:
                info = os.stat(tree + real) if tree is not None else None
            except OSError:
                info = None
            if info is None:
                os.chmod(path, 0o755)  # noqa: S103 - a package folder, as uv makes them
                os.lchown(path, uid, uid)
            else:
                os.chmod(path, stat.S_IMODE(info.st_mode))
                os.lchown(path, info.st_uid, info.st_gid)
            os.utime(path, (MTIME, MTIME))
    os.utime(dest, (MTIME, MTIME))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbship-bytecode", description="Compile the server's bytecode.")
    parser.add_argument("list", help="the JSON list of [source, path in the image] that assemble.py wrote")
    parser.add_argument("dest", help="where the bytecode goes, laid out from the root")
    parser.add_argument("--uid", type=int, required=True, help="the notebook user, who owns the environment")
    parser.add_argument("--bytecode-store", help="a folder that keeps compiled bytecode across builds")
    args = parser.parse_args(argv)
    listing = read_list(args.list)
    written, count = lay_out(listing, args.dest.rstrip("/"), uid=args.uid, store=args.bytecode_store)
    print(
        f"nbship-bytecode: compiled the server's bytecode {written / 1e6:.1f} MB"
        f" ({count} of its {len(listing.pairs)} modules, those its start reaches)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
