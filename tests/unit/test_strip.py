"""Stripping and layering the environment: where the Dockerfile assembles it, the switch that keeps
everything, what payload/slim.py leaves out and what payload/assemble.py writes (on a folder laid out
like an environment, made here)."""

from __future__ import annotations

import importlib.util
import os
import py_compile
import re
import stat
import tempfile
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship import contract as c
from nbship.options import Installer
from nbship.payload import assemble, bytecode, layers, slim
from nbship.project.plan import BUILD_TOOLS
from nbship.render.dockerfile import with_assembly

from .helpers import MakeProject, plan_of, render, write_files
from .test_plan_render import FULL_PROJECT, instructions

ASSEMBLE = f"-m {c.ASSEMBLE_MODULE} {c.ENV_PREFIX} {c.LAYERS_DIR}"


def _stage(text: str, name: str) -> list[str]:
    steps = instructions(text)
    start = next(i for i, s in enumerate(steps) if s.startswith("FROM ") and s.endswith(f" AS {name}"))
    end = next((i for i in range(start + 1, len(steps)) if steps[i].startswith("FROM ")), len(steps))
    return steps[start:end]


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("buildkit", [True, False])
def test_the_environment_is_assembled_once_into_its_layers(
    make_project: MakeProject, installer: Installer, buildkit: bool
) -> None:
    text = render(make_project(FULL_PROJECT), installer=installer, buildkit=buildkit)
    assert text.count(ASSEMBLE) == 1
    # In the env stage's last step, the one that installs the lock: the files it wrote are moved.
    step = _stage(text, "env")[-1]
    assert step.startswith("RUN ") and "-r requirements.txt" in step
    assert ASSEMBLE in step and "--strip" in step and f"--layers {c.ENV_LAYERS}" in step and "--move" in step
    copies = [s for s in _stage(text, "installed") if s.startswith("COPY --from=env ")]
    assert copies == [f"COPY --from=env {c.LAYERS_DIR}/{n}/ /" for n in range(1, c.ENV_LAYERS + 1)]
    # The final image never holds the build helpers or runs them.
    assert not any("/build/" in step for step in _stage(text, "installed"))


def test_the_project_package_is_in_the_layers_too(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[project]\nname = "demo"\nversion = "1.0"\n', "a.ipynb": "{}"})
    text = render(root)
    assert ASSEMBLE in _stage(text, "env-project")[-1] and ASSEMBLE not in " ".join(_stage(text, "env"))
    assert f"COPY --from=env-project {c.LAYERS_DIR}/1/ /" in _stage(text, "installed")


def test_layer_order_is_the_same_with_and_without_strip(make_project: MakeProject) -> None:
    root = make_project(FULL_PROJECT)

    def shape(text: str) -> list[str]:
        return [s.split()[0] + " " + s.split()[-1] for s in instructions(text) if not s.startswith("RUN")]

    stripped, kept = render(root), render(root, strip=False)
    # Stripped, the server's bytecode is compiled in a stage of its own and copied in after the
    # layers; unstripped there is none: every other layer is where it was.
    bytecode_steps = [*_stage(stripped, "bytecode"), f"COPY --from=bytecode {c.BYTECODE_DIR}/ /"]
    assert all(step in instructions(stripped) for step in bytecode_steps)
    assert " AS bytecode" not in kept and "--from=bytecode" not in kept
    bare = "\n".join(step for step in instructions(stripped) if step not in bytecode_steps)
    assert shape(bare) == shape(kept)
    assert "--strip" not in kept and ASSEMBLE in kept


def test_strip_setting_and_the_switch(make_project: MakeProject) -> None:
    root = make_project({**FULL_PROJECT, "nbship.toml": "strip = false\n"})
    assert " --strip" not in render(root)
    assert " --strip" in render(root, strip=True)  # --strip on the command line wins over the setting
    assert " --strip" not in render(make_project(FULL_PROJECT), strip=False)


def test_build_tools_the_project_names_are_kept(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "numpy\nSetupTools>=60\n"})
    assert plan_of(root).strip_keep == ("setuptools",)
    assert "--strip --keep setuptools" in render(root)


def test_the_build_tools_agree_with_the_strip() -> None:
    assert set(slim.BUILD_TOOLS) == BUILD_TOOLS


# --- nbship.image.slim on a folder laid out like site-packages ----------------------------------


