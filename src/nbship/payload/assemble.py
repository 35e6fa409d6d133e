"""Assembles the image's environment from what the env stage installed: the last step of that stage,
run with the environment's own Python (standard library only; it never reaches the image).

    python -m nbship_build.assemble PREFIX DEST --uid UID --layers N [--move] [--strip [--keep TOOL]...]
        [--bytecode-store DIR | --defer-bytecode LIST]

It reads the installed environment at PREFIX and writes it, file by file, into N trees DEST/1 ..
DEST/N, each laid out from the root (DEST/3/opt/nbship/env/...), which the final stage copies to
`/` one COPY each (layers.py decides which file goes where). On the way:
- with --strip, what slim.py leaves out is not copied, shared libraries lose their debug sections
  (elf.py), and the server's modules that its start imports (bytecode.py follows the imports)
  get their bytecode compiled into the tree;
- every file and folder gets the notebook user as its owner and one fixed time, so a layer whose
  files did not change is the same bytes when the step runs again (BuildKit and the classic builder
  both keep owners and times through COPY --from, and a COPY to `/` takes the folders' metadata
  from the tree); bytecode that was valid for its source stays valid (its header gets that time);
- the folders above PREFIX get the owners and modes they have here, so the COPY changes nothing
  about them but their time.
It runs at the end of the step that installs the environment's last packages, so that the files that
step wrote are moved into the trees (a rename), not copied; files an earlier step wrote are copied,
since moving them would copy each one up through the overlay filesystem, slower than a plain copy.
A file counts as this step's when it changed after the step's first process started.
With --bytecode-store DIR (a folder of the step's cache mount), the server's bytecode compiled by an
earlier build is taken from there: after a dependency change, only new or changed modules compile.
With --defer-bytecode LIST, nothing compiles here: LIST names what bytecode.py compiles in a stage of
its own, beside the COPY steps that take the trees into the image.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import stat
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

if __package__:  # imported by nbship's tests as nbship.payload.assemble
    from . import bytecode, elf, layers, slim
else:  # pragma: no cover - run in the image, beside its siblings
    import bytecode  # type: ignore[import-not-found,no-redef]
    import elf  # type: ignore[import-not-found,no-redef]
    import layers  # type: ignore[import-not-found,no-redef]
    import slim  # type: ignore[import-not-found,no-redef]

MTIME = bytecode.MTIME


def site_of(prefix: Path) -> Path:
    """The environment's site-packages: the one on this interpreter's path, inside `prefix`."""
    inside = [p for p in sys.path if p.endswith("site-packages") and p.startswith(str(prefix))]
    if not inside:
        raise SystemExit(f"nbship: no site-packages of {prefix} on this Python's path; run it with {prefix}/bin/python")
    return Path(inside[0])


def start_modules(prefix: Path) -> list[str]:
    """The modules the server starts from: its own, and the server extensions the environment's
    configuration enables (`jpserver_extensions` in etc/jupyter), which Jupyter Server imports by
    name at start. A file that is no such JSON enables nothing."""
    modules = list(bytecode.START_MODULES)
    folder = prefix / "etc" / "jupyter"
    for path in [folder / "jupyter_server_config.json", *sorted(folder.glob("jupyter_server_config.d/*.json"))]:
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        server = config.get("ServerApp") if isinstance(config, dict) else None
        enabled = server.get("jpserver_extensions") if isinstance(server, dict) else None
        if isinstance(enabled, dict):
            modules += sorted(name for name, on in enabled.items() if on is True and name not in modules)
    return modules


def _is_shared_library(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def fixed_bytecode(data: bytes, source: os.stat_result | None) -> bytes:
    """A timestamp .pyc that matched its source, with the fixed time its source now gets."""
    if source is None or len(data) < 16 or int.from_bytes(data[4:8], "little") != 0:
        return data
    stamp, size = int.from_bytes(data[8:12], "little"), int.from_bytes(data[12:16], "little")
    if stamp != int(source.st_mtime) & 0xFFFFFFFF or size != source.st_size & 0xFFFFFFFF:
        return data  # stale already: Python would recompile it anyway
    return data[:8] + (MTIME & 0xFFFFFFFF).to_bytes(4, "little") + data[12:]


def _source_of(path: str) -> os.stat_result | None:
    folder, name = os.path.split(path)
    if os.path.basename(folder) != "__pycache__":
        return None
    try:
        return os.stat(os.path.join(os.path.dirname(folder), name.split(".")[0] + ".py"))
    except OSError:
        return None


class Writer:
    """Writes files into the layer trees with the image's owner and the fixed time. Paths are
    strings here: pathlib's parsing, done for each of ~15,000 files, was a third of the step."""

    def __init__(
        self, dest: Path, prefix: Path, uid: int, *, slots: int, strip: bool, since: float | None = None
    ) -> None:
        self.uid, self.strip, self.since = uid, strip, since
        self.roots = {n: str(dest / str(n) / prefix.relative_to("/")) for n in range(1, slots + 1)}
        self.made: set[str] = set()
        self.links: dict[str, str] = {}  # source -> an earlier source of the same layer and bytes
        self.written: dict[str, str] = {}  # source -> its target, for the links
        self.debug_saved = self.linked = 0
        self.sizes: dict[int, int] = {}

    def target(self, layer: int, rel: str) -> str:
        return f"{self.roots[layer]}/{rel}"

    def finish(self, path: str, mode: int | None) -> None:
        bytecode.finish(path, mode, self.uid)

    def copy(self, layer: int, rel: str, source: str, info: os.stat_result) -> None:
        target = self.target(layer, rel)
        parent = os.path.dirname(target)
        if parent not in self.made:
            os.makedirs(parent, exist_ok=True)
            self.made.add(parent)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), target)
            self.finish(target, None)
            return
        mine = self.since is not None and info.st_ctime >= self.since
        if source in self.links:
            os.link(self.written[self.links[source]], target)
            self.linked += info.st_size
            return
        name = os.path.basename(source)
        if self.strip and _is_shared_library(name):
            with open(source, "rb") as handle:
                data = handle.read()
            smaller = elf.strip(data)
            if smaller is not None:
                self.debug_saved += len(data) - len(smaller)
                data = smaller
            size = bytecode.write(target, data)
        elif name.endswith(".pyc"):
            with open(source, "rb") as handle:
                size = bytecode.write(target, fixed_bytecode(handle.read(), _source_of(source)))
        elif mine:
            os.rename(source, target)
            size = info.st_size
        else:
            shutil.copyfile(source, target, follow_symlinks=False)
            size = info.st_size
        self.written[source] = target
        self.sizes[layer] = self.sizes.get(layer, 0) + size
        self.finish(target, info.st_mode)

    def mark(self, layer: int, rel: str) -> None:
        """An empty file that names the layer (layers.MARKERS says why)."""
        target = self.target(layer, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        bytecode.write(target, b"")
        self.finish(target, 0o644)


def step_start() -> float | None:
    """When the build step this runs in started: the start of its first process (PID 1 of the
    step's container), as a wall-clock time; None where /proc does not tell."""
    try:
        with open("/proc/1/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def assemble(
    prefix: Path,
    dest: Path,
    *,
    uid: int,
    slots: int,
    strip: bool,
    keep: set[str],
    since: float | None = None,
    bytecode_store: Path | None = None,
    defer_bytecode: Path | None = None,
) -> list[str]:
    """Writes the layer trees; returns the report's lines. Files that changed at or after `since`
    (a time) are moved into the trees, the others copied; the server's bytecode is kept in and
    taken from `bytecode_store` when given, or, with `defer_bytecode`, left to bytecode.py: that
    file gets the list of what to compile."""
    prefix = prefix.resolve()
    site = site_of(prefix)
    dists = slim.installed(site)
    trim = slim.plan(prefix, keep, site, dists) if strip else slim.Trim()
    units, by_dist = layers.discover(prefix, site, dists)
    found = layers.owners(units)
    folders = layers.package_folders(found)
    entries: list[tuple[str, str, os.stat_result, str]] = []
    drop = {str(path) for path in trim.drop}
    cut = len(str(prefix)) + 1
    for folder, dirs, files in os.walk(prefix):
        dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) not in drop)
        for name in sorted(files):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if path in drop or not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                continue
            rel = path[cut:]
            unit = layers.owner_of(rel, found, folders)
            units[unit].size += info.st_size
            entries.append((rel, path, info, unit))
    server = {by_dist[name] for name in slim.closure(dists, slim.SERVER_ROOTS) if name in by_dist}
    plan = layers.plan(units, layers.tiers(units, server), slots)
    index = {unit: number for number, layer in enumerate(plan, start=1) for unit in layer.units}
    writer = Writer(dest, prefix, uid, slots=slots, strip=strip, since=since)
    if strip:
        writer.links = slim.find_duplicates(
            (index[unit], path, info.st_size, info.st_mode)
            for _, path, info, unit in entries
            if stat.S_ISREG(info.st_mode) and not path.endswith(".pyc")
        )
    for number in range(1, slots + 1):
        (dest / str(number)).mkdir(parents=True, exist_ok=True)
    regular = {rel: unit for rel, _, info, unit in entries if stat.S_ISREG(info.st_mode)}
    compile_rels = {rel for rel in (str(source.relative_to(prefix)) for source in trim.compile) if rel in regular}
    jobs: list[bytecode.Job] = []
    made = set()
    for rel in sorted(compile_rels):
        source = writer.target(index[regular[rel]], rel)
        cache = importlib.util.cache_from_source(source)
        jobs.append((source, cache, str(prefix / rel), uid, None if bytecode_store is None else str(bytecode_store)))
        made.add(cache)
    starts = start_modules(prefix)
    if defer_bytecode is not None:
        listing = bytecode.Listing(str(site), starts, [(source, final) for source, _, final, _, _ in jobs])
        bytecode.write_list(str(defer_bytecode), listing)
        jobs = []
    # The sources to compile go first (the compile reads them from the trees, where they may have
    # been moved); compiling is CPU-bound under the GIL: processes, one per core, fed by a thread
    # that follows the imports, while the main process lays out the rest. A .pyc the environment
    # has where the compile could write one is not laid out: what the server's start reaches gets
    # compiled bytecode, the rest none, as in the bytecode stage.
    # (With the first copies of any duplicates among them, in the walk's order, so that a link
    # finds the file it links to.)
    originals = {writer.links[path] for rel, path, _, _ in entries if rel in compile_rels and path in writer.links}
    first: list[tuple[str, str, os.stat_result, str]] = []
    rest: list[tuple[str, str, os.stat_result, str]] = []
    for entry in entries:
        (first if entry[0] in compile_rels or entry[1] in originals else rest).append(entry)
    for rel, path, info, unit in first:
        writer.copy(index[unit], rel, path, info)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool, ThreadPoolExecutor(1) as feeder:
        compiling = feeder.submit(bytecode.compile_reached, jobs, site=str(site), roots=starts, pool=pool)
        for rel, path, info, unit in rest:
            layer = index[unit]
            if writer.target(layer, rel) not in made:
                writer.copy(layer, rel, path, info)
        for number in range(1, slots + 1):
            marker = plan[number - 1].marker if number <= len(plan) else f"unused-{number}"
            writer.mark(number, f"{layers.MARKERS}/{marker}")
        compiled, count = compiling.result()
    _folders(dest, prefix, uid, slots)
    lines = []
    if strip:
        saved = {**trim.saved(), "debug symbols": writer.debug_saved, "duplicates linked": writer.linked}
        parts = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in saved.items())
        done = (
            ""
            if defer_bytecode is not None
            else f"; compiled the server's bytecode {compiled / 1e6:.1f} MB ({count} of its {len(jobs)} modules,"
            " those its start reaches)"
        )
        lines.append(f"nbship-slim: removed {parts}{done}")
    sizes = ", ".join(
        f"{n} {layer.label} {writer.sizes.get(n, 0) / 1e6:.1f} MB" for n, layer in enumerate(plan, start=1)
    )
    lines.append(f"nbship-layers: {len(plan)} of {slots} layers: {sizes}")
    return lines


