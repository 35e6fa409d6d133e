"""requirements.txt, as pip reads it: requirements, options, `-r`/`-c` includes, local paths."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship.errors import InputFileError
from nbship.project.kinds.base import Fragment, Ignored, Input, InputBase, Layout, PlanContext
from nbship.project.text import check_include_depth, outside_problem, read_text
from nbship.values import copy_source_problem, shown

# Options pip accepts in a requirements file and that take a value.
_VALUE_OPTIONS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--use-feature",
    "--config-settings",
}
_FLAG_OPTIONS = {"--pre", "--no-index", "--prefer-binary", "--require-hashes"}
_INCLUDE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
_EDITABLE = {"-e", "--editable"}
_URL_RE = re.compile(r"^(git\+|hg\+|svn\+|bzr\+)?(https?|file|ftp)://", re.IGNORECASE)
_PER_LINE_OPTION_RE = re.compile(r"\s+--(hash|config-settings|global-option)[= ]\S+")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# What counts as the project bringing JupyterLab itself (then nbship adds nothing).
JUPYTER_PROVIDERS = frozenset({"jupyterlab", "jupyter"})


name = "requirements"

# Without local paths: installed in the env stage from the requirement files alone, so a change
# anywhere else in the project leaves the environment cached.
_ENV_FRAGMENT = """
{%- for path in inputs %}
COPY {{ copy_args(path, "/tmp/nbship/env/" ~ path) }}
{%- endfor %}
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd /tmp/nbship/env; {{ install }} -r {{ requirements | shquote }}{{ strip }}"""
# With a local path ('-e .', './pkg'): installed from the project's sources.
_PROJECT_FRAGMENT = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd {{ content_dir }}; {{ install }} -r {{ requirements | shquote }}{{ strip }}"""


@dataclass(frozen=True)
class RequirementsInput(InputBase):
    kind: ClassVar[str] = name
    path: Path
    names: frozenset[str]  # canonical names of the named requirements, includes followed
    includes: tuple[Path, ...]  # files pulled in with -r / -c, all inside the project
    needs_source: bool  # a line installs a local path (".", "-e .", "./pkg"): needs the project copied

    @property
    def brings_jupyterlab(self) -> bool:
        return bool(self.names & JUPYTER_PROVIDERS)

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path, *self.includes)

    def provides(self) -> frozenset[str]:
        return self.names

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        if ctx.has("pip-lock"):
            return ()  # requirements.lock holds these, pinned and hashed: it is installed instead
        values = {"requirements": ctx.rel(self.path), "inputs": tuple(dict.fromkeys(ctx.rel(f) for f in self.files))}
        if self.needs_source:
            return (Fragment("project", _PROJECT_FRAGMENT, values),)
        return (Fragment("env", _ENV_FRAGMENT, values),)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Joins backslash continuations; keeps the number of each logical line's first line."""
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
            if raw.lstrip().startswith("#"):
                continue  # pip never joins a comment line with the next one
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append((start, pending + raw))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def _is_local_path(value: str) -> bool:
    return value.startswith((".", "/", "file:")) or value in {"."}


