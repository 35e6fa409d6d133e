"""What start and postBuild have in common: scripts that run whatever mode they were committed with
and whatever line endings the editor wrote, as on Binder.

A repository made on Windows, or uploaded through a web page, has scripts without the executable
bit and often with CRLF line endings (`#!/bin/bash\\r` names no interpreter). The image's own copy
of the project is fixed in the content stage, so the script runs from where the project has it
(its `$0` and the files beside it are the same). The user's files are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbship.project.kinds.base import Fragment

_BOM = b"\xef\xbb\xbf"

# In the content stage, as root: only the image's copy changes.
_CONTENT_FRAGMENT = """
RUN set -eu; cd {{ content_dir }}; {% if bom %}sed -i '1s/^\\xEF\\xBB\\xBF//' {{ script | shquote }}; {% endif -%}
{% if crlf %}sed -i 's/\\r$//' {{ script | shquote }}; {% endif %}chmod 0755 {{ script | shquote }}"""


@dataclass(frozen=True)
class ScriptText:
    """What decides how a script is run: read on the host, so the Dockerfile says it plainly."""

    shebang: bool  # names its interpreter (`#!`); else it runs with bash, as Binder runs postBuild
    crlf: bool
    bom: bool
    text: str  # decoded, line endings normalized: for the checks the kinds make on it

    def content_fragment(self, display: str) -> Fragment:
        return Fragment("content", _CONTENT_FRAGMENT, {"script": display, "crlf": self.crlf, "bom": self.bom})


def read_script(path: Path) -> ScriptText:
    data = path.read_bytes()
    bom = data.startswith(_BOM)
    body = data[len(_BOM) :] if bom else data
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return ScriptText(shebang=body.startswith(b"#!"), crlf=b"\r\n" in body, bom=bom, text=text)
