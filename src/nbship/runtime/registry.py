"""Publishing images: push with per-layer progress, pull, and log in to a registry.

Credentials are the engine's own: for Docker, the credential store or config file that
`docker login` writes (honouring DOCKER_CONFIG), which the SDK reads for each push and pull. The
engine's `login` takes the password through a pipe, never an argument, a log line or a layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nbship.engine.base import Engine
from nbship.errors import DockerCommandError, NbshipError, NotFoundError, RegistryError, UsageError
from nbship.references import split_reference, validate_reference
from nbship.reporter import Reporter

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class PushOutcome:
    reference: str
    digest: str
    layers_pushed: int
    layers_present: int
    source: str = ""  # the local image that was pushed


def registry_of(reference: str) -> str:
    domain = split_reference(reference).domain
    return domain or DOCKER_HUB


def validate_push_target(reference: str) -> str:
    """The reference to push to, with ':latest' added when it has no tag; UsageError when wrong."""
    example = "alice/sst-analysis:1.0 (Docker Hub) or registry.example.org:5000/team/sst-analysis:1.0"
    if "@" in reference:
        raise UsageError(
            f"'{reference}' names a digest, and a push needs a tag: a digest is what the registry answers "
            f"after the push. Use a tag, e.g. {example}."
        )
    lowered = reference.lower()
    try:
        full = validate_reference(reference, what="push target")
    except UsageError as exc:
        hint = f" Did you mean '{lowered}'?" if lowered != reference and _valid(lowered) else ""
        raise UsageError(f"{exc.message}{hint} A push target looks like {example}.") from exc
    parts = split_reference(full)
    if parts.domain is None and "/" not in parts.path:
        raise UsageError(
            f"'{reference}' would go to Docker Hub's official images, where nobody but Docker may push. "
            f"Put your Docker ID first: {'YOUR_DOCKER_ID/' + reference}, or name a registry: "
            f"registry.example.org:5000/team/{reference}."
        )
    return full


def _valid(reference: str) -> bool:
    try:
        validate_reference(reference)
    except UsageError:
        return False
    return True


def classify(message: str, reference: str, *, action: str) -> NbshipError:
    """A registry failure as a message saying what to do about it."""
    registry = registry_of(reference)
    text = message.strip()
    lowered = text.lower()
    if any(word in lowered for word in ("unauthorized", "authentication required", "denied", "no basic auth")):
        return RegistryError(
            f"The registry {registry} refused to let you {action} {reference} ({text}). Log in first with "
            f"`nbship login {registry} --username USER --password-stdin` (or `docker login {registry}`), and "
            "check that your account may use this repository."
        )
    unreachable = ("connection refused", "no such host", "i/o timeout", "dial tcp", "network is unreachable")
    if any(word in lowered for word in unreachable) or "http response to https client" in lowered:
        return RegistryError(
            f"Cannot reach the registry {registry} to {action} {reference} ({text}). Check the address and port, "
            "that the registry is running, and, for a registry without HTTPS other than on 127.0.0.1, that "
            "Docker lists it under insecure-registries."
        )
    if any(word in lowered for word in ("manifest unknown", "not found", "does not exist")):
        return NotFoundError(
            f"{reference} is not in the registry {registry} ({text}). Check the name and the tag; "
            "`nbship push --to` publishes an image there."
        )
    return RegistryError(f"Could not {action} {reference}: {text}")


def _events(stream: Iterable[dict[str, Any]], reference: str, action: str) -> Iterator[dict[str, Any]]:
    for event in stream:
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            raise classify(str(detail.get("message") or event.get("error")), reference, action=action)
        yield event


class _Progress:
    """One line per layer and state (and per tenth of an upload), not one per progress event."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.seen: dict[str, tuple[str, int]] = {}

    def update(self, event: dict[str, Any]) -> None:
        layer = str(event.get("id") or "")
        status = str(event.get("status") or "")
        if not layer or not status or ":" in layer:
            return
        detail = event.get("progressDetail") or {}
        total, current = int(detail.get("total") or 0), int(detail.get("current") or 0)
        tenth = current * 10 // total if total else 0
        if self.seen.get(layer) == (status, tenth):
            return
        self.seen[layer] = (status, tenth)
        share = f" {tenth * 10}% of {total / 1e6:.1f} MB" if total else ""
        self.reporter.step(f"layer {layer}: {status}{share}")


def push(engine: Engine, source: str, target: str, reporter: Reporter) -> PushOutcome:
    parts = split_reference(target)
    repository = f"{parts.domain}/{parts.path}" if parts.domain else parts.path
    tag = parts.tag or "latest"
    engine.tag_image(source, repository, tag)
    progress = _Progress(reporter)
    digest = ""
    for event in _events(_opened(lambda: engine.push(repository, tag), target, "push"), target, "push"):
        progress.update(event)
        aux = event.get("aux") or {}
        digest = str(aux.get("Digest") or digest)
    states = [state for state, _ in progress.seen.values()]
    return PushOutcome(
        reference=target,
        digest=digest,
        layers_pushed=states.count("Pushed"),
        layers_present=states.count("Layer already exists"),
        source=source,
    )


def pull(engine: Engine, reference: str, reporter: Reporter) -> None:
    parts = split_reference(reference)
    repository = f"{parts.domain}/{parts.path}" if parts.domain else parts.path
    reporter.info(f"{reference} is not on this machine: pulling it from {registry_of(reference)}.")
    progress = _Progress(reporter)
    for event in _events(
        _opened(lambda: engine.pull(repository, parts.tag, parts.digest), reference, "pull"), reference, "pull"
    ):
        progress.update(event)
    if engine.image(reference) is None:
        raise RegistryError(f"The pull of {reference} ended without the image; try `docker pull {reference}`.")


def _opened(start: Callable[[], Iterable[dict[str, Any]]], reference: str, action: str) -> Iterable[dict[str, Any]]:
    """The stream of a push or pull; a refusal before the first event is classified like one inside it."""
    try:
        return start()
    except (DockerCommandError, NotFoundError) as exc:
        output = exc.output if isinstance(exc, DockerCommandError) else exc.message
        raise classify(output or exc.message, reference, action=action) from exc


_LOGIN_OK = re.compile(r"login succeeded", re.IGNORECASE)


def login(engine: Engine, registry: str, username: str, password: str) -> str:
    """Logs in the way `docker login` does (so pushes and pulls find the credentials); returns its message."""
    if not password:
        raise UsageError("The password is empty: pipe it in, e.g. `cat token.txt | nbship login ... --password-stdin`.")
    code, output = engine.login(registry, username, password)
    if code != 0 or not _LOGIN_OK.search(output):
        message = output.strip().splitlines()[-1] if output.strip() else f"docker login exited with {code}"
        if "unauthorized" in message.lower() or "incorrect" in message.lower():
            raise RegistryError(
                f"The registry {registry} refused the login for {username}: the username or password is wrong "
                f"({message}). Check them (a token may have expired) and run nbship login again."
            )
        raise classify(message, f"{registry}/", action="log in to")
    return (
        f"Logged in to {registry} as {username}; {engine.name.capitalize()} keeps the credentials for later "
        "pushes and pulls."
    )
