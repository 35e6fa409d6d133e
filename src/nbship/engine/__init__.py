"""Container engines behind one seam (base.Engine). `connect()` is the one place an engine is
chosen; the implementation module, and the SDK it needs, is imported only then.

The choice, first found wins: the caller's (`--engine`, or the API's `engine=`), the NBSHIP_ENGINE
variable, the `engine` setting of the project, then "auto": Docker when a Docker daemon answers
at its default socket, else Podman when it is installed, saying so. A Docker the user pointed
somewhere (DOCKER_HOST, a docker context) is a choice of Docker: it never falls back.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from nbship.errors import DockerUnavailableError, UsageError

if TYPE_CHECKING:
    # Names for annotations only: the seam's protocols and the option values are a few milliseconds
    # of start-up that `nbship status` and the no-change build do not pay.
    from nbship.engine.base import Engine, EngineReader
    from nbship.options import EngineChoice
    from nbship.reporter import Reporter

ENGINE_ENV = "NBSHIP_ENGINE"


def engines() -> tuple[EngineChoice, ...]:
    """The engines nbship knows, as the option's values."""
    from typing import get_args

    from nbship.options import EngineChoice

    return get_args(EngineChoice)


def choose(given: EngineChoice | None, *, setting: EngineChoice = "auto") -> tuple[EngineChoice, str]:
    """The engine asked for and who asked: the caller, else NBSHIP_ENGINE, else the setting."""
    if given is not None:
        return given, f"--engine {given}"
    from_env = os.environ.get(ENGINE_ENV, "").strip().lower()
    if from_env:
        if from_env not in engines():
            raise UsageError(
                f"{ENGINE_ENV}={os.environ[ENGINE_ENV]!r} names no engine nbship knows: use one of "
                f"{', '.join(engines())}, or unset it."
            )
        return from_env, f"{ENGINE_ENV}={from_env}"
    return setting, f"the engine setting ({setting})"


def connect(
    given: EngineChoice | None = None, *, setting: EngineChoice = "auto", reporter: Reporter | None = None
) -> Engine:
    """The engine for this command. `given`: the caller's choice; `setting`: the project's. Nothing
    is asked of an engine until the command's first call, so a command refuses bad input first."""
    choice, chosen_by = choose(given, setting=setting)
    if choice == "podman":
        from nbship.engine.podman import PodmanEngine

        return PodmanEngine(chosen_by=chosen_by)
    from nbship.engine.docker import DockerEngine

    if choice == "docker":
        return DockerEngine()
    return cast("Engine", _Auto(reporter, DockerEngine))


def connect_reader(
    given: EngineChoice | None = None, *, setting: EngineChoice = "auto", reporter: Reporter | None = None
) -> EngineReader:
    """An engine for commands that only look (status, the up-to-date check), chosen as `connect`
    chooses. Docker at a socket or over TCP is asked with the standard library's sockets
    (docker_api), which starts in a fraction of the SDK's import; elsewhere this is `connect`."""
    from nbship.engine import docker_api
    from nbship.engine.docker_endpoint import resolve

    choice, _ = choose(given, setting=setting)
    if choice == "podman":
        return connect(given, setting=setting, reporter=reporter)
    endpoint = resolve()
    if not docker_api.applies(endpoint):
        return connect(given, setting=setting, reporter=reporter)
    if choice == "docker":
        return docker_api.DockerApi(endpoint)
    return cast("EngineReader", _Auto(reporter, lambda: docker_api.DockerApi(endpoint)))


class _Auto:
    """Docker when its default endpoint answers, else Podman: decided at the first call."""

    def __init__(self, reporter: Reporter | None, docker: Callable[[], Any]) -> None:
        self._reporter = reporter
        self._docker = docker

    @functools.cached_property
    def _engine(self) -> Any:
        docker = self._docker()
        try:
            docker.connect()
        except DockerUnavailableError as exc:
            if docker.endpoint.configured:
                raise
            import shutil

            if shutil.which("podman") is None:
                raise DockerUnavailableError(
                    f"No container engine answers here. {exc.message} Podman, the other engine nbship uses, is not "
                    "installed either (no `podman` command on PATH)."
                ) from exc
            from nbship.engine.podman import PodmanEngine

            podman = PodmanEngine(chosen_by="no Docker daemon answered")
            if self._reporter is not None:
                self._reporter.info(
                    f"Using {podman.description}: no Docker daemon answers at {docker.endpoint.describe()}. "
                    "Choose with --engine or NBSHIP_ENGINE."
                )
            return podman
        return docker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def compose_command(given: EngineChoice | None = None, *, setting: EngineChoice = "auto") -> str:
    """What runs a compose file with the engine these choices name, asking no daemon (auto: Docker's)."""
    from nbship.engine.docker import DockerEngine
    from nbship.engine.podman import PodmanEngine

    choice, chosen_by = choose(given, setting=setting)
    if choice != "podman":
        return DockerEngine.compose_command
    try:
        return PodmanEngine(chosen_by=chosen_by).compose_command
    except DockerUnavailableError:
        return "podman-compose"  # the one to install where Podman is older than 4.7 or missing


def __getattr__(name: str) -> Any:
    # The seam's protocols, for `from nbship.engine import Engine`: loaded when first asked for.
    if name in {"Engine", "EngineReader"}:
        from nbship.engine import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENGINE_ENV", "Engine", "EngineReader", "choose", "compose_command", "connect", "connect_reader", "engines"]
