"""nbship's support files in a build: the code that runs inside the image (nbship.payload), laid
out as the Dockerfile's support stage has them.

`nbship build` gives them to the build as a small image nbship makes itself (a tar of the files,
imported: no pull, no build), named after their content, so the Dockerfile starts with
`FROM nbship/support:<version>-<digest> AS nbship`. `nbship init` writes the same files into the
project's `.nbship-image/` folder instead, and its Dockerfile copies them from there, so that a
plain `docker build` works on the project with nothing but its own folder.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nbship import __version__
from nbship import contract as c

# Where each payload file goes in the support stage (paths relative to its root), and its mode.
# Run-time files land in contract.BIN_DIR, build-time ones in contract.BUILD_DIR.
_FILES: tuple[tuple[str, str, int], ...] = (
    ("bin/entrypoint", "entrypoint.sh", 0o755),
    ("bin/nbship-refresh", "refresh.py", 0o755),
    # nbship-refresh's modules: the script's own folder is first on its import path.
    ("bin/refresh_delivery.py", "refresh_delivery.py", 0o644),
    ("bin/refresh_disk.py", "refresh_disk.py", 0o644),
    ("bin/refresh_merge.py", "refresh_merge.py", 0o644),
    ("bin/nbship-sbom", "sbom.py", 0o755),
    ("build/nbship_build/assemble.py", "assemble.py", 0o644),
    ("build/nbship_build/bytecode.py", "bytecode.py", 0o644),
    ("build/nbship_build/layers.py", "layers.py", 0o644),
    ("build/nbship_build/elf.py", "elf.py", 0o644),
    ("build/nbship_build/slim.py", "slim.py", 0o644),
    ("build/nbship-conda-install", "conda_install.py", 0o755),
    ("build/nbship-pipfile-lock", "pipfile_lock.py", 0o755),
    ("build/nbship-seed-wheels", "seed_wheels.py", 0o755),
    ("build/lab-overrides.json", "lab_overrides.json", 0o644),
    ("build/nbship-r-install", "r_install.R", 0o755),
)
# A fixed time for the files' mtimes: the same files give the same layers on every machine.
_MTIME = 1_000_000_000
README = """\
# nbship's support files

`nbship init` wrote this folder beside the Dockerfile it wrote. The Dockerfile copies these files
into the image: the start-up script (`bin/entrypoint`), the work-folder refresh that brings a
volume up to date with a newer image (`bin/nbship-refresh`), and build-time helpers that trim the
environment and install a conda lock or R packages (`build/`). Keep the folder with the Dockerfile
in version control. `nbship init --force` writes both anew (for a newer nbship, say).
"""


@dataclass(frozen=True)
class SupportFile:
    path: str  # relative to the support stage's root
    data: bytes
    mode: int


@functools.cache
def support_files() -> tuple[SupportFile, ...]:
    payload = resources.files("nbship.payload")
    return tuple(SupportFile(path, payload.joinpath(name).read_bytes(), mode) for path, name, mode in _FILES)


def payload_file(name: str) -> bytes:
    """A payload file as nbship ships it (the check runner goes into its container this way)."""
    return resources.files("nbship.payload").joinpath(name).read_bytes()


@functools.cache
def support_image() -> str:
    """The image holding this nbship's support files: its tag changes whenever a file does."""
    digest = hashlib.sha256()
    for item in support_files():
        digest.update(f"{item.path}\0{item.mode:o}\0".encode())
        digest.update(hashlib.sha256(item.data).digest())
    return f"{c.SUPPORT_REPOSITORY}:{__version__}-{digest.hexdigest()[:12]}"


def support_archive() -> bytes:
    """The support files as a tar, in a deterministic order with fixed owners and times."""
    import tarfile  # only when the engine lacks the support image: every build imports this module

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders = sorted({item.path.rsplit("/", 1)[0] for item in support_files()})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
            tar.addfile(info)
        for item in sorted(support_files(), key=lambda file: file.path):
            info = tarfile.TarInfo(item.path)
            info.size, info.mode, info.mtime = len(item.data), item.mode, _MTIME
            tar.addfile(info, io.BytesIO(item.data))
    return buffer.getvalue()


def folder_files(root: Path) -> list[tuple[Path, bytes, int]]:
    """The support files as `nbship init` writes them into `root`/.nbship-image: (path, bytes, mode)."""
    folder = root / c.SUPPORT_FOLDER
    files = [(folder / "README.md", README.encode(), 0o644)]
    return files + [(folder / item.path, item.data, item.mode) for item in support_files()]
