"""environment.yml / environment.yaml: the conda kind, its part of the plan and its stages.

The file is read by environment_yml_read (PyYAML, rattler's match specs, packaging), imported
only when a project has such a file: a project without one loads none of them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship import contract as c
from nbship.project.kinds.base import Fragment, Input, InputBase, Layout, PlanContext

name = "conda"
LOCK_NAME = "nbship.lock"  # beside environment.yml; written by `nbship lock` (nbship.lock.conda)
# Installs the lock in a throwaway build stage; never in the image.
RATTLER_REQUIREMENT = "py-rattler==0.28.0"

_CONDA_JUPYTER = frozenset({"jupyterlab", "jupyter", "notebook", "jupyter_server"})
PIP_LOCAL_RE = re.compile(r"^(?:(?:-e|--editable)[ =]\s*)?(?:\.|/|file:)")
# What `defaults` means to conda on Linux: Anaconda's main and r channels.
DEFAULTS_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
# Binder's channel when a file names none.
DEFAULT_CHANNEL = "conda-forge"


# The lock is installed by py-rattler in stages of their own: py-rattler and the package cache
# stay there, only the finished prefix (and the lock's hashed pip requirements) is copied on.
# Credentials and the map of local channels are secrets, in no layer.
_STAGES = """
# The conda environment, installed from {{ lock }} by py-rattler: no solve at build time.
FROM system AS conda-tools
RUN {{ pip_mounts }}set -eu; {{ ca_env }} \\
    python3 -m venv {{ rattler_dir }}; \\
    {{ rattler_dir }}/bin/python -m pip install -q {{ rattler_requirement }}
COPY --from={{ support_stage }} /build/{{ installer_name }} {{ installer }}

FROM conda-tools AS conda-env
ARG TARGETARCH
COPY {{ copy_args(lock, "/tmp/nbship/conda/nbship.lock") }}
RUN {% if buildkit %}--mount=type=cache,target=/root/.cache/rattler,sharing=locked \\
    {{ ca_mount }}--mount=type=secret,id={{ auth_secret }},mode=0400,required=false \\
    --mount=type=secret,id={{ map_secret }},mode=0400,required=false \\
    {% endif %}set -eu; {{ ca_env }} \\
    if [ -s {{ secret_dir }}/{{ auth_secret }} ]; then export {{ auth_env }}={{ secret_dir }}/{{ auth_secret }}; fi; \\
    {{ map_env }}={{ secret_dir }}/{{ map_secret }} {{ rattler_dir }}/bin/python {{ installer }} \\
      /tmp/nbship/conda/nbship.lock {{ env_prefix }} /root/.cache/rattler {{ pip_dir }}"""
# The prefix comes from the conda-env stage. Without a Python of its own it becomes a virtualenv
# of the base image's Python. Then the lock's pip packages, hashed and without dependency
# resolution (the lock has them all). The server is the environment's own; else the base image's,
# when it serves Jupyter; else the JupyterLab the lock pinned from PyPI.
_ENV_BASE = """
COPY --from=conda-env {{ env_prefix }} {{ env_prefix }}
COPY --from=conda-env {{ pip_dir }}/ {{ pip_dir }}/
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    if [ ! -x {{ env_prefix }}/bin/python ]; then {{ env_create }}; fi; \\
    if [ -s {{ pip_dir }}/pip.txt ]; then {{ install }} --require-hashes --no-deps -r {{ pip_dir }}/pip.txt; fi; \\
    if [ -x {{ env_prefix }}/bin/jupyter-lab ]; then :; \\
    elif command -v jupyter-lab >/dev/null; \\
    then echo "nbship-conda: serving with the base image's $(command -v jupyter-lab)"; \\
    elif [ -s {{ pip_dir }}/jupyterlab.txt ]; \\
    then {{ install }} --require-hashes --no-deps -r {{ pip_dir }}/jupyterlab.txt; \\
    else echo "nbship: the environment has no JupyterLab; add jupyterlab to environment.yml" >&2; exit 1; fi; \\
    {{ lab_settings }}{{ strip }}"""
# pip: lines that install a folder of the project ('-e .'): their dependencies are in the lock.
_PIP_LOCAL = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd {{ (content_dir ~ "/" ~ folder) | shquote }}; \\
    {{ install }} --no-deps{% for word in pip_local %} {{ word | shquote }}{% endfor %}{{ strip }}"""


