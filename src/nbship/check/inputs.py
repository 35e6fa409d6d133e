"""What a check runs: its settings (from the project folder, or from the image's copy of the
project), the notebooks asked for by name, and the message when one of those is missing."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbship import contract as c
from nbship.check.execute import MissingNotebooks, image_files
from nbship.engine.base import Engine
from nbship.errors import InputFileError, NbshipError, UsageError
from nbship.project.detect import Project
from nbship.settings import Settings, load_settings

IMAGE_SETTINGS = (f"{c.CONTENT_DIR}/nbship.toml", f"{c.CONTENT_DIR}/pyproject.toml")


@dataclass(frozen=True)
class CheckSource:
    """The settings a check uses, and the text of their file, for messages with a line number."""

    settings: Settings
    file_name: str | None  # for messages: where the settings came from
    text: str = ""


def image_settings(engine: Engine, image: str) -> CheckSource:
    """The settings the image's copy of the project carries (an image used without its folder)."""
    files = image_files(engine, image, IMAGE_SETTINGS)
    with tempfile.TemporaryDirectory(prefix="nbship-settings-") as tmp:
        for name, data in files.items():
            Path(tmp, name).write_bytes(data)
        settings, source = load_settings(Path(tmp))
        text = source.read_text(encoding="utf-8") if source else ""
    return CheckSource(settings, source.name if source else None, text)


def project_settings(project: Project) -> CheckSource:
    source = project.settings_file
    text = source.read_text(encoding="utf-8") if source else ""
    return CheckSource(project.settings, project.rel(source) if source else None, text)


def notebook_option(name: str) -> str:
    """A --notebook value as the runner looks for it: relative to the project folder, with '/'."""
    path = name.replace("\\", "/").removeprefix("./")
    if not path.endswith(".ipynb") or path.startswith("/") or ".." in path.split("/"):
        raise UsageError(
            f"--notebook {name}: give a notebook's path relative to the project folder, like analysis/fit.ipynb."
        )
    return path


def missing_error(exc: MissingNotebooks, *, from_option: bool, source: CheckSource, image: str) -> NbshipError:
    available = ", ".join(exc.available) or "none"
    if from_option or source.file_name is None:
        return UsageError(
            f"--notebook {exc.missing[0]}: there is no such notebook in {image}. Its notebooks: {available}."
        )
    line = next((n for n, t in enumerate(source.text.splitlines(), 1) if exc.missing[0] in t), None)
    return InputFileError(
        source.file_name,
        line,
        f"[check] notebooks names {exc.missing[0]}, which is not in the image {image}",
        f"Correct the path (relative to the project folder) or remove it. The image's notebooks: {available}.",
    )
