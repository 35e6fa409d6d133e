"""Which layer of the image each file of the environment goes to, decided from what is installed
(so from the lock: the same lock gives the same layers, on any machine).

The environment is cut into a fixed number of layers (the Dockerfile's COPY lines), most stable
first, so that one added or upgraded package changes few layers, and small ones: the registry and a
colleague's daemon already hold the others, byte for byte (assemble.py makes them reproducible).

- Units: each conda package (conda-meta/*.json, its `files`) and each Python distribution conda
  does not own (its `RECORD`). A file no unit names goes with its neighbours (bytecode with its
  source, a file inside a package with that package), or else to the base.
- Tiers, from the most stable: the base (the virtualenv itself, pip, and a conda Python with what
  it needs), the server (the dependency closure of JupyterLab, notebook, jupyter-server and
  ipykernel), then everything else. Each tier has a fixed share of the layers (`budget`), so what
  happens in one tier never moves anything in another.
- Within a tier, a unit of at least THRESHOLD bytes gets a layer of its own, the largest first
  while the tier's solo layers last; the others are spread over the tier's shared layers by a hash
  of their name (`bucket`), so a small package added, removed or upgraded changes its own bucket
  and no other, and a large one adds or changes its own layer. Only a tier with more large units
  than solo layers moves one: a new larger unit pushes the smallest solo one into its bucket.
- Order: the solo layers by their height in the dependency graph (0 for a unit that needs nothing
  installed: numpy before pandas), then the name; then the tier's shared layers. Where a layer sits
  does not change its bytes, so a push sends only the layers whose units changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__:  # imported by nbship's tests as nbship.payload.layers
    from . import slim
else:  # run in the image: the support files are beside each other
    import slim  # type: ignore[import-not-found,no-redef]

# 8 MB: numpy, pandas, JupyterLab... get layers of their own; pure-Python packages do not.
THRESHOLD = 8_000_000
# Every layer tree holds one empty file here (PREFIX/.nbship-layers/<marker>), the unused ones too:
# the classic builder fails on two COPY steps in a row that change nothing ("layer does not exist").
MARKERS = ".nbship-layers"
BASE = "(base)"  # what no package owns: the virtualenv's own files
SEEDS = ("pip", "setuptools", "wheel")  # what a new virtualenv holds before any install
TIERS = ("base", "server", "packages")
_SPEC_NAME = re.compile(r"^\s*([^\s=<>!~\[]+)")


@dataclass
class Unit:
    """A package as the environment has it: its files (relative to the prefix) and what it needs."""

    name: str  # "pypi:numpy", "conda:openssl"
    files: list[str] = field(default_factory=list)
    needs: set[str] = field(default_factory=set)  # other units' names
    size: int = 0


@dataclass(frozen=True)
class Layer:
    tier: str
    units: tuple[str, ...]
    shared: int | None = None  # which of the tier's shared layers; None for a unit's own

    @property
    def label(self) -> str:
        return self.units[0] if self.shared is None else f"{self.tier} ({len(self.units)})"

    @property
    def marker(self) -> str:
        """The name of the layer's marker file: from what the layer is, never from its position, so
        a layer that moves up or down the stack keeps its bytes."""
        name = self.units[0] if self.shared is None else f"{self.tier}-shared-{self.shared + 1}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _conda_units(prefix: Path) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    meta = prefix / "conda-meta"
    for record in sorted(meta.glob("*.json")) if meta.is_dir() else []:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            continue  # nbship's own notes (nbship-strip.json) and anything else that is no package record
        unit = units.setdefault(f"conda:{data['name']}", Unit(f"conda:{data['name']}"))
        unit.files += [str(f) for f in data.get("files") or () if isinstance(f, str)]
        unit.files.append(record.relative_to(prefix).as_posix())
        for spec in data.get("depends") or ():
            if isinstance(spec, str) and (match := _SPEC_NAME.match(spec)):
                unit.needs.add(f"conda:{match.group(1)}")
    return units


def discover(
    prefix: Path, site: Path, dists: Mapping[str, md.Distribution] | None = None
) -> tuple[dict[str, Unit], dict[str, str]]:
    """Every unit of the environment at `prefix` (site-packages `site`, distributions `dists` when
    read already), with its needs resolved to units that are there; and which unit holds each
    Python distribution (by canonical name)."""
    units = _conda_units(prefix)
    owner: dict[str, str] = {}
    for unit in units.values():
        for rel in unit.files:
            owner.setdefault(rel, unit.name)
    by_dist: dict[str, str] = {}  # canonical distribution name -> the unit that holds it
    dists = slim.installed(site) if dists is None else dists
    site_rel = site.relative_to(prefix)
    for name, dist in sorted(dists.items()):
        files = [os.path.normpath(site_rel / str(entry)) for entry in dist.files or ()]
        files = [f for f in files if not f.startswith("..")]
        info = next((f for f in files if ".dist-info" + os.sep in f or f.endswith(".dist-info")), None)
        holder = owner.get(info) if info else None
        if holder is not None:  # installed by conda: the conda package is the unit
            by_dist[name] = holder
            continue
        unit = units.setdefault(f"pypi:{name}", Unit(f"pypi:{name}"))
        unit.files += files
        by_dist[name] = unit.name
    for name, dist in dists.items():
        unit = units[by_dist[name]]
        for requirement in dist.requires or ():
            needed = slim.requirement_name(requirement)
            if needed in by_dist and by_dist[needed] != unit.name:
                unit.needs.add(by_dist[needed])
    for unit in units.values():
        unit.needs = {n for n in unit.needs if n in units and n != unit.name}
    units[BASE] = Unit(BASE)
    return units, by_dist


def owners(units: Mapping[str, Unit]) -> dict[str, str]:
    """Path (relative to the prefix) -> unit; the first unit in name order wins a path two claim."""
    found: dict[str, str] = {}
    for name in sorted(units):
        for rel in units[name].files:
            found.setdefault(os.path.normpath(rel), name)
    return found


def owner_of(rel: str, found: Mapping[str, str], tops: Mapping[str, str]) -> str:
    """The unit a file belongs to: its own, its source's (bytecode), its package's, else the base."""
    if rel in found:
        return found[rel]
    folder, name = os.path.split(rel)
    if os.path.basename(folder) == "__pycache__":
        source = os.path.join(os.path.dirname(folder), name.split(".")[0] + ".py")
        if source in found:
            return found[source]
    for parent in _parents(rel):
        if parent in tops:
            return tops[parent]
    return BASE


def _parents(rel: str) -> Iterable[str]:
    parts = rel.split(os.sep)
    for i in range(len(parts) - 1, 0, -1):
        yield os.sep.join(parts[:i])


def package_folders(found: Mapping[str, str]) -> dict[str, str]:
    """Folder -> unit, for folders all of whose named files belong to one unit (a package's own)."""
    claims: dict[str, set[str]] = {}
    for rel, unit in found.items():
        for parent in _parents(rel):
            claims.setdefault(parent, set()).add(unit)
    return {folder: next(iter(units)) for folder, units in claims.items() if len(units) == 1}


def reach(units: Mapping[str, Unit], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in units]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(units[name].needs - seen)
    return seen


def heights(units: Mapping[str, Unit]) -> dict[str, int]:
    """Longest chain of needs below each unit (0: needs nothing installed); a cycle counts once."""
    found: dict[str, int] = {}
    for start in sorted(units):
        if start in found:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(units[start].needs))]
        on_path = {start}
        while stack:
            name, todo = stack[-1]
            child = next((c for c in todo if c not in found and c not in on_path), None)
            if child is None:
                found[name] = max((found.get(c, 0) + 1 for c in units[name].needs if c in found), default=0)
                on_path.discard(name)
                stack.pop()
            else:
                todo.remove(child)
                on_path.add(child)
                stack.append((child, sorted(units[child].needs)))
    return found