@dataclass(frozen=True)
class CondaInput(InputBase):
    kind: ClassVar[str] = name
    path: Path
    display: str  # the file as the user names it: "environment.yml", "binder/environment.yml"
    name: str | None
    channels: tuple[str, ...]  # as the solver reads them: `defaults` spelled out, conda-forge when none is named
    conda: tuple[str, ...]  # match specs as the solver takes them (exported name=version=build rewritten)
    pip: tuple[str, ...]  # the pip: section, line by line
    conda_names: frozenset[str]
    pip_names: frozenset[str]
    variables: tuple[tuple[str, str], ...] = ()  # `variables:`, set in the image's environment
    notes: tuple[str, ...] = ()  # what nbship read differently from the letter of the file, said when locking

    @property
    def pip_local(self) -> tuple[str, ...]:
        """pip: lines that install a folder of the project ('-e .'): installed from its sources."""
        return tuple(line for line in self.pip if PIP_LOCAL_RE.match(line))

    @property
    def brings_jupyter(self) -> bool:
        return bool((self.conda_names | self.pip_names) & _CONDA_JUPYTER)

    @property
    def has_python(self) -> bool:
        return "python" in self.conda_names

    @property
    def lock_path(self) -> Path:
        return self.path.parent / LOCK_NAME

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path,)

    def context_files(self) -> tuple[Path, ...]:
        return (self.path, self.lock_path)  # the build installs the lock

    def provides(self) -> frozenset[str]:
        # The lock decides where JupyterLab comes from (the channel, or PyPI pinned and hashed):
        # nbship's own JupyterLab step is never needed.
        return self.conda_names | self.pip_names | frozenset({"jupyterlab"})

    def final_env(self) -> Mapping[str, str]:
        return dict(self.variables)

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        stages = {
            "lock": ctx.rel(self.lock_path),
            "rattler_dir": c.RATTLER_DIR,
            "rattler_requirement": RATTLER_REQUIREMENT,
            "installer": c.CONDA_INSTALLER,
            "installer_name": c.CONDA_INSTALLER.rsplit("/", 1)[1],
            "auth_secret": c.CHANNEL_AUTH_SECRET,
            "map_secret": c.CHANNEL_MAP_SECRET,
            "auth_env": c.RATTLER_AUTH_ENV,
            "map_env": c.CHANNEL_MAP_ENV,
            "secret_dir": c.SECRET_DIR,
            "pip_dir": c.CONDA_PIP_DIR,
        }
        parts = [Fragment("stages", _STAGES, stages), Fragment("env-base", _ENV_BASE, {"pip_dir": c.CONDA_PIP_DIR})]
        if self.pip_local:
            folder = Path(ctx.rel(self.path)).parent.as_posix()
            words = tuple(word for line in self.pip_local for word in shlex.split(line))
            parts.append(Fragment("project", _PIP_LOCAL, {"pip_local": words, "folder": folder}))
        return tuple(parts)


def parse_environment(path: Path, display: str, root: Path | None = None) -> CondaInput:
    """The file read strictly: every mistake is reported with its line."""
    from nbship.project.kinds.environment_yml_read import read_environment

    return read_environment(path, display, root)


def detect(layout: Layout, found: tuple[Input, ...]) -> CondaInput | None:
    path = layout.find("environment.yml") or layout.find("environment.yaml")
    return parse_environment(path, layout.display(path), layout.root) if path else None
