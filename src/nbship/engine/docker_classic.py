"""The classic builder (no BuildKit), which the Docker engine drives through the SDK's build API.

Apart from engine/docker.py because it is a concern of its own: sending the context nbship picked
and reading the classic log (numbered steps, "---> Using cache") into the seam's build report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import docker.utils.build

from nbship import ignore
from nbship.engine.base import BuildReport, BuildRequest, BuildStep
from nbship.engine.buildlog import Step, failure, notes
from nbship.errors import Interrupted
from nbship.reporter import Reporter

if TYPE_CHECKING:
    from nbship.engine.docker import DockerEngine


def classic_build(engine: DockerEngine, request: BuildRequest, reporter: Reporter) -> BuildReport:
    """`docker build` with the classic builder, through the SDK: the context nbship picked, the
    log read into steps as the BuildKit path reads its own."""
    # The context as BuildKit would send it: nbship's matcher, with Docker's semantics, picks
    # the files (docker-py's own matcher differs from Docker's and can take seconds per name).
    patterns = ignore.compile_lines(ignore.parse("\n".join(request.ignore)))
    entries = ignore.Matcher(patterns).walk(request.context)
    # The daemon reads the Dockerfile from the context, then drops the files its .dockerignore
    # names: the one sent here names the Dockerfile, so it stays out of the image.
    dockerfile = ".nbship.Dockerfile"
    context = docker.utils.build.create_archive(
        str(request.context),
        files=[entry.path for entry in entries],
        extra_files=[(".dockerignore", "\n".join([*request.ignore, dockerfile])), (dockerfile, request.dockerfile)],
    )
    current: Step | None = None
    everything: list[str] = []
    steps: list[tuple[str, Step]] = []  # (stage, step): the classic log numbers steps, not stages
    stage = ""

    def stream() -> Iterator[dict[str, Any]]:
        return iter(
            engine.sdk.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=dockerfile,
                tag=request.tag,
                labels=dict(request.labels),
                buildargs=dict(request.build_args) or None,
                rm=True,
                forcerm=True,
                nocache=request.no_cache,
                decode=True,
            )
        )

    try:
        for chunk in engine.call(f"docker build -t {request.tag} (classic builder)", stream):
            if "error" in chunk:
                everything.append(str(chunk["error"]))
                if current:
                    current.lines.append(str(chunk["error"]))
                raise failure(current, everything)
            for line in str(chunk.get("stream", "")).splitlines():
                everything.append(line)
                reporter.log(line)
                if line.startswith("Step "):
                    current = Step(line.split(" : ", 1)[-1] if " : " in line else line)
                    words = current.name.split()
                    if words[:1] and words[0].upper() == "FROM":
                        stage = words[3] if len(words) > 3 and words[2].upper() == "AS" else str(len(steps))
                    steps.append((stage, current))
                    reporter.step(line)
                elif current is not None and line.strip() == "---> Using cache":
                    current.cached = True
                elif current is not None and line.strip():
                    current.lines.append(line)
    except KeyboardInterrupt:
        raise Interrupted("Build interrupted: nothing was tagged, no container was started.") from None
    finally:
        context.close()
    for note in notes(step for _, step in steps):
        reporter.warn(note)
    return BuildReport(
        tuple(
            BuildStep(stage=name, instruction=step.name, cached=step.cached)
            for name, step in steps
            if not step.name.upper().startswith("FROM ")
        )
    )
