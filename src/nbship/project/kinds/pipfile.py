"""Pipfile and Pipfile.lock, with Binder's semantics (repo2docker's Pipfile build pack):

- Pipfile.lock wins over Pipfile: exactly the locked versions of both sections (default and
  develop), installed with their hashes enforced (`--require-hashes`);
- a Pipfile (or its lock) wins over requirements.txt in the same folder;
- the project itself is installed only when the Pipfile names it as a path
  (`{path = ".", editable = true}`), not because a setup.py or pyproject.toml exists;
- `[requires] python_version` (the lock's `_meta.requires` first) picks the Python, before
  runtime.txt, as on Binder;
- an environment.yml wins over both (Binder's order of build packs).
Without a lock, the Pipfile's specs are installed as they are (pipenv's `--skip-lock`), until
`nbship lock` pins them into requirements.lock (nbship.lock.pip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from nbship import contract as c
from nbship.project.kinds.base import Fragment, Ignored, Input, InputBase, Layout, PlanContext, PythonHint
from nbship.project.python import DEFAULT_PYTHON

if TYPE_CHECKING:
    # The reader (packaging, json) is imported by detect, once a Pipfile or its lock is there.
    from nbship.project.kinds.pipfile_read import LocalPath, PipfileData

name = "pipfile"
PIPFILE = "Pipfile"
PIPFILE_LOCK = "Pipfile.lock"

# The lock, converted in the build by nbship's reader (payload/pipfile_lock.py) into its hashed pins.
_LOCK_FRAGMENT = """
COPY {{ copy_args(lock, "/tmp/nbship/env/Pipfile.lock") }}
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd /tmp/nbship/env; {{ env_prefix }}/bin/python {{ reader }} Pipfile.lock > Pipfile.lock.txt; \\
    {{ install }} --require-hashes -r Pipfile.lock.txt{{ strip }}"""
# Requirement lines without hashes: a Pipfile's specs, or a lock's VCS and URL entries (whose
# dependencies the lock holds already: --no-deps).
_LINES_FRAGMENT = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    mkdir -p /tmp/nbship/env; \\
    printf '%s\\n'{% for line in lines %} {{ line | shquote }}{% endfor %} > /tmp/nbship/env/Pipfile.txt; \\
    {{ install }}{% if no_deps %} --no-deps{% endif %} -r /tmp/nbship/env/Pipfile.txt{{ strip }}"""
# Path entries, from the project's sources (the project itself, when the Pipfile names it).
_LOCAL_FRAGMENT = """
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd {{ content_dir }}; {{ install }}{% if no_deps %} --no-deps{% endif %}
{%- for arg in args %} {{ arg | shquote }}{% endfor %}{{ strip }}"""


@dataclass(frozen=True)
class PipfileInput(InputBase):
    kind: ClassVar[str] = name
    pipfile: Path | None
    lock: Path | None  # Pipfile.lock: when present, it is what gets installed
    display: str  # the file that decides, as the project names it
    data: PipfileData

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(path for path in (self.lock, self.pipfile) if path is not None)

    @property
    def local(self) -> tuple[LocalPath, ...]:
        return self.data.local

    def provides(self) -> frozenset[str]:
        return self.data.names

    def python_hint(self) -> PythonHint | None:
        version, where = self.data.python, self.data.python_key
        if where is None:
            return None
        reason = f"{self.display} {where}"
        # Binder reads the Pipfile's Python before runtime.txt (rank 10): its environment was made for it.
        if version is not None and not version.startswith("3"):
            return PythonHint(
                None,
                reason,
                rank=5,
                problem=f"{self.display}: {where} asks for Python {version}, and nbship builds Python 3 "
                "environments only. Ask for a Python 3 version there.",
            )
        return PythonHint(None if version == "3" else version or DEFAULT_PYTHON, reason, rank=5)

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        parts: list[Fragment] = []
        locked = self.lock is not None or ctx.has("pip-lock")
        if self.lock is not None:
            if self.data.hashed:
                values = {"lock": ctx.rel(self.lock), "reader": c.PIPFILE_LOCK_READER}
                parts.append(Fragment("env", _LOCK_FRAGMENT, values))
            if self.data.lines:
                parts.append(Fragment("env", _LINES_FRAGMENT, {"lines": self.data.lines, "no_deps": True}))
        elif not ctx.has("pip-lock") and self.data.lines:
            # requirements.lock, when there is one, holds these pinned and hashed instead.
            parts.append(Fragment("env", _LINES_FRAGMENT, {"lines": self.data.lines, "no_deps": False}))
        if self.local:
            args = tuple(arg for item in self.local for arg in item.args())
            parts.append(Fragment("project", _LOCAL_FRAGMENT, {"args": args, "no_deps": locked}))
        return tuple(parts)


def _stale(pipfile: Path, lock: Path, layout: Layout) -> Ignored | None:
    from nbship.project.kinds.pipfile_read import locked_pipfile_hash, pipfile_hash

    recorded = locked_pipfile_hash(lock)
    current = pipfile_hash(pipfile)
    if recorded is None or current is None or recorded == current:
        return None
    return Ignored(
        pipfile,
        f"{layout.display(pipfile)} changed since {layout.display(lock)} was locked from it; the lock is installed "
        "as it is (as on Binder), so the changes are not. Run `pipenv lock` to bring the lock up to date.",
    )


def detect(layout: Layout, found: tuple[Input, ...]) -> Input | Ignored | tuple[Input | Ignored, ...] | None:
    pipfile = layout.find(PIPFILE)
    lock = layout.find(PIPFILE_LOCK)
    decider = lock or pipfile
    if decider is None:
        return None
    conda = next((item for item in found if item.kind == "conda"), None)
    if conda is not None:
        shown = " and ".join(layout.display(path) for path in (pipfile, lock) if path is not None)
        return Ignored(
            decider,
            f"{shown} not used: {layout.display(conda.files[0])} describes the environment (as on Binder, where "
            "environment.yml comes first). Put pip packages in its 'pip:' section.",
        )
    from nbship.project.kinds.pipfile_read import read_pipfile, read_pipfile_lock

    display = layout.display(decider)
    if lock is not None:
        data = read_pipfile_lock(lock, display, layout.root)
        if pipfile is not None:
            read_pipfile(pipfile, layout.display(pipfile), layout.root)  # a broken Pipfile is still reported
    else:
        assert pipfile is not None
        data = read_pipfile(pipfile, display, layout.root)
    found_input = PipfileInput(pipfile, lock, display, data)
    stale = _stale(pipfile, lock, layout) if pipfile is not None and lock is not None else None
    return (found_input, stale) if stale is not None else found_input
