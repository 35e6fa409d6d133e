"""The SBOM of an image built from the project's own Dockerfile, which nbship does not write.

After that build, one more small build on top of the image: a throw-away stage runs nbship's SBOM
writer (payload/sbom.py) with the image's own python3, and the image gets
the document at contract.SBOM in one COPY layer. Nothing else of the image changes: its user,
command, entrypoint, environment and labels are the ones its Dockerfile gave. An image without a
usable python3 (3.8 or newer) keeps no SBOM; the build says so and still succeeds, and
`nbship sbom` on it says why there is none.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from shlex import quote as shquote

from nbship import __version__
from nbship import contract as c
from nbship.engine import Engine
from nbship.engine.base import Builder, BuildRequest
from nbship.errors import BuildError
from nbship.project.detect import Project
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.render import support
from nbship.reporter import Reporter

_SCAN = "/tmp/nbship-sbom"  # noqa: S108 - inside the throw-away stage only
_NO_PYTHON = 97  # the scan's exit status when the image has no python3
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE | re.MULTILINE)


def final_base(dockerfile: str) -> str | None:
    """The image the Dockerfile's last stage starts FROM, when that is an image rather than a stage
    of its own or a build argument."""
    stages = list(_FROM.finditer(dockerfile))
    if not stages:
        return None
    named = {(m.group(2) or "").lower() for m in stages}
    base = stages[-1].group(1)
    return None if base.lower() in named or "$" in base else base


def sbom_dockerfile(tag: str, project: Project, base_image: str | None, build_args: dict[str, str]) -> str:
    writer = f"{c.SUPPORT_STAGE}-sbom"
    command = (
        f"python3 {_SCAN}/writer --name {shquote(project.name)} --nbship-version {shquote(__version__)} "
        f"--base-image {shquote(base_image or 'NOASSERTION')} > {_SCAN}/sbom.spdx.json"
    )
    args = "".join(f"ARG {name}\n" for name in sorted(build_args))
    return (
        f"FROM {support.support_image()} AS {writer}\n"
        f"FROM {tag} AS scan\n"
        # Root in this stage only (it never reaches the image): the image's user may read too little.
        "USER root\n"
        f"COPY --from={writer} {c.SBOM_WRITER.removeprefix(c.NBSHIP_DIR)} {_SCAN}/writer\n"
        f"{args}"
        # Exec form: the image's own SHELL may be anything.
        f"RUN {json.dumps(['/bin/sh', '-c', f'command -v python3 >/dev/null || exit {_NO_PYTHON}; {command}'])}\n"
        f"FROM {tag}\n"
        f"COPY --from=scan {_SCAN}/sbom.spdx.json {c.SBOM}\n"
    )


def add_sbom(
    engine: Engine,
    project: Project,
    tag: str,
    builder: Builder,
    base_image: str | None,
    build_args: dict[str, str],
    reporter: Reporter,
) -> bool:
    """Writes the SBOM into the image `tag` names (the tag then names the image with it); False,
    with a warning saying why, when the image cannot have one."""
    own = project.input(DockerfileInput)
    dockerfile = own.display if own is not None else "the Dockerfile"  # binder/Dockerfile keeps its folder
    request_text = sbom_dockerfile(tag, project, base_image, build_args)
    with tempfile.TemporaryDirectory(prefix="nbship-sbom-") as empty:
        request = BuildRequest(
            context=Path(empty), dockerfile=request_text, ignore=(), tag=tag, builder=builder, build_args=build_args
        )
        try:
            engine.build(request, reporter)
        except BuildError as exc:
            lacks = re.search(rf"code:? {_NO_PYTHON}\b", f"{exc.message}\n{exc.details or ''}") is not None
            said = [line.strip() for line in (exc.details or "").splitlines() if line.strip()]
            why = (
                "it has no python3"
                if lacks
                else "the SBOM writer failed in it (it needs python3 3.8 or newer)"
                + (f": {said[-1][:300]}" if said else "")
            )
            reporter.warn(
                f"The image of {dockerfile} has no SBOM ({c.SBOM}): {why}. "
                "Install python3 in the Dockerfile to get one, or let nbship write the Dockerfile (nbship init)."
            )
            return False
    return True
