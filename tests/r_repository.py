"""A small CRAN-like repository written by the tests (CRAN is not reachable here): source packages
of plain R code under src/contrib/, indexed by a PACKAGES file in the DCF form
`tools::write_PACKAGES` writes (also gzipped, as R tries PACKAGES.gz before PACKAGES)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RPackage:
    name: str
    version: str
    functions: Mapping[str, str] = field(default_factory=dict)  # exported name -> R function text
    imports: Sequence[str] = ()  # "pkg" or "pkg (>= 1.0)"

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}.tar.gz"

    def description(self) -> str:
        lines = [
            f"Package: {self.name}",
            f"Version: {self.version}",
            f"Title: The nbship Test Package {self.name}",
            "Description: A package of plain R code that nbship's tests install.",
            "License: MIT",
            "Authors@R: person('nbship', 'tests', email = 'tests@example.org', role = c('aut', 'cre'))",
            "NeedsCompilation: no",
        ]
        if self.imports:
            lines.append("Imports: " + ", ".join(self.imports))
        return "\n".join(lines) + "\n"


def _member(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def source_package(package: RPackage) -> bytes:
    """The package as R CMD build lays it out: NAME/DESCRIPTION, NAME/NAMESPACE, NAME/R/NAME.R."""
    code = "".join(f"{name} <- {body}\n" for name, body in package.functions.items())
    namespace = "".join(f"export({name})\n" for name in package.functions)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        _member(tar, f"{package.name}/DESCRIPTION", package.description())
        _member(tar, f"{package.name}/NAMESPACE", namespace)
        _member(tar, f"{package.name}/R/{package.name}.R", code)
    return raw.getvalue()


def write_repository(root: Path, packages: Sequence[RPackage]) -> Path:
    contrib = root / "src" / "contrib"
    contrib.mkdir(parents=True, exist_ok=True)
    records = []
    for package in packages:
        data = source_package(package)
        (contrib / package.filename).write_bytes(data)
        record = [f"Package: {package.name}", f"Version: {package.version}"]
        if package.imports:
            record.append("Imports: " + ", ".join(package.imports))
        record += ["License: MIT", f"MD5sum: {hashlib.md5(data).hexdigest()}", "NeedsCompilation: no"]  # noqa: S324
        records.append("\n".join(record) + "\n")
    index = "\n".join(records)
    (contrib / "PACKAGES").write_text(index)
    (contrib / "PACKAGES.gz").write_bytes(gzip.compress(index.encode(), mtime=0))
    return root


TEST_R_PACKAGES: tuple[RPackage, ...] = (
    RPackage("nbshipgreet", "1.0", {"greet": 'function(who) paste0("hello, ", who, "!")'}),
    RPackage("nbshipcore", "1.2", {"core_value": "function() 21L"}),
    RPackage(
        "nbshipstats", "2.0", {"double_core": "function() 2L * nbshipcore::core_value()"}, ("nbshipcore (>= 1.0)",)
    ),
)
