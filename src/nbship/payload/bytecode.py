"""The server's bytecode: compiled once per source, with a fixed time, kept across builds.

    python3 -m nbship_build.bytecode LIST DEST --uid UID [--bytecode-store DIR]

assemble.py compiles the server's modules while it lays the environment out, or, where the
environment runs on the base image's own Python (a virtualenv), leaves LIST (JSON: pairs of a
source in a layer tree and the path it has in the image) for a stage of its own. That stage runs
this module beside the COPY steps that take the layer trees into the image, so the compile, which
is bound by the processor, is off the build's longest path, which is bound by the disk. It writes
each module's bytecode under DEST at the path it has in the image (DEST/opt/nbship/env/...), and
every folder above with the owner and mode that folder has in the layer trees and the fixed time,
so the COPY of DEST to `/` changes nothing but adds the bytecode, and the layer is the same bytes
whenever the sources are.

Runs on the image's Python (3.8 or later), standard library only, during the build only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import marshal
import os
import stat
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

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


def bytecode(source: bytes, final: str) -> bytes | None:
    """The .pyc Python would write for `source` (named `final` in tracebacks), with the fixed time
    in its header (PEP 552: magic, flags, time, size); None when it does not compile. The same
    bytes as py_compile's, in one write instead of its three."""
    try:
        code = compile(source, final, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + (MTIME & 0xFFFFFFFF).to_bytes(4, "little")
    return header + (len(source) & 0xFFFFFFFF).to_bytes(4, "little") + marshal.dumps(code)


_MADE: set[str] = set()  # the folders this process made, so that each costs one mkdir


def compile_job(job: Job) -> int:
    """Compile one module's source; the size of what was written. With a bytecode store (a folder
    in the build's cache mount), a source compiled by an earlier build is not compiled again: its
    bytecode depends on the source's bytes, its name and this Python alone."""
    source, cache, final, uid, store = job
    with open(source, "rb") as handle:
        text = handle.read()
    kept, data = None, None
    if store is not None:
        key = hashlib.sha256(text)
        key.update(f"\0{final}\0{sys.version}\0{importlib.util.MAGIC_NUMBER.hex()}\0{sys.flags.optimize}".encode())
        kept = os.path.join(store, key.hexdigest()[:2], key.hexdigest()[2:])
        try:
            with open(kept, "rb") as handle:
                data = handle.read()
        except OSError:
            data = None
    if data is None:
        data = bytecode(text, final)
        if data is None:
            return 0
        if kept is not None:
            _store(kept, data)
    folder = os.path.dirname(cache)
    if folder not in _MADE:
        os.makedirs(folder, exist_ok=True)
        _MADE.add(folder)
    write(cache, data)
    finish(cache, 0o644, uid)
    return len(data)


def _store(path: str, data: bytes) -> None:
    """Keep bytecode for a later build: written aside, then renamed, so no reader sees half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.{os.getpid()}.part"
    write(partial, data)
    os.replace(partial, path)


def compile_all(jobs: Iterable[Job]) -> int:
    """Every job, one process per core; the bytes written."""
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return sum(pool.map(compile_job, list(jobs), chunksize=64))


def read_list(path: str) -> list[tuple[str, str]]:
    """The (source, path in the image) pairs assemble.py left; a clear exit on anything else."""
    try:
        with open(path, encoding="utf-8") as handle:
            pairs = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"nbship: cannot read the bytecode list {path}: {exc}") from None
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs
    ):
        raise SystemExit(f"nbship: {path} is no list of [source, path in the image] pairs")
    return [(source, final) for source, final in pairs]


def write_list(path: str, pairs: Iterable[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([list(pair) for pair in pairs], handle)


def lay_out(pairs: list[tuple[str, str]], dest: str, *, uid: int, store: str | None) -> int:
    """The bytecode of every pair under `dest`, at its path in the image; the bytes written."""
    os.makedirs(dest, exist_ok=True)
    jobs: list[Job] = []
    roots: dict[str, str] = {}  # a folder of the image -> a layer tree that has it
    for source, final in pairs:
        if not final.startswith("/") or not source.endswith(final):
            raise SystemExit(f"nbship: the bytecode list pairs {source} with {final}, which it does not end with")
        root = source[: len(source) - len(final)]
        cache = importlib.util.cache_from_source(final)
        jobs.append((source, dest + cache, final, uid, store))
        folder = os.path.dirname(final)
        while folder != "/" and folder not in roots:
            roots[folder] = root
            folder = os.path.dirname(folder)
    written = compile_all(jobs)
    _folders(dest, roots, uid)
    return written


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
    written = lay_out(read_list(args.list), args.dest.rstrip("/"), uid=args.uid, store=args.bytecode_store)
    print(f"nbship-bytecode: compiled the server's bytecode {written / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