def _dist(site: Path, name: str, requires: list[str], files: list[str], version: str = "1.0") -> None:
    info = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    record = "".join(f"{f},,\n" for f in [*files, f"{info}/METADATA", f"{info}/RECORD"])
    write_files(site, {f"{info}/METADATA": metadata, f"{info}/RECORD": record})
    write_files(site, {f: "VALUE = 1\n" for f in files if not (site / f).exists()})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "lib" / "python3" / "site-packages"
    _dist(site, "jupyterlab", ["jupyter-server>=2", "pytest; extra == 'test'"], ["jupyterlab/__init__.py"])
    _dist(site, "jupyter-server", ["jsonschema[format-nongpl]>=4"], ["jupyter_server/__init__.py"])
    _dist(site, "jsonschema", ["attrs", "isoduration; extra == 'format-nongpl'"], ["jsonschema/__init__.py"])
    _dist(site, "attrs", [], ["attrs/__init__.py"])
    _dist(site, "isoduration", [], ["isoduration/__init__.py"])
    _dist(site, "pytest", [], ["pytest/__init__.py"])
    _dist(site, "pandas", [], ["pandas/__init__.py", "pandas/tests/test_x.py", "pandas/core/tests/test_y.py"])
    _dist(site, "bottleneck", [], ["bottleneck/__init__.py", "bottleneck/tests/util.py", "bottleneck/_b.c"])
    (site / "bottleneck" / "__init__.py").write_text("from bottleneck.tests.util import get_functions\n")
    (site / "bottleneck" / "_b.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\0")
    write_files(
        site,
        {
            "cftime/_cftime.pyx": "x",
            "cftime/_cftime.cpython-311-x86_64-linux-gnu.so": "",
            "cftime/helper.c": "int x;",
            "tests/__init__.py": "",
            "lab/static/app.js.map": "{}",
        },
    )
    _dist(
        site, "setuptools", [], ["setuptools/__init__.py", "pkg_resources/__init__.py", "_distutils_hack/__init__.py"]
    )
    write_files(site, {"distutils-precedence.pth": "import os\n", "pandas/__pycache__/__init__.cpython-311.pyc": "x"})
    # A vendored typeshed, as jedi carries it: one folder of stubs per distribution.
    _dist(site, "requests", [], ["requests/__init__.py"])
    write_files(site, {"six.py": "x = 1\n"})  # installed without metadata, found by its module
    stubs = "jedi/third_party/typeshed/stubs"
    write_files(
        site,
        {
            f"{stubs}/requests/requests/__init__.pyi": "def get(url: str) -> object: ...\n",
            f"{stubs}/six/six/__init__.pyi": "x: int\n",
            f"{stubs}/Flask-Cors/flask_cors/__init__.pyi": "class CORS: ...\n",
            f"{stubs}/Flask-Cors/METADATA.toml": 'version = "6.0"\n',
            "mypkg/stubs/data/table.json": "{}",  # a package's own `stubs` folder with data: not typeshed's
            "mypkg/stubs/more/more.pyi": "y: int\n",
        },
    )
    # JupyterLab's wheel installs its static assets twice: in the package and in share/.
    asset = "/* bundle */\n" * 200
    _dist(site, "jupyterlab-assets", [], ["lab_assets/static/app.js", "../../../share/lab_assets/app.js"])
    write_files(site, {"lab_assets/static/app.js": asset, "../../../share/lab_assets/app.js": asset})
    return site


def test_closure_follows_requirements_and_the_extras_they_ask_for(site: Path) -> None:
    dists = slim.installed(site)
    assert slim.closure(dists, ["jupyterlab", "notebook"]) == {
        "jupyterlab",
        "jupyter-server",
        "jsonschema",
        "attrs",
        "isoduration",
    }


@pytest.mark.parametrize(
    ("requirement", "extras", "name"),
    [
        ("jupyter_server (>=2.4)", (), "jupyter-server"),
        ("Send2Trash>=1.8.2; python_version >= '3.8'", (), "send2trash"),
        ("pytest; extra == 'test'", (), None),
        ('isoduration; extra == "format-nongpl"', ("format-nongpl",), "isoduration"),
    ],
)
def test_requirement_name(requirement: str, extras: tuple[str, ...], name: str | None) -> None:
    assert slim.requirement_name(requirement, extras) == name


def _kept(prefix: Path, site: Path, keep: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """What the assembly copies: every file of the environment the trim does not leave out."""
    trim = slim.plan(prefix, set(keep), site)
    found = set()
    for folder, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if Path(folder) / d not in trim.drop]
        found |= {os.path.relpath(Path(folder) / f, site) for f in files if Path(folder) / f not in trim.drop}
    return found


