"""environment.yml / environment.yaml, read strictly: every mistake is reported with its line.

PyYAML's node tree keeps the line of every key and item, so errors can point at them; the values
are then checked as conda would read them (match specs parsed by rattler, pip lines by packaging).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from rattler import MatchSpec
from rattler.exceptions import InvalidMatchSpecError

from nbship import contract as c
from nbship.errors import InputFileError
from nbship.project.kinds.base import Fragment, Input, InputBase, Layout, PlanContext
from nbship.project.text import nesting_guard, read_text
from nbship.values import control_character, shown

name = "conda"
LOCK_NAME = "nbship.lock"  # beside environment.yml; written by `nbship lock` (nbship.lock.conda)
# Installs the lock in a throwaway build stage; never in the image.
RATTLER_REQUIREMENT = "py-rattler==0.28.0"

# The keys `conda env create` reads. `prefix` is machine-specific and nbship chooses its own.
KNOWN_KEYS = ("name", "channels", "dependencies", "prefix")
_CONDA_JUPYTER = frozenset({"jupyterlab", "jupyter", "notebook", "jupyter_server"})
_PIP_OPTION_RE = re.compile(r"^-")
_CREDENTIALS_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]+@", re.IGNORECASE)


# The lock is installed by py-rattler in stages of their own: py-rattler and the package cache
# stay there, only the finished prefix is copied on. Credentials and the map of local channels
# are secrets, in no layer.
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
      /tmp/nbship/conda/nbship.lock {{ env_prefix }} /root/.cache/rattler"""
# The prefix comes from the conda-env stage. Without a Python of its own it becomes a virtualenv
# of the base image's Python; a base image that serves Jupyter already keeps its server.
_ENV_BASE = """
COPY --from=conda-env {{ env_prefix }} {{ env_prefix }}
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    {{ tools_setup }}; \\
    if [ ! -x {{ env_prefix }}/bin/python ]; then python3 -m venv {{ env_prefix }}; fi; \\
{%- if jupyterlab %}
    if command -v jupyter-lab >/dev/null; \\
    then echo "nbship-conda: serving with the base image's $(command -v jupyter-lab)"; \\
    else {{ install }} {{ jupyterlab | shquote }}; fi; \\
{%- endif %}
    {{ lab_settings }}{{ strip }}"""
