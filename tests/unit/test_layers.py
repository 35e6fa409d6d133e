"""The layered environment's pure parts: which layer each package goes to (payload/layers.py) and the
debug sections taken out of shared libraries (payload/elf.py)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.payload import elf, layers

_NAMES = st.sampled_from([f"pypi:p{i}" for i in range(30)])


@st.composite
def environments(draw: st.DrawFn) -> dict[str, layers.Unit]:
    """Units with sizes around the threshold and needs among themselves (cycles allowed)."""
    names = sorted(draw(st.sets(_NAMES, min_size=1, max_size=20)))
    units = {layers.BASE: layers.Unit(layers.BASE, size=draw(st.integers(0, 50_000_000)))}
    for name in names:
        needs = draw(st.sets(st.sampled_from(names), max_size=4)) - {name}
        size = draw(st.integers(0, 3 * layers.THRESHOLD))
        units[name] = layers.Unit(name, needs=set(needs), size=size)
    return units


def _tiers(units: dict[str, layers.Unit], server: set[str]) -> dict[str, str]:
    return layers.tiers(units, server)


@given(environments(), st.integers(3, 20), st.data())
@settings(max_examples=200, deadline=None)
def test_every_unit_gets_exactly_one_layer_and_tiers_keep_their_order(
    units: dict[str, layers.Unit], slots: int, data: st.DataObject
) -> None:
    server = data.draw(st.sets(st.sampled_from(sorted(units)), max_size=5))
    tier_of = _tiers(units, server)
    plan = layers.plan(units, tier_of, slots)
    assert len(plan) <= slots
    placed = [name for layer in plan for name in layer.units]
    assert sorted(placed) == sorted(units)  # nothing lost, nothing twice
    order = [layers.TIERS.index(layer.tier) for layer in plan]
    assert order == sorted(order)  # most stable first
    assert all(tier_of[name] == layer.tier for layer in plan for name in layer.units)


@given(environments(), st.integers(3, 12))
@settings(max_examples=100, deadline=None)
def test_the_plan_does_not_depend_on_the_order_it_reads_the_environment_in(
    units: dict[str, layers.Unit], slots: int
) -> None:
    tier_of = _tiers(units, set())
    reversed_units = dict(reversed(list(units.items())))
    assert layers.plan(units, tier_of, slots) == layers.plan(reversed_units, _tiers(reversed_units, set()), slots)


def _touched(before: list[layers.Layer], after: list[layers.Layer], changed: str) -> list[layers.Layer]:
    """The layers whose bytes differ: a new unit list, or the changed unit inside."""
    return [layer for layer in after if layer not in before or changed in layer.units]


def _room(units: dict[str, layers.Unit], tier_of: dict[str, str], tier: str, slots: int) -> bool:
    share = layers.budget(slots)[tier]
    large = [n for n in units if tier_of[n] == tier and n != layers.BASE and units[n].size >= layers.THRESHOLD]
    return len(large) <= share - layers.shared_count(share)


@given(environments(), st.integers(3, 20), st.integers(0, 3 * layers.THRESHOLD), st.data())
@settings(max_examples=300, deadline=None)
def test_one_package_added_changes_at_most_two_layers(
    units: dict[str, layers.Unit], slots: int, size: int, data: st.DataObject
) -> None:
    """Adding a package changes the layer it goes to, and at most one more: the shared layer that
    takes a large package it pushes out of its solo layer. Nothing in another tier moves."""
    server = data.draw(st.sets(st.sampled_from(sorted(units)), max_size=5))
    before = layers.plan(units, _tiers(units, server), slots)
    added = {**units, "pypi:zz-new": layers.Unit("pypi:zz-new", size=size)}
    tier_of = _tiers(added, server)
    touched = _touched(before, layers.plan(added, tier_of, slots), "pypi:zz-new")
    assert any("pypi:zz-new" in layer.units for layer in touched)
    assert len(touched) <= 2 and {layer.tier for layer in touched} == {"packages"}
    if size < layers.THRESHOLD or _room(added, tier_of, "packages", slots):
        assert len(touched) == 1


@given(environments(), st.integers(3, 20), st.data())
@settings(max_examples=300, deadline=None)
def test_one_package_upgraded_changes_its_own_layer_alone_while_the_tier_has_room(
    units: dict[str, layers.Unit], slots: int, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(units)))
    size = data.draw(st.integers(0, 3 * layers.THRESHOLD))
    upgraded = {**units, name: layers.Unit(name, needs=units[name].needs, size=size)}
    tier_of = _tiers(units, set())
    touched = _touched(layers.plan(units, tier_of, slots), layers.plan(upgraded, tier_of, slots), name)
    assert len(touched) <= 3 and {layer.tier for layer in touched} == {tier_of[name]}
    same_side = (units[name].size >= layers.THRESHOLD) == (size >= layers.THRESHOLD) or name == layers.BASE
    tier = tier_of[name]
    if same_side and _room(units, tier_of, tier, slots) and _room(upgraded, tier_of, tier, slots):
        assert len(touched) == 1


@given(st.integers(3, 40))
def test_every_tier_gets_its_share_and_the_shares_add_up(slots: int) -> None:
    shares = layers.budget(slots)
    assert set(shares) == set(layers.TIERS) and min(shares.values()) >= 1 and sum(shares.values()) == slots


@given(st.text(min_size=1, max_size=30), st.integers(1, 8))
def test_a_units_shared_layer_depends_on_its_name_alone(name: str, buckets: int) -> None:
    assert layers.bucket(name, buckets) == layers.bucket(name, buckets) < buckets


@given(environments(), st.integers(3, 20))
@settings(max_examples=100, deadline=None)
def test_markers_name_each_layer_once_and_never_by_position(units: dict[str, layers.Unit], slots: int) -> None:
    plan = layers.plan(units, _tiers(units, set()), slots)
    markers = [layer.marker for layer in plan]
    assert len(set(markers)) == len(markers)
    assert all(marker and "/" not in marker and not marker.startswith(".") for marker in markers)


def test_the_dependency_graph_orders_solo_layers() -> None:
    big = 2 * layers.THRESHOLD
    units = {
        layers.BASE: layers.Unit(layers.BASE),
        "pypi:numpy": layers.Unit("pypi:numpy", size=big),
        "pypi:pandas": layers.Unit("pypi:pandas", needs={"pypi:numpy"}, size=big),
        "pypi:six": layers.Unit("pypi:six", size=10),
    }
    plan = layers.plan(units, _tiers(units, set()), 6)
    labels = [layer.label for layer in plan]
    assert labels.index("pypi:numpy") < labels.index("pypi:pandas")
    assert plan[-1].units == ("pypi:six",) and plan[-1].shared is not None  # the tier's shared layers come last
    with pytest.raises(ValueError, match="at least"):
        layers.plan(units, _tiers(units, set()), 2)


def _shared_libraries() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    found = []
    for path in sorted(site.rglob("*.so")):
        data = path.read_bytes()
        smaller = elf.strip(data)
        if smaller is not None and len(smaller) < len(data) and path.name.count(".") >= 2:
            found.append(path)
    return found[:6]


def test_stripped_extension_modules_still_load(tmp_path: Path) -> None:
    libraries = _shared_libraries()
    assert libraries, "no extension module with debug sections in this environment"
    compared = 0
    for number, path in enumerate(libraries):
        stripped = tmp_path / str(number) / path.name
        stripped.parent.mkdir()
        data = elf.strip(path.read_bytes())
        assert data is not None
        stripped.write_bytes(data)
        assert elf.strip(data) in (None, data)  # nothing more to take out the second time
        code = (
            "import importlib.machinery as m, importlib.util as u, sys\n"
            "def load(p):\n"
            "    name = p.rsplit('/', 1)[-1].split('.')[0]\n"
            "    spec = u.spec_from_loader(name, m.ExtensionFileLoader(name, p))\n"
            "    mod = u.module_from_spec(spec); spec.loader.exec_module(mod); return sorted(dir(mod))\n"
            "try:\n    original = load(sys.argv[1])\nexcept ImportError:\n    sys.exit(print('alone'))\n"
            "print(load(sys.argv[2]) == original)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path), str(stripped)], capture_output=True, text=True, check=False
        )
        if result.stdout.strip() == "alone":
            continue  # a module only its package can import (mypyc's): loading it alone says nothing
        assert result.stdout.strip() == "True", (path, result.stderr[-500:])
        compared += 1
    assert compared, "every stripped module needed its package to load"


@given(st.binary(max_size=4096))
@settings(max_examples=300, deadline=None)
def test_anything_that_is_not_a_clean_elf_file_is_left_alone(data: bytes) -> None:
    for candidate in (data, b"\x7fELF" + data):  # no exception, and never a larger file
        result = elf.strip(candidate)
        assert result is None or len(result) <= len(candidate)
