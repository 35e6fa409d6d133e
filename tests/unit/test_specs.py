"""runtime.txt, apt.txt and nbship's own settings (nbship.toml / [tool.nbship])."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from nbship.errors import ExitCode, InputFileError
from nbship.project.kinds.apt import parse_apt
from nbship.project.kinds.runtime import RRuntime, Runtime, parse_runtime
from nbship.settings import Settings, load_settings

from .helpers import MakeProject


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# runtime.txt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        pytest.param("python-3\n", None, id="python-3 means the default"),
        pytest.param("python-3.9\n", "3.9", id="python-3.9"),
        pytest.param("python-3.10.4\n", "3.10", id="patch ignored"),
        pytest.param("python-3.12", "3.12", id="no trailing newline"),
        pytest.param("  python-3.11  \n", "3.11", id="surrounding spaces"),
        pytest.param("# pinned for numba\n\npython-3.8\n", "3.8", id="after comment and blank line"),
        pytest.param("python-3.11  # trailing comment\n", "3.11", id="trailing comment"),
        pytest.param("python-3.11\r\n", "3.11", id="crlf"),
        pytest.param("python-3.09\n", "3.9", id="leading zero normalized"),
    ],
)
def test_runtime_valid(tmp_path: Path, text: str, version: str | None) -> None:
    assert parse_runtime(_file(tmp_path, "runtime.txt", text), "runtime.txt") == Runtime(python=version)


@pytest.mark.parametrize(
    ("text", "version", "snapshot"),
    [
        pytest.param("r-4.2-2023-01-01\n", "4.2", dt.date(2023, 1, 1), id="version and snapshot date"),
        pytest.param("r-4.3\n", "4.3", None, id="version only"),
        pytest.param("r-4.2.3-2023-06-15\n", "4.2.3", dt.date(2023, 6, 15), id="full version"),
        pytest.param("r-2019-04-10\n", None, dt.date(2019, 4, 10), id="Binder's older date-only form"),
        pytest.param("R-4.3\r\n", "4.3", None, id="capital R, crlf"),
        pytest.param("# for the paper\nr-4.1-2022-01-01  # pinned\n", "4.1", dt.date(2022, 1, 1), id="comments"),
    ],
)
def test_runtime_r(tmp_path: Path, text: str, version: str | None, snapshot: dt.date | None) -> None:
    runtime = parse_runtime(_file(tmp_path, "runtime.txt", text), "runtime.txt")
    assert runtime == Runtime(r=RRuntime(version, snapshot))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("julia-1.7\n", 1, "asks for Julia", id="julia"),
        pytest.param("r-4\n", 1, "'r-4' is not a runtime", id="r major only"),
        pytest.param("r-4.2-2023\n", 1, "'r-4.2-2023' is not a runtime", id="r partial date"),
        pytest.param("r-4.2-2023-1-1\n", 1, "is not a runtime", id="r date without leading zeros"),
        pytest.param("r-latest\n", 1, "'r-latest' is not a runtime", id="r word"),
        pytest.param("\nr-4.2-2023-02-30\n", 2, "'2023-02-30' in 'r-4.2-2023-02-30' is not a date", id="no such day"),
        pytest.param("garbage\n", 1, "'garbage' is not a runtime nbship understands", id="garbage"),
        pytest.param("# comment\n\npython3.11\n", 3, "'python3.11' is not a runtime", id="missing dash, line 3"),
        pytest.param("python-2.7\n", 1, "'python-2.7' is not a runtime", id="python 2"),
        pytest.param("python-3.11-slim\n", 1, "is not a runtime", id="suffix"),
        pytest.param("python-3.\n", 1, "is not a runtime", id="dangling dot"),
        pytest.param("python-3.11.x\n", 1, "is not a runtime", id="non-numeric patch"),
    ],
)
def test_runtime_invalid(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = _file(tmp_path, "runtime.txt", text)
    with pytest.raises(InputFileError) as info:
        parse_runtime(path, "binder/runtime.txt")
    error = info.value
    assert (error.path, error.line) == ("binder/runtime.txt", line)
    assert error.message.startswith(f"binder/runtime.txt, line {line}: ")
    assert fragment in error.message
    assert "Write 'python-3.11'" in error.message or "YYYY-MM-DD" in error.message
    assert error.exit_code == ExitCode.PROJECT


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n   \n"], ids=["empty", "blank lines", "comments only"])
def test_runtime_empty(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_runtime(_file(tmp_path, "runtime.txt", text), "runtime.txt")
    assert info.value.line is None
    assert info.value.message == "runtime.txt: the file is empty. Write 'python-3.11' in it, or remove it."


# ---------------------------------------------------------------------------------------------
# apt.txt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "packages"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("ffmpeg\nlibgdal-dev\n", ("ffmpeg", "libgdal-dev"), id="one per line"),
        pytest.param("# system libs\n\ncurl  # downloads\n", ("curl",), id="comments and blanks"),
        pytest.param("curl wget\n", ("curl", "wget"), id="several on a line"),
        pytest.param(
            "g++\nlibc6:amd64\nr-base\npython3.11-dev\n",
            ("g++", "libc6:amd64", "r-base", "python3.11-dev"),
            id="plus, arch, dots",
        ),
        pytest.param(
            "curl=7.88.1-10+deb12u5\nlibfoo=1:2.0~rc1\n", ("curl=7.88.1-10+deb12u5", "libfoo=1:2.0~rc1"), id="versions"
        ),
        pytest.param("curl\nwget\ncurl\n", ("curl", "wget"), id="duplicates removed, order kept"),
        pytest.param("curl\r\nwget\r\n", ("curl", "wget"), id="crlf"),
    ],
)
def test_apt_valid(tmp_path: Path, text: str, packages: tuple[str, ...]) -> None:
    assert parse_apt(_file(tmp_path, "apt.txt", text), "apt.txt") == packages


@pytest.mark.parametrize(
    ("text", "line", "word"),
    [
        pytest.param("Curl\n", 1, "Curl", id="uppercase"),
        pytest.param("curl\nwget\n  python3-numpy\nlibX11-dev\n", 4, "libX11-dev", id="uppercase on line 4"),
        pytest.param("curl\n\n# c\nlib gdal-dev!\n", 4, "gdal-dev!", id="punctuation"),
        pytest.param("curl; rm -rf /\n", 1, "curl;", id="shell separator"),
        pytest.param("-y\n", 1, "-y", id="option"),
        pytest.param("$(id)\n", 1, "$(id)", id="command substitution"),
        pytest.param("a\n", 1, "a", id="too short"),
        pytest.param("pkg_name\n", 1, "pkg_name", id="underscore"),
    ],
)
def test_apt_invalid(tmp_path: Path, text: str, line: int, word: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_apt(_file(tmp_path, "apt.txt", text), "binder/apt.txt")
    error = info.value
    assert (error.path, error.line) == ("binder/apt.txt", line)
    assert error.message.startswith(f"binder/apt.txt, line {line}: '{word}' is not a Debian package name.")
    assert "List one Debian package per line" in error.message


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def test_no_settings_file_gives_defaults(make_project: MakeProject) -> None:
    assert load_settings(make_project()) == (Settings(), None)


def test_pyproject_without_tool_nbship_gives_defaults(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[project]\nname = "demo"\nversion = "1"\n'})
    assert load_settings(root) == (Settings(), None)


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        pytest.param("nbship.toml", "", id="nbship.toml"),
        pytest.param("pyproject.toml", "[tool.nbship]\n", id="pyproject"),
    ],
)
def test_all_known_settings(make_project: MakeProject, filename: str, header: str) -> None:
    body = (
        'name = "SST analysis"\n'
        'image = "ghcr.io/alice/sst:1"\n'
        'base-image = "python:3.12"\n'
        'python = "3.12"\n'
        "port = 9999\n"
    )
    root = make_project({filename: header + body})
    settings, source = load_settings(root)
    assert source == root / filename
    assert (settings.name, settings.image, settings.base_image, settings.python, settings.port) == (
        "SST analysis",
        "ghcr.io/alice/sst:1",
        "python:3.12",
        "3.12",
        9999,
    )


def test_nbship_toml_wins_over_pyproject(make_project: MakeProject) -> None:
    root = make_project({"nbship.toml": 'name = "own"\n', "pyproject.toml": "[tool.nbship]\nbogus = 1\n"})
    settings, source = load_settings(root)
    assert settings.name == "own"
    assert source == root / "nbship.toml"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://packagemanager.posit.co/cran/2024-06-03", "https://packagemanager.posit.co/cran/2024-06-03"),
        (
            "https://packagemanager.posit.co/cran/__linux__/bookworm/latest/",
            "https://packagemanager.posit.co/cran/__linux__/bookworm/latest",
        ),
        ("http://172.17.0.1:8080", "http://172.17.0.1:8080"),
        (
            "https://example.org/all/2022-06-03+Y3JhbiwyOjQ1MjYyMTU7RkM5ODcwN0M",
            "https://example.org/all/2022-06-03+Y3JhbiwyOjQ1MjYyMTU7RkM5ODcwN0M",
        ),
    ],
)
def test_valid_r_repositories(make_project: MakeProject, url: str, kept: str) -> None:
    assert load_settings(make_project({"nbship.toml": f'r-repository = "{url}"\n'}))[0].r_repository == kept


@pytest.mark.parametrize("port", [1, 8888, 65535])
def test_valid_ports(make_project: MakeProject, port: int) -> None:
    assert load_settings(make_project({"nbship.toml": f"port = {port}\n"}))[0].port == port


@pytest.mark.parametrize("python", ["3.8", "3.10", "3.13"])
def test_valid_python(make_project: MakeProject, python: str) -> None:
    assert load_settings(make_project({"nbship.toml": f'python = "{python}"\n'}))[0].python == python


INVALID_SETTINGS = [
    # (case, file, text, line, fragments)
    (
        "unknown key",
        "nbship.toml",
        'name = "x"\n\nimgae = "y"\n',
        3,
        [
            "unknown setting 'imgae' (did you mean 'image'?)",
            "The settings nbship knows are: name, image, base-image, python, strip, installer, user-id, builder, "
            "reproducible, engine, port, bind, mount, ready-timeout, memory, cpus, gpus, r-repository; "
            "in a [check] table: notebooks, timeout; "
            "in a [hub] table: users, admins, port, bind, swarm, idle-timeout, authenticator.",
        ],
    ),
    (
        "unknown key in pyproject",
        "pyproject.toml",
        '[project]\nname = "d"\n\n[tool.nbship]\nprot = 1\n',
        5,
        ["unknown setting 'tool.nbship.prot' (did you mean 'port'?)", "name, image, base-image, python, strip"],
    ),
    ("quoted unknown key", "nbship.toml", '"base_img" = "x"\n', 1, ["unknown setting 'base_img'"]),
    ("python major only", "nbship.toml", 'python = "3"\n', 1, ["setting 'python' is invalid", '"3.11"']),
    ("python with patch", "nbship.toml", 'name = "x"\npython = "3.11.2"\n', 2, ["setting 'python' is invalid"]),
    ("python with prefix", "nbship.toml", 'python = "python3.11"\n', 1, ["setting 'python' is invalid"]),
    ("python 2", "nbship.toml", 'python = "2.7"\n', 1, ["setting 'python' is invalid"]),
    ("python as a number", "nbship.toml", "python = 3.11\n", 1, ["setting 'python' is invalid", "string"]),
    ("port zero", "nbship.toml", "port = 0\n", 1, ["setting 'port' is invalid"]),
    ("port too large", "nbship.toml", "\nport = 65536\n", 2, ["setting 'port' is invalid"]),
    ("port negative", "nbship.toml", "port = -1\n", 1, ["setting 'port' is invalid"]),
    ("port not a number", "nbship.toml", 'port = "http"\n', 1, ["setting 'port' is invalid"]),
    ("port a boolean", "nbship.toml", "port = true\n", 1, ["setting 'port' is invalid"]),
    ("blank name", "nbship.toml", 'name = "   "\n', 1, ["setting 'name' is invalid", "must not be empty"]),
    ("name not a string", "nbship.toml", "name = 3\n", 1, ["setting 'name' is invalid"]),
    (
        "pyproject key also used by [project]",
        "pyproject.toml",
        '[project]\nname = "demo"\nversion = "1"\n\n[tool.nbship]\nname = ""\n',
        6,
        ["setting 'tool.nbship.name' is invalid"],
    ),
    (
        "r-repository with credentials",
        "nbship.toml",
        'name = "x"\nr-repository = "https://me:secret@cran.example.org"\n',
        2,
        ["setting 'r-repository' is invalid", "must not carry credentials"],
    ),
    ("r-repository not http", "nbship.toml", 'r-repository = "ftp://cran.example.org"\n', 1, ["CRAN-like"]),
    (
        "r-repository with a quote",
        "nbship.toml",
        'r-repository = "https://x.org/\\"); system(\\"id"\n',
        1,
        ["CRAN-like"],
    ),
    ("r-repository with a space", "nbship.toml", 'r-repository = "https://x.org/a b"\n', 1, ["no spaces"]),
    ("r-repository with a query", "nbship.toml", 'r-repository = "https://x.org/?a=1"\n', 1, ["CRAN-like"]),
    ("r-repository not a string", "nbship.toml", "r-repository = 1\n", 1, ["setting 'r-repository' is invalid"]),
    ("unknown table", "nbship.toml", 'name = "x"\n\n[extra]\ny = 1\n', 3, ["unknown setting 'extra'"]),
]


@pytest.mark.parametrize(
    ("filename", "text", "line", "fragments"),
    [pytest.param(f, t, n, frags, id=case) for case, f, t, n, frags in INVALID_SETTINGS],
)
def test_invalid_settings(make_project: MakeProject, filename: str, text: str, line: int, fragments: list[str]) -> None:
    root = make_project({filename: text})
    with pytest.raises(InputFileError) as info:
        load_settings(root)
    error = info.value
    assert error.path == filename
    assert error.line == line
    assert error.message.startswith(f"{filename}, line {line}: ")
    for fragment in fragments:
        assert fragment in error.message
    assert error.exit_code == ExitCode.PROJECT


@pytest.mark.parametrize(
    ("filename", "text", "toml_line"),
    [
        pytest.param("nbship.toml", 'name = "x\n', 1, id="unterminated string"),
        pytest.param("nbship.toml", 'name = "x"\nport = \n', 2, id="missing value"),
        pytest.param("nbship.toml", 'name = "x"\nname = "y"\n', 2, id="duplicate key"),
        pytest.param("pyproject.toml", "[project\nname = 1\n", 1, id="pyproject broken header"),
    ],
)
def test_invalid_toml(make_project: MakeProject, filename: str, text: str, toml_line: int) -> None:
    root = make_project({filename: text})
    with pytest.raises(InputFileError) as info:
        load_settings(root)
    message = info.value.message
    assert message.startswith(filename)
    assert "this is not valid TOML" in message
    assert f"line {toml_line}" in message
    assert message.endswith("Fix the syntax and run nbship again.")


def test_tool_nbship_must_be_a_table(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[tool]\nnbship = "yes"\n'})
    with pytest.raises(InputFileError, match="must be a table") as info:
        load_settings(root)
    assert info.value.path == "pyproject.toml"