def test_slim_leaves_out_what_is_safe_and_compiles_the_server(site: Path) -> None:
    prefix = site.parent.parent.parent
    kept = _kept(prefix, site)
    assert not any(f.startswith(("pandas/tests/", "pandas/core/tests/")) for f in kept)
    assert "bottleneck/tests/util.py" in kept  # its __init__ imports them
    assert "tests/__init__.py" in kept  # a top-level module, not a package's tests
    assert "cftime/_cftime.pyx" not in kept and "bottleneck/_b.c" not in kept
    assert "cftime/helper.c" in kept  # no extension module was built from it
    assert "lab/static/app.js.map" not in kept
    for gone in ("setuptools/", "pkg_resources/", "_distutils_hack/", "distutils-precedence.pth", "setuptools-"):
        assert not any(f.startswith(gone) for f in kept)
    assert not any(f.startswith("pandas/__pycache__/") for f in kept)
    trim = slim.plan(prefix, set(), site)
    compiled = {str(path.relative_to(site)) for path in trim.compile}
    assert {"jupyter_server/__init__.py", "isoduration/__init__.py"} <= compiled
    assert "pytest/__init__.py" not in compiled
    saved = trim.saved()
    assert saved["tests"] > 0 and saved["build tools"] > 0 and saved["stubs of absent packages"] > 0


def test_slim_keeps_the_stubs_of_what_is_installed(site: Path) -> None:
    kept = _kept(site.parent.parent.parent, site)
    stubs = "jedi/third_party/typeshed/stubs"
    assert f"{stubs}/requests/requests/__init__.pyi" in kept  # by the distribution's name
    assert f"{stubs}/six/six/__init__.pyi" in kept  # by the module it installs
    assert not any(f.startswith(f"{stubs}/Flask-Cors/") for f in kept)
    assert {"mypkg/stubs/data/table.json", "mypkg/stubs/more/more.pyi"} <= kept


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([b"", b"a" * 1500, b"b" * 1500, b"a" * 2000]), st.booleans()),
        max_size=12,
    )
)
@settings(max_examples=60, deadline=None)
def test_duplicates_link_to_an_earlier_file_of_the_same_layer_bytes_and_mode(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[int, bytes, bool]]
) -> None:
    root = tmp_path_factory.mktemp("dups")
    entries = []
    for number, (layer, data, executable) in enumerate(files):
        path = root / f"f{number}"
        path.write_bytes(data)
        entries.append((layer, str(path), len(data), 0o100755 if executable else 0o100644))
    links = slim.find_duplicates(entries)
    order = {path: i for i, (_, path, _, _) in enumerate(entries)}
    info = {path: (layer, size, mode) for layer, path, size, mode in entries}
    for copy, original in links.items():
        assert order[original] < order[copy] and original not in links  # linked to a file written before
        assert info[copy] == info[original] and Path(copy).read_bytes() == Path(original).read_bytes()
    for (layer, path, size, mode), later in ((e, entries[i + 1 :]) for i, e in enumerate(entries)):
        same = [
            p
            for group, p, s, m in later
            if (group, s, m) == (layer, size, mode) and Path(p).read_bytes() == Path(path).read_bytes()
        ]
        if size >= slim.LINK_MIN_SIZE and path not in links:
            assert all(links.get(p) == path for p in same)  # every later copy is linked to the first


def test_slim_keeps_build_tools_asked_for_or_required(site: Path) -> None:
    kept = _kept(site.parent.parent.parent, site, {"setuptools"})
    assert "setuptools/__init__.py" in kept and "pkg_resources/__init__.py" in kept


def test_slim_keeps_a_build_tool_a_package_requires(site: Path) -> None:
    _dist(site, "oldpkg", ["setuptools>=40"], ["oldpkg/__init__.py"])
    assert "setuptools/__init__.py" in _kept(site.parent.parent.parent, site)


