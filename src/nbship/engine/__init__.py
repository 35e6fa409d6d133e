"""Container engines behind one seam (base.Engine). `connect()` gives the engine nbship uses; the
implementation module, and the SDK it needs, is imported only then."""

from __future__ import annotations

from nbship.engine.base import Engine


def connect() -> Engine:
    """The engine for this process: Docker, addressed as the docker CLI would address it."""
    from nbship.engine.docker import DockerEngine

    return DockerEngine()


__all__ = ["Engine", "connect"]
