"""requirements.lock: the pip environment pinned by `nbship lock` (every package `==` with its
hashes, JupyterLab included), installed with --require-hashes instead of requirements.txt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship.project.kinds.base import Fragment, Ignored, Input, Layout, OneFile, PlanContext
from nbship.project.kinds.pipfile import PipfileInput
from nbship.project.kinds.requirements import RequirementsInput

name = "pip-lock"
LOCK_NAME = "requirements.lock"

_FRAGMENT = """
COPY {{ copy_args(lock, "/tmp/nbship/env/requirements.lock") }}
RUN {{ mounts }}set -eu; {{ ca_env }} \\
    cd /tmp/nbship/env; {{ install }} --require-hashes -r requirements.lock{{ strip }}"""


@dataclass(frozen=True)
class PipLockInput(OneFile):
    kind: ClassVar[str] = name

    def provides(self) -> frozenset[str]:
        # nbship locks its JupyterLab pin with the rest, unless the project names its own.
        return frozenset({"jupyterlab"})

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        return (Fragment("env", _FRAGMENT, {"lock": ctx.rel(self.path)}),)


def lock_path(config_dir: Path) -> Path:
    return config_dir / LOCK_NAME


def detect(layout: Layout, found: tuple[Input, ...]) -> PipLockInput | Ignored | None:
    path = layout.find(LOCK_NAME)
    if path is None or any(item.kind == "conda" for item in found):
        return None
    pipfile_lock = next((item for item in found if isinstance(item, PipfileInput) and item.lock is not None), None)
    if pipfile_lock is not None:
        return Ignored(
            path,
            f"{layout.display(path)} is not used: {pipfile_lock.display} is the lock (as on Binder, it wins).",
        )
    local = next((item for item in found if isinstance(item, RequirementsInput) and item.needs_source), None)
    if local is not None:
        return Ignored(
            path,
            f"{layout.display(path)} is not used: {layout.display(local.files[0])} installs a local folder, "
            "which cannot be hash-locked, so the requirements are installed as they are.",
        )
    return PipLockInput(path, layout.display(path))
