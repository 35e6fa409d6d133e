"""nbship's .dockerignore matcher against Docker's own: the context a real BuildKit build receives.

Each case writes a tree and an ignore list, has BuildKit copy the whole context into an empty image
exported as a tar (`FROM scratch`, `COPY . /`, `-o type=tar`: no image is kept), and compares the
files it holds with what nbship's matcher says the build sends. Patterns are drawn from the glob
syntax Docker and nbship read alike (not the regular-expression characters that Docker 20.10
passes through unescaped).

nbship follows the rule Docker documents and newer BuildKit applies: the last pattern matching a
path or one of its parent folders decides. Docker 20.10's walker (the one on the test machines)
departs from it in two known ways, and generated cases that hit them are left out: it never looks
inside an excluded folder for a `!` pattern with wildcards unless that pattern's text starts with
the folder's path, and it checks a `**` pattern against only one of a path's parent folders. It
also sends an excluded folder whose path starts a `!` pattern even when nothing in it is sent, so
folders are not compared, only files.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nbship import ignore
from nbship.engine.docker_cli import find_buildkit_cli

pytestmark = pytest.mark.docker


def docker_sends(root: Path, lines: list[str]) -> set[str]:
    """The files (and links) a BuildKit build with these ignore lines receives."""
    cli = find_buildkit_cli()
    assert cli is not None, "these tests need a docker client with BuildKit"
    with tempfile.TemporaryDirectory(prefix="nbship-ctx-") as tmp:
        dockerfile = Path(tmp, "Dockerfile")
        dockerfile.write_text("FROM scratch\nCOPY . /\n")
        Path(tmp, "Dockerfile.dockerignore").write_text("\n".join(lines) + "\n")
        result = subprocess.run(
            [cli.path, "build", "-q", "-f", str(dockerfile), "-o", "type=tar,dest=-", str(root)],
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            check=False,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        return {member.name.removeprefix("./") for member in tar.getmembers() if not member.isdir()}


def nbship_sends(root: Path, lines: list[str]) -> set[str]:
    patterns = ignore.compile_lines(ignore.parse("\n".join(lines)))
    return {entry.path for entry in ignore.Matcher(patterns).walk(root) if not entry.is_dir}


def docker_20_10_departs(root: Path, lines: list[str]) -> bool:
    """Whether Docker 20.10's walker departs from the documented rule here (see the module's note)."""
    patterns = ignore.compile_lines(ignore.parse("\n".join(lines)))
    if any(p.exclusion for p in patterns) and any("**" in p.text for p in patterns):
        return True
    matcher = ignore.Matcher(patterns)
    wild = [p for p in patterns if p.exclusion and any(ch in p.text for ch in "*?[")]
    for folder in (path for path in root.rglob("*") if path.is_dir() and not path.is_symlink()):
        rel = folder.relative_to(root).as_posix()
        if matcher.excluded(rel) and any(
            p.may_match_below(rel) and not (p.text + "/").startswith(rel + "/") for p in wild
        ):
            return True
    return False


def write_tree(root: Path, files: list[str], links: list[tuple[str, str]] = ()) -> Path:  # type: ignore[assignment]
    root.mkdir(parents=True, exist_ok=True)
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            path.write_text(rel)
    for rel, target in links:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    return root


TREE = [
    "README.md",
    "a.txt",
    "b.csv",
    "notes.txt",
    "#hash.txt",
    "data/raw/x.csv",
    "data/raw/y.txt",
    "data/keep.csv",
    "binder/requirements.txt",
    "binder/postBuild",
    "src/pkg/__init__.py",
    "src/pkg/__pycache__/m.pyc",
    "deep/a/b/c/d.txt",
    "empty/",
    "data/empty/",
]

FIXED = [
    pytest.param(["binder/"], id="folder with slash"),
    pytest.param(["binder/", "!binder/requirements.txt"], id="re-include inside an excluded folder"),
    pytest.param(["*", "!src"], id="everything but src"),
    pytest.param(["*", "!data/raw/*.csv"], id="re-include deep under a star"),
    pytest.param(["**/*.csv", "!data/keep.csv"], id="double star then exception"),
    pytest.param(["data/**"], id="trailing double star"),
    pytest.param(["**"], id="double star alone"),
    pytest.param(["/data", "deep/*/b"], id="leading slash, middle star"),
    pytest.param(["# comment", "  notes.txt  ", "", " #hash.txt"], id="comments and white space"),
    pytest.param(["./data/../binder/./postBuild", "src//pkg"], id="cleaned paths"),
    pytest.param(["?.txt", "[ab].*", "[^d]ata"], id="question mark and classes"),
    pytest.param(["**/__pycache__", "deep/**/d.txt"], id="double star in the middle"),
    pytest.param(["empty", "data/empty"], id="empty folders"),
    pytest.param(["*.txt", "!**/d.txt", "deep/a"], id="later pattern wins over an earlier exception"),
    pytest.param(["\\#hash.txt", "a\\.txt"], id="escapes"),
]


@pytest.mark.parametrize("lines", FIXED)
def test_fixed_cases_match_docker(docker_daemon: str, tmp_path: Path, lines: list[str]) -> None:
    root = write_tree(tmp_path / "ctx", TREE, [("link-to-data", "data"), ("dangling", "nowhere")])
    assert nbship_sends(root, lines) == docker_sends(root, lines)


_NAMES = ["a", "b", "ab", "a.txt", "b.csv", ".x", "c.py"]
_SEGMENTS = ["a", "b", "ab", "*", "?", "a*", "*.txt", "**", "[ab]", "[^a]*", "a?", "*.csv", ".x", "c.py", "*b"]

trees = st.lists(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4).map("/".join), min_size=1, max_size=12).map(
    lambda paths: sorted(set(paths))
)
patterns = st.builds(
    lambda bang, slash, segments, tail: ("!" if bang else "") + ("/" if slash else "") + "/".join(segments) + tail,
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)


def _consistent(paths: list[str]) -> list[str]:
    """Drops a path that needs another one to be a folder and a file at once."""
    kept: list[str] = []
    for path in paths:
        prefixes = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if prefixes & set(kept) or any(other.startswith(path + "/") for other in kept):
            continue
        kept.append(path)
    return kept


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=trees, lines=st.lists(patterns, min_size=1, max_size=4))
def test_generated_cases_match_docker(docker_daemon: str, tmp_path: Path, paths: list[str], lines: list[str]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        root = write_tree(Path(tmp), _consistent(paths))
        assume(not docker_20_10_departs(root, lines))
        assert nbship_sends(root, lines) == docker_sends(root, lines), lines
