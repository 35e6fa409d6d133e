"""The docker command-line client, for what the Engine API cannot do: BuildKit builds (the SDK's
build uses the classic builder), `login` that stores credentials where pushes find them, and
interactive shells attached to the user's terminal."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbship.engine.base import BuildReport, BuildRequest
from nbship.engine.buildlog import BuildkitLog, notes
from nbship.errors import DockerCommandError, DockerUnavailableError, Interrupted
from nbship.reporter import Reporter
from nbship.values import label_instruction


@dataclass(frozen=True)
class BuildkitCli:
    """A docker CLI able to run BuildKit builds, and how it was recognised."""

    path: str
    how: str  # "buildx plugin" or "built-in BuildKit (client X)"


def docker_clis() -> list[str]:
    """Every docker client on PATH, in PATH order (shutil.which: docker.exe on Windows)."""
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and (candidate := shutil.which("docker", path=folder)):
            found.append(candidate)
    if Path("/usr/bin/docker").is_file():
        found.append("/usr/bin/docker")
    return list(dict.fromkeys(found))


def _quiet(cmd: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.cache
def find_buildkit_cli() -> BuildkitCli | None:
    """The first docker CLI on PATH that builds with BuildKit, or None (then: classic builder).

    A CLI from 23.0 on needs the buildx plugin for BuildKit; older ones have it built in.
    """
    for cli in docker_clis():
        buildx = _quiet([cli, "buildx", "version"])
        if buildx is not None and buildx.returncode == 0:
            return BuildkitCli(cli, "buildx plugin")
        version = _quiet([cli, "version", "--format", "{{.Client.Version}}"])
        if version is None:
            continue
        match = re.match(r"(\d+)\.", version.stdout.strip())
        if match and 18 < int(match.group(1)) < 23:
            return BuildkitCli(cli, f"built-in BuildKit (docker client {version.stdout.strip()})")
    return None


def docker_cli() -> str:
    """Any docker CLI, for commands every version has (exec, run -it, login)."""
    clis = docker_clis()
    if not clis:
        raise DockerUnavailableError(
            "No docker command was found on PATH. Install Docker (the engine and its command-line "
            "client), then try again."
        )
    return clis[0]


def run_attached(args: Sequence[str]) -> int:
    """The docker CLI attached to the user's terminal (shell, exec): its exit code."""
    command = [docker_cli(), *args]
    try:
        return subprocess.call(command)
    except OSError as exc:
        raise DockerCommandError(
            f"Could not run {command[0]}: {exc}", command=" ".join(command), returncode=None, output=""
        ) from exc


def run_with_input(args: Sequence[str], text: str) -> tuple[int, str]:
    """The docker CLI with `text` on its stdin (a password, never an argument): exit code and output."""
    command = [docker_cli(), *args]
    try:
        result = subprocess.run(command, input=text, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerCommandError(
            f"Could not run {command[0]} {args[0]}: {exc}", command=" ".join(command), returncode=None, output=""
        ) from exc
    return result.returncode, result.stdout + result.stderr


class CliProcess:
    """A docker CLI command whose merged output is read line by line (a BuildKit build)."""

    def __init__(self, command: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            raise DockerCommandError(
                f"Could not run {self.command[0]}: {exc}", command=" ".join(self.command), returncode=None, output=""
            ) from exc

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            yield line.rstrip("\n")

    def wait(self) -> int:
        return self._proc.wait()

    def kill(self) -> None:
        """Stops the command (Ctrl-C): the CLI cancels its build on SIGTERM."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def dockerfile_with_labels(request: BuildRequest) -> str:
    """The Dockerfile the build runs: the request's, and its labels as one last LABEL instruction.

    That is what `--label` does, without putting the values on a command line, which every user
    of the machine can read (`ps`); a label's value is not part of any layer's cache key."""
    text = request.dockerfile if request.dockerfile.endswith("\n") else request.dockerfile + "\n"
    if not request.labels:
        return text
    return text + label_instruction(request.labels, request.dockerfile) + "\n"


def buildkit_command(cli: str, request: BuildRequest, folder: Path) -> list[str]:
    """The `docker build` command line, with the Dockerfile and ignore list written into `folder`.
    It names files, never a label's or a secret's value."""
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(dockerfile_with_labels(request), encoding="utf-8")
    # BuildKit reads <Dockerfile>.dockerignore instead of the context's own: nbship's list
    # applies without writing anything into the user's folder.
    Path(folder, "Dockerfile.dockerignore").write_text("\n".join(request.ignore) + "\n", encoding="utf-8")
    command = [cli, "build", "--progress=plain", "-f", str(dockerfile), "-t", request.tag]
    # Build arguments are NB_USER and NB_UID for an own Dockerfile: nbship's values, never a secret.
    for key, value in request.build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    for secret_id, source in request.secrets:
        command += ["--secret", f"id={secret_id},src={source}"]
    if request.no_cache:
        command.append("--no-cache")
    command.append(str(request.context))
    return command


def buildkit_build(cli: str, request: BuildRequest, reporter: Reporter) -> BuildReport:
    """`docker build` with BuildKit, the Dockerfile and nbship's ignore list outside the context."""
    with tempfile.TemporaryDirectory(prefix="nbship-build-") as tmp:
        command = buildkit_command(cli, request, Path(tmp))
        process = CliProcess(command, env={"DOCKER_BUILDKIT": "1"})
        log = BuildkitLog()
        try:
            for line in process.lines():
                reporter.log(line)
                if started := log.feed(line):
                    reporter.step(started.name)
            code = process.wait()
        except KeyboardInterrupt:
            process.kill()
            raise Interrupted("Build interrupted: nothing was tagged, no container was started.") from None
        if code != 0:
            if log.failed is None and not log.steps:
                raise DockerCommandError(
                    "docker build failed before running any step. Its output is below.",
                    command=" ".join(command),
                    returncode=code,
                    output="\n".join(log.everything),
                )
            raise log.error()
        for note in notes(log.steps.values()):
            reporter.warn(note)
        return log.report()