# The pip: section, into the same environment, after the conda packages.
_PIP = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    mkdir -p /tmp/nbship/env; \\
    printf '%s\\n'{% for line in pip %} {{ line | shquote }}{% endfor %} > /tmp/nbship/env/conda-pip.txt; \\
    {{ install }} -r /tmp/nbship/env/conda-pip.txt{{ strip }}"""


@dataclass(frozen=True)
class CondaInput(InputBase):
    kind: ClassVar[str] = name
    path: Path
    display: str  # the file as the user names it: "environment.yml", "binder/environment.yml"
    name: str | None
    channels: tuple[str, ...]
    conda: tuple[str, ...]  # match specs, as written
    pip: tuple[str, ...]  # the pip: section, line by line
    conda_names: frozenset[str]
    pip_names: frozenset[str]

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
        # A conda environment serving with notebook or jupyter_server brings its own Jupyter too.
        return self.conda_names | self.pip_names | (frozenset({"jupyterlab"}) if self.brings_jupyter else frozenset())

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
        }
        parts = [Fragment("stages", _STAGES, stages), Fragment("env-base", _ENV_BASE)]
        if self.pip:
            parts.append(Fragment("env", _PIP, {"pip": self.pip}))
        return tuple(parts)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    def __init__(self, display: str) -> None:
        self.display = display

    def fail(self, node: yaml.Node | None, problem: str, fix: str) -> InputFileError:
        return InputFileError(self.display, _line(node) if node is not None else None, problem, fix)

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null" or not str(node.value).strip():
            raise self.fail(node, f"{what} must be a non-empty string", "Write one item per line, like '- numpy'.")
        value = str(node.value).strip()
        if control_character(value):
            # The pip: lines go into the Dockerfile: a line break there would start an instruction.
            raise self.fail(
                node,
                f"{what} '{shown(value)}' holds a line break or another control character",
                "Write each item on one line of plain text.",
            )
        return value

    def sequence(self, node: yaml.Node, key: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"'{key}' must be a list", f"Write it as '{key}:' followed by lines like '  - item'.")
        return list(node.value)

    def channels(self, node: yaml.Node) -> tuple[str, ...]:
        channels: list[str] = []
        for item in self.sequence(node, "channels"):
            channel = self.scalar(item, "a channel")
            if channel == "nodefaults":
                continue  # conda's way of saying "only these channels", which is what nbship does anyway
            if channel == "defaults":
                raise self.fail(
                    item,
                    "the 'defaults' channel depends on each machine's conda configuration",
                    "Name the channels explicitly, for example 'conda-forge', or the URL of your channel.",
                )
            if _CREDENTIALS_RE.match(channel):
                raise self.fail(
                    item,
                    "this channel URL carries credentials, which would reach the image with the project's files",
                    "Remove them from the URL and give them to nbship in a rattler credentials file "
                    "(--channel-auth FILE, or RATTLER_AUTH_FILE): the build gets them as a secret only.",
                )
            channels.append(channel)
        return tuple(dict.fromkeys(channels))

    def conda_spec(self, item: yaml.Node) -> tuple[str, str]:
        spec = self.scalar(item, "a dependency")
        try:
            parsed = MatchSpec(spec, strict=True)  # strict, as the solver reads it
        except InvalidMatchSpecError as exc:
            raise self.fail(
                item,
                f"'{spec}' is not a valid conda package spec ({exc})",
                "Write it like 'numpy', 'numpy=1.26' or 'numpy >=1.26,<2'.",
            ) from exc
        if parsed.name is None:
            raise self.fail(item, f"'{spec}' names no package", "Start the line with the package name.")
        return spec, parsed.name.normalized

    def pip_line(self, item: yaml.Node) -> tuple[str, str | None]:
        line = self.scalar(item, "a pip requirement")
        if _PIP_OPTION_RE.match(line) or "://" in line:
            return line, None  # an option (--index-url ...) or a URL: pip checks it at install time
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise self.fail(
                item,
                f"'{line}' is not a valid pip requirement ({str(exc).splitlines()[0]})",
                "Write pip requirements as in requirements.txt, like 'requests==2.32.3' (pip uses '==').",
            ) from exc
        return line, canonicalize_name(requirement.name)

    def dependencies(self, node: yaml.Node) -> tuple[list[str], set[str], list[str], set[str]]:
        conda: list[str] = []
        conda_names: set[str] = set()
        pip: list[str] = []
        pip_names: set[str] = set()
        for item in self.sequence(node, "dependencies"):
            if isinstance(item, yaml.MappingNode):
                for key_node, value in item.value:
                    key = self.scalar(key_node, "a key")
                    if key != "pip":
                        raise self.fail(
                            key_node,
                            f"'{key}:' is not a section conda knows in dependencies",
                            "The only section allowed there is 'pip:'.",
                        )
                    for pip_item in self.sequence(value, "pip"):
                        line, name = self.pip_line(pip_item)
                        pip.append(line)
                        if name:
                            pip_names.add(name)
                continue
            spec, name = self.conda_spec(item)
            conda.append(spec)
            conda_names.add(name)
        return conda, conda_names, pip, pip_names


def parse_environment(path: Path, display: str) -> CondaInput:
    reader = _Reader(display)
    text = read_text(path, display)
    try:
        with nesting_guard(display):
            root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or "the YAML does not parse"
        raise InputFileError(display, line, f"this is not valid YAML ({problem})", "Fix the syntax.") from exc
    except yaml.YAMLError as exc:
        raise InputFileError(display, None, f"this is not valid YAML ({exc})", "Fix the syntax.") from exc
    if root is None:
        raise InputFileError(display, None, "the file is empty", "List the packages under 'dependencies:'.")
    if not isinstance(root, yaml.MappingNode):
        raise reader.fail(root, "the file must be a mapping of keys", "Start it with 'channels:'.")
    values: dict[str, yaml.Node] = {}
    keys: dict[str, yaml.Node] = {}
    for key_node, value in root.value:
        key = reader.scalar(key_node, "a key")
        if key not in KNOWN_KEYS:
            hint = " Environment variables go in a 'start' script." if key == "variables" else ""
            raise reader.fail(
                key_node, f"unknown key '{key}'", f"The keys nbship reads are: {', '.join(KNOWN_KEYS)}.{hint}"
            )
        if key in values:
            raise reader.fail(key_node, f"'{key}' appears twice", "Keep one of them.")
        values[key], keys[key] = value, key_node
    if "dependencies" not in values:
        raise InputFileError(display, None, "there is no 'dependencies:' list", "List the packages under it.")
    conda, conda_names, pip, pip_names = reader.dependencies(values["dependencies"])
    channels = reader.channels(values["channels"]) if "channels" in values else ()
    if conda and not channels:
        raise reader.fail(
            keys["dependencies"],
            "conda packages are listed but no channel is named",
            "Add 'channels:' with, for example, '- conda-forge'.",
        )
    env_name = reader.scalar(values["name"], "name") if "name" in values else None
    return CondaInput(
        path=path,
        display=display,
        name=env_name,
        channels=channels,
        conda=tuple(conda),
        pip=tuple(pip),
        conda_names=frozenset(conda_names),
        pip_names=frozenset(pip_names),
    )


def detect(layout: Layout, found: tuple[Input, ...]) -> CondaInput | None:
    path = layout.find("environment.yml") or layout.find("environment.yaml")
    return parse_environment(path, layout.display(path)) if path else None
