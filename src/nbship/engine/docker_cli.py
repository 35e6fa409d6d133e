"""The docker command-line client, for what the Engine API cannot do: BuildKit builds (the SDK's
build uses the classic builder), `login` that stores credentials where pushes find them, and
interactive shells attached to the user's terminal.

Every command runs with `env`: changes to nbship's environment that pin the CLI to the daemon the
SDK talks to (docker_endpoint.DockerEndpoint.cli_env). The Podman engine runs its CLI through
CliProcess and with_env too."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbship.engine.base import BuildReport, BuildRequest
from nbship.engine.buildlog import BuildkitLog, BuildLog, notes
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


Env = Mapping[str, "str | None"]  # variable -> value; None removes it
FrozenEnv = tuple[tuple[str, "str | None"], ...]


def with_env(env: Env | None) -> dict[str, str]:
    """This process's environment with `env` applied."""
    merged = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def frozen(env: Env) -> FrozenEnv:
    return tuple(sorted(env.items()))


def _quiet(cmd: Sequence[str], env: Env | None = None) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False, env=with_env(env))
    except (OSError, subprocess.TimeoutExpired):
        return None


@functools.cache
def find_buildkit_cli(env: FrozenEnv = ()) -> BuildkitCli | None:
    """The first docker CLI on PATH that builds with BuildKit, or None (then: classic builder).

    A CLI from 23.0 on needs the buildx plugin for BuildKit; older ones have it built in.
    """
    for cli in docker_clis():
        buildx = _quiet([cli, "buildx", "version"], dict(env))
        if buildx is not None and buildx.returncode == 0:
            return BuildkitCli(cli, "buildx plugin")
        version = _quiet([cli, "version", "--format", "{{.Client.Version}}"], dict(env))
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


def run_attached(args: Sequence[str], *, env: Env | None = None, program: str | None = None) -> int:
    """The CLI (docker unless `program`) attached to the user's terminal (shell, exec): its exit code."""
    command = [program or docker_cli(), *args]
    try:
        return subprocess.call(command, env=with_env(env))
    except OSError as exc:
        raise DockerCommandError(
            f"Could not run {command[0]}: {exc}", command=" ".join(command), returncode=None, output=""
        ) from exc


def run_with_input(
    args: Sequence[str], text: str, *, env: Env | None = None, program: str | None = None
) -> tuple[int, str]:
    """The CLI (docker unless `program`) with `text` on its stdin (a password, never an argument):
    exit code and output."""
    command = [program or docker_cli(), *args]
    try:
        result = subprocess.run(
            command, input=text, capture_output=True, text=True, timeout=120, check=False, env=with_env(env)
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerCommandError(
            f"Could not run {command[0]} {args[0]}: {exc}", command=" ".join(command), returncode=None, output=""
        ) from exc
    return result.returncode, result.stdout + result.stderr


class CliProcess:
    """A docker CLI command whose merged output is read line by line (a BuildKit build)."""

    def __init__(self, command: Sequence[str], *, env: Env | None = None) -> None:
        self.command = list(command)
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env=with_env(env),
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
    return [cli, "build", "--progress=plain", "-f", str(dockerfile), *request_args(request)]


def buildkit_build(cli: str, request: BuildRequest, reporter: Reporter, *, env: Env | None = None) -> BuildReport:
    """`docker build` with BuildKit, the Dockerfile and nbship's ignore list outside the context."""
    with tempfile.TemporaryDirectory(prefix="nbship-build-") as tmp:
        command = buildkit_command(cli, request, Path(tmp))
        return run_build(CliProcess(command, env={**(env or {}), "DOCKER_BUILDKIT": "1"}), BuildkitLog(), reporter)


def request_args(request: BuildRequest) -> list[str]:
    """What `docker build` and `podman build` both take from a request: tag, build args, secrets,
    the cache choice, and the context last. Labels are in the Dockerfile (dockerfile_with_labels)."""
    args = ["-t", request.tag]
    # Build arguments are NB_USER and NB_UID for an own Dockerfile: nbship's values, never a secret.
    for key, value in request.build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    for secret_id, source in request.secrets:
        args += ["--secret", f"id={secret_id},src={source}"]
    if request.no_cache:
        args.append("--no-cache")
    return [*args, str(request.context)]


def run_build(process: CliProcess, log: BuildLog, reporter: Reporter) -> BuildReport:
    """Follows a build command to its end: each line to the reporter, each step it starts, and its
    failure as the failing step's BuildError (Ctrl-C stops the build and tags nothing); what each
    step did, and the notes the steps printed for the user."""
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
            name = Path(process.command[0]).name
            raise DockerCommandError(
                f"{name} build failed before running any step. Its output is below.",
                command=" ".join(process.command),
                returncode=code,
                output="\n".join(log.everything),
            )
        raise log.error()
    for note in notes(log.steps.values()):
        reporter.warn(note)
    return log.report()
