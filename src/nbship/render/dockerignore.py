"""What never enters a build context, whatever the project's own .dockerignore says."""

from __future__ import annotations

from pathlib import Path

from nbship import ignore
from nbship.errors import ProjectError
from nbship.project.detect import Project
from nbship.project.kinds.dockerfile import DockerfileInput
from nbship.project.plan import context_inputs, hidden_inputs

# Secrets, VCS data, caches and virtualenvs: large, host-specific, or dangerous to publish.
NBSHIP_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".nbship",
    "**/.ipynb_checkpoints",
    "**/__pycache__",
    "**/*.pyc",
    ".venv",
    "venv",
    "**/.venv",
    "**/node_modules",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "**/.cache",
    "**/.env",
    "**/.env.*",
    "**/.envrc",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/.ssh",
    "**/.aws",
    "**/.gnupg",
    "**/.docker",
    "**/.netrc",
    "**/.pypirc",
    "**/.git-credentials",
    "**/.npmrc",
    "**/credentials.json",
    "**/*service-account*.json",
    "**/.DS_Store",
)


NBSHIP_PATTERNS: tuple[ignore.Pattern, ...] = ignore.compile_lines((None, line) for line in NBSHIP_EXCLUDES)


def context_patterns(project: Project) -> tuple[ignore.Pattern, ...]:
    """What the build's context leaves out: the project's patterns, then the input files they hide
    put back (the build reads them; the image's copy of the project leaves them out), then
    nbship's, which nothing re-includes. An input file nbship's own patterns hide cannot be built."""
    if project.input(DockerfileInput) is not None:
        return (*project.ignore, *NBSHIP_PATTERNS)  # the project's own Dockerfile: Docker's rules, as they are
    back = tuple(ignore.Pattern.make(ignore.literal(rel), exclusion=True) for rel in hidden_inputs(project))
    patterns = (*project.ignore, *back, *NBSHIP_PATTERNS)
    matcher = ignore.Matcher(patterns)
    for rel in context_inputs(project):
        deciding = matcher.deciding(rel)
        if deciding is not None and not deciding.exclusion:
            raise ProjectError(
                f"{rel} is part of the project's environment, but nbship never sends a file matching "
                f"'{deciding.text}' into a build (secrets, version control data, caches and virtualenvs stay out "
                "of images, whatever .dockerignore says). Rename or move the file, and the lines that name it."
            )
    return patterns


def context_entries(root: Path, patterns: tuple[ignore.Pattern, ...]) -> list[ignore.Entry]:
    """The files and folders of `root` that a build with these patterns sends, sorted."""
    return ignore.Matcher(patterns).walk(root)


def render_dockerignore(own: tuple[ignore.Pattern, ...] = ()) -> str:
    lines = ["# Written by nbship. The project's own patterns come first; nbship's always apply after them."]
    if own:
        lines += ["", "# from the project's .dockerignore", *ignore.lines(own)]
    lines += ["", "# nbship: secrets, version control, caches and virtualenvs never enter an image", *NBSHIP_EXCLUDES]
    return "\n".join(lines) + "\n"