@pytest.mark.parametrize("strip", [True, False])
def test_the_assembly_writes_every_kept_file_once_with_one_owner_and_time(
    site: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, strip: bool
) -> None:
    prefix = site.parent.parent.parent
    monkeypatch.setattr(assemble, "site_of", lambda _prefix: site)
    dest = tmp_path_factory.mktemp("layers")  # outside the environment, as in the image
    lines = assemble.assemble(prefix, dest, uid=os.getuid(), slots=4, strip=strip, keep=set())
    written: dict[str, int] = {}
    for number in range(1, 5):
        inside = dest / str(number) / prefix.relative_to("/")
        for folder, _, files in os.walk(inside):
            for name in files:
                path = Path(folder) / name
                rel = str(path.relative_to(inside))
                assert rel not in written, f"{rel} is in two layers"
                written[rel] = number
                assert path.lstat().st_mtime == assemble.MTIME
    site_rel = site.relative_to(prefix)
    expected = {os.path.normpath(site_rel / f) for f in (_kept(prefix, site) if strip else _all(site))}
    assert {f for f in written if not f.endswith(".pyc") or not strip} >= expected - {
        f for f in expected if f.endswith(".pyc")
    }
    assert lines[-1].startswith("nbship-layers: ")
    for number in range(1, 5):  # every tree names its layer, so none is empty
        assert len(os.listdir(dest / str(number) / prefix.relative_to("/") / layers.MARKERS)) == 1
    share_rel, package_rel = str(Path("share/lab_assets/app.js")), str(site_rel / "lab_assets/static/app.js")
    trees = {rel: dest / str(written[rel]) / prefix.relative_to("/") / rel for rel in (share_rel, package_rel)}
    linked = os.path.samefile(trees[share_rel], trees[package_rel])
    assert linked == strip and written[share_rel] == written[package_rel]
    if strip:
        assert "stubs of absent packages" in lines[0] and "duplicates linked 0.0 MB" in lines[0]
    if strip:
        assert any(f.startswith(str(site_rel / "jupyter_server" / "__pycache__")) for f in written)
    again = tmp_path_factory.mktemp("again")
    assemble.assemble(prefix, again, uid=os.getuid(), slots=4, strip=strip, keep=set())
    for number in range(1, 5):  # the same environment gives the same trees, byte for byte
        assert _tree(dest / str(number)) == _tree(again / str(number))


def _all(site: Path) -> set[str]:
    return {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("strip", [True, False])
def test_the_assembly_moves_what_its_own_step_wrote_and_copies_the_rest(
    site: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, strip: bool
) -> None:
    prefix = site.parent.parent.parent
    monkeypatch.setattr(assemble, "site_of", lambda _prefix: site)
    copied = tmp_path_factory.mktemp("copied")
    assemble.assemble(prefix, copied, uid=os.getuid(), slots=4, strip=strip, keep=set())
    files = sorted(p for p in prefix.rglob("*") if p.is_file() and not p.is_symlink())
    before = {path: path.read_bytes() for path in files}
    # Half the files are this step's: they changed after it started (their ctime, set by a chmod).
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    older, newer = files[0::2], files[1::2]
    for path in newer:
        os.chmod(path, path.stat().st_mode)
    moved = tmp_path_factory.mktemp("moved")
    assemble.assemble(prefix, moved, uid=os.getuid(), slots=4, strip=strip, keep=set(), since=since)
    for number in range(1, 5):  # the same trees, whether each file was moved or copied
        assert _tree(moved / str(number)) == _tree(copied / str(number))
    assert [path for path in newer if not path.exists()], "no file of this step was moved"
    assert all(path.exists() and path.read_bytes() == before[path] for path in older)


def test_the_step_start_is_a_time_before_now() -> None:
    start = assemble.step_start()
    assert start is None or 0 < start <= time.time()


PROJECTS = Path(__file__).resolve().parents[1] / "projects"


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in PROJECTS.iterdir() if p.is_dir() and not (p / "Dockerfile").exists()),
)
@pytest.mark.parametrize("buildkit", [True, False])
def test_every_kind_of_project_lays_its_environment_out_once_at_the_end_of_its_env_stages(
    name: str, buildkit: bool
) -> None:
    """Whatever the kinds (conda, Pipfile, R, a package, Binder's files), the assembly ends the
    stage the layers are copied from, after every step that installs."""
    text = render(PROJECTS / name, buildkit=buildkit)
    assert text.count(ASSEMBLE) == 1
    copies = [s for s in _stage(text, "installed") if s.startswith("COPY --from=") and c.LAYERS_DIR in s]
    assert len(copies) == c.ENV_LAYERS
    source = copies[0].split()[1].removeprefix("--from=")
    assert {s.split()[1] for s in copies} == {f"--from={source}"}
    last = _stage(text, source)[-1]
    assert ASSEMBLE in last and "--move" in last
    if last.startswith("RUN ") and not last.startswith(f"RUN cd {c.BUILD_DIR}"):
        assert re.search(rf"&&\s+\{{ cd {c.BUILD_DIR}; ", last)  # a failed install never runs it
    # With BuildKit and a virtualenv, the server's bytecode compiles in a stage of its own, which
    # reads the list the assembly left and copies in after the layers; else the assembly compiles.
    staged = buildkit and not plan_of(PROJECTS / name).stage("env-base")
    if staged:  # a builder that may not rerun a step for what it mounts compiles in the assembly
        portable = render(PROJECTS / name, buildkit=buildkit, mount_context=False)
        assert " AS bytecode" not in portable and "--defer-bytecode" not in portable
    assert ("--defer-bytecode" in last) == staged == (" AS bytecode" in text)
    compiling = _stage(text, "bytecode")[-1] if staged else last
    if staged:
        assert f"--mount=type=bind,from={source},source={c.LAYERS_DIR},target={c.LAYERS_DIR}" in compiling
        assert f"-m {c.BYTECODE_MODULE} {c.BYTECODE_LIST} {c.BYTECODE_DIR}" in compiling
        after = [s for s in _stage(text, "installed") if s.startswith("COPY --from=")]
        assert after[len(copies)] == f"COPY --from=bytecode {c.BYTECODE_DIR}/ /"
    # The bytecode store lives in the step's cache mount: BuildKit's, and only where the step has it.
    store = re.search(r"--bytecode-store (\S+)/nbship-bytecode", compiling)
    assert (store is not None) == (buildkit and "--mount=type=cache," in compiling)
    assert store is None or f"--mount=type=cache,target={store.group(1)}," in compiling


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RUN set -eu; a; \\\n    b", "RUN set -eu; a; \\\n    b && \\\n    { ASM; }"),
        ("COPY x /y\nRUN a\n", "COPY x /y\nRUN a && \\\n    { ASM; }"),
        ("RUN a\nCOPY x /y", "RUN a\nCOPY x /y\nRUN ASM"),
        ('RUN ["a", "b"]', 'RUN ["a", "b"]\nRUN ASM'),
        (
            "RUN a \\\n    # a comment in the middle\n    b\n# after\n",
            "RUN a \\\n    # a comment in the middle\n    b && \\\n    { ASM; }\n# after",
        ),
        ("ENV A=1 \\\n    B=2", "ENV A=1 \\\n    B=2\nRUN ASM"),
    ],
)
def test_the_assembly_joins_the_last_shell_run_or_follows_it(text: str, expected: str) -> None:
    assert with_assembly(text, "ASM") == expected