def _folders(dest: Path, prefix: Path, uid: int, slots: int) -> None:
    """Every folder of the trees: the environment's mode and the notebook user; above the
    environment, what the folder has here; one fixed time for all."""
    for number in range(1, slots + 1):
        root = dest / str(number)
        for folder, dirs, _ in os.walk(root, topdown=False):
            for name in dirs:
                path = Path(folder) / name
                real = Path("/") / path.relative_to(root)
                if real == prefix or prefix in real.parents:
                    mode = real.stat().st_mode if real.is_dir() else 0o755
                    os.chmod(path, stat.S_IMODE(mode))
                    os.lchown(path, uid, uid)
                else:
                    info = real.stat()
                    os.chmod(path, stat.S_IMODE(info.st_mode))
                    os.lchown(path, info.st_uid, info.st_gid)
                os.utime(path, (MTIME, MTIME))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbship-assemble", description="Lay the environment out in layers.")
    parser.add_argument("prefix", type=Path, help="the installed environment (run this with its Python)")
    parser.add_argument("dest", type=Path, help="where the layer trees go")
    parser.add_argument("--uid", type=int, required=True, help="the notebook user, who owns the environment")
    parser.add_argument("--layers", type=int, required=True, help="how many layers the Dockerfile copies")
    parser.add_argument("--strip", action="store_true", help="leave out what no run-time import reaches")
    parser.add_argument("--keep", action="append", default=[], help="a build tool the project asks for")
    parser.add_argument("--move", action="store_true", help="move the files this build step wrote, copy the rest")
    parser.add_argument("--bytecode-store", type=Path, help="a folder that keeps compiled bytecode across builds")
    parser.add_argument("--defer-bytecode", type=Path, help="write what to compile here, for bytecode.py")
    args = parser.parse_args(argv)
    since = step_start() if args.move else None
    for line in assemble(
        args.prefix,
        args.dest,
        uid=args.uid,
        slots=args.layers,
        strip=args.strip,
        keep=set(args.keep),
        since=since,
        bytecode_store=args.bytecode_store,
        defer_bytecode=args.defer_bytecode,
    ):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
