"""Image references checked before Docker sees them, and build-log lines that mean 'no such package'."""

from __future__ import annotations

import pytest

from nbship.engine.buildlog import missing_package
from nbship.errors import ExitCode, UsageError
from nbship.references import validate_reference


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("name", "name:latest"),
        ("name:tag", "name:tag"),
        ("name:Tag_1.0-rc1", "name:Tag_1.0-rc1"),
        ("sst-analysis", "sst-analysis:latest"),
        ("a__b.c-d", "a__b.c-d:latest"),
        ("alice/x", "alice/x:latest"),
        ("alice/x:2024.06", "alice/x:2024.06"),
        ("host:5000/a/b:t", "host:5000/a/b:t"),
        ("host:5000/a/b", "host:5000/a/b:latest"),
        ("localhost/x", "localhost/x:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("ghcr.io/alice/x:1.0", "ghcr.io/alice/x:1.0"),
        ("ghcr.io/alice/x", "ghcr.io/alice/x:latest"),
        ("Registry.Example.com/team/x", "Registry.Example.com/team/x:latest"),
        ("x@sha256:" + "a" * 64, "x@sha256:" + "a" * 64),
    ],
)
def test_valid_references(reference: str, expected: str) -> None:
    assert validate_reference(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "Bad Name",
        "UPPER/x",
        "Alice/x",
        "NAME",
        "a::b",
        "",
        "x:",
        ":tag",
        "-x",
        "x-",
        "x/",
        "/x",
        "a//b",
        "x:-tag",
        "x:tag:tag2",
        "x y:1",
        "ghcr.io/Alice/x",
        "x@sha256:short",
        "a" * 256,
    ],
)
def test_invalid_references(reference: str) -> None:
    with pytest.raises(UsageError) as info:
        validate_reference(reference)
    message = info.value.message
    assert message.startswith(f"'{reference}' is not a valid image name.")
    assert "lowercase" in message
    assert "e.g. 'sst-analysis:latest'" in message
    assert info.value.exit_code == ExitCode.USAGE


def test_what_names_the_option() -> None:
    with pytest.raises(UsageError, match=r"^'Bad' is not a valid --image value\."):
        validate_reference("Bad", what="--image value")


# ---------------------------------------------------------------------------------------------
# missing_package: the name of a package that does not exist, and where it was looked for
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        pytest.param(
            [
                "  \u00d7 No solution found when resolving dependencies:",
                "  ╰─▶ Because nosuchpkg was not found in the package registry and you require nosuchpkg, we can"
                " conclude that your requirements are unsatisfiable.",
            ],
            ("nosuchpkg", "PyPI"),
            id="uv",
        ),
        pytest.param(
            ["#12 4.021   ╰─▶ Because no-such_pkg.x was not found in the package registry and you require it"],
            ("no-such_pkg.x", "PyPI"),
            id="uv under buildkit prefix",
        ),
        pytest.param(
            [
                "ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0 (from versions: none)",
                "ERROR: No matching distribution found for nosuchpkg==1.0",
            ],
            ("nosuchpkg", "PyPI"),
            id="pip with version",
        ),
        pytest.param(
            ["Step 7/20 : RUN pip install", "ERROR: No matching distribution found for Foo_Bar[extra]>=2"],
            ("Foo_Bar", "PyPI"),
            id="pip with extras",
        ),
        pytest.param(
            ["Reading package lists...", "E: Unable to locate package libnosuch-dev"],
            ("libnosuch-dev", "the Debian package lists"),
            id="apt",
        ),
        pytest.param(
            ["#7 2.345 E: Unable to locate package g++-99"],
            ("g++-99", "the Debian package lists"),
            id="apt under buildkit prefix",
        ),
        pytest.param(
            ["E: Unable to locate package first", "ERROR: No matching distribution found for second"],
            ("first", "the Debian package lists"),
            id="first match wins",
        ),
        pytest.param([], None, id="empty log"),
        pytest.param(
            [
                "ERROR: Could not build wheels for numpy",
                "error: subprocess-exited-with-error",
                "E: Package 'python2' has no installation candidate",
                "  ╰─▶ Because there is no version of numpy==99 and you require numpy==99, we can conclude ...",
            ],
            None,
            id="other failures",
        ),
    ],
)
def test_missing_package(lines: list[str], found: tuple[str, str] | None) -> None:
    assert missing_package(lines) == found


def test_missing_package_reads_any_iterable() -> None:
    log = (line for line in ["noise", "E: Unable to locate package nope"])
    assert missing_package(log) == ("nope", "the Debian package lists")
