"""nbship status: the running servers. A module of its own so that the command loads only the engine
and the server records, not the build (solvers, templates, the notebook reader, the settings)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from nbship.engine import connect_reader
from nbship.runtime.servers import Server, list_servers

if TYPE_CHECKING:
    from nbship.options import EngineChoice
    from nbship.reporter import Reporter


def status(*, engine: EngineChoice | None = None, reporter: Reporter | None = None) -> list[Server]:
    chosen = connect_reader(engine, reporter=reporter)
    return [dataclasses.replace(server, engine=chosen.name) for server in list_servers(chosen)]
