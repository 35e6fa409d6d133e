"""What a hub serves, to whom and how, as one frozen value; and the names of what it makes.

`HubSpec.hub_json` is the hub.json nbship writes into the hub's state volume, which the hub image
reads (hub/payload/nbship_hub_state.py): every name, label and path the hub needs comes from it,
so the hub image repeats none of nbship's contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbship import contract as c
from nbship.errors import UsageError
from nbship.options import Env
from nbship.resources import Resources

STATE_FORMAT = 1  # hub.json's format: hub/payload/nbship_hub_state.py reads this one
API_SERVICE = "nbship"  # the JupyterHub service whose token nbship keeps (the admin token)
# What the admin token may do: list users, start and stop their servers, and reach them.
API_SCOPES = ("admin:users", "admin:servers", "access:servers")
DEFAULT_IDLE_TIMEOUT = 3600  # seconds without activity before a user's server is stopped
# JupyterHub's own rule is loose; nbship takes names that are safe in a terminal, a URL and a
# Docker name once escaped: lowercase (JupyterHub lowercases them), e-mail addresses included.
_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}$")


def check_user_name(name: str, *, what: str = "--user") -> str:
    """The name as JupyterHub will know it (lowercase), or a UsageError saying what is allowed."""
    lowered = name.strip().lower()
    if not _USER_RE.match(lowered):
        raise UsageError(
            f"{what} {name!r} cannot be a hub user name: use 1 to 64 letters, digits and . _ @ + - "
            "(starting with a letter or digit), e.g. 'alice' or 'alice@example.org'."
        )
    return lowered


def hub_name(project_id: str) -> str:
    """The hub's container, its network and its state volume share this name."""
    return f"nbship-{project_id}-hub"


def user_prefix(project_id: str) -> str:
    """Each user's server and work volume: this plus the user's name as DockerSpawner escapes it."""
    return f"{hub_name(project_id)}-"


def hub_labels(project_id: str, project_path: str) -> dict[str, str]:
    """On everything a hub makes (the role label says which part it is)."""
    return {
        c.LABEL_MANAGED: "true",
        c.LABEL_HUB: project_id,
        c.LABEL_PROJECT_ID: project_id,
        c.LABEL_PROJECT_PATH: project_path,
    }


def container_labels(project_id: str, project_path: str) -> dict[str, str]:
    """On the hub's and the users' containers and services. The project id marks a project's one
    JupyterLab container (`nbship up`, `down` and `logs` find it by that label), and a container
    inherits its image's labels, the project's id among them: so it is set empty here."""
    return {**hub_labels(project_id, project_path), c.LABEL_PROJECT_ID: ""}


def hub_container_labels(project_id: str, project_path: str, *, port: int, bind: str) -> dict[str, str]:
    return {
        **container_labels(project_id, project_path),
        c.LABEL_HUB_ROLE: "hub",
        c.LABEL_PORT: str(port),
        c.LABEL_BIND: bind,
    }


@dataclass(frozen=True)
class AuthenticatorSpec:
    """A JupyterHub authenticator other than nbship's passwords (OAuth, say)."""

    class_name: str  # e.g. "oauthenticator.github.GitHubOAuthenticator"
    config: Mapping[str, Any] = field(default_factory=dict)  # its traits, from nbship.toml
    secrets: Mapping[str, str] = field(default_factory=dict)  # its secret traits, from the environment or files


@dataclass(frozen=True)
class HubSpec:
    project_id: str
    project_path: str  # the project's folder, or "image REF"
    image: str  # what users' servers run (hub-ready)
    image_id: str
    hub_image: str
    workdir: str  # the users' image's work folder
    users: tuple[str, ...]
    admins: tuple[str, ...]
    port: int = c.HUB_PORT
    bind: str = c.LOOPBACK
    swarm: bool = False
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT  # 0: never
    start_timeout: float = 180.0
    resources: Resources = field(default_factory=Resources)  # each user's server's limits
    env: Env = ()  # each user's server's variables
    authenticator: AuthenticatorSpec | None = None

    @property
    def name(self) -> str:
        return hub_name(self.project_id)

    @property
    def passwords(self) -> bool:
        """True: nbship's own authenticator, with a password for each user."""
        return self.authenticator is None

    def hub_json(self) -> dict[str, Any]:
        auth = self.authenticator
        return {
            "format": STATE_FORMAT,
            "project": self.project_path,
            "spawner": "swarm" if self.swarm else "docker",
            "image": self.image,
            "image_id": self.image_id,
            "command": [c.SINGLEUSER_COMMAND],
            "network": self.name,
            "hub_host": self.name,
            "hub_port": c.HUB_PORT,
            "api_port": c.HUB_API_PORT,
            "workdir": self.workdir,
            "name_prefix": user_prefix(self.project_id),
            "container_labels": container_labels(self.project_id, self.project_path),
            "volume_labels": hub_labels(self.project_id, self.project_path),
            "role_label": c.LABEL_HUB_ROLE,
            "user_label": c.LABEL_HUB_USER,
            "users": list(self.users),
            "admins": list(self.admins),
            "authenticator": {"class": auth.class_name, "config": dict(auth.config)} if auth else None,
            "api_service": API_SERVICE,
            "api_scopes": list(API_SCOPES),
            "idle_timeout": self.idle_timeout,
            "cull_every": cull_every(self.idle_timeout),
            "start_timeout": round(self.start_timeout),
            "mem_limit": self.resources.memory,
            "cpu_limit": self.resources.cpus,
            "environment": dict(self.env),
            # As for `nbship up`: no process in a user's server gains privileges.
            "security_opt": [c.NO_NEW_PRIVILEGES],
        }


def cull_every(idle_timeout: int) -> int:
    """How often the culler looks: often enough that a server goes soon after its timeout."""
    return max(10, min(300, idle_timeout // 4)) if idle_timeout else 0
