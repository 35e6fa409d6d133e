"""The build plan: everything that decides what goes in the image, as one frozen value.

Detection fills the project; `make_plan` makes each choice once (Python, base image, JupyterLab,
the notebook user) and asks every input kind for its part; the renderer turns the plan into a
Dockerfile. Nothing else decides the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nbship import __version__, ignore
from nbship import contract as c
from nbship.errors import ProjectError, UsageError
from nbship.options import ImageOptions, Installer
from nbship.project.detect import Project
from nbship.project.kinds.base import STAGES, Fragment, PlanContext, Stage
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.project.python import KNOWN_PYTHONS, PythonChoice, choose_python
from nbship.references import validate_reference

# Pinned so that two builds of one project a year apart get the same server.
JUPYTERLAB_REQUIREMENT = "jupyterlab==4.6.6"
# The newest JupyterLab that still supports these older Pythons.
JUPYTERLAB_FOR_OLD_PYTHON = {"3.8": "jupyterlab==4.3.8", "3.9": "jupyterlab==4.5.11"}
UV_VERSION = "0.13.8"
UV_REQUIREMENT = f"uv=={UV_VERSION}"
# uv's wheels for the machines most builds run on (`uname -m`), at their addresses and pinned by
# hash: pip installs one from there in about 1 s, where finding it in uv's index (thousands of
# files) takes pip 2-3 s on every cold build. Other machines, and a build that cannot reach the
# address, take UV_REQUIREMENT from the index.
_PYPI_FILES = "https://files.pythonhosted.org/packages"
UV_WHEELS = {
    "x86_64": f"{_PYPI_FILES}/c5/32/52ee34636aea1ab3f8baeeae1c3599461b8cddfb379862cc72ac61b8d91c/"
    f"uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    "#sha256=e18a57b8b352eb7c8feb317b9f6f533c8f0ad9673fd6cf34bbe3cf1a9f6a8984",
    "aarch64": f"{_PYPI_FILES}/9e/f0/d989ac5fcebf83f1c8c5d78974f27788e8364945969eb646f5d0db35d924/"
    f"uv-{UV_VERSION}-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl"
    "#sha256=0b3e8b1a4f5e405e31e2ff33de8af4744831e9f7338539671efbd8c3c94e791d",
}
DUMB_INIT_REQUIREMENT = "dumb-init==1.2.5.post1"
# Names that count as the project bringing its own JupyterLab (then nbship adds none).
JUPYTER_PROVIDERS = frozenset({"jupyterlab", "jupyter"})
# What `python -m venv` adds that stripping removes unless the project names it (payload/slim.py).
BUILD_TOOLS = frozenset({"setuptools", "wheel"})


@dataclass(frozen=True)
class BuildPlan:
    project_name: str
    base_image: str
    python: PythonChoice
    installer: Installer
    buildkit: bool  # cache and secret mounts need BuildKit; the classic builder gets neither
    mount_context: bool  # the builder reruns a step when what it bind-mounts changes (BuildKit)
    user: str
    uid: int
    jupyterlab: str | None  # the requirement nbship adds; None when the project brings JupyterLab
    has_data: bool  # data/ is there, and the project's .dockerignore leaves some of it in
    hidden: tuple[str, ...]  # input files the project's .dockerignore hides: sent for the build, kept out of the image
    sbom_locks: tuple[str, ...]  # the lock files the image's copy of the project has, which the SBOM reads
    spec_files: tuple[str, ...]  # the inputs the image's copy keeps (specs, locks, postBuild): a layer of their own
    strip: bool  # trim the environment (payload/slim.py) before it reaches the image
    strip_keep: tuple[str, ...]  # build tools the project names, which stripping leaves in
    fragments: Mapping[Stage, tuple[Fragment, ...]]  # each input kind's part, stage by stage
    needs_source: bool  # a fragment copies from the `source` stage (the project without notebooks or data)
    final_env: tuple[tuple[str, str], ...]  # environment variables the inputs give the final image
    labels: tuple[tuple[str, str], ...]
    support_image: str | None  # nbship's support files from this image; None: from the project's folder

    def stage(self, name: Stage) -> tuple[Fragment, ...]:
        return self.fragments.get(name, ())


def jupyterlab_for(python: str) -> str:
    return JUPYTERLAB_FOR_OLD_PYTHON.get(python, JUPYTERLAB_REQUIREMENT)


def python_of(project: Project) -> PythonChoice:
    """The Python version: the `python` setting, else what the project's files say, else the default."""
    hints = [hint for item in project.inputs if (hint := item.python_hint()) is not None]
    if project.settings.python:
        if project.settings.python not in KNOWN_PYTHONS:
            where = project.rel(project.settings_file) if project.settings_file else "the settings"
            raise ProjectError(
                f'{where}: python = "{project.settings.python}" is not a Python nbship can build for. '
                f"Choose one of {', '.join(KNOWN_PYTHONS)}."
            )
        return PythonChoice(project.settings.python, f"python = {project.settings.python} in the settings")
    return choose_python(hints)


