"""Zero to JupyterHub: Helm values for the same image on Kubernetes.

The values use the chart's documented keys only (jupyterhub/values.schema.yaml of
zero-to-jupyterhub-k8s; tests/unit/test_hub_k8s.py checks them against those keys): the users'
image, its uid and group, its start command (so the image's own entrypoint still fills and
refreshes each user's volume), the work folder on a per-user volume, limits, idle culling and the
authenticator. Secrets never go into the values file: they go into a second file, readable by its
owner only, to pass to helm beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nbship import __version__
from nbship import contract as c
from nbship.errors import UsageError
from nbship.hub.spec import AuthenticatorSpec, cull_every
from nbship.references import split_reference
from nbship.resources import Resources

MARKER = "# Written by nbship"
DEFAULT_STORAGE = "10Gi"
# JupyterHub's own shared-password authenticator: one password for every user named.
SHARED_PASSWORD = "shared-password"


@dataclass(frozen=True)
class K8sSpec:
    project: str  # the project's name, for the header
    image: str  # a hub-ready image reference with a tag, in a registry the cluster reaches
    uid: int | None  # None: the image's own user
    workdir: str
    users: tuple[str, ...]
    admins: tuple[str, ...]
    idle_timeout: int
    storage: str = DEFAULT_STORAGE
    resources: Resources = field(default_factory=Resources)
    env: tuple[tuple[str, str], ...] = ()
    authenticator: AuthenticatorSpec | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # k8s labels of each user's storage


def image_parts(reference: str) -> tuple[str, str]:
    """The chart's `name` and `tag` (it has no field for a digest)."""
    parts = split_reference(reference)
    if parts.digest or not parts.tag:
        raise UsageError(
            f"--image {reference}: the chart names images by name and tag, so give the image with a tag "
            "(e.g. ghcr.io/alice/course:2024), as pushed by `nbship push`."
        )
    name = f"{parts.domain}/{parts.path}" if parts.domain else parts.path
    return name, parts.tag


def values(spec: K8sSpec, *, shared_password: bool) -> dict[str, Any]:
    """The values as plain data, in the order the file shows them."""
    name, tag = image_parts(spec.image)
    singleuser: dict[str, Any] = {
        "image": {"name": name, "tag": tag, "pullPolicy": "IfNotPresent"},
        "uid": spec.uid,
        "fsGid": spec.uid,  # the work volume's group: nbship's images give the user a group of its uid
        # Kept as the image's CMD, so its ENTRYPOINT (nbship's start-up and refresh) runs first.
        "cmd": c.SINGLEUSER_COMMAND,
        "defaultUrl": "/lab",
        "storage": {
            "type": "dynamic",
            "capacity": spec.storage,
            "homeMountPath": spec.workdir,
            "extraLabels": dict(spec.labels),
        },
    }
    if spec.resources.memory is not None:
        singleuser["memory"] = {"limit": spec.resources.memory}
    if spec.resources.cpus is not None:
        singleuser["cpu"] = {"limit": spec.resources.cpus}
    if spec.env:
        singleuser["extraEnv"] = dict(spec.env)
    auth = spec.authenticator
    config: dict[str, Any] = {}
    if auth is not None:
        config["JupyterHub"] = {"authenticator_class": auth.class_name}
        if auth.config:
            config[auth.class_name.rsplit(".", 1)[-1]] = dict(auth.config)
    elif shared_password:
        config["JupyterHub"] = {"authenticator_class": SHARED_PASSWORD}
    allowed = sorted(set(spec.users) | set(spec.admins))
    authenticator: dict[str, Any] = {}
    if spec.admins:
        authenticator["admin_users"] = sorted(spec.admins)
    if allowed:
        authenticator["allowed_users"] = allowed
    if authenticator:
        config["Authenticator"] = authenticator
    document: dict[str, Any] = {"singleuser": singleuser}
    if config:
        document["hub"] = {"config": config}
    document["cull"] = {
        "enabled": spec.idle_timeout > 0,
        **({"timeout": spec.idle_timeout, "every": cull_every(spec.idle_timeout)} if spec.idle_timeout else {}),
    }
    return document


def secret_values(spec: K8sSpec, passwords: Mapping[str, str]) -> dict[str, Any] | None:
    """The values holding secrets (the authenticator's, or the shared passwords: `user_password`,
    and `admin_password` when there are admins), or None when there are none."""
    auth = spec.authenticator
    if auth is not None:
        return {"hub": {"config": {auth.class_name.rsplit(".", 1)[-1]: dict(auth.secrets)}}} if auth.secrets else None
    if not passwords:
        return None
    return {"hub": {"config": {"SharedPasswordAuthenticator": dict(passwords)}}}


def render(document: Mapping[str, Any], *, title: str, note: str) -> str:
    header = [
        f"{MARKER} {__version__}: Zero to JupyterHub values for {title}.",
        *(f"# {line}" if line else "#" for line in note.splitlines()),
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def written_by_nbship(text: str) -> bool:
    return text.startswith(MARKER)
