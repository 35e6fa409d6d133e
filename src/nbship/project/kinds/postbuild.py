"""postBuild: a script run once at build time, as the notebook user, in the project folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from nbship.project.kinds.apt import AptInput, install_fragment
from nbship.project.kinds.base import Fragment, Input, Layout, OneFile, PlanContext
from nbship.project.kinds.script import ScriptText, read_script

name = "postbuild"

# Binder's base image has these, and postBuild scripts take them for granted. curl, wget and unzip
# add 9 MB to python:3.11-slim and come with every postBuild; git adds 96 MB (it needs perl), so it
# comes when the script names it. Any other missing command is named when the script fails
# (engine/buildlog.py).
EVERYDAY_TOOLS = ("curl", "wget", "unzip")
_GIT_RE = re.compile(r"(?<![\w.-])git(?![\w.-])")

# With its own interpreter when it names one (#!), else with bash, as Binder does. A failure says
# so in nbship's words (engine/buildlog.py reads the `nbship:` line), above the script's last lines.
_FRAGMENT = """
RUN {{ ca_mount }}set -eu; {{ ca_env }} \\
    cd {{ content_dir }}; \\
    {% if shebang %}./{{ script | shquote }}{% else %}/bin/bash ./{{ script | shquote }}{% endif %} || { status=$?; \\
      echo "nbship: postBuild failed (exit $status): "{{ script | shquote }}" stopped the build" >&2; exit $status; }"""


@dataclass(frozen=True)
class PostBuildInput(OneFile):
    kind: ClassVar[str] = name
    kept_in_image: ClassVar[bool] = True
    script: ScriptText

    @property
    def tools(self) -> tuple[str, ...]:
        return (*EVERYDAY_TOOLS, *(("git",) if _GIT_RE.search(self.script.text) else ()))

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        listed = {package for item in ctx.inputs if isinstance(item, AptInput) for package in item.packages}
        tools = tuple(tool for tool in self.tools if tool not in listed)
        run = Fragment("final", _FRAGMENT, {"script": self.display, "shebang": self.script.shebang})
        return (
            *((install_fragment(tools),) if tools else ()),
            self.script.content_fragment(self.display),
            run,
        )


def detect(layout: Layout, found: tuple[Input, ...]) -> PostBuildInput | None:
    path = layout.find("postBuild")
    return PostBuildInput(path, layout.display(path), read_script(path)) if path else None
