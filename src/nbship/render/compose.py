"""The compose file for a project (Compose Specification), and its .env with the token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import jinja2

from nbship import __version__

MARKER = "# Written by nbship"
TOKEN_VAR = "JUPYTER_TOKEN"


@dataclass(frozen=True)
class ComposeSpec:
    title: str
    image: str
    port: int
    container_port: int
    workdir: str
    volume: str
    labels: dict[str, str] = field(default_factory=dict)


def render_compose(spec: ComposeSpec) -> str:
    source = resources.files("nbship.render").joinpath("templates").joinpath("compose.yaml.j2").read_text("utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - YAML, not HTML
    # JSON strings are valid YAML scalars, and quote whatever a name or path holds.
    env.filters["tojson"] = json.dumps
    return env.from_string(source).render(version=__version__, **spec.__dict__).rstrip() + "\n"


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