def tiers(units: Mapping[str, Unit], server: Iterable[str]) -> dict[str, str]:
    """Unit -> tier: the base, the server's closure, or the rest."""
    roots = [BASE, "conda:python", *(f"pypi:{s}" for s in SEEDS)]
    base = reach(units, roots)
    serving = reach(units, server) - base
    return {name: "base" if name in base else "server" if name in serving else "packages" for name in units}


def budget(slots: int) -> dict[str, int]:
    """How many of the `slots` layers each tier gets: the base a seventh, the server two sevenths,
    the packages, where projects change, the rest (14 slots: 2, 4, 8)."""
    if slots < len(TIERS):
        raise ValueError(f"at least {len(TIERS)} layers are needed, one per tier")
    base, server = max(1, slots // 7), max(1, 2 * slots // 7)
    return {"base": base, "server": server, "packages": slots - base - server}


def shared_count(layers: int) -> int:
    """A tier's shared layers: two once it has four layers, so a small change rewrites half of them."""
    return 2 if layers >= 4 else 1


def bucket(name: str, buckets: int) -> int:
    """A unit's shared layer: a hash of its name, the same on every machine and for every lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % buckets


def plan(
    units: Mapping[str, Unit],
    tier_of: Mapping[str, str],
    slots: int,
    threshold: int = THRESHOLD,
) -> list[Layer]:
    """At most `slots` layers (at least one per tier that has units), most stable first."""
    shares = budget(slots)
    height = heights(units)
    layers: list[Layer] = []
    for tier in TIERS:
        members = sorted((n for n in units if tier_of[n] == tier), key=lambda n: (height.get(n, 0), n))
        buckets = shared_count(shares[tier])
        large = sorted(
            (n for n in members if n != BASE and units[n].size >= threshold), key=lambda n: (-units[n].size, n)
        )
        solo = set(large[: shares[tier] - buckets])
        layers += [Layer(tier, (name,)) for name in members if name in solo]
        shared: list[list[str]] = [[] for _ in range(buckets)]
        for name in members:
            if name not in solo:
                shared[bucket(name, buckets)].append(name)
        layers += [Layer(tier, tuple(names), number) for number, names in enumerate(shared) if names]
    return layers
