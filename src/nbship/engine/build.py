"""Image builds: BuildKit through the docker CLI when one can, else the classic builder via the API."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker.utils

from nbship.engine.client import CliProcess, DockerClient, find_buildkit_cli
from nbship.errors import BuildError, DockerCommandError, Interrupted, UsageError
from nbship.reporter import Reporter

BuilderChoice = Literal["auto", "buildkit", "classic"]
CA_SECRET_ID = "nbship-ca"
_LOG_TAIL = 25


@dataclass(frozen=True)
class Builder:
    kind: Literal["buildkit", "classic"]
    cli: str | None
    description: str


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: str  # the Dockerfile's text
    ignore: tuple[str, ...]  # .dockerignore patterns applied to the context
    tag: str
    labels: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None
    no_cache: bool = False
    secrets: tuple[tuple[str, Path], ...] = ()  # more BuildKit secrets (id, file): channel credentials and such


@dataclass(frozen=True)
class BuildResult:
    image: str
    image_id: str
    size: int
    builder: Builder


def choose_builder(requested: BuilderChoice, *, ca_bundle: Path | None) -> Builder:
    cli = find_buildkit_cli() if requested != "classic" else None
    if cli is not None:
        return Builder("buildkit", cli.path, f"BuildKit via {cli.path} ({cli.how})")
    if requested == "buildkit":
        raise UsageError(
            "BuildKit was asked for (--builder buildkit) but no docker command here can use it: "
            "install the docker buildx plugin, or use a docker client older than 23.0."
        )
    if ca_bundle is not None:
        raise UsageError(
            "--ca-bundle needs BuildKit, which keeps the bundle out of every image layer, and none is "
            "available here (the classic builder would have to bake the bundle into a layer). Install "
            "the docker buildx plugin and try again."
        )
    why = (
        "as asked"
        if requested == "classic"
        else "no docker command with BuildKit was found; builds get no download cache"
    )
    return Builder("classic", None, f"the classic builder ({why})")


@dataclass
class _Step:
    name: str
    lines: list[str] = field(default_factory=list)


# Errors in a failing step's log that mean "this package does not exist"; group 1 is the name.
_MISSING_PACKAGE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Because ([A-Za-z0-9._-]+) was not found in the package registry"), "PyPI"),
    (re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)"), "PyPI"),
    (re.compile(r"E: Unable to locate package ([a-z0-9.+-]+)"), "the Debian package lists"),
)


def missing_package(log: Iterable[str]) -> tuple[str, str] | None:
    for line in log:
        for pattern, where in _MISSING_PACKAGE_PATTERNS:
            if match := pattern.search(line):
                return match.group(1), where
    return None


_TLS_FAILURE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer")


def _failure(step: _Step | None, tail_source: list[str]) -> BuildError:
    lines = step.lines if step and step.lines else tail_source
    tail = "\n".join(lines[-_LOG_TAIL:])
    name = step.name if step else "an unknown step"
    own = next((line.split("nbship: ", 1)[1] for line in lines if "nbship: " in line), None)
    if own:
        # A check nbship's Dockerfile makes itself: its own words are the clearest message.
        return BuildError(f"{own[:1].upper()}{own[1:]}.", details=tail)
    if any(_TLS_FAILURE.search(line) for line in lines):
        return BuildError(
            f"Downloads failed certificate verification at step {name}: this network most likely "
            "intercepts HTTPS (a company proxy). Pass your organisation's CA bundle with --ca-bundle FILE; "
            "nbship uses it during the build only and keeps it out of the image.",
            details=tail,
        )
    found = missing_package(lines)
    if found:
        package, where = found
        return BuildError(
            f"The package '{package}' could not be found in {where}, so the build stopped at {name}. "
            "Check its spelling and version in the project's requirements.txt / apt.txt and build again.",
            details=tail,
        )
    return BuildError(f"The build failed at step {name}. The last lines of its log are below.", details=tail)


_BK_STEP = re.compile(r"^#(\d+) \[(.+?)\] (.*)$")
_BK_LOG = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR:? ?(.*)$")


def _buildkit(client: DockerClient, builder: Builder, request: BuildRequest, reporter: Reporter) -> None:
    assert builder.cli is not None
    with tempfile.TemporaryDirectory(prefix="nbship-build-") as tmp:
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(request.dockerfile, encoding="utf-8")
        # BuildKit reads <Dockerfile>.dockerignore instead of the context's own: nbship's list
        # applies without writing anything into the user's folder.
        Path(tmp, "Dockerfile.dockerignore").write_text("\n".join(request.ignore) + "\n", encoding="utf-8")
        command = [builder.cli, "build", "--progress=plain", "-f", str(dockerfile), "-t", request.tag]
        for key, value in request.labels.items():
            command += ["--label", f"{key}={value}"]
        if request.ca_bundle is not None:
            command += ["--secret", f"id={CA_SECRET_ID},src={request.ca_bundle}"]
        for secret_id, source in request.secrets:
            command += ["--secret", f"id={secret_id},src={source}"]
        if request.no_cache:
            command.append("--no-cache")
        command.append(str(request.context))
        process = CliProcess(command, env={"DOCKER_BUILDKIT": "1"})
        steps: dict[str, _Step] = {}
        failed: str | None = None
        everything: list[str] = []
        try:
            for line in process.lines():
                everything.append(line)
                reporter.log(line)
                if match := _BK_STEP.match(line):
                    if match.group(1) not in steps:
                        steps[match.group(1)] = _Step(f"[{match.group(2)}] {match.group(3)}")
                        reporter.step(steps[match.group(1)].name)
                elif match := _BK_LOG.match(line):
                    if match.group(1) in steps:
                        steps[match.group(1)].lines.append(match.group(2))
                elif (match := _BK_ERROR.match(line)) and failed is None:
                    failed = match.group(1)
            code = process.wait()
        except KeyboardInterrupt:
            process.kill()
            raise Interrupted("Build interrupted: nothing was tagged, no container was started.") from None
        if code != 0:
            if failed is None and not steps:
                raise DockerCommandError(
                    "docker build failed before running any step. Its output is below.",
                    command=" ".join(command),
                    returncode=code,
                    output="\n".join(everything),
                )
            raise _failure(steps.get(failed or ""), everything)


def _classic(client: DockerClient, request: BuildRequest, reporter: Reporter) -> None:
    context = docker.utils.tar(
        str(request.context), exclude=list(request.ignore), dockerfile=(".nbship.Dockerfile", request.dockerfile)
    )
    current: _Step | None = None
    everything: list[str] = []

    def stream() -> Iterator[dict[str, Any]]:
        return iter(
            client.sdk.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=".nbship.Dockerfile",
                tag=request.tag,
                labels=request.labels,
                rm=True,
                forcerm=True,
                nocache=request.no_cache,
                decode=True,
            )
        )

    try:
        for chunk in client.call(f"docker build -t {request.tag} (classic builder)", stream):
            if "error" in chunk:
                everything.append(str(chunk["error"]))
                if current:
                    current.lines.append(str(chunk["error"]))
                raise _failure(current, everything)
            for line in str(chunk.get("stream", "")).splitlines():
                everything.append(line)
                reporter.log(line)
                if line.startswith("Step "):
                    current = _Step(line.split(" : ", 1)[-1] if " : " in line else line)
                    reporter.step(line)
                elif current is not None and line.strip():
                    current.lines.append(line)
    except KeyboardInterrupt:
        raise Interrupted("Build interrupted: nothing was tagged, no container was started.") from None
    finally:
        context.close()


def build_image(client: DockerClient, builder: Builder, request: BuildRequest, reporter: Reporter) -> BuildResult:
    if request.ca_bundle is not None and not request.ca_bundle.is_file():
        raise UsageError(
            f"The CA bundle {request.ca_bundle} does not exist. Give the path of a PEM file (--ca-bundle)."
        )
    if request.secrets and builder.kind != "buildkit":
        raise UsageError(
            "This build needs BuildKit secrets (channel credentials, or a local conda channel nbship serves "
            "to the build), and only the classic builder is available. Install the docker buildx plugin."
        )
    if builder.kind == "buildkit":
        _buildkit(client, builder, request, reporter)
    else:
        _classic(client, request, reporter)
    image = client.image(request.tag)
    if image is None:
        raise BuildError(f"The build finished but the image {request.tag} is not there. Build again with --debug.")
    return BuildResult(image=request.tag, image_id=str(image.id), size=int(image.attrs.get("Size", 0)), builder=builder)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in {"B", "kB"} else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


__all__ = ["BuildRequest", "BuildResult", "Builder", "build_image", "choose_builder", "human_size"]
