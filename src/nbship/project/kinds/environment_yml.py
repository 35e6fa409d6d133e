"""environment.yml / environment.yaml, read strictly: every mistake is reported with its line.

PyYAML's node tree keeps the line of every key and item, so errors can point at them; the values
are then checked as conda would read them (match specs parsed by rattler, pip lines by packaging).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
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

# The keys `conda env create` reads. `prefix` is machine-specific (`conda env export` writes it)
# and nbship chooses its own.
KNOWN_KEYS = ("name", "channels", "dependencies", "variables", "prefix")
_CONDA_JUPYTER = frozenset({"jupyterlab", "jupyter", "notebook", "jupyter_server"})
_PIP_OPTION_RE = re.compile(r"^-")
_PIP_LOCAL_RE = re.compile(r"^(?:(?:-e|--editable)[ =]\s*)?(?:\.|/|file:)")
_CREDENTIALS_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]+@", re.IGNORECASE)
# What `defaults` means to conda on Linux: Anaconda's main and r channels.
DEFAULTS_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
# Binder's channel when a file names none.
DEFAULT_CHANNEL = "conda-forge"
# `conda env export` pins each package as name=version=build, which conda reads and rattler's
# strict parser does not; nbship rewrites it as the solver's `name ==version build`.
_EXPORTED_SPEC_RE = re.compile(r"^[^=\s]+=[^=\s]+=[^=\s]+$")
_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables the image itself depends on: set from environment.yml they would break it.
_RESERVED_VARIABLES = frozenset({"PATH", "HOME", "USER", "VIRTUAL_ENV", "LANG", "LC_ALL", c.TOKEN_ENV})


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
        return tuple(line for line in self.pip if _PIP_LOCAL_RE.match(line))

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


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _exported_spec(spec: str) -> tuple[str, str] | None:
    """`name=version=build` as `conda env export` writes it, in the form the solver takes."""
    if not _EXPORTED_SPEC_RE.match(spec):
        return None
    try:
        lenient = MatchSpec(spec, strict=False)
        normalized = str(lenient)
        MatchSpec(normalized, strict=True)
    except InvalidMatchSpecError:
        return None
    if lenient.name is None:
        return None
    return normalized, lenient.name.normalized


class _Reader:
    def __init__(self, display: str, path: Path, root: Path) -> None:
        self.display = display
        self.base = path.parent.resolve()  # pip reads a pip: section's paths from the file's folder
        self.root = root.resolve()

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

    def channels(self, node: yaml.Node) -> tuple[tuple[str, ...], list[str]]:
        """The channels as the solver reads them, and what nbship says about how it read them."""
        named: list[tuple[str, yaml.Node]] = []
        for item in self.sequence(node, "channels"):
            channel = self.scalar(item, "a channel")
            if _CREDENTIALS_RE.match(channel):
                raise self.fail(
                    item,
                    "this channel URL carries credentials, which would reach the image with the project's files",
                    "Remove them from the URL and give them to nbship in a rattler credentials file "
                    "(--channel-auth FILE, or RATTLER_AUTH_FILE): the build gets them as a secret only.",
                )
            named.append((channel, item))
        names = [channel for channel, _ in named]
        notes: list[str] = []
        channels: list[str] = []
        for channel in names:
            if channel == "nodefaults":
                continue  # conda's "not the defaults channel": only the named ones, which is what nbship does
            if channel == "defaults":
                if "nodefaults" in names:
                    continue
                channels.extend(DEFAULTS_CHANNELS)
                notes.append(
                    f"{self.display} names the 'defaults' channel: nbship reads it as conda does, Anaconda's main "
                    "and r channels (repo.anaconda.com), whose terms of service apply to you."
                )
                continue
            channels.append(channel)
        return tuple(dict.fromkeys(channels)), notes

    def variables(self, node: yaml.Node) -> tuple[tuple[str, str], ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return ()
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                node, "'variables' must be a mapping", "Write it as 'variables:' with lines like '  NAME: value'."
            )
        found: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, "a variable name")
            if not _VARIABLE_RE.match(key):
                raise self.fail(
                    key_node,
                    f"'{key}' is not a name an environment variable can have",
                    "Use letters, digits and underscores, not starting with a digit.",
                )
            if key in _RESERVED_VARIABLES or key.startswith("NBSHIP_"):
                raise self.fail(
                    key_node,
                    f"'{key}' is set by the image itself, and changing it would break the server",
                    "Choose another name, or set it in a 'start' script.",
                )
            if not isinstance(value_node, yaml.ScalarNode):
                raise self.fail(
                    value_node, f"the value of '{key}' must be a single value", "Write it as 'NAME: value'."
                )
            value = "" if value_node.tag == "tag:yaml.org,2002:null" else str(value_node.value)
            if any(ch in value for ch in "\n\r\0"):
                raise self.fail(value_node, f"the value of '{key}' has a line break", "Keep each value on one line.")
            if key in found:
                raise self.fail(key_node, f"'{key}' appears twice", "Keep one of them.")
            found[key] = value
        return tuple(found.items())

    def conda_spec(self, item: yaml.Node) -> tuple[str, str]:
        spec = self.scalar(item, "a dependency")
        try:
            parsed = MatchSpec(spec, strict=True)  # strict, as the solver reads it
        except InvalidMatchSpecError as exc:
            exported = _exported_spec(spec)
            if exported is not None:
                return exported
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
        if _PIP_LOCAL_RE.match(line):
            self.local_path(item, line)
            return line, None
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

    def local_path(self, item: yaml.Node, line: str) -> None:
        """A pip: line installing a folder: it must stay inside the project, and be a plain path."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise self.fail(item, f"'{line}' does not parse ({exc})", "Write it like '-e .' or './mypackage'.") from exc
        path = words[-1].removeprefix("file:")
        editable_forms = (["-e", words[-1]], ["--editable", words[-1]], [words[-1]])
        if words not in editable_forms and not (len(words) == 1 and words[0].startswith(("-e=", "--editable="))):
            raise self.fail(item, f"'{line}' is not a folder to install", "Write it like '-e .' or './mypackage'.")
        path = path.split("=", 1)[-1] if path.startswith(("-e=", "--editable=")) else path
        folder = (self.base / path.split("[", 1)[0]).resolve()
        if path.startswith("/") or not folder.is_relative_to(self.root):
            raise self.fail(
                item,
                f"'{line}' installs a folder outside the project",
                "Keep the package inside the project folder and name it by a relative path, like '-e .'.",
            )

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


