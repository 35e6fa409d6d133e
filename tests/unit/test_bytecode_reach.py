"""Which of the server's modules get bytecode: those its start reaches (payload/bytecode.py)."""

from __future__ import annotations

import importlib.util
import json
import keyword
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.payload import assemble, bytecode

from .helpers import write_files

_SOURCES = {
    "app/__init__.py": "",
    # what the top level imports, absolute and relative, a submodule taken by `from`, a class body's
    # import, and a dotted name held as a string (a traitlets default): all reached
    "app/main.py": (
        "from . import util\n"
        "from .sub import *\n"
        "import lib.core as core\n"
        "from plug import thing\n"
        "try:\n    import mod\nexcept ImportError:\n    pass\n"
        "class Config:\n    import classdep\n    kind = 'named.Klass'\n"
        "def later():\n    import lazy\n    return 'fromfunc.Thing'\n"
        "import broken\n"
    ),
    "app/util.py": "from ..outside import nothing\n",  # beyond the top: nothing to reach
    "app/sub/__init__.py": "from ..helpers import assist\n",
    "app/helpers.py": "",
    "lib/__init__.py": "",
    "lib/core.py": "import app.main\n",  # a cycle ends
    "plug/__init__.py": "",
    "plug/thing.py": "",
    "classdep.py": "",
    "named.py": "",
    "fromfunc.py": "",
    "lazy.py": "",
    "unrelated.py": "import lib\n",
    "broken.py": "def broken(:\n",
    # a folder of modules inside a package, which the package puts on sys.path when it runs
    "vend/__init__.py": "",
    "vend/inner/mod.py": "import deep.leaf\n",
    "vend/inner/deep/__init__.py": "",
    "vend/inner/deep/leaf.py": "",
    "vend/inner/unused.py": "",
}
_REACHED = {
    "app/__init__.py",
    "app/main.py",
    "app/util.py",
    "app/sub/__init__.py",
    "app/helpers.py",
    "lib/__init__.py",
    "lib/core.py",
    "plug/__init__.py",
    "plug/thing.py",
    "classdep.py",
    "named.py",
    "fromfunc.py",
    "vend/inner/mod.py",
    "vend/inner/deep/__init__.py",
    "vend/inner/deep/leaf.py",
}


def _compile(site: Path, out: Path, roots: list[str], store: Path | None = None) -> tuple[int, int, set[str]]:
    """Compile what `roots` reach of _SOURCES under `site`, into `out`: the bytes written, the
    number of modules, and the sources that got bytecode."""
    kept = None if store is None else str(store)
    jobs: list[bytecode.Job] = []
    for rel in _SOURCES:
        source = str(site / rel)
        jobs.append((source, str(out) + importlib.util.cache_from_source(source), source, os.getuid(), kept))
    with ProcessPoolExecutor(max_workers=2) as pool:
        written, count = bytecode.compile_reached(jobs, site=str(site), roots=roots, pool=pool)
    inside = Path(str(out) + str(site))
    compiled = {
        str(path.relative_to(inside).parent.parent / (path.name.split(".")[0] + ".py")) for path in out.rglob("*.pyc")
    }
    return written, count, compiled


def test_the_bytecode_follows_what_the_start_imports(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    write_files(site, _SOURCES)
    out, store = tmp_path / "out", tmp_path / "store"
    written, count, compiled = _compile(site, out, ["app.main", "absent.module"], store)
    assert compiled == _REACHED
    assert count == len(_REACHED) and written == sum(p.stat().st_size for p in out.rglob("*.pyc"))
    # From the store the second time (the imports are read from the stored bytecode): the same.
    again = tmp_path / "again"
    assert _compile(site, again, ["app.main", "absent.module"], store) == (written, count, compiled)


def test_nothing_is_compiled_without_a_start_module_the_environment_has(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    write_files(site, _SOURCES)
    assert _compile(site, tmp_path / "out", ["absent"]) == (0, 0, set())


def test_the_start_modules_include_the_server_extensions_the_environment_enables(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "jupyter"
    write_files(
        folder,
        {
            "jupyter_server_config.json": json.dumps({"ServerApp": {"jpserver_extensions": {"top_ext": True}}}),
            "jupyter_server_config.d/a.json": json.dumps(
                {"ServerApp": {"jpserver_extensions": {"notebook_shim": True, "off_ext": False}}}
            ),
            "jupyter_server_config.d/b.json": "{ not json",
            "jupyter_server_config.d/c.json": json.dumps({"ServerApp": ["no", "mapping"]}),
            "jupyter_server_config.d/d.json": json.dumps({"ServerApp": {"jpserver_extensions": {"jupyterlab": True}}}),
        },
    )
    modules = assemble.start_modules(tmp_path)
    assert modules[: len(bytecode.START_MODULES)] == list(bytecode.START_MODULES)
    assert modules[len(bytecode.START_MODULES) :] == ["top_ext", "notebook_shim", "jupyterlab"]


_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda name: not keyword.iskeyword(name))
_DOTTED = st.lists(_NAME, min_size=1, max_size=4).map(".".join)


@st.composite
def _statements(draw: st.DrawFn) -> tuple[str, set[str]]:
    """An import statement of any form, at the top or in a class body, and the absolute names it
    must make reached, for a module `pkg.sub.mod`."""
    form = draw(st.sampled_from(["import", "import_as", "from", "relative", "string"]))
    name, item = draw(_DOTTED), draw(_NAME)
    if form == "import":
        line, wanted = f"import {name}", {name}
    elif form == "import_as":
        line, wanted = f"import {name} as alias", {name}
    elif form == "from":
        line, wanted = f"from {name} import {item}", {name, f"{name}.{item}"}
    elif form == "relative":
        level = draw(st.integers(min_value=1, max_value=2))
        base = ["pkg", "sub"][: 3 - level]
        absolute = ".".join([*base, name])
        line, wanted = f"from {'.' * level}{name} import {item}", {absolute, f"{absolute}.{item}"}
    else:
        line, wanted = f"value = {name + '.' + item!r}", {f"{name}.{item}"}
    if draw(st.booleans()):
        line = "class Holder:\n    " + line
    return line, wanted


@given(st.lists(_statements(), max_size=8), st.text(max_size=40))
def test_every_import_at_the_top_is_found_with_its_packages(statements: list[tuple[str, set[str]]], noise: str) -> None:
    source = "\n".join(line for line, _ in statements) + f"\nNOTE = {noise!r}\n"
    code = compile(source, "/site/pkg/sub/mod.py", "exec", dont_inherit=True)
    found = bytecode.imports_of(code, "pkg.sub.mod", False)
    for _, wanted in statements:
        for name in wanted:
            parts = name.split(".")
            assert {".".join(parts[: n + 1]) for n in range(len(parts))} <= found, (source, name)


@pytest.mark.parametrize(
    ("final", "module"),
    [
        ("/env/site-packages/a/b.py", "a.b"),
        ("/env/site-packages/a/__init__.py", "a"),
        ("/env/site-packages/a-b/c.py", None),
        ("/env/site-packages/a/b.so", None),
        ("/env/elsewhere/a.py", None),
    ],
)
def test_a_source_is_named_as_it_is_imported(final: str, module: str | None) -> None:
    assert bytecode.module_name(final, "/env/site-packages") == module