def base_image_of(project: Project, options: ImageOptions, python: PythonChoice) -> str:
    base = options.base_image or project.settings.base_image
    if base is None:
        return f"python:{python.version}-slim"
    validate_reference(base, what="base image")
    return base


def context_inputs(project: Project) -> dict[str, bool]:
    """Every file the build reads from the context, as the project names it, and whether the image
    keeps it (it runs postBuild and start)."""
    files: dict[str, bool] = {}
    for item in project.inputs:
        for path in item.context_files():
            rel = project.rel(path)
            files[rel] = files.get(rel, False) or item.kept_in_image
    return files


def hidden_inputs(project: Project) -> tuple[str, ...]:
    """The input files the project's own .dockerignore leaves out of the context (nbship sends them)."""
    matcher = ignore.Matcher(project.ignore)
    return tuple(rel for rel in context_inputs(project) if matcher.excluded(rel))


def sbom_locks(project: Project, sent: Mapping[str, bool], hidden: tuple[str, ...]) -> tuple[str, ...]:
    """The lock files (contract.LOCK_FOLDERS x LOCK_FILES) the image's copy of the project holds,
    which the SBOM reads: those an input installs from (sent always; the build writes a missing
    one first, so the Dockerfile is the same before and after), and regular files, not behind a
    link, that the .dockerignore leaves in; none that the content stage removes."""
    matcher = ignore.Matcher(project.ignore)
    found = []
    for folder in c.LOCK_FOLDERS:
        if folder and (project.root / folder).is_symlink():
            continue
        for name in c.LOCK_FILES:
            rel = f"{folder}/{name}" if folder else name
            path = project.root / rel
            present = path.is_file() and not path.is_symlink() and not matcher.excluded(rel)
            if rel not in hidden and (rel in sent or present):
                found.append(rel)
    return tuple(found)


def notebook_uid(project: Project, options: ImageOptions) -> int:
    """The notebook user's uid: --user-id, else the settings (NBSHIP_USER_ID, the file, the default)."""
    uid = options.user_id if options.user_id is not None else project.settings.user_id
    if not 0 < uid < 2**31:
        raise UsageError(
            f"--user-id {uid} cannot be the notebook user's id: it must be a non-root uid "
            "(1 or more), such as 1000 or your own `id -u`."
        )
    return uid


def make_plan(
    project: Project, options: ImageOptions, *, buildkit: bool, support_image: str | None, mount_context: bool
) -> BuildPlan:
    if project.input(DockerfileInput) is not None:
        raise UsageError("The project has its own Dockerfile, which nbship builds as is: there is no plan to make.")
    settings = project.settings
    uid = notebook_uid(project, options)
    installer = options.installer or settings.installer
    python = python_of(project)
    provided = frozenset().union(*(item.provides() for item in project.inputs))
    ctx = PlanContext(
        python=python.version,
        installer=installer,
        buildkit=buildkit,
        inputs=project.inputs,
        rel=project.rel,
    )
    fragments: dict[Stage, list[Fragment]] = {stage: [] for stage in STAGES}
    final_env: dict[str, str] = {}
    for item in project.inputs:
        for fragment in item.fragments(ctx):
            fragments[fragment.stage].append(fragment)
        final_env.update(item.final_env())
    if len(fragments["env-base"]) > 1:
        raise UsageError("Two of the project's files each define the whole environment; keep one of them.")
    kept = context_inputs(project)
    hidden = tuple(rel for rel in hidden_inputs(project) if not kept[rel])
    return BuildPlan(
        project_name=project.name,
        base_image=base_image_of(project, options, python),
        python=python,
        installer=installer,
        buildkit=buildkit,
        mount_context=buildkit and mount_context,
        user=c.NB_USER,
        uid=uid,
        jupyterlab=None if provided & JUPYTER_PROVIDERS else jupyterlab_for(python.version),
        has_data=project.data_dir is not None and ignore.Matcher(project.ignore).sends_any(project.root, "data"),
        hidden=hidden,
        sbom_locks=sbom_locks(project, kept, hidden),
        spec_files=tuple(sorted(rel for rel in kept if rel not in hidden)),
        strip=options.strip if options.strip is not None else settings.strip,
        strip_keep=tuple(sorted(provided & BUILD_TOOLS)),
        fragments={stage: tuple(items) for stage, items in fragments.items()},
        needs_source=bool(fragments["project"]) or any(f.uses_source for items in fragments.values() for f in items),
        final_env=tuple(sorted(final_env.items())),
        labels=((c.OCI_TITLE, project.name), (c.LABEL_VERSION, __version__)),
        support_image=support_image,
    )
