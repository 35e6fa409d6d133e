"""R, the way Binder reads a project: runtime.txt `r-X.Y[-YYYY-MM-DD]`, `install.R` (run at build
time as the notebook user) and a `DESCRIPTION` at the root of a project without binder/ (the
package and its dependencies are installed).

R itself comes from the base image's Debian packages (`r-base-core`), with the R kernel
(IRkernel, whose Debian package registers it in /usr/share/jupyter, where every Jupyter looks).
Packages are built in a stage of their own, with the compilers a source package may need; only
the library reaches the image. They come from one repository, decided here: the `r-repository`
setting, else the CRAN snapshot of runtime.txt's date, else CRAN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nbship import contract as c
from nbship.errors import InputFileError
from nbship.project.kinds import apt
from nbship.project.kinds.base import Fragment, Ignored, Input, InputBase, Layout, PlanContext
from nbship.project.kinds.description import Description, parse_description
from nbship.project.kinds.runtime import RRuntime, RuntimeInput

name = "r"

CRAN = "https://cloud.r-project.org"
# Posit Package Manager's dated CRAN snapshots (source packages, so any Debian release can use them).
SNAPSHOTS = "https://packagemanager.posit.co/cran"
FIRST_SNAPSHOT = dt.date(2017, 10, 10)
RUNTIME_PACKAGES = ("r-base-core", "r-cran-irkernel")
BUILD_PACKAGES = ("r-base-dev",)  # compilers and headers for source packages, in the build stage only
_WORK = "/tmp/nbship/r"  # noqa: S108 - inside the build stage, which no one else shares

# R's settings in the image: the repository (for install.R and for install.packages() in a
# notebook), the library the notebook user owns, and which R the base image's Debian release gave.
_SYSTEM = (
    "\n# R from the base image's Debian packages, with its Jupyter kernel."
    + apt.INSTALL_STEP
    + """
# R packages come from {{ repository }}
# ({{ reason }}), into {{ r_library }}.
RUN set -eu; \\
    install -d -o {{ plan.uid }} -g {{ plan.uid }} {{ r_library }}; \\
    printf '%s\\n' {{ rprofile | shquote }} >> "$(R RHOME)/etc/Rprofile.site"; \\
    have=$(Rscript -e 'cat(format(getRversion()))'); \\
    echo "R $have; packages from {{ repository }}"{% if asked %}; \\
    case "$have" in {{ asked }}|{{ asked }}.*) ;; \\
      *) echo "nbship-note: {{ runtime }} asks for R {{ asked }}; this image has R $have, the R of the" \\
           "Debian release of the base image {{ plan.base_image }} (for another R, choose a base image" \\
           "of another Debian release)" ;; \\
    esac{% endif %}"""
)
# install.R runs with only itself copied (as on Binder, before the project is), so an edit
# anywhere else in the project leaves the packages cached.
_BUILD = (
    """
# R packages (install.R, DESCRIPTION), built as the notebook user in a stage of their own: the
# compilers a source package needs stay here; only {{ r_library }} reaches the image.
FROM system AS r-build"""
    + apt.INSTALL_STEP
    + """
