"""nbship's Python API: what the CLI, the tests and other programs call. Keyword-only, typed,
no printing and no exiting: results are returned, problems raised as NbshipError.

The commands live in nbship.commands, one module per concern; this module is their front door."""

from __future__ import annotations

from nbship.commands.build import BuildOptions, BuildOutcome, build, default_tag, dockerfile, fingerprint, init, lock
from nbship.commands.check import CheckOptions, check
from nbship.commands.serve import DownOutcome, UpOptions, down, follow, logs, shell, status, up
from nbship.commands.share import (
    ComposeOutcome,
    compose,
    login,
    push,
    volume_create,
    volume_export,
    volume_import,
    volume_list,
    volume_remove,
)
from nbship.locking import LockOptions, LockOutcome

__all__ = [
    "BuildOptions",
    "BuildOutcome",
    "CheckOptions",
    "ComposeOutcome",
    "DownOutcome",
    "LockOptions",
    "LockOutcome",
    "UpOptions",
    "build",
    "check",
    "compose",
    "default_tag",
    "dockerfile",
    "down",
    "fingerprint",
    "follow",
    "init",
    "lock",
    "login",
    "logs",
    "push",
    "shell",
    "status",
    "up",
    "volume_create",
    "volume_export",
    "volume_import",
    "volume_list",
    "volume_remove",
]
