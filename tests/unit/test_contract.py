"""The image contract is defined once (nbship.contract): the code that runs inside the image agrees
with it, nothing else in the package spells its facts, and the layers import only downwards."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbship import contract as c
from nbship.cli.app import COMMANDS
from nbship.payload import check_runner, conda_install, refresh, sbom
from nbship.render import support

SRC = Path(__file__).resolve().parents[2] / "src" / "nbship"
PAYLOAD = SRC / "payload"


def _shell_assignments(text: str) -> dict[str, str]:
    """`name=value` lines and `${NAME:-default}` defaults of a POSIX shell script."""
    found = {m.group(1): m.group(2) for m in re.finditer(r"^([a-z_]+)=(\S+)$", text, re.MULTILINE)}
    found.update({m.group(1): m.group(2) for m in re.finditer(r"\$\{([A-Z_]+):-([^}]*)\}", text)})
    return found


def test_the_entrypoint_agrees_with_the_contract() -> None:
    text = (PAYLOAD / "entrypoint.sh").read_text()
    values = _shell_assignments(text)
    assert values["refresh"] == c.REFRESH
    assert values["manifest"] == c.MANIFEST
    assert values["port"] == str(c.CONTAINER_PORT)
    assert values[c.WORKDIR_ENV] == c.WORKDIR
    assert values[c.CONTENT_ENV] == c.CONTENT_DIR
    assert f"${{{c.START_ENV}:-}}" in text


def test_the_refresh_agrees_with_the_contract() -> None:
    assert refresh.RECORD_DIR == c.RECORD_DIR
    assert refresh.RECORD == c.RECORD
    assert refresh.LINKED == c.LINKED_DIRS


def test_the_check_runner_and_the_conda_installer_agree_with_the_contract() -> None:
    assert check_runner.EVENT_PREFIX == c.CHECK_EVENT_PREFIX
    text = (PAYLOAD / "conda_install.py").read_text()
    assert f'os.environ.get("{c.CHANNEL_MAP_ENV}"' in text
    assert c.RATTLER_AUTH_ENV in (conda_install.__doc__ or "") + text


def test_the_sbom_writer_agrees_with_the_contract() -> None:
    assert sbom.BASE_DIGEST_ENV == c.BASE_DIGEST_ENV
    assert sbom.SOURCE_DATE_EPOCH_ENV == c.SOURCE_DATE_EPOCH_ENV
    assert (sbom.LOCK_FILES, sbom.LOCK_FOLDERS) == (c.LOCK_FILES, c.LOCK_FOLDERS)


def test_support_files_land_where_the_contract_says() -> None:
    placed = {f"{c.NBSHIP_DIR}/{item.path}" for item in support.support_files()}
    assert {
        c.ENTRYPOINT,
        c.REFRESH,
        *(f"{c.BIN_DIR}/refresh_{name}.py" for name in ("delivery", "disk", "merge")),  # its modules
        c.SBOM_WRITER,
        *(f"{c.BUILD_DIR}/nbship_build/{name}.py" for name in ("assemble", "bytecode", "layers", "elf", "slim")),
        c.CONDA_INSTALLER,
        c.PIPFILE_LOCK_READER,
        c.SEED_WHEELS,
        c.LAB_OVERRIDES,
        c.R_INSTALLER,
    } == placed
    assert all(path.startswith((c.BIN_DIR + "/", c.BUILD_DIR + "/")) for path in placed)
    # Every payload file is shipped: into each build, or (the check runner) into its container.
    shipped = {name for _, name, _ in support._FILES} | {"check_runner.py", "__init__.py"}
    assert {p.name for p in PAYLOAD.iterdir() if p.is_file()} == shipped


def test_the_support_image_is_named_after_its_content() -> None:
    first, second = support.support_archive(), support.support_archive()
    assert first == second  # deterministic: same files, same bytes
    reference = support.support_image()
    assert reference.startswith(f"{c.SUPPORT_REPOSITORY}:")
    assert re.fullmatch(r"[\w][\w.-]{0,127}", reference.split(":", 1)[1])


# Facts of the contract that must not be spelled anywhere else in the package (the payload files
# repeat a few, pinned above; help texts and comments may name them).
_FACTS = ("io.nbship.", "/opt/nbship", "/home/jovyan", "JUPYTER_TOKEN", '"nbship-ca"', "nbship-channel-auth")


def _code_strings(path: Path) -> list[str]:
    """The string constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "module",
    [p for p in sorted(SRC.rglob("*.py")) if "payload" not in p.parts and p.name != "contract.py"],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_contract_facts_are_not_repeated(module: Path) -> None:
    for text in _code_strings(module):
        for fact in _FACTS:
            assert fact not in text, f"{module.relative_to(SRC)} spells {fact!r}: take it from nbship.contract"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_engine_talks_to_docker() -> None:
    users = {
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(name == "docker" or name.startswith("docker.") for name in _imports(p))
    }
    # docker_endpoint.py builds the SDK client's arguments (TLS) for the endpoint it resolved;
    # docker_values.py turns the SDK's objects into the seam's values and back; docker_classic.py
    # drives the classic builder through the SDK's build API.
    assert users == {
        "engine/docker.py",
        "engine/docker_endpoint.py",
        "engine/docker_values.py",
        "engine/docker_classic.py",
    }


