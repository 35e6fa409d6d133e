"""Dockerfile: the project's own, built as it is (as on Binder); nothing else nbship detects applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nbship.project.kinds.base import Input, Layout, OneFile
from nbship.project.text import read_text

name = "dockerfile"


@dataclass(frozen=True)
class DockerfileInput(OneFile):
    kind: ClassVar[str] = name

    def text(self) -> str:
        return read_text(self.path, self.display)


def detect(layout: Layout, found: tuple[Input, ...]) -> DockerfileInput | None:
    path = layout.find("Dockerfile")
    return DockerfileInput(path, layout.display(path)) if path else None
