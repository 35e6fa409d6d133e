"""postBuild: a script run once at build time, as the notebook user, in the project folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nbship.project.kinds.base import Fragment, Input, Layout, OneFile, PlanContext

name = "postbuild"

# Run with its own interpreter when it names one (#!), else with bash, as Binder does.
_FRAGMENT = """
RUN {{ ca_mount }}set -eu; {{ ca_env }} \\
    cd {{ content_dir }}; chmod +x {{ script | shquote }}; \\
    if [ "$(head -c 2 {{ script | shquote }})" = "#!" ]; then ./{{ script }}; else /bin/bash ./{{ script }}; fi"""


@dataclass(frozen=True)
class PostBuildInput(OneFile):
    kind: ClassVar[str] = name
    kept_in_image: ClassVar[bool] = True

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        return (Fragment("final", _FRAGMENT, {"script": self.display}),)


def detect(layout: Layout, found: tuple[Input, ...]) -> PostBuildInput | None:
    path = layout.find("postBuild")
    return PostBuildInput(path, layout.display(path)) if path else None
