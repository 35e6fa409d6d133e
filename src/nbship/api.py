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
"""

from __future__ import annotations

from nbship.check.report import text_lines as check_report_lines
from nbship.check.report import to_json as check_report_json
from nbship.check.report import to_junit as check_report_junit
from nbship.check.results import CheckReport
from nbship.commands.archive import LoadedArchive, archive, load_archive
from nbship.commands.build import BuildOutcome, build, dockerfile, init
from nbship.commands.check import check
from nbship.commands.clean import clean
from nbship.commands.compose import ComposeOutcome, compose
from nbship.commands.lock import lock
from nbship.commands.registry import login, push
from nbship.commands.run import run
from nbship.commands.sbom import Sbom, sbom
from nbship.commands.serve import DownOutcome, down, follow, logs, shell, status, up
from nbship.commands.volume import volume_create, volume_export, volume_import, volume_list, volume_remove
from nbship.lock.manage import LockOutcome
from nbship.options import (
    BuildOptions,
    CheckOptions,
    ComposeOptions,
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
    "ImageOptions",
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
