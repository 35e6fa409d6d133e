"""An R package's DESCRIPTION (DCF), read as R reads it: fields, continuation lines, the
dependencies nbship installs, and every mistake reported with its line."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.errors import ExitCode, InputFileError
from nbship.project.kinds.description import (
    Dependency,
    Description,
    parse_dependencies,
    parse_description,
    read_dcf,
)


def _parse(tmp_path: Path, text: str | bytes) -> Description:
    path = tmp_path / "DESCRIPTION"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return parse_description(path, "DESCRIPTION")


def test_a_package_with_its_dependencies(tmp_path: Path) -> None:
    description = _parse(
        tmp_path,
        "Package: sstr\n"
        "Type: Package\n"
        "Version: 0.1.0\n"
        "Title: SST helpers\n"
        "Description: Helpers for the analysis,\n"
        "    over two lines.\n"
        "Depends: R (>= 4.0), stats\n"
        "Imports:\n"
        "    dplyr (>= 1.1.0),\n"
        "    ggplot2,\n"
        "    tidyr (== 1.3.0)\n"
        "LinkingTo: Rcpp\n"
        "Suggests: testthat\n"
        "Remotes: tidyverse/dplyr, github::r-lib/cli\n",
    )
    assert description.package == "sstr"
    assert description.version == "0.1.0"
    # R itself is not a package; Suggests is not installed (install.packages' default).
    assert [dep.spec() for dep in description.dependencies] == [
        "stats",
        "dplyr (>= 1.1.0)",
        "ggplot2",
        "tidyr (== 1.3.0)",
        "Rcpp",
    ]
    assert description.remotes == ("tidyverse/dplyr", "github::r-lib/cli")


def test_dependencies_only(tmp_path: Path) -> None:
    description = _parse(tmp_path, "Imports: dplyr, ggplot2,\n")  # a trailing comma, as R accepts
    assert description == Description(None, None, (Dependency("dplyr"), Dependency("ggplot2")), ())


def test_a_dependency_named_twice_is_installed_once(tmp_path: Path) -> None:
    description = _parse(tmp_path, "Depends: dplyr (>= 1.0)\nImports: dplyr\n")
    assert description.dependencies == (Dependency("dplyr", ">=", "1.0"),)


def test_latin1_and_crlf(tmp_path: Path) -> None:
    description = _parse(tmp_path, "Package: cafes\r\nVersion: 1.0\r\nAuthor: Ren\xe9\r\n".encode("latin-1"))
    assert (description.package, description.version) == ("cafes", "1.0")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("  indented first\n", 1, "an indented line continues no field", id="continuation first"),
        pytest.param("Package: a1\nVersion 1.0\n", 2, "'Version 1.0' is not a 'Field: value' line", id="no colon"),
        pytest.param("Imports: a1\nImports: b2\n", 2, "the field Imports is given twice (first on line 1)", id="twice"),
        pytest.param(
            "Package: a1\nVersion: 1\n\nPackage: b2\n", 4, "a second record starts after the blank line 3", id="2"
        ),
        pytest.param(
            "Imports: dplyr ggplot2\n", 1, "'dplyr ggplot2' in Imports is not an R package name", id="no comma"
        ),
        pytest.param("Imports:\n  dplyr (> = 1)\n", 1, "'dplyr (> = 1)' in Imports", id="bad operator"),
        pytest.param("Depends: 4pkg\n", 1, "'4pkg' in Depends", id="starts with a digit"),
        pytest.param("LinkingTo: Rcpp (>= x)\n", 1, "'Rcpp (>= x)' in LinkingTo", id="not a version"),
        pytest.param("Package: my_pkg\nVersion: 1.0\n", 1, "'my_pkg' is not an R package name", id="underscore"),
        pytest.param(
            "Package: mypkg\n", 1, "the package mypkg needs a Version such as 0.1.0, and there is none", id="v"
        ),
        pytest.param("Package: mypkg\nVersion: one\n", 2, "needs a Version such as 0.1.0, not 'one'", id="bad version"),
    ],
)
def test_mistakes_name_their_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    with pytest.raises(InputFileError) as info:
        _parse(tmp_path, text)
    assert info.value.line == line
    assert info.value.message.startswith(f"DESCRIPTION, line {line}: ")
    assert fragment in info.value.message
    assert info.value.exit_code == ExitCode.PROJECT


# -- properties ---------------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,8}[A-Za-z0-9]", fullmatch=True)
_field_names = st.from_regex(r"[A-Za-z][A-Za-z0-9@/._-]{0,12}", fullmatch=True)
_values = st.lists(
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20).map(str.strip),
    min_size=1,
    max_size=3,
).map(lambda lines: [line for line in lines if line])


@given(st.dictionaries(_field_names, _values.filter(bool), min_size=1, max_size=6))
def test_dcf_keeps_every_field_and_line(fields: dict[str, list[str]]) -> None:
    text = "".join(
        f"{name}: {lines[0]}\n" + "".join(f"    {line}\n" for line in lines[1:]) for name, lines in fields.items()
    )
    parsed = read_dcf(text, "DESCRIPTION")
    assert {name: value for name, (_, value) in parsed.items()} == {
        name: "\n".join(lines) for name, lines in fields.items()
    }


_versions = st.lists(st.integers(0, 99), min_size=2, max_size=4).map(lambda parts: ".".join(map(str, parts)))
_dependencies = st.builds(
    Dependency,
    _names,
    st.none() | st.sampled_from([">=", "<=", ">", "<", "==", "!="]),
    _versions,
).map(lambda dep: dep if dep.operator else Dependency(dep.name))


@given(st.lists(_dependencies, max_size=6), st.sampled_from([", ", ",\n    ", " ,  "]))
def test_dependencies_round_trip(dependencies: list[Dependency], separator: str) -> None:
    text = separator.join(dep.spec() for dep in dependencies)
    assert parse_dependencies(text, "Imports", 1, "DESCRIPTION") == tuple(dependencies)


def _outcome(parse: Callable[[], object]) -> str:
    """What parsing gave: "parsed", "clear error" (one naming the file and line), or another message."""
    try:
        parse()
    except InputFileError as error:
        return "clear error" if error.message.startswith("DESCRIPTION, line ") else error.message
    return "parsed"


@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_clear_error(text: str) -> None:
    assert _outcome(lambda: read_dcf(text, "DESCRIPTION")) in {"parsed", "clear error"}


@given(st.binary(max_size=300))
def test_any_file_parses_or_is_a_clear_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "DESCRIPTION"
        path.write_bytes(data)
        assert _outcome(lambda: parse_description(path, "DESCRIPTION")) in {"parsed", "clear error"}
