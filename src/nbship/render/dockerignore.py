"""What never enters a build context, whatever the project's own .dockerignore says."""

from __future__ import annotations

from pathlib import Path

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


def project_patterns(dockerignore: Path | None) -> list[str]:
    if dockerignore is None:
        return []
    lines = dockerignore.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def ignore_patterns(dockerignore: Path | None) -> list[str]:
    """The project's patterns first, nbship's after: later lines win, so a `!.env` cannot re-include it."""
    return [*project_patterns(dockerignore), *NBSHIP_EXCLUDES]


def context_paths(root: Path, ignore: list[str]) -> list[str]:
    """The files and folders of `root` that a build with these ignore patterns sends, sorted."""
    import docker.utils.build  # the matcher docker itself uses for .dockerignore

    # A copy: docker-py appends "!Dockerfile" to the list it is given.
    return sorted(docker.utils.build.exclude_paths(str(root), list(ignore)))


def render_dockerignore(dockerignore: Path | None) -> str:
    lines = ["# Written by nbship. The project's own patterns come first; nbship's always apply after them."]
    own = project_patterns(dockerignore)
    if own:
        lines += ["", "# from the project's .dockerignore", *own]
    lines += ["", "# nbship: secrets, version control, caches and virtualenvs never enter an image", *NBSHIP_EXCLUDES]
    return "\n".join(lines) + "\n"
