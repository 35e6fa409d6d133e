"""nbship status: the running servers. A module of its own so that the command loads only the engine
and the server records, not the build (solvers, templates, the notebook reader, the settings)."""

from __future__ import annotations

from nbship.engine import connect
from nbship.runtime.servers import Server, list_servers


def status() -> list[Server]:
    return list_servers(connect())
