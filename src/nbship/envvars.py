"""Environment variables for the containers nbship starts for the user: `-e NAME=VALUE`, `-e NAME`
(the value from nbship's own environment) and `--env-file FILE`, read as `docker run` reads them.

An env file has one `NAME=VALUE` per line; the value is the rest of the line as it stands (quotes
are kept, as docker keeps them); a line with a name only takes the value from the environment, and
is skipped when the environment has none; blank lines and lines starting with `#` are skipped.
Files come first and `-e` after, so `-e` wins over a file, and a later value over an earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from nbship import contract as c
from nbship.errors import InputFileError, UsageError

Env = tuple[tuple[str, str], ...]

# How the image starts (its work folder, content, start script): not the user's to set.
RESERVED = frozenset({c.WORKDIR_ENV, c.CONTENT_ENV, c.START_ENV})


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an environment variable's name, or None when it can."""
    if not name:
        return "the name is empty"
    if any(ch.isspace() for ch in name):
        return f"the name '{name}' has white space in it"
    if "\0" in name:
        return "the name holds a NUL character"
    return None


def _value_problem(value: str) -> str | None:
    return "the value holds a NUL character, which no environment variable can" if "\0" in value else None


def parse_assignment(text: str, *, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """One `-e` value: NAME=VALUE, or NAME (None when nbship's environment has no NAME)."""
    name, has_value, value = text.partition("=")
    problem = name_problem(name) or (_value_problem(value) if has_value else None)
    if problem:
        raise UsageError(f"-e {text!r}: {problem}. Give NAME=VALUE, or NAME to pass on your own {name or 'NAME'}.")
    if has_value:
        return name, value
    return (name, environ[name]) if name in environ else None


def parse_env_file(text: str, *, source: str, environ: Mapping[str, str]) -> Env:
    """The variables of an env file's text; `source` names the file in messages."""
    found: list[tuple[str, str]] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, has_value, value = line.partition("=")
        problem = name_problem(name) or (_value_problem(value) if has_value else None)
        if problem:
            raise InputFileError(
                source,
                number,
                problem,
                "Each line is NAME=VALUE (the value is taken as it stands), or NAME alone to pass on "
                "the variable of that name from your environment.",
            )
        if has_value:
            found.append((name, value))
        elif name in environ:
            found.append((name, environ[name]))
    return tuple(found)


def read_env_file(path: Path, *, environ: Mapping[str, str]) -> Env:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--env-file {path}: there is no such file.") from None
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path}: the file is not UTF-8 text.") from None
    except OSError as exc:
        raise UsageError(f"--env-file {path}: cannot read it ({exc.strerror}).") from exc
    return parse_env_file(text, source=str(path), environ=environ)


def collect(assignments: Iterable[str], files: Iterable[Path], *, environ: Mapping[str, str]) -> Env:
    """The variables of `--env-file`s then `-e`s, in that order (later ones win, as in docker)."""
    pairs: list[tuple[str, str]] = []
    for path in files:
        pairs.extend(read_env_file(path, environ=environ))
    for text in assignments:
        pair = parse_assignment(text, environ=environ)
        if pair is not None:
            pairs.append(pair)
    return final(pairs)


def final(pairs: Iterable[tuple[str, str]]) -> Env:
    """One value per name, the last one given, in the order the names first appeared."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        merged[name] = value
    return tuple(merged.items())


def check_names(env: Env, *, reserved: frozenset[str] = RESERVED, hint: Mapping[str, str] | None = None) -> None:
    """Refuses names nbship sets itself; `hint` says what to use instead for some of them."""
    for name, value in env:
        problem = name_problem(name) or _value_problem(value)
        if problem:
            raise UsageError(f"The environment variable {name!r} cannot be passed: {problem}.")
        if name in reserved:
            instead = (hint or {}).get(name, "")
            raise UsageError(
                f"{name} is set by nbship itself for the container, so it cannot be given with -e or --env-file."
                + (f" {instead}" if instead else "")
            )
