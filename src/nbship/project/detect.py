"""Reads a project folder with the Binder conventions into one immutable `Project`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from nbship.config import Settings, load_settings
from nbship.errors import InputFileError, ProjectError
from nbship.project.specs.apt import parse_apt
from nbship.project.specs.environment_yml import CondaEnvironmentSpec, parse_environment
from nbship.project.specs.package import PackageSpec, parse_package
from nbship.project.specs.requirements import RequirementsSpec, parse_requirements
from nbship.project.specs.runtime import parse_runtime

# Folders never searched for notebooks (and never shipped: see render/dockerignore.py).
_SKIP_DIRS = {".git", ".ipynb_checkpoints", "__pycache__", ".venv", "venv", "node_modules", ".tox", ".nbship"}
# The same rule finds the notebooks inside an image (nbship check's runner).
SKIP_DIRS = frozenset(_SKIP_DIRS)
_START_EXEC_RE = re.compile(r'exec\s+"\$(@|\{@\})"')


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    slug: str  # the name made safe for image and container names
    project_id: str  # slug + short hash of the absolute path: unique per folder on this host
    config_dir: Path  # root, or binder/ / .binder/ when present (then root files are ignored)
    settings: Settings
    settings_file: Path | None
    requirements: RequirementsSpec | None
    python_from_runtime: str | None
    runtime_file: Path | None
    package: PackageSpec | None
    apt_packages: tuple[str, ...]
    apt_file: Path | None
    postbuild: Path | None
    start: Path | None
    dockerfile: Path | None
    dockerignore: Path | None
    data_dir: Path | None
    notebooks: tuple[Path, ...]
    conda: CondaEnvironmentSpec | None = None
    ignored_requirements: Path | None = None  # requirements.txt beside environment.yml: unused, as on Binder

    def rel(self, path: Path) -> str:
        """A project path as a posix path relative to the root (how Dockerfiles name it)."""
        return path.relative_to(self.root).as_posix()


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "project"


def _project_id(slug: str, root: Path) -> str:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def _config_dir(root: Path) -> Path:
    candidates = [root / name for name in ("binder", ".binder") if (root / name).is_dir()]
    if len(candidates) > 1:
        raise ProjectError(
            f"{root} has both binder/ and .binder/ folders, so it is unclear which configures the "
            "environment. Keep one of them (Binder refuses this too)."
        )
    return candidates[0] if candidates else root


def _find_notebooks(root: Path) -> tuple[Path, ...]:
    found: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in _SKIP_DIRS:
                    stack.append(entry)
            elif entry.suffix == ".ipynb":
                found.append(entry)
    return tuple(sorted(found))


def _check_start(path: Path, display: str) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    if not _START_EXEC_RE.search(text):
        raise InputFileError(
            display,
            None,
            "the start script does not run the command it is given, so the server would never start",
            'End it with the line: exec "$@"',
        )


def detect(path: Path) -> Project:
    """Detects the project at `path`. Raises ProjectError for anything the user must fix."""
    root = path.expanduser().resolve()
    if not root.exists():
        raise ProjectError(
            f"The project folder {path} does not exist. Check the path, or run nbship from inside the project."
        )
    if not root.is_dir():
        raise ProjectError(f"{path} is a file, not a project folder. Give nbship the folder that holds the notebooks.")

    settings, settings_file = load_settings(root)
    config = _config_dir(root)

    def found(name: str) -> Path | None:
        candidate = config / name
        return candidate if candidate.is_file() else None

    def display(p: Path) -> str:
        return p.relative_to(root).as_posix()

    env_yml = found("environment.yml") or found("environment.yaml")
    conda = parse_environment(env_yml, display(env_yml)) if env_yml is not None else None
    requirements_file = found("requirements.txt")
    ignored_requirements = None
    if conda is not None and requirements_file is not None:
        # As on Binder: environment.yml describes the whole environment; its pip: section is the place.
        ignored_requirements, requirements_file = requirements_file, None
    requirements = parse_requirements(requirements_file, root) if requirements_file else None
    runtime_file = found("runtime.txt")
    python_from_runtime = parse_runtime(runtime_file, display(runtime_file)) if runtime_file else None
    apt_file = found("apt.txt")
    apt_packages = parse_apt(apt_file, display(apt_file)) if apt_file else ()
    start = found("start")
    if start is not None:
        _check_start(start, display(start))
    name = settings.name or root.name
    slug = slugify(name)
    data_dir = root / "data"
    return Project(
        root=root,
        name=name,
        slug=slug,
        project_id=_project_id(slug, root),
        config_dir=config,
        settings=settings,
        settings_file=settings_file,
        requirements=requirements,
        python_from_runtime=python_from_runtime,
        runtime_file=runtime_file,
        package=parse_package(config, root),
        apt_packages=apt_packages,
        apt_file=apt_file,
        postbuild=found("postBuild"),
        start=start,
        dockerfile=found("Dockerfile"),
        dockerignore=(root / ".dockerignore") if (root / ".dockerignore").is_file() else None,
        data_dir=data_dir if data_dir.is_dir() and not data_dir.is_symlink() else None,
        notebooks=_find_notebooks(root),
        conda=conda,
        ignored_requirements=ignored_requirements,
    )
