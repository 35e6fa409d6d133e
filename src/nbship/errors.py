"""The one exception hierarchy. Everything below the CLI raises these; the CLI catches them once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    PROJECT = 3  # the user's project or its inputs are not usable as they are
    DOCKER_UNAVAILABLE = 4
    BUILD_FAILED = 5
    RUN_FAILED = 6
    PORT_IN_USE = 7
    NOT_FOUND = 8
    IN_USE = 9  # a volume (or other resource) that something still uses
    REGISTRY = 10  # the registry refused or could not be reached
    CHECK_FAILED = 11  # nbship check: a notebook failed, timed out or gave other outputs
    # The network: a package index or a conda channel could not be reached, or a link could not be
    # fetched (its host did not answer, or answered without what the link names).
    NETWORK = 12
    INTERRUPTED = 130


class NbshipError(Exception):
    """An error with a message meant for the user, and the exit code it maps to.

    No URL in it keeps its user or password: messages quote channels, remotes and build logs."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, details: str | None = None) -> None:
        # Here, not at the top: every command imports this module, few raise (and values compiles patterns).
        from nbship.values import redact_urls

        message = redact_urls(message)
        super().__init__(message)
        self.message = message
        # Extra lines shown under the message (a log tail, say); not part of the paragraph.
        self.details = redact_urls(details) if details else details

    def __str__(self) -> str:
        return self.message


class UsageError(NbshipError):
    exit_code = ExitCode.USAGE


class ProjectError(NbshipError):
    exit_code = ExitCode.PROJECT


class InputFileError(ProjectError):
    """A project file that does not parse: always names the file and, where known, the line."""

    def __init__(self, path: str, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}. {fix}")
        self.path = path
        self.line = line


class DockerUnavailableError(NbshipError):
    exit_code = ExitCode.DOCKER_UNAVAILABLE


class DockerCommandError(NbshipError):
    """A Docker call that failed: carries what was run, its exit code and its output."""

    def __init__(self, message: str, *, command: str, returncode: int | None, output: str) -> None:
        super().__init__(message, details=output[-4000:] if output else None)
        self.command = command
        self.returncode = returncode
        self.output = output


class BuildError(NbshipError):
    exit_code = ExitCode.BUILD_FAILED


class RunError(NbshipError):
    exit_code = ExitCode.RUN_FAILED


class PortInUseError(RunError):
    exit_code = ExitCode.PORT_IN_USE


class NotFoundError(NbshipError):
    exit_code = ExitCode.NOT_FOUND


class VolumeInUseError(NbshipError):
    exit_code = ExitCode.IN_USE


class RegistryError(NbshipError):
    exit_code = ExitCode.REGISTRY


class CheckFailed(NbshipError):
    exit_code = ExitCode.CHECK_FAILED


class Interrupted(NbshipError):
    exit_code = ExitCode.INTERRUPTED


class FetchError(NbshipError):
    """A source reference whose host answered, yet that could not be fetched: missing or refused
    credentials, an answer that is not a record or an archive, a server error, a damaged download.
    The exit code is the network's (one code for "the link could not be fetched"); the class stays
    apart from NetworkError because only a host that did not answer lets the cache stand in."""

    exit_code = ExitCode.NETWORK


class LockError(ProjectError):
    """An environment that cannot be locked: unsolvable specs, unknown channels, a broken lock."""


class NetworkError(NbshipError):
    """A host that could not be reached: a conda channel, a package index, or the host of a link
    (no answer, a name that does not resolve, a download cut off). Try again, or fix the network."""

    exit_code = ExitCode.NETWORK