# Each layer may import the ones after it, never one before it.
_LAYERS = ["cli", "api", "commands", "sources", "check", "hub", "runtime", "lock", "render", "project", "engine"]


def test_layers_import_only_downwards() -> None:
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        layer = rel.parts[0].removesuffix(".py")
        if layer not in _LAYERS or layer == "cli":
            continue
        above = set(_LAYERS[: _LAYERS.index(layer)])
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "nbship" and len(parts) > 1:
                assert parts[1] not in above, f"{rel} imports {name}, a layer above it"
    for path in [*(SRC / "payload").glob("*.py"), *(SRC / "hub" / "payload").glob("*.py")]:
        assert not any(name.split(".")[0] == "nbship" for name in _imports(path)), f"{path.name} imports nbship"


# What a command that does not need them must not load: the engine SDK, the solvers, the settings
# model, the templates, the notebook reader (each costs tens to hundreds of milliseconds).
_HEAVY = ("docker", "requests", "rattler", "pydantic", "jinja2", "nbformat", "yaml", "packaging")


def _imported_by(argv: list[str], env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The heavy top-level modules that `nbship ARGV` imported, and what it printed."""
    return _loaded_by(argv, _HEAVY, env, top_level=True)


def _loaded_by(
    argv: list[str], watched: tuple[str, ...], env: dict[str, str] | None = None, *, top_level: bool = False
) -> tuple[set[str], str]:
    """Which of the `watched` modules `nbship ARGV` imported (`top_level`: by package), and what it printed."""
    names = "{m.split('.')[0] for m in sys.modules}" if top_level else "set(sys.modules)"
    code = (
        "import sys\nfrom nbship.cli import main\ntry:\n"
        f"    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('imported:', *sorted({names} & set({watched!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("imported:")
    return set(last.split()[1:]), result.stdout + result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *([name, "--help"] for name in COMMANDS)], ids=str)
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    imported, output = _imported_by(argv)
    assert imported == set()
    assert "Usage:" in output or "version" in output


def test_status_imports_nothing_heavy(tmp_path: Path) -> None:
    # A daemon that is not there: status fails with its message, having imported no SDK to say so.
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"}
    imported, output = _imported_by(["status"], env)
    assert imported == set(), output
    assert "no-daemon.sock" in output, output


# What `nbship status` does without, beyond the heavy packages: the seam's protocols and the option
# values (dataclasses made at import), the link parser, rich's live line, and http.client with ssl
# and the email parser (a socket speaks HTTP/1.0 itself; TLS alone needs them). Each is a few
# milliseconds of a command whose whole budget is about 35 ms above click and rich.
_STATUS_SPARES = (
    "ssl",
    "http.client",
    "email.parser",
    "hashlib",
    "rich.status",
    "nbship.engine.base",
    "nbship.options",
    "nbship.reporter",
    "nbship.sources.refs",
    "nbship.cli.options",
)


def test_status_loads_only_the_listing(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"}
    for argv in (["status"], ["status", "--json"]):
        loaded, output = _loaded_by(argv, _STATUS_SPARES, env)
        assert loaded == set(), output


def test_the_up_to_date_check_loads_no_seam_protocols_or_options() -> None:
    # commands/fresh.py answers a no-change build before detection; its imports are that path's.
    code = "import sys, nbship.commands.fresh, nbship.cli.build\nprint(*sorted(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    spared = {"nbship.engine.base", "nbship.project", "nbship.settings", "nbship.sources.refs", "nbship.cli.check"}
    assert loaded & spared == set()
    assert not {name.split(".")[0] for name in loaded} & set(_HEAVY)


# Each input kind loads its parser only when a file of its kind is there: detection of a project
# without environment.yml loads no YAML or conda match specs, one without Python requirements no packaging.
_PARSERS = ("rattler", "yaml", "packaging", "nbformat")
# kind: (the project's files beside a notebook, the kinds detected, the parsers they may load)
_KIND_CASES: dict[str, tuple[dict[str, str], list[str], set[str]]] = {
    "notebooks": ({}, [], set()),
    "requirements": ({"requirements.txt": "numpy==1.26.4\npandas>=2  # comment\n"}, ["requirements"], {"packaging"}),
    "conda": (
        {"environment.yml": "channels: [conda-forge]\ndependencies:\n  - numpy=1.26\n"},
        ["conda"],
        {"rattler", "yaml", "packaging"},
    ),
    "package": (
        {"pyproject.toml": '[project]\nname = "p"\nrequires-python = ">=3.9"\n'},
        ["package"],
        {"packaging"},
    ),
    "runtime": ({"runtime.txt": "python-3.10\n"}, ["runtime"], set()),
}


@pytest.mark.parametrize("case", sorted(_KIND_CASES))
def test_detection_loads_only_the_parsers_of_the_files_there(tmp_path: Path, case: str) -> None:
    files, kinds, parsers = _KIND_CASES[case]
    (tmp_path / "analysis.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code = (
        "import sys\nfrom pathlib import Path\nfrom nbship.project.detect import detect\n"
        f"project = detect(Path({str(tmp_path)!r}))\nprint(*sorted(i.kind for i in project.inputs))\n"
        f"print('imported:', *sorted({{m.split('.')[0] for m in sys.modules}} & set({_PARSERS!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    detected, imported = result.stdout.splitlines()[-2:]
    assert detected.split() == kinds, result.stdout
    assert set(imported.split()[1:]) == parsers, result.stdout


def test_status_with_podman_imports_nothing_heavy() -> None:
    imported, output = _imported_by(["--engine", "podman", "status"])
    assert imported == set(), output


def test_importing_the_api_imports_no_command() -> None:
    code = "import sys, nbship.api\nprint(*sorted(m for m in sys.modules if m.startswith('nbship.')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(result.stdout.split()) <= {"nbship.api"}


def _type_checking_imports(path: Path) -> dict[str, str]:
    """name -> "module" or "module:attribute", from the `if TYPE_CHECKING:` block of PATH."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for item in node.body:
                assert isinstance(item, ast.ImportFrom) and item.module
                for alias in item.names:
                    name = alias.asname or alias.name
                    found[name] = item.module if name == alias.name else f"{item.module}:{alias.name}"
    return found


def test_the_lazy_api_names_what_its_type_imports_name() -> None:
    from nbship import api

    declared = _type_checking_imports(SRC / "api.py")
    assert declared == api._WHERE
    assert set(declared) == set(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None
    with pytest.raises(AttributeError):
        _ = api.no_such_command  # type: ignore[attr-defined]


# What reading a project for a build costs after a notebook edit: detection, the settings, the
# plan, the Dockerfile (from its cache), the lock's check, the context's ignore list and
# fingerprint, all before the engine is first asked. None of it needs the settings' schema, the
# engine's SDK, asyncio, Jinja (the Dockerfile is known), YAML or the solver.
_BEFORE_ENGINE = ("pydantic", "docker", "requests", "asyncio", "jinja2", "rattler", "yaml", "nbformat", "http.server")
_READ_FOR_BUILD = """
import sys
from pathlib import Path
from nbship.commands import build, fresh, rendered
from nbship.lock import manage
from nbship.options import BuildOptions
from nbship.render.dockerignore import context_patterns
from nbship.reporter import RecordingReporter
from nbship.sources.open import open_project

root = Path(sys.argv[1])
options = BuildOptions()
assert fresh.lookup(root, options, engine=None, reporter=RecordingReporter()) is None  # no record yet
project = open_project(root)
plan = build.plan_for(project, options.image, buildkit=True)
text = rendered.dockerfile(plan)
manage.ensure_locks(project, python=plan.python.version, channel_auth=None, reporter=RecordingReporter())
build.fingerprint(project.root, text, context_patterns(project))
print("loaded:", *sorted({m.split(".")[0] for m in sys.modules} | set(sys.modules)))
"""


def _read_for_build(root: Path, env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _READ_FOR_BUILD, str(root)], capture_output=True, text=True, env=env, check=True
    )
    return set(done.stdout.strip().splitlines()[-1].split()[1:]) & set(_BEFORE_ENGINE)


def test_reading_a_changed_project_for_a_build_loads_nothing_heavy(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "project"
    shutil.copytree(SRC.parent.parent / "examples" / "sea-surface-temperature", root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBSHIP_")}
    env["NBSHIP_CACHE_DIR"] = str(tmp_path / "cache")
    assert _read_for_build(root, env) == {"jinja2"}  # the first render of this plan fills the cache
    (root / "sst_analysis.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert _read_for_build(root, env) == set()
    # Settings to check (a variable, a file) are read with the schema: pydantic, and only it.
    assert _read_for_build(root, {**env, "NBSHIP_PORT": "9999"}) == {"pydantic"}
    (root / "nbship.toml").write_text("ready-timeout = 30\n")  # a run-time setting: the same plan
    assert _read_for_build(root, env) == {"pydantic"}
