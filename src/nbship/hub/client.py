"""JupyterHub's REST API, as far as nbship uses it: is the hub up, its users and their servers."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from nbship.errors import RunError


@dataclass(frozen=True)
class HubUser:
    name: str
    admin: bool
    server: str | None  # "running", "starting", "stopping"; None: no server
    url: str  # the user's JupyterLab through the hub
    last_activity: str | None


@dataclass(frozen=True)
class HubClient:
    base: str  # http://host:port, the hub's public address
    token: str | None = None

    def _request(self, method: str, path: str, timeout: float = 10) -> Any:
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        # Always http:// to the address nbship published the hub on: never a scheme from elsewhere.
        request = urllib.request.Request(f"{self.base}/hub/api{path}", method=method, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None

    def answers(self) -> bool:
        """The hub and its proxy both answer (the version endpoint needs no token)."""
        try:
            return isinstance(self._request("GET", "/", timeout=2), dict)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def users(self) -> list[HubUser]:
        try:
            listed = self._request("GET", "/users")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RunError(f"The hub at {self.base} did not list its users ({exc}).") from exc
        found = []
        for item in listed if isinstance(listed, list) else []:
            server = (item.get("servers") or {}).get("")
            state = None
            if server is not None:
                pending = {"spawn": "starting", "stop": "stopping"}.get(str(server.get("pending")), "starting")
                state = "running" if server.get("ready") else pending
            found.append(
                HubUser(
                    name=str(item.get("name", "")),
                    admin=bool(item.get("admin")),
                    server=state,
                    url=f"{self.base}/user/{urllib.parse.quote(str(item.get('name', '')))}/lab",
                    last_activity=item.get("last_activity"),
                )
            )
        return sorted(found, key=lambda user: user.name)