def parse_environment(path: Path, display: str, root: Path | None = None) -> CondaInput:
    reader = _Reader(display, path, root or path.parent)
    text = read_text(path, display)
    try:
        with nesting_guard(display):
            root_node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or "the YAML does not parse"
        raise InputFileError(display, line, f"this is not valid YAML ({problem})", "Fix the syntax.") from exc
    except yaml.YAMLError as exc:
        raise InputFileError(display, None, f"this is not valid YAML ({exc})", "Fix the syntax.") from exc
    if root_node is None:
        raise InputFileError(display, None, "the file is empty", "List the packages under 'dependencies:'.")
    if not isinstance(root_node, yaml.MappingNode):
        raise reader.fail(root_node, "the file must be a mapping of keys", "Start it with 'channels:'.")
    values: dict[str, yaml.Node] = {}
    for key_node, value in root_node.value:
        key = reader.scalar(key_node, "a key")
        if key not in KNOWN_KEYS:
            raise reader.fail(key_node, f"unknown key '{key}'", f"The keys nbship reads are: {', '.join(KNOWN_KEYS)}.")
        if key in values:
            raise reader.fail(key_node, f"'{key}' appears twice", "Keep one of them.")
        values[key] = value
    if "dependencies" not in values:
        raise InputFileError(display, None, "there is no 'dependencies:' list", "List the packages under it.")
    conda, conda_names, pip, pip_names = reader.dependencies(values["dependencies"])
    channels, notes = reader.channels(values["channels"]) if "channels" in values else ((), [])
    if conda and not channels:
        channels = (DEFAULT_CHANNEL,)
        notes.append(f"{display} names no channel: nbship uses {DEFAULT_CHANNEL}, as Binder does.")
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
        variables=reader.variables(values["variables"]) if "variables" in values else (),
        notes=tuple(notes),
    )


def detect(layout: Layout, found: tuple[Input, ...]) -> CondaInput | None:
    path = layout.find("environment.yml") or layout.find("environment.yaml")
    return parse_environment(path, layout.display(path), layout.root) if path else None
