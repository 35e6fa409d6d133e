"""start: a script run at every container start, before the command it is given (`exec "$@"`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from nbship import contract as c
from nbship.errors import InputFileError
from nbship.project.kinds.base import Fragment, Input, Layout, OneFile, PlanContext
from nbship.project.kinds.script import ScriptText, read_script

name = "start"

_START_EXEC_RE = re.compile(r'exec\s+"\$(@|\{@\})"')


@dataclass(frozen=True)
class StartInput(OneFile):
    kind: ClassVar[str] = name
    kept_in_image: ClassVar[bool] = True
    script: ScriptText

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        return (self.script.content_fragment(self.display),)

    def final_env(self) -> Mapping[str, str]:
        # The entrypoint runs it from the image's copy of the project (payload/entrypoint.sh).
        return {c.START_ENV: self.display}


def detect(layout: Layout, found: tuple[Input, ...]) -> StartInput | None:
    path = layout.find("start")
    if path is None:
        return None
    display = layout.display(path)
    script = read_script(path)
    if not _START_EXEC_RE.search(script.text):
        raise InputFileError(
            display,
            None,
            "the start script does not run the command it is given, so the server would never start",
            'End it with the line: exec "$@"',
        )
    return StartInput(path, display, script)