COPY --from={{ support_stage }} /build/{{ installer_name }} {{ r_installer }}
RUN install -d -o {{ plan.uid }} -g {{ plan.uid }} {{ r_work }}
USER {{ plan.uid }}
ENV HOME={{ home }} LANGUAGE=en {{ r_libs_env }}={{ r_library }}
WORKDIR {{ r_work }}
{%- if install_r %}
COPY {{ copy_args(install_r, r_work ~ "/" ~ install_r) }}
RUN {{ ca_mount }}set -eu; {{ ca_env }} \\
    Rscript {{ r_installer }} script {{ install_r | shquote }}
{%- endif %}
{%- if dependencies or notes %}
RUN {{ ca_mount }}set -eu; {{ ca_env }}{% for note in notes %} \\
    printf 'nbship-note: %s\\n' {{ note | shquote }};{% endfor %} \\
    Rscript {{ r_installer }} deps{% for spec in dependencies %} {{ spec | shquote }}{% endfor %}
{%- endif %}
{%- if package %}
COPY --from=source --chown={{ plan.uid }}:{{ plan.uid }} {{ content_dir }} {{ r_work }}/package
RUN R CMD INSTALL --library={{ r_library }} package \\
    || { echo "nbship: R CMD INSTALL of the package {{ package }} ({{ description }}) failed" >&2; exit 1; }
{%- endif %}"""
)
_IMAGE = """
COPY --from=r-build --chown={{ plan.uid }}:{{ plan.uid }} {{ r_library }} {{ r_library }}"""


@dataclass(frozen=True)
class RInput(InputBase):
    kind: ClassVar[str] = name
    runtime: RRuntime | None  # what runtime.txt asks of R (None: no R runtime.txt)
    runtime_display: str | None
    install_r: Path | None
    description_path: Path | None
    description: Description | None
    repository: str
    reason: str  # why this repository: the setting, the snapshot date, or the default

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(path for path in (self.install_r, self.description_path) if path is not None)

    def final_env(self) -> Mapping[str, str]:
        return {c.R_LIBS_ENV: c.R_LIBRARY}

    def _notes(self, ctx: PlanContext) -> tuple[str, ...]:
        if self.description is None or self.description_path is None:
            return ()
        where = ctx.rel(self.description_path)
        notes = []
        if self.description.remotes:
            notes.append(
                f"{where} lists Remotes ({', '.join(self.description.remotes)}), which nbship does not install: "
                f"its dependencies come from {self.repository}. Install those sources in install.R instead "
                "(e.g. remotes::install_github)."
            )
        if self.description.package is None:
            notes.append(f"{where} names no Package, so only the dependencies it lists were installed.")
        return tuple(notes)

    def fragments(self, ctx: PlanContext) -> tuple[Fragment, ...]:
        shared = {
            "r_library": c.R_LIBRARY,
            "r_libs_env": c.R_LIBS_ENV,
            "r_installer": c.R_INSTALLER,
            "installer_name": c.R_INSTALLER.rsplit("/", 1)[1],
            "r_work": _WORK,
            "repository": self.repository,
        }
        system = {
            **shared,
            "packages": RUNTIME_PACKAGES,
            "reason": self.reason,
            "rprofile": f'options(repos = c(CRAN = "{self.repository}"))',
            "asked": self.runtime.version if self.runtime else None,
            "runtime": self.runtime_display,
        }
        parts = [Fragment("system", _SYSTEM, system)]
        if self.install_r is None and self.description is None:
            return tuple(parts)
        package = self.description.package if self.description else None
        build = {
            **shared,
            "packages": BUILD_PACKAGES,
            "install_r": ctx.rel(self.install_r) if self.install_r else None,
            "dependencies": tuple(dep.spec() for dep in self.description.dependencies) if self.description else (),
            "notes": self._notes(ctx),
            "package": package,
            "description": ctx.rel(self.description_path) if self.description_path else None,
        }
        parts.append(Fragment("stages", _BUILD, build, uses_source=package is not None))
        parts.append(Fragment("image", _IMAGE, shared))
        return tuple(parts)


def choose_repository(layout: Layout, runtime: RRuntime | None, runtime_display: str | None) -> tuple[str, str]:
    """The repository R packages come from, and why (said in the Dockerfile)."""
    if layout.settings.r_repository is not None:
        return layout.settings.r_repository, "the r-repository setting"
    if runtime is not None and runtime.snapshot is not None:
        assert runtime_display is not None
        if runtime.snapshot < FIRST_SNAPSHOT:
            raise InputFileError(
                runtime_display,
                None,
                f"there is no dated CRAN snapshot of {runtime.snapshot}: Posit Package Manager's begin on "
                f"{FIRST_SNAPSHOT}",
                "Use a later date, or name a repository with r-repository in nbship.toml.",
            )
        day = runtime.snapshot.isoformat()
        return f"{SNAPSHOTS}/{day}", f"the CRAN snapshot of {day}, from {runtime_display}"
    return CRAN, "CRAN: no snapshot date in runtime.txt"


def detect(layout: Layout, found: tuple[Input, ...]) -> RInput | Ignored | None:
    runtime_input = next((item for item in found if isinstance(item, RuntimeInput)), None)
    runtime = runtime_input.runtime.r if runtime_input else None
    runtime_display = runtime_input.display if runtime_input and runtime else None
    install_r = layout.find("install.R")
    # As on Binder: DESCRIPTION is the project's own package, read only at the root of a project
    # that has no binder/ folder.
    description_path = layout.root / "DESCRIPTION" if layout.config_dir == layout.root else None
    if description_path is not None and not description_path.is_file():
        description_path = None
    if runtime is None and install_r is None and description_path is None:
        unused = layout.find("DESCRIPTION")
        if unused is not None:
            return Ignored(
                unused,
                f"{layout.display(unused)} is not used: as on Binder, a DESCRIPTION is read only at the root of a "
                "project without a binder/ folder. Install what it lists from install.R beside it.",
            )
        return None
    description = parse_description(description_path, "DESCRIPTION") if description_path else None
    repository, reason = choose_repository(layout, runtime, runtime_display)
    return RInput(runtime, runtime_display, install_r, description_path, description, repository, reason)
