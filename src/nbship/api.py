"""nbship's Python API: what the CLI, the tests and other programs call. Keyword-only, typed,
no printing and no exiting: results are returned, problems raised as NbshipError.

    from pathlib import Path
    from nbship import api
    from nbship.options import BuildOptions, UpOptions

    built = api.build(path=Path("my-analysis"), options=BuildOptions(tag="my-analysis:1.0"))
    server = api.up(path=Path("my-analysis"), options=UpOptions(port=8890))
    print(server.url)
    api.down(path=Path("my-analysis"))

    # Every `path=` also takes a link: a git URL at a ref, a DOI, a record or an archive URL.
    colleague = api.up(path=api.source("https://host/owner/sst.git@v1.2"))

The commands live in nbship.commands, one module per concern; this module is their front door.
Each name is imported on first use (PEP 562), so that `nbship --help` or `nbship status` loads only
what that command needs (not the solvers, the templates or the notebook reader).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbship.check.report import text_lines as check_report_lines
    from nbship.check.report import to_json as check_report_json
    from nbship.check.report import to_junit as check_report_junit
    from nbship.check.results import CheckReport
    from nbship.commands.archive import LoadedArchive, archive, load_archive
    from nbship.commands.build import dockerfile, init
    from nbship.commands.check import check
    from nbship.commands.clean import clean
    from nbship.commands.compose import ComposeOutcome, compose
    from nbship.commands.fresh import BuildOutcome, build
    from nbship.commands.hub import (
        HubDownOutcome,
        HubOutcome,
        HubStatus,
        K8sOutcome,
        UsersImageOutcome,
        hub_down,
        hub_image,
        hub_k8s,
        hub_logs,
        hub_status,
        hub_up,
    )
    from nbship.commands.lock import lock
    from nbship.commands.registry import login, push
    from nbship.commands.run import run
    from nbship.commands.sbom import Sbom, sbom
    from nbship.commands.serve import DownOutcome, down, follow, logs, shell, up
    from nbship.commands.status import status
    from nbship.commands.volume import volume_create, volume_export, volume_import, volume_list, volume_remove
    from nbship.lock.manage import LockOutcome
    from nbship.options import (
        BuildOptions,
        CheckOptions,
        ComposeOptions,
        HubOptions,
        ImageOptions,
        LockOptions,
        RunOptions,
        UpOptions,
    )
    from nbship.resources import GpuRequest, Resources
    from nbship.runtime.cleanup import CleanOutcome
    from nbship.runtime.image_archive import ArchiveOutcome
    from nbship.runtime.registry import PushOutcome
    from nbship.runtime.servers import Server
    from nbship.runtime.volumes import WorkVolume
    from nbship.sources.refs import ProjectPath, SourceRef, parse_reference, source

# name -> the module that defines it ("module:attribute" where the name differs). Checked against
# the TYPE_CHECKING imports above by tests/unit/test_contract.py, so the two cannot drift apart.
_WHERE: dict[str, str] = {
    "check_report_lines": "nbship.check.report:text_lines",
    "check_report_json": "nbship.check.report:to_json",
    "check_report_junit": "nbship.check.report:to_junit",
    "CheckReport": "nbship.check.results",
    "LoadedArchive": "nbship.commands.archive",
    "archive": "nbship.commands.archive",
    "load_archive": "nbship.commands.archive",
    "BuildOutcome": "nbship.commands.fresh",
    "build": "nbship.commands.fresh",
    "dockerfile": "nbship.commands.build",
    "init": "nbship.commands.build",
    "check": "nbship.commands.check",
    "clean": "nbship.commands.clean",
    "ComposeOutcome": "nbship.commands.compose",
    "compose": "nbship.commands.compose",
    "HubDownOutcome": "nbship.commands.hub",
    "HubOutcome": "nbship.commands.hub",
    "HubStatus": "nbship.commands.hub",
    "K8sOutcome": "nbship.commands.hub",
    "UsersImageOutcome": "nbship.commands.hub",
    "hub_down": "nbship.commands.hub",
    "hub_image": "nbship.commands.hub",
    "hub_k8s": "nbship.commands.hub",
    "hub_logs": "nbship.commands.hub",
    "hub_status": "nbship.commands.hub",
    "hub_up": "nbship.commands.hub",
    "lock": "nbship.commands.lock",
    "login": "nbship.commands.registry",
    "push": "nbship.commands.registry",
    "run": "nbship.commands.run",
    "Sbom": "nbship.commands.sbom",
    "sbom": "nbship.commands.sbom",
    "DownOutcome": "nbship.commands.serve",
    "down": "nbship.commands.serve",
    "follow": "nbship.commands.serve",
    "logs": "nbship.commands.serve",
    "shell": "nbship.commands.serve",
    "up": "nbship.commands.serve",
    "status": "nbship.commands.status",
    "volume_create": "nbship.commands.volume",
    "volume_export": "nbship.commands.volume",
    "volume_import": "nbship.commands.volume",
    "volume_list": "nbship.commands.volume",
    "volume_remove": "nbship.commands.volume",
    "LockOutcome": "nbship.lock.manage",
    "BuildOptions": "nbship.options",
    "CheckOptions": "nbship.options",
    "ComposeOptions": "nbship.options",
    "HubOptions": "nbship.options",
    "ImageOptions": "nbship.options",
    "LockOptions": "nbship.options",
    "RunOptions": "nbship.options",
    "UpOptions": "nbship.options",
    "GpuRequest": "nbship.resources",
    "Resources": "nbship.resources",
    "CleanOutcome": "nbship.runtime.cleanup",
    "ArchiveOutcome": "nbship.runtime.image_archive",
    "PushOutcome": "nbship.runtime.registry",
    "Server": "nbship.runtime.servers",
    "WorkVolume": "nbship.runtime.volumes",
    "ProjectPath": "nbship.sources.refs",
    "SourceRef": "nbship.sources.refs",
    "parse_reference": "nbship.sources.refs",
    "source": "nbship.sources.refs",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ArchiveOutcome",
    "BuildOptions",
    "BuildOutcome",
    "CheckOptions",
    "CheckReport",
    "CleanOutcome",
    "ComposeOptions",
    "ComposeOutcome",
    "DownOutcome",
    "GpuRequest",
    "HubDownOutcome",
    "HubOptions",
    "HubOutcome",
    "HubStatus",
    "ImageOptions",
    "K8sOutcome",
    "LoadedArchive",
    "LockOptions",
    "LockOutcome",
    "ProjectPath",
    "PushOutcome",
    "Resources",
    "RunOptions",
    "Sbom",
    "Server",
    "SourceRef",
    "UpOptions",
    "UsersImageOutcome",
    "WorkVolume",
    "archive",
    "build",
    "check",
    "check_report_json",
    "check_report_junit",
    "check_report_lines",
    "clean",
    "compose",
    "dockerfile",
    "down",
    "follow",
    "hub_down",
    "hub_image",
    "hub_k8s",
    "hub_logs",
    "hub_status",
    "hub_up",
    "init",
    "load_archive",
    "lock",
    "login",
    "logs",
    "parse_reference",
    "push",
    "run",
    "sbom",
    "shell",
    "source",
    "status",
    "up",
    "volume_create",
    "volume_export",
    "volume_import",
    "volume_list",
    "volume_remove",
]
