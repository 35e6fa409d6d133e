"""`nbship build --reproducible`: what changes so that the same commit gives the same image id on
any machine, in any folder, with any file times and an empty cache.

- The clock: SOURCE_DATE_EPOCH, else the last commit's time (commands/source_date.py); without
  either the build is refused, since there is nothing every machine agrees on.
- The labels: the creation time is the clock; the project is named by an identity that does not
  depend on the folder (the repository's first commit, else the project's name); the fingerprint
  hashes file contents instead of times.
- The image: normalized after the build (runtime/reproducible.py).
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from nbship import contract as c
from nbship.commands.source_date import SourceDate, git, source_date
from nbship.errors import UsageError
from nbship.ignore import Pattern
from nbship.ignore import lines as ignore_lines
from nbship.options import BuildOptions
from nbship.project.detect import Project
from nbship.project.kinds.apt import AptInput
from nbship.project.kinds.r import CRAN as R_CRAN
from nbship.project.kinds.r import RUNTIME_PACKAGES as R_RUNTIME_PACKAGES
from nbship.project.kinds.r import RInput
from nbship.render.dockerignore import context_entries
from nbship.reporter import Reporter


def wanted(project: Project, options: BuildOptions) -> bool:
    return options.reproducible if options.reproducible is not None else project.settings.reproducible


def clock(project: Project, reporter: Reporter) -> SourceDate:
    found = source_date(project.root)
    if found is None:
        raise UsageError(
            f"--reproducible needs a time every machine agrees on, and {project.root} has neither "
            f"{c.SOURCE_DATE_EPOCH_ENV} set nor a git commit. Commit the project (`git init && git add -A && "
            f"git commit`), or set {c.SOURCE_DATE_EPOCH_ENV} to seconds since 1970, or build without --reproducible."
        )
    from nbship.runtime.reproducible import iso  # its image tools: only for a reproducible build

    reporter.info(f"Reproducible build: every time in the image is {iso(found.epoch)} ({found.origin}).")
    unlocked = unlocked_debian(project)
    if unlocked:
        reporter.warn(
            f"{' and '.join(unlocked)} are not locked: this image is reproducible only while the Debian mirror "
            "serves the same versions of them (the SBOM in the image records the versions it got)."
        )
    packages = unlocked_r_packages(project)
    if packages:
        reporter.warn(packages)
    return found


def unlocked_r_packages(project: Project) -> str | None:
    """What to say of install.R's and DESCRIPTION's packages when they come from no dated snapshot."""
    r = project.input(RInput)
    if r is None or (r.install_r is None and r.description is None):
        return None
    repository = project.settings.r_repository
    if repository is None and r.runtime is not None and r.runtime.snapshot is not None:
        return None  # a dated CRAN snapshot serves the same versions for good
    return (
        f"The R packages install.R and DESCRIPTION ask for come from {repository or R_CRAN}, which nbship does not "
        "know to be a dated snapshot: this image is reproducible only while it serves the same versions. A date "
        "in runtime.txt (r-4.3-2024-05-01) installs them from that day's CRAN snapshot."
    )


def unlocked_debian(project: Project) -> tuple[str, ...]:
    """What the build installs from the Debian mirror, whose versions no lock pins."""
    found = []
    if project.input(AptInput) is not None:
        found.append("apt.txt's packages")
    if project.input(RInput) is not None:
        found.append(f"R and its kernel ({', '.join(R_RUNTIME_PACKAGES)})")
    return tuple(found)


def identity(project: Project) -> str:
    """The project's name for images, the same in every clone: slug and its repository's first commit."""
    first = git(project.root, "rev-list", "--max-parents=0", "HEAD")
    anchor = sorted(first.split())[0] if first else f"name:{project.name}"
    return f"{project.slug}-{hashlib.sha256(anchor.encode()).hexdigest()[:8]}"


def content_fingerprint(root: Path, dockerfile_text: str, ignore: tuple[Pattern, ...]) -> str:
    """As build.fingerprint, but over file contents and modes, never times: the same on every machine."""
    digest = hashlib.sha256()
    digest.update(b"reproducible\0" + dockerfile_text.encode())
    digest.update("\n".join(ignore_lines(ignore)).encode())
    for entry in context_entries(root, ignore):
        path = root / entry.path
        try:
            data = _file_digest(path) if stat.S_ISREG(entry.stat.st_mode) else ""
        except OSError:
            continue
        digest.update(f"\0{entry.path}\0{entry.stat.st_mode & 0o777}\0{data}".encode())
    return digest.hexdigest()[:32]


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def labels(project: Project, base: dict[str, str], when: SourceDate) -> dict[str, str]:
    from nbship.runtime.reproducible import iso

    return {**base, c.OCI_CREATED: iso(when.epoch), c.LABEL_PROJECT_ID: identity(project)}