def _split_option(line: str) -> tuple[str, str]:
    """`--opt=value`, `--opt value`, `-rfile`: pip splits option lines like a shell, quotes included."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    first = words[0]
    if first.startswith("--") and "=" in first:
        option, _, value = first.partition("=")
        return option, " ".join([value, *words[1:]]).strip()
    if len(first) > 2 and first[:2] in {"-r", "-c", "-e", "-i", "-f"}:
        return first[:2], first[2:]
    return first, " ".join(words[1:]).strip()


class _Parser:
    def __init__(self, project_root: Path) -> None:
        self.root = project_root.resolve()
        self.names: set[str] = set()
        self.includes: list[Path] = []
        self.needs_source = False
        self.seen: set[Path] = set()

    def display(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def parse_file(self, path: Path, depth: int = 0) -> None:
        resolved = path.resolve()
        if resolved in self.seen:
            return
        self.seen.add(resolved)
        text = read_text(path, self.display(path))
        for number, raw in _logical_lines(text):
            line = _COMMENT_RE.sub("", raw).strip()
            if line:
                self.parse_line(path, number, line, depth)

    def parse_line(self, path: Path, number: int, line: str, depth: int = 0) -> None:
        where = self.display(path)
        if line.startswith("-"):
            option, value = _split_option(line)
            if option in _INCLUDE_OPTIONS:
                self.include(path, number, value, constraint=option in {"-c", "--constraint"}, depth=depth + 1)
            elif option in _EDITABLE:
                if not value:
                    raise InputFileError(
                        where, number, "'-e' needs a path or URL", "Write it as '-e .' or '-e git+https://...'."
                    )
                self.needs_source = self.needs_source or _is_local_path(value)
            elif option in _VALUE_OPTIONS:
                if not value:
                    raise InputFileError(
                        where, number, f"option '{option}' needs a value", "Give the value after the option."
                    )
            elif option not in _FLAG_OPTIONS:
                raise InputFileError(
                    where,
                    number,
                    f"'{option}' is not an option pip accepts in a requirements file",
                    "Remove it, or see pip's requirements file format for the options it knows.",
                )
            return
        if _is_local_path(line) or ("/" in line and ((self.root / line).is_dir() or (path.parent / line).is_dir())):
            self.needs_source = True
            return
        if _URL_RE.match(line):
            return
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        requirement_text = _PER_LINE_OPTION_RE.sub("", line)
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as exc:
            hint = ""
            match = re.match(r"^([A-Za-z0-9._-]+)\s*=\s*([^=].*)$", requirement_text)
            if match:
                hint = f" Did you mean '{match.group(1)}=={match.group(2).strip()}'?"
            raise InputFileError(
                where,
                number,
                f"'{line}' is not a valid requirement ({str(exc).splitlines()[0]})",
                f"Write one package per line, like 'numpy==2.1' or 'pandas>=2'.{hint}",
            ) from exc
        self.names.add(canonicalize_name(requirement.name))

    def include(self, path: Path, number: int, value: str, *, constraint: bool, depth: int) -> None:
        where = self.display(path)
        if not value:
            raise InputFileError(where, number, "'-r'/'-c' needs a file name", "Name the file to include.")
        if _URL_RE.match(value):
            return
        check_include_depth(depth, where, number)
        outside = outside_problem(path.parent / value, self.root)
        if outside:
            problem = f"the included file '{shown(value)}' {outside}"
            raise InputFileError(where, number, problem, "Keep included files inside the project.")
        target = (path.parent / value).resolve()
        if not target.is_file():
            raise InputFileError(
                where, number, f"the included file '{shown(value)}' does not exist", "Create it or remove the line."
            )
        # The build copies each included file by name: the name must mean only itself to COPY.
        unfit = copy_source_problem(self.display(target))
        if unfit:
            raise InputFileError(
                where,
                number,
                f"the included file '{shown(value)}' cannot be copied into the build: {unfit}",
                "Rename the file (letters, digits, . _ - and /) and the line that includes it.",
            )
        self.includes.append(target)
        # A constraints file pins versions but installs nothing: its names are not the project's.
        names = set(self.names)
        self.parse_file(target, depth)
        if constraint:
            self.names = names


def parse_requirements(path: Path, project_root: Path) -> RequirementsInput:
    parser = _Parser(project_root)
    parser.parse_file(path)
    return RequirementsInput(
        path=path,
        names=frozenset(parser.names),
        includes=tuple(dict.fromkeys(parser.includes)),
        needs_source=parser.needs_source,
    )


# The kinds that describe the whole environment, so requirements.txt beside them is unused (as on
# Binder), and where its packages belong instead.
_WINNERS = (
    ("pipfile", "(as on Binder, a Pipfile wins over requirements.txt). Add its packages to the Pipfile."),
    ("conda", "(as on Binder). Put pip packages in its 'pip:' section."),
)


def detect(layout: Layout, found: tuple[Input, ...]) -> RequirementsInput | Ignored | None:
    path = layout.find("requirements.txt")
    if path is None:
        return None
    for kind, instead in _WINNERS:
        winner = next((item for item in found if item.kind == kind), None)
        if winner is not None:
            return Ignored(
                path,
                f"{layout.display(path)} is not used: {layout.display(winner.files[0])} describes the environment "
                + instead,
            )
    return parse_requirements(path, layout.root)
