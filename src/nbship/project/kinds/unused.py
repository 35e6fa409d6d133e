"""Environment files nbship finds and does not use: each gets a warning that names it and says what
nbship does instead, so nothing a Binder user wrote is ignored silently.

Three cases: files of kinds nbship does not build (the table below, one line per file: a kind
that learns one removes its line), files at the root that a binder/ folder overrides (as on Binder),
and files beside a project's own Dockerfile that the Dockerfile does not mention.
"""

from __future__ import annotations

from nbship.project.kinds.base import Ignored, Input, Layout

_JULIA = "Julia is not supported: the image has no Julia and this environment is not installed"
_RENV = "nbship does not read renv.lock: an R project's packages come from install.R or DESCRIPTION"
_OTHER_LOCK = (
    "nbship does not read this lock: the Python packages come from the project's requirements, Pipfile or "
    "pyproject.toml, and `nbship lock` pins them into requirements.lock"
)
_CONDA_LOCK = "nbship does not read this file: describe the environment in environment.yml (nbship locks it itself)"

# File name -> what nbship does instead. One line each.
UNUSED: tuple[tuple[str, str], ...] = (
    ("renv.lock", _RENV),
    ("Project.toml", _JULIA),
    ("JuliaProject.toml", _JULIA),
    ("Manifest.toml", _JULIA),
    ("REQUIRE", _JULIA),
    ("default.nix", "Nix is not supported: list Debian packages in apt.txt and Python packages in requirements.txt"),
    ("requirements3.txt", "Binder reads it only beside a Python 2 kernel, and nbship builds Python 3 only"),
    ("poetry.lock", _OTHER_LOCK),
    ("uv.lock", _OTHER_LOCK),
    ("pdm.lock", _OTHER_LOCK),
    ("pixi.toml", _CONDA_LOCK),
    ("pixi.lock", _CONDA_LOCK),
    ("conda-lock.yml", _CONDA_LOCK),
)

# The files Binder reads from binder/ (or .binder/) instead of the root when that folder exists.
BINDER_FILES = (
    "requirements.txt",
    "environment.yml",
    "environment.yaml",
    "Pipfile",
    "Pipfile.lock",
    "runtime.txt",
    "apt.txt",
    "postBuild",
    "start",
    "Dockerfile",
    *(name for name, _ in UNUSED),
)


def unused_files(layout: Layout, inputs: tuple[Input, ...]) -> tuple[Ignored, ...]:
    found: list[Ignored] = []
    for file_name, instead in UNUSED:
        path = layout.find(file_name)
        if path is not None:
            found.append(Ignored(path, f"{layout.display(path)} is not used: {instead}."))
    if layout.config_dir != layout.root:
        folder = layout.display(layout.config_dir)
        for file_name in BINDER_FILES:
            path = layout.root / file_name
            if path.is_file():
                found.append(
                    Ignored(
                        path,
                        f"{file_name} at the root is not used: {folder}/ holds the project's environment files "
                        f"(as on Binder). Move it into {folder}/ or delete it.",
                    )
                )
    own = next((item for item in inputs if item.kind == "dockerfile"), None)
    if own is not None:
        text = own.files[0].read_text(encoding="utf-8", errors="replace")
        for item in inputs:
            for path in item.files if item is not own else ():
                if path.name not in text:
                    found.append(
                        Ignored(
                            path,
                            f"{layout.display(path)} is not used: the project's own {layout.display(own.files[0])} "
                            "builds the image as it is (as on Binder), and it does not mention the file.",
                        )
                    )
    return tuple(found)
