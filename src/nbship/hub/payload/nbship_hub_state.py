"""nbship's state for a hub, read inside the hub image (standard library only, so the host's tests
import it too).

Before it starts the hub, nbship writes three files into the hub's state volume:
- hub.json: what the hub serves and to whom (the users' image, their network, names and labels,
  the users and admins, the authenticator, the idle timeout, the limits);
- secrets.json (0600): the API token nbship keeps for itself and the authenticator's secrets;
- passwords.json (0600): a scrypt hash of each user's password, never the password.

`configuration` turns them into JupyterHub's configuration, section by section (jupyterhub_config.py
applies it); `verify` checks a password against its hash (nbship_hub's authenticator).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

FORMAT = 1
HUB_FILE = "hub.json"
SECRETS_FILE = "secrets.json"
PASSWORDS_FILE = "passwords.json"
# Compared against when a user is unknown, so that a login takes as long whether or not the name exists.
_DUMMY = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32  # compared against when a user is unknown


def read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def load(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """hub.json and secrets.json (refused when nbship wrote a format this file does not know)."""
    hub = read_json(folder / HUB_FILE)
    if hub.get("format") != FORMAT:
        raise ValueError(f"{folder / HUB_FILE} has format {hub.get('format')!r}; this hub image reads {FORMAT}")
    secrets_path = folder / SECRETS_FILE
    return hub, read_json(secrets_path) if secrets_path.exists() else {}


def verify(password: str, record: str | None) -> bool:
    """Whether `password` matches `record` ("scrypt$N$r$p$SALT$HASH", hex, as nbship writes it); the
    same work when there is no record."""
    parts = (record or _DUMMY).split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError("not an nbship password hash")
        n, r, p = (int(value) for value in parts[1:4])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
        got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected) and record is not None


def configuration(folder: Path, *, python: str) -> dict[str, dict[str, Any]]:
    """JupyterHub's configuration from nbship's state in `folder`: {section: {trait: value}}.

    `python` is the hub's interpreter, which runs the idle culler."""
    hub, secrets = load(folder)
    state_dir = folder.parent
    spawner = "NbshipSwarmSpawner" if hub["spawner"] == "swarm" else "NbshipDockerSpawner"
    services: list[dict[str, Any]] = [{"name": hub["api_service"], "api_token": secrets["admin_token"]}]
    roles: list[dict[str, Any]] = [
        {"name": f"{hub['api_service']}-role", "scopes": list(hub["api_scopes"]), "services": [hub["api_service"]]}
    ]
    if hub["idle_timeout"]:
        services.append(
            {
                "name": "idle-culler",
                "command": [
                    python,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={hub['idle_timeout']}",
                    f"--cull-every={hub['cull_every']}",
                ],
            }
        )
        roles.append(
            {
                "name": "idle-culler-role",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        )
    own = hub.get("authenticator")
    config: dict[str, dict[str, Any]] = {
        "JupyterHub": {
            "bind_url": f"http://:{hub['hub_port']}",
            "hub_bind_url": f"http://0.0.0.0:{hub['api_port']}",
            # Users' servers reach the hub by its container's name on the hub's network.
            "hub_connect_url": f"http://{hub['hub_host']}:{hub['api_port']}",
            "db_url": f"sqlite:///{state_dir}/jupyterhub.sqlite",
            "cookie_secret_file": f"{state_dir}/jupyterhub_cookie_secret",
            "spawner_class": f"nbship_hub.{spawner}",
            "authenticator_class": own["class"] if own else "nbship_hub.NbshipPasswordAuthenticator",
            "services": services,
            "load_roles": roles,
            # Stopping the hub stops every user's server; their work stays in their volumes.
            "cleanup_servers": True,
        },
        "Spawner": {
            "default_url": "/lab",
            "environment": dict(hub["environment"]),
            "start_timeout": int(hub["start_timeout"]),
            "http_timeout": int(hub["start_timeout"]),
        },
        "DockerSpawner": {
            "image": hub["image"],
            "cmd": list(hub["command"]),
            "network_name": hub["network"],
            "use_internal_ip": True,
            "pull_policy": "skip" if hub["spawner"] == "swarm" else "ifnotpresent",
        },
        "Authenticator": {"admin_users": set(hub["admins"])},
    }
    if hub["users"] or hub["admins"] or not own:
        config["Authenticator"]["allowed_users"] = set(hub["users"]) | set(hub["admins"])
    if hub["spawner"] != "swarm":
        # A stopped server's container goes, so its next start uses the current image (services
        # always go: SwarmSpawner has no such choice).
        config["DockerSpawner"]["remove"] = True
        # Docker 20.10's service spec has no security options (later APIs add
        # Privileges.NoNewPrivileges): on a swarm, the image's non-root user is the guard.
        config["DockerSpawner"]["extra_host_config"] = {"security_opt": list(hub["security_opt"])}
    if hub.get("mem_limit") is not None:
        config["DockerSpawner"]["mem_limit"] = int(hub["mem_limit"])
    if hub.get("cpu_limit") is not None:
        config["DockerSpawner"]["cpu_limit"] = float(hub["cpu_limit"])
    if own:
        section = str(own["class"]).rsplit(".", 1)[-1]
        config[section] = {**own.get("config", {}), **secrets.get("authenticator", {})}
    else:
        config["NbshipPasswordAuthenticator"] = {"passwords_file": str(folder / PASSWORDS_FILE)}
    return config


def spawner_facts(folder: Path) -> dict[str, Any]:
    """What nbship_hub's spawners need of hub.json: names, labels and the work folder."""
    hub, _ = load(folder)
    return {
        "name_prefix": hub["name_prefix"],
        "workdir": hub["workdir"],
        "server_labels": {**hub["container_labels"], hub["role_label"]: "server"},
        "work_labels": {**hub["volume_labels"], hub["role_label"]: "work"},
        "user_label": hub["user_label"],
    }
