"""The build plan: everything that decides what goes in the image, as one frozen value.

Detection fills it, the renderer turns it into a Dockerfile; nothing else decides the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from nbship import __version__
from nbship.errors import ProjectError
from nbship.project.detect import Project

DEFAULT_PYTHON = "3.11"
# Minor versions nbship picks from when requires-python rules out the default.
KNOWN_PYTHONS = tuple(f"3.{minor}" for minor in range(8, 15))
# Pinned so that two builds of one project a year apart get the same server.
JUPYTERLAB_REQUIREMENT = "jupyterlab==4.6.6"
# The newest JupyterLab that still supports these older Pythons.
JUPYTERLAB_FOR_OLD_PYTHON = {"3.8": "jupyterlab==4.3.8", "3.9": "jupyterlab==4.5.11"}
UV_REQUIREMENT = "uv==0.13.8"
DUMB_INIT_REQUIREMENT = "dumb-init==1.2.5.post1"
# Installs conda environments from nbship.lock in a throwaway build stage; never in the image.
RATTLER_REQUIREMENT = "py-rattler==0.28.0"

NB_USER = "jovyan"  # Binder's name for the notebook user: notebooks that hard-code it keep working
HOME = f"/home/{NB_USER}"
WORKDIR = f"{HOME}/work"
ENV_PREFIX = "/opt/nbship/env"
CONTENT_DIR = "/opt/nbship/project"  # the project as the image delivers it, outside any volume
DATA_DIR = "/opt/nbship/data"
MANIFEST = "/opt/nbship/manifest.json"  # what the image delivers, file by file (nbship.image.refresh)
REFRESH = "/opt/nbship/bin/nbship-refresh"
CONTAINER_PORT = 8888
SLIM = "/opt/nbship/tools/nbship-slim"  # nbship.image.slim, in the build stage only
# What `python -m venv` adds that stripping removes unless the project names it.
BUILD_TOOLS = frozenset({"setuptools", "wheel"})

CONDA_LOCK_NAME = "nbship.lock"
PIP_LOCK_NAME = "requirements.lock"

Installer = Literal["uv", "pip"]


@dataclass(frozen=True)
class PythonChoice:
    version: str
    reason: str


@dataclass(frozen=True)
class PlanOptions:
    """What the user may override on the command line; None means "as the project says"."""

    base_image: str | None = None
    user_id: int = 1000
    installer: Installer = "uv"
    buildkit: bool = True
    strip: bool | None = None  # None: the `strip` setting (default on); False keeps everything


@dataclass(frozen=True)
class BuildPlan:
    project_name: str
    own_dockerfile: str | None  # the project's Dockerfile, used as is: nothing below applies
    base_image: str
    python: PythonChoice
    installer: Installer
    buildkit: bool  # cache and secret mounts need BuildKit; the classic builder gets neither
    user: str
    uid: int
    apt_packages: tuple[str, ...]
    env_inputs: tuple[str, ...]  # files the environment install reads: copied before anything else
    requirements: str | None
    requirements_need_source: bool
    install_project: bool
    jupyterlab: str | None  # requirement nbship adds, None when the project brings JupyterLab
    has_data: bool
    config_dir: str  # "" for the root, else "binder" / ".binder"
    postbuild: str | None
    start: str | None
    labels: tuple[tuple[str, str], ...]
    # conda: the lock installed into ENV_PREFIX before anything else, and environment.yml's pip: section
    conda_lock: str | None = None
    conda_pip: tuple[str, ...] = ()
    # requirements.lock: installed with hash checking instead of requirements.txt; it holds JupyterLab too
    pip_lock: str | None = None
    strip: bool = True  # trim the environment (nbship.image.slim) before it reaches the image
    strip_keep: tuple[str, ...] = ()  # build tools the project names, which stripping leaves in

    @property
    def needs_source_stage(self) -> bool:
        return self.install_project or self.requirements_need_source


def _allows_minor(spec: SpecifierSet, minor: str) -> bool:
    """Whether any release of `minor` (3.11.0 ... 3.11.40) satisfies `spec`: python:X.Y images are X.Y.latest."""
    return any(spec.contains(Version(f"{minor}.{patch}"), prereleases=False) for patch in range(41))


def choose_python(project: Project) -> PythonChoice:
    if project.settings.python:
        return PythonChoice(project.settings.python, f"python = {project.settings.python} in the settings")
    if project.runtime_file is not None:
        version = project.python_from_runtime or DEFAULT_PYTHON
        return PythonChoice(version, f"{project.rel(project.runtime_file)}")
    spec: SpecifierSet | None = project.package.requires_python if project.package else None
    if spec is not None:
        if _allows_minor(spec, DEFAULT_PYTHON):
            return PythonChoice(DEFAULT_PYTHON, f"requires-python {spec} allows it")
        for candidate in KNOWN_PYTHONS:
            if _allows_minor(spec, candidate):
                return PythonChoice(candidate, f"lowest version requires-python {spec} allows")
        raise ProjectError(
            f"{project.rel(project.package.path)}: requires-python {spec} allows none of the Python versions "  # type: ignore[union-attr]
            f'nbship can use ({", ".join(KNOWN_PYTHONS)}). Widen it, or set python = "3.X" in nbship.toml.'
        )
    return PythonChoice(DEFAULT_PYTHON, "default")


def make_plan(project: Project, options: PlanOptions) -> BuildPlan:
    python = choose_python(project)
    base_image = options.base_image or project.settings.base_image or f"python:{python.version}-slim"
    requirements = project.requirements
    conda = project.conda
    env_inputs: list[str] = []
    pip_lock = project.config_dir / PIP_LOCK_NAME
    locked = conda is None and pip_lock.is_file() and not (requirements and requirements.needs_source)
    if locked:
        env_inputs.append(project.rel(pip_lock))
    elif requirements is not None:
        env_inputs.append(project.rel(requirements.path))
        env_inputs.extend(project.rel(path) for path in requirements.includes)
    brings_lab = (
        (requirements is not None and requirements.brings_jupyterlab)
        or (project.package is not None and bool(project.package.dependency_names & {"jupyterlab", "jupyter"}))
        or (conda is not None and conda.brings_jupyter)
    )
    config_rel = "" if project.config_dir == project.root else project.rel(project.config_dir)
    named = (requirements.names if requirements else frozenset()) | (
        project.package.dependency_names if project.package else frozenset()
    )
    strip = options.strip if options.strip is not None else project.settings.strip
    return BuildPlan(
        project_name=project.name,
        own_dockerfile=project.rel(project.dockerfile) if project.dockerfile else None,
        base_image=base_image,
        python=python,
        installer=options.installer,
        buildkit=options.buildkit,
        user=NB_USER,
        uid=options.user_id,
        apt_packages=project.apt_packages,
        env_inputs=tuple(dict.fromkeys(env_inputs)),
        requirements=project.rel(requirements.path) if requirements else None,
        requirements_need_source=bool(requirements and requirements.needs_source),
        install_project=project.package is not None,
        jupyterlab=None if brings_lab else JUPYTERLAB_FOR_OLD_PYTHON.get(python.version, JUPYTERLAB_REQUIREMENT),
        has_data=project.data_dir is not None,
        config_dir=config_rel,
        postbuild=project.rel(project.postbuild) if project.postbuild else None,
        start=project.rel(project.start) if project.start else None,
        labels=(
            ("org.opencontainers.image.title", project.name),
            ("io.nbship.version", __version__),
        ),
        conda_lock=project.rel(conda.path.parent / CONDA_LOCK_NAME) if conda else None,
        conda_pip=conda.pip if conda else (),
        pip_lock=project.rel(pip_lock) if locked else None,
        strip=strip,
        strip_keep=tuple(sorted(named & BUILD_TOOLS)),
    )
