"""The `nbship` command, one module per command group mirroring nbship.commands. Each parses its
arguments and forwards to nbship.api; errors are turned into messages once, in app.py."""

from nbship.cli.app import main

__all__ = ["main"]