def test_the_servers_bytecode_is_kept_across_builds_and_taken_from_there(
    site: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = site.parent.parent.parent
    monkeypatch.setattr(assemble, "site_of", lambda _prefix: site)
    store = tmp_path_factory.mktemp("store")
    plain, first, second = (tmp_path_factory.mktemp(name) for name in ("plain", "first", "second"))
    assemble.assemble(prefix, plain, uid=os.getuid(), slots=4, strip=True, keep=set())
    assemble.assemble(prefix, first, uid=os.getuid(), slots=4, strip=True, keep=set(), bytecode_store=store)
    kept = sorted(p for p in store.rglob("*") if p.is_file())
    compiled = sorted(p for p in first.rglob("*.pyc") if "jupyter_server" in str(p))
    assert kept and compiled and not any(p.name.endswith(".part") for p in kept)
    for number in range(1, 5):  # the same bytes as compiled without a store
        assert _tree(first / str(number)) == _tree(plain / str(number))
    # A second build takes the bytecode from the store: changed there, it is what the tree gets.
    marked = {p.read_bytes(): p for p in kept}
    target = compiled[0]
    entry = marked[target.read_bytes()]
    entry.write_bytes(target.read_bytes() + b"# from the store")
    assemble.assemble(prefix, second, uid=os.getuid(), slots=4, strip=True, keep=set(), bytecode_store=store)
    assert (second / target.relative_to(first)).read_bytes().endswith(b"# from the store")


def _image(trees: list[Path]) -> dict[str, tuple[int, int, float, bytes]]:
    """What the image holds after a COPY of each tree to `/`, in order: the last tree's folder
    metadata wins, as in overlay layers."""
    merged: dict[str, tuple[int, int, float, bytes]] = {}
    for root in trees:
        for path in sorted(root.rglob("*")):
            info = path.lstat()
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            merged[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_mtime, data)
    return merged


def test_the_bytecode_compiled_in_its_own_stage_is_what_the_assembly_would_have_compiled(
    site: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferred to the bytecode stage (payload/bytecode.py, reading the trees through a mount),
    the server's bytecode and every folder above it come out as the assembly writes them itself:
    the image is the same, file by file, owner, mode and time; the layer trees hold no bytecode
    of the modules listed, and the list is all the stage needs."""
    prefix = site.parent.parent.parent
    monkeypatch.setattr(assemble, "site_of", lambda _prefix: site)
    (site / "jupyter_server" / "__pycache__").mkdir()
    shipped = site / "jupyter_server" / "__pycache__" / Path(importlib.util.cache_from_source("__init__.py")).name
    shipped.write_bytes(b"a stale .pyc a wheel shipped")
    inline, deferred = tmp_path_factory.mktemp("inline"), tmp_path_factory.mktemp("deferred")
    assemble.assemble(prefix, inline, uid=os.getuid(), slots=4, strip=True, keep=set())
    listed = deferred / "bytecode.json"
    lines = assemble.assemble(prefix, deferred, uid=os.getuid(), slots=4, strip=True, keep=set(), defer_bytecode=listed)
    assert "compiled" not in lines[0] and lines[0].startswith("nbship-slim: removed ")
    assert not any(p.suffix == ".pyc" for p in deferred.rglob("*"))  # not even the one shipped
    listing = bytecode.read_list(str(listed))
    pairs = listing.pairs
    assert pairs and all(source.endswith(final) and final.startswith(str(prefix)) for source, final in pairs)
    assert listing.site == str(site) and listing.roots[: len(bytecode.START_MODULES)] == list(bytecode.START_MODULES)
    out = tmp_path_factory.mktemp("stage") / "bytecode"
    store = tmp_path_factory.mktemp("store")
    written, count = bytecode.lay_out(listing, str(out), uid=os.getuid(), store=str(store))
    assert written == sum(p.stat().st_size for p in out.rglob("*.pyc")) > 0
    assert count == len(list(out.rglob("*.pyc"))) < len(pairs)
    trees = [inline / str(n) for n in range(1, 5)]
    assert _image([deferred / str(n) for n in range(1, 5)] + [out]) == _image(trees)
    # From the store the second time: the same bytes.
    again = tmp_path_factory.mktemp("again") / "bytecode"
    bytecode.lay_out(listing, str(again), uid=os.getuid(), store=str(store))
    assert _image([again]) == _image([out])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '[["/x/a.py", "/a.py"]]',
        '{"a": 1}',
        '{"site": 1, "roots": [], "modules": []}',
        '{"site": "/s", "roots": "jupyterlab", "modules": []}',
        '{"site": "/s", "roots": [], "modules": [["only one"]]}',
        '{"site": "/s", "roots": [], "modules": [[1, 2]]}',
        '{"site": "/s", "roots": [], "modules": [["/x/opt/a.py", "/opt/b.py"]]}',
        '{"site": "/s", "roots": [], "modules": [["/x/a.py", "a.py"]]}',
    ],
)
def test_a_bytecode_list_that_is_not_what_the_assembly_writes_stops_with_a_message(tmp_path: Path, text: str) -> None:
    listed = tmp_path / "bytecode.json"
    listed.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        bytecode.lay_out(bytecode.read_list(str(listed)), str(tmp_path / "out"), uid=os.getuid(), store=None)
    assert str(stopped.value.code).startswith("nbship: ")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
@settings(max_examples=60, deadline=None)
def test_the_bytecode_is_what_py_compile_writes_with_the_fixed_time(body: str) -> None:
    """Whatever the module says (or fails to say), the bytes equal py_compile's for the source at
    the fixed time, or there are none where py_compile makes none."""
    source = f"VALUE = {body!r}\n{body if body.isidentifier() else 'pass'}\n".encode()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(folder) / "module.py"
        path.write_bytes(source)
        os.utime(path, (assemble.MTIME, assemble.MTIME))
        cfile = Path(folder) / "module.pyc"
        made = py_compile.compile(str(path), cfile=str(cfile), dfile="/opt/nbship/env/module.py", quiet=2)
        ours = bytecode.bytecode(source, "/opt/nbship/env/module.py")
        assert (made is None) == (ours is None)
        assert ours is None or cfile.read_bytes() == ours


def test_a_module_that_does_not_compile_has_no_bytecode() -> None:
    assert bytecode.bytecode(b"def broken(:\n", "/x.py") is None
    assert bytecode.bytecode(b"x = 1\0\n", "/x.py") is None
