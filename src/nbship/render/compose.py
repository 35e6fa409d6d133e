"""The compose file for a project (Compose Specification), and its .env with the token.

The file is a typed model dumped by a YAML serializer, never a text template: whatever a name or
a path holds ends up as one quoted scalar, not as YAML structure. Compose expands `$` in every
value, so the values nbship takes from elsewhere have theirs doubled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from nbship import __version__
from nbship import contract as c
from nbship.values import compose_literal

MARKER = "# Written by nbship"
TOKEN_VAR = c.TOKEN_ENV


@dataclass(frozen=True)
class ComposeSpec:
    """What nbship knows about the project's compose file (the facts it is made from)."""

    title: str
    image: str
    port: int
    container_port: int
    workdir: str
    volume: str
    labels: Mapping[str, str] = field(default_factory=dict)


# -- The Compose Specification's parts nbship writes, as typed values --------------------------


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: str
    timeout: str
    start_period: str
    retries: int


@dataclass(frozen=True, kw_only=True)
class VolumeMount:
    """A service's `volumes:` entry in the long syntax (never "a:b" strings, which split on ':')."""

    type: Literal["volume"] = "volume"
    source: str
    target: str


@dataclass(frozen=True, kw_only=True)  # fields in the order the file shows them
class Service:
    image: str
    init: bool = True
    security_opt: tuple[str, ...] = (c.NO_NEW_PRIVILEGES,)  # as every container nbship starts
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "unless-stopped"
    ports: tuple[str, ...]
    environment: Mapping[str, str]
    volumes: tuple[VolumeMount, ...]
    healthcheck: Healthcheck


@dataclass(frozen=True, kw_only=True)
class NamedVolume:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposeFile:
    services: Mapping[str, Service]
    volumes: Mapping[str, NamedVolume]

    def document(self) -> dict[str, Any]:
        """The file as plain data for the YAML serializer, keys in the models' field order."""
        document: dict[str, Any] = _plain(self)
        return document


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def compose_model(spec: ComposeSpec) -> ComposeFile:
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{spec.container_port}/api', timeout=4)"
    lab = Service(
        image=compose_literal(spec.image),
        ports=(f"{c.LOOPBACK}:{spec.port}:{spec.container_port}",),
        environment={TOKEN_VAR: "${" + TOKEN_VAR + ":?set " + TOKEN_VAR + " in the .env file beside compose.yaml}"},
        volumes=(VolumeMount(source="work", target=compose_literal(spec.workdir)),),
        # python3 by name: it also works for --image images that are not nbship's.
        healthcheck=Healthcheck(
            test=("CMD", "python3", "-c", probe), interval="30s", timeout="5s", start_period="30s", retries=3
        ),
    )
    # An explicit name, not `external`: Compose creates it when it is missing, and `nbship up`
    # uses the same volume, so the work is the same either way.
    work = NamedVolume(
        name=compose_literal(spec.volume),
        labels={key: compose_literal(value) for key, value in spec.labels.items()},
    )
    return ComposeFile(services={"lab": lab}, volumes={"work": work})


def compose_document(spec: ComposeSpec) -> dict[str, Any]:
    return compose_model(spec).document()


def _header(spec: ComposeSpec) -> str:
    title = " ".join(spec.title.split())  # one comment line, whatever the name holds
    return "\n".join(
        [
            f"{MARKER} {__version__} for {title}. Start it with `docker compose up -d`",
            f"# (or docker-compose), then open http://127.0.0.1:{spec.port}/lab?token=TOKEN with the token",
            "# from the .env file beside this one. The work done in JupyterLab is kept in the volume",
            "# named below, which `docker compose down` leaves in place (only `down --volumes` removes it).",
            "# The port is published on this machine only; change 127.0.0.1 to open it to the network.",
            "# nbship rewrites this file when asked (`nbship compose --force` after you edit it).",
        ]
    )


def render_compose(spec: ComposeSpec) -> str:
    body = yaml.safe_dump(compose_document(spec), sort_keys=False, default_flow_style=False, allow_unicode=False)
    return _header(spec) + "\n" + body


def written_by_nbship(text: str) -> bool:
    return text.startswith(MARKER)


def env_with_token(existing: str | None, token: str, *, replace: bool) -> tuple[str, bool]:
    """The .env text holding the token, keeping every other line; True when it changed."""
    lines = (existing or "").splitlines()
    out: list[str] = []
    found = False
    for line in lines:
        key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
        if key == TOKEN_VAR:
            found = True
            if replace:
                out.append(f"{TOKEN_VAR}={token}")
                continue
        out.append(line)
    if not found:
        if existing is None:
            out.append("# Read by docker compose for compose.yaml; secret: never commit or share this file.")
        out.append(f"{TOKEN_VAR}={token}")
    text = "\n".join(out) + "\n"
    return text, text != (existing or "")


def token_in(env_text: str) -> str | None:
    for line in env_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().removeprefix("export ").strip() == TOKEN_VAR:
            return value.strip().strip("'\"") or None
    return None


def gitignore_with(existing: str | None, entry: str) -> str | None:
    """The .gitignore text with `entry` added, or None when it already ignores it."""
    lines = [line.strip() for line in (existing or "").splitlines()]
    if entry in lines or f"/{entry}" in lines:
        return None
    prefix = (existing or "") + ("" if not existing or existing.endswith("\n") else "\n")
    return prefix + f"# nbship: the token for compose.yaml\n{entry}\n"
