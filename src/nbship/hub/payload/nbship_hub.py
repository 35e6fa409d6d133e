"""JupyterHub's side of `nbship hub`, in the hub image: the spawners, which give every user a named
work volume labelled for nbship (filled and refreshed by the user's image itself, as for
`nbship up`), and the authenticator for the passwords nbship handed out.

JupyterHub loads these classes by name (nbship_hub.NbshipDockerSpawner, ...); what they need to
know comes from nbship's state (nbship_hub_state), read once at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbship_hub_state as state  # type: ignore[import-not-found]
from dockerspawner import DockerSpawner, SwarmSpawner
from jupyterhub.auth import Authenticator
from traitlets import HasTraits, Unicode, default

_FOLDER = Path(os.environ["NBSHIP_HUB_STATE"])
_FACTS = state.spawner_facts(_FOLDER)


def _labels(spawner: Any, kind: str) -> dict[str, str]:
    return {**_FACTS[f"{kind}_labels"], _FACTS["user_label"]: spawner.user.name}


def _work_mount(spawner: Any) -> dict[str, Any]:
    """The user's work volume, in the Engine API's own form: Docker creates it with these labels
    on first use, on whichever node runs the server."""
    return {
        "Type": "volume",
        "Source": _FACTS["name_prefix"] + spawner.escaped_name,
        "Target": _FACTS["workdir"],
        "ReadOnly": False,
        "VolumeOptions": {"Labels": _labels(spawner, "work")},
    }


class _Labelled(HasTraits):
    """What both spawners share: the name of each user's server and its labels. A HasTraits of
    its own, since traitlets registers a default only on the class that defines it."""

    @default("name_template")
    def _name_template(self) -> str:
        return str(_FACTS["name_prefix"]) + "{username}"

    @default("extra_create_kwargs")
    def _labelled(self) -> dict[str, Any]:
        # DockerSpawner passes these to the container's creation, SwarmSpawner to the service's.
        return {"labels": _labels(self, "server")}


class NbshipDockerSpawner(_Labelled, DockerSpawner):  # type: ignore[misc]
    """Each user's server is a container on the hub's network, from the project's image."""

    @property
    def mount_binds(self) -> list[dict[str, Any]]:
        return [_work_mount(self)]


class NbshipSwarmSpawner(_Labelled, SwarmSpawner):  # type: ignore[misc]
    """Each user's server is a Swarm service on the hub's overlay network."""

    @default("extra_container_spec")
    def _labelled_container(self) -> dict[str, Any]:
        # A task with a health check counts as started only once healthy, which the hub's own
        # check of the server (it polls the server's API) already waits for, sooner.
        return {"labels": _labels(self, "server"), "healthcheck": {"Test": ["NONE"]}}

    @default("extra_endpoint_spec")
    def _by_name(self) -> dict[str, Any]:
        # The service's name resolves to its task itself (DNS round robin), not to a virtual IP:
        # a virtual IP needs the kernel's IPVS on every node, which not every machine has.
        return {"mode": "dnsrr"}

    @property
    def mounts(self) -> list[dict[str, Any]]:
        return [_work_mount(self)]


class NbshipPasswordAuthenticator(Authenticator):  # type: ignore[misc]
    """Each user logs in with the password nbship printed once; the hub keeps only its hash."""

    passwords_file = Unicode(config=True, help="The users' password hashes (nbship's passwords.json).")

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        name = self.normalize_username(str(data.get("username", "")))
        path = Path(self.passwords_file)
        records = state.read_json(path) if path.exists() else {}
        record = records.get(name)
        known = record if isinstance(record, str) else None
        return name if state.verify(str(data.get("password", "")), known) else None
