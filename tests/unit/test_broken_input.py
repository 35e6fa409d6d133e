"""Broken, odd and hostile input through the real CLI (in-process, no Docker): each case ends in a
one-paragraph error naming the file or value and what to do, or is accepted as pip, apt and
Docker accept it. Never "a bug in nbship", and a command that fails changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nbship.cli import console, main
from nbship.errors import ExitCode
from nbship.project.detect import detect
from nbship.project.kinds.requirements import RequirementsInput

from .helpers import MakeProject, render, write_files


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def error_of(result: Result, code: ExitCode = ExitCode.PROJECT) -> str:
    """The one-paragraph error the user sees (checked to be one, with the expected exit code)."""
    assert result.exit_code == code, result.output
    text = result.stderr.strip()
    assert text.startswith("error ") and "\n" not in text, text
    assert "bug in nbship" not in text and "Traceback" not in result.output
    return text.removeprefix("error ")


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for folders and links), to compare before/after."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


# -- files that are not UTF-8 text ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nbship.toml", b"\x00\x01binary\xff", "nbship.toml, line 1: it holds NUL bytes"),
        ("pyproject.toml", b"[project]\nname = 'caf\xe9'\n", "pyproject.toml, line 2: this is not UTF-8 text"),
        ("Dockerfile", b"FROM python:3.11\n# \xff\n", "Dockerfile, line 2: this is not UTF-8 text"),
        ("requirements.txt", "numpy\n".encode("utf-16"), "requirements.txt: it is saved as UTF-16"),
        ("binder/apt.txt", b"less\n\x9b\n", "binder/apt.txt, line 2: this is not UTF-8 text"),
        ("environment.yml", b"dependencies: [\xfe]\n", "environment.yml, line 1: this is not UTF-8 text"),
        ("runtime.txt", b"\x00", "runtime.txt, line 1: it holds NUL bytes"),
        (".dockerignore", b"\xc3\x28\n", ".dockerignore, line 1: this is not UTF-8 text"),
        ("Pipfile", b"[packages]\n\x00", "Pipfile, line 2: it holds NUL bytes"),
        ("Pipfile.lock", '{"default": {}}'.encode("utf-16"), "Pipfile.lock: it is saved as UTF-16"),
        ("DESCRIPTION", b"Package: abc\nVersion: 0.1\x00\n", "DESCRIPTION, line 2: it holds NUL bytes"),
    ],
)
def test_files_that_are_not_text(
    make_project: MakeProject, no_docker: None, name: str, content: bytes, expected: str
) -> None:
    root = make_project({name: content})
    assert error_of(run("dockerfile", str(root))).startswith(expected)


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(make_project: MakeProject, no_docker: None) -> None:
    root = make_project(
        {
            "requirements.txt": b"\xef\xbb\xbfjupyterlab==4.2.0\r\npandas \\\r\n  >=2\r\n# note\r\n",
            "apt.txt": b"\xef\xbb\xbflibgomp1\r\n# comment\r\nless\r\n",
            "runtime.txt": b"python-3.11\r\n",
            ".dockerignore": b"\xef\xbb\xbfresults\r\n",
            "nbship.toml": b'\xef\xbb\xbfname = "crlf"\r\n',
        }
    )
    result = run("dockerfile", str(root))
    assert result.exit_code == 0, result.stderr
    requirements = detect(root).input(RequirementsInput)
    assert requirements is not None and requirements.names == {"jupyterlab", "pandas"}
    assert "libgomp1 less" in result.stdout  # one apt install of both, no stray \r
    assert "jupyterlab==4.6.6" not in result.stdout  # the BOM did not hide the project's own JupyterLab


def test_pipfiles_descriptions_and_r_runtimes_with_a_bom_and_crlf_are_accepted(
    make_project: MakeProject, no_docker: None
) -> None:
    pipfile = make_project(
        {"Pipfile": b"\xef\xbb\xbf[packages]\r\nsix = '==1.16.0'\r\n[requires]\r\npython_version = '3.10'\r\n"}
    )
    result = run("dockerfile", str(pipfile))
    assert result.exit_code == 0, result.stderr
    assert "printf '%s\\n' six==1.16.0 >" in result.stdout and "FROM python:3.10-slim AS" in result.stdout
    r = make_project(
        {
            "DESCRIPTION": b"\xef\xbb\xbfPackage: abc\r\nVersion: 0.1.0\r\nImports: dplyr,\r\n  tidyr\r\n",
            "runtime.txt": b"\xef\xbb\xbfr-4.2-2023-01-01\r\n",
        }
    )
    result = run("dockerfile", str(r))
    assert result.exit_code == 0, result.stderr
    assert "deps dplyr tidyr" in result.stdout and "R CMD INSTALL of the package abc" in result.stdout
    assert "packagemanager.posit.co/cran/2023-01-01" in result.stdout


# -- nesting, loops, includes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"nbship.toml": "a = " + "[" * 50_000 + "]" * 50_000},
            "nbship.toml: its lists or tables are nested too deeply",
        ),
        (
            {"pyproject.toml": "x = " + "{a = " * 5000 + "1" + "}" * 5000},
            "pyproject.toml: its lists or tables are nested",
        ),
        ({"environment.yml": "dependencies: " + "[" * 50_000 + "]" * 50_000}, "environment.yml: its lists or tables"),
        ({"Pipfile": "x = " + "[" * 50_000 + "]" * 50_000}, "Pipfile: its lists or tables are nested too deeply"),
        ({"Pipfile.lock": "[" * 100_000 + "]" * 100_000}, "Pipfile.lock: its lists or tables are nested too deeply"),
    ],
)
def test_deeply_nested_files(make_project: MakeProject, no_docker: None, files: dict[str, str], expected: str) -> None:
    assert error_of(run("dockerfile", str(make_project(files)))).startswith(expected)


def test_a_500_deep_include_chain(make_project: MakeProject, no_docker: None) -> None:
    files = {f"r{i}.txt": f"-r r{i + 1}.txt\n" for i in range(500)}
    root = make_project({**files, "r500.txt": "six\n", "requirements.txt": "-r r0.txt\n"})
    assert "the includes (-r/-c) nest more than 50 files deep" in error_of(run("dockerfile", str(root)))


def test_symlink_loops(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"analysis.ipynb": "{}", "requirements.txt": "six\n"})
    os.symlink("loop", root / "loop")
    os.symlink("nb.ipynb", root / "nb.ipynb")
    os.symlink(".", root / "self")
    assert run("dockerfile", str(root)).exit_code == 0  # loops the build never reads are sent as links
    os.symlink("extra.txt", root / "extra.txt")
    (root / "requirements.txt").write_text("-r extra.txt\n")
    assert "'extra.txt' is a symbolic link that loops" in error_of(run("dockerfile", str(root)))
    (root / "requirements.txt").unlink()
    os.symlink("requirements.txt", root / "requirements.txt")
    assert error_of(run("dockerfile", str(root))).startswith("requirements.txt: it is a symbolic link that loops")


def test_a_link_out_of_the_project_is_not_read(make_project: MakeProject, no_docker: None, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("numpy\n")
    root = make_project({})
    os.symlink(outside, root / "requirements.txt")
    assert "outside the project folder" in error_of(run("dockerfile", str(root)))


@pytest.mark.parametrize("name", ["$HOME.txt", "${HOME}.txt", "req[1].txt", "a*.txt"])
def test_include_names_docker_would_expand_are_refused(make_project: MakeProject, no_docker: None, name: str) -> None:
    root = make_project({"requirements.txt": f"-r {name}\n", name: "six\n"})
    message = error_of(run("dockerfile", str(root)))
    assert message.startswith("requirements.txt, line 1: the included file")
    assert "cannot be copied into the build" in message


# -- values that would change the Dockerfile ---------------------------------------------------


def test_a_project_name_with_a_line_break_is_refused(tmp_path: Path, no_docker: None) -> None:
    folder = write_files(tmp_path / "ok\nRUN touch pwned", {"requirements.txt": "six\n"})
    assert "holds a line break" in error_of(run("dockerfile", str(folder)))
    named = write_files(tmp_path / "named", {"nbship.toml": 'name = "x\\nRUN touch /pwned"\n'})
    assert error_of(run("dockerfile", str(named))).startswith("nbship.toml, line 1: setting 'name' is invalid")


def test_a_project_name_is_quoted_where_docker_would_expand_it(make_project: MakeProject) -> None:
    root = make_project({"nbship.toml": 'name = "a $HOME \\"q\\" \\\\ `x`"\n'})
    text = render(root)
    assert text.splitlines()[0] == '# Generated by nbship 0.1.0 for the project "a $HOME "q" \\ `x`".'
    assert 'org.opencontainers.image.title="a \\$HOME \\"q\\" \\\\ `x`"' in text
    assert "\n      /opt/nbship/project 'a $HOME \"q\" \\ `x`' /tmp/nbship/content/last/manifest.json" in text


def test_a_pip_line_with_a_line_break_is_refused(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"environment.yml": 'dependencies:\n  - pip:\n    - "six\\nRUN touch /pwned"\n'})
    assert error_of(run("dockerfile", str(root))).startswith("environment.yml, line 3: a pip requirement 'six\\nRUN")


_HASH = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"Pipfile": '[[source]]\nurl = "https://pypi.org/simple\\nRUN touch /pwned"\n[packages]\nsix = "*"\n'},
            "Pipfile, line 2: there is a line break or another control character in the url of a [[source]]",
        ),
        (
            {"Pipfile": '[packages]\nx = {git = "https://h/a/b", ref = "v1\\nRUN touch /pwned"}\n'},
            "Pipfile, line 2: there is a line break or another control character in the ref of 'x'",
        ),
        (
            {"Pipfile": '[packages]\nx = {git = "https://h/a\\u2028b", editable = true}\n'},
            "Pipfile, line 2: there is a line break or another control character in the git URL of 'x'",
        ),
        (
            {"Pipfile": '[packages]\nx = {path = "./a\\nRUN touch /pwned"}\n', "a\nRUN touch /pwned/setup.py": ""},
            "Pipfile, line 2: there is a line break or another control character in the path of 'x'",
        ),
        (
            {"Pipfile": '[packages]\nx = {version = "*", sys_platform = "== \'linux\'\\r"}\n'},
            "Pipfile, line 2: there is a line break or another control character in sys_platform of 'x'",
        ),
        (
            {
                "Pipfile.lock": '{"default": {"six": {"version": "==1.16.0\\nRUN touch /pwned", "hashes": ["'
                + _HASH
                + '"]}}}'
            },
            "Pipfile.lock: there is a line break or another control character in the version of 'six'",
        ),
        (
            {"DESCRIPTION": "Package: abc\nVersion: 0.1\nRemotes: a/b\x1b[31m\n"},
            "DESCRIPTION, line 3: 'Remotes: a/b\\x1b[31m' holds a control character (\\x1b)",
        ),
    ],
)
def test_pipfile_and_description_values_with_line_breaks_are_refused(
    make_project: MakeProject, no_docker: None, files: dict[str, str], expected: str
) -> None:
    assert error_of(run("dockerfile", str(make_project(files)))).startswith(expected)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"runtime.txt": "python-3.99\n"}, "runtime.txt, line 1: 'python-3.99' asks for Python 3.99"),
        ({"runtime.txt": "python-3.1\n"}, "runtime.txt, line 1: 'python-3.1' asks for Python 3.1"),
        ({"nbship.toml": 'python = "3.7"\n'}, 'nbship.toml: python = "3.7" is not a Python nbship can build for'),
        (
            {"Pipfile": "[packages]\nsix = '*'\n[requires]\npython_version = '3.99'\n"},
            "Pipfile, line 4: python_version '3.99' asks for Python 3.99",
        ),
        (
            {"Pipfile.lock": '{"_meta": {"requires": {\n"python_full_version": "3.1.2"}}, "default": {}}'},
            "Pipfile.lock, line 2: python_full_version '3.1.2' asks for Python 3.1",
        ),
    ],
)
def test_pythons_nbship_cannot_build_are_refused_offline(
    make_project: MakeProject, no_docker: None, files: dict[str, str], expected: str
) -> None:
    assert error_of(run("dockerfile", str(make_project(files)))).startswith(expected)


# -- locks and credentials ---------------------------------------------------------------------


def test_a_corrupt_lock_is_written_anew(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"environment.yml": "dependencies:\n  - pip:\n    - six\n"})
    assert run("lock", str(root)).exit_code == 0
    lock = root / "nbship.lock"
    header = "".join(line for line in lock.read_text().splitlines(keepends=True) if line.startswith("#"))
    lock.write_text(header + "version: 6\npackages: [[[" + "[" * 100_000 + "\n")
    result = run("lock", str(root))
    assert result.exit_code == 0, result.stderr
    assert "version:" in lock.read_text()


@pytest.mark.parametrize("content", ["{oops", "[]", '{"h": 1}'])
def test_invalid_channel_credentials(make_project: MakeProject, no_docker: None, content: str) -> None:
    root = make_project({"environment.yml": "channels: [./c]\ndependencies: [greeting]\n", "auth.json": content})
    message = error_of(run("lock", str(root), "--channel-auth", str(root / "auth.json")), ExitCode.USAGE)
    assert "auth.json" in message and "--channel-auth" in message


# -- nbship init: all or nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"Dockerfile/": ""}, "Dockerfile: it is a folder, not a file"),
        ({".dockerignore/": ""}, ".dockerignore is a folder, and nbship would write a file there"),
        ({".nbship-image": "x"}, ".nbship-image is a file, and nbship would write README.md into a folder"),
        ({"binder/requirements.txt": "six\n", "binder/Dockerfile/": ""}, "binder/Dockerfile: it is a folder"),
    ],
)
def test_init_refuses_a_folder_or_file_in_the_way_and_writes_nothing(
    make_project: MakeProject, no_docker: None, files: dict[str, str], expected: str
) -> None:
    root = make_project({"requirements.txt": "six\n", **files})
    before = tree(root)
    assert expected in error_of(run("init", str(root)))
    assert tree(root) == before


def test_init_that_fails_half_way_puts_everything_back(
    make_project: MakeProject, no_docker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({"requirements.txt": "six\n", "Dockerfile": "FROM mine\n"})
    before = tree(root)
    real = os.replace
    calls = {"n": 0}

    def fail_on_the_fifth(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_the_fifth)
    message = error_of(run("init", str(root), "--force"))
    monkeypatch.undo()
    assert "No space left on device" in message and "nothing was written" in message
    assert tree(root) == before  # the user's Dockerfile is back, no .nbship-image/, no temp file


# -- unreadable files: as root without the capability to ignore permissions -------------------------


def _unprivileged_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python as root without CAP_DAC_OVERRIDE: file permissions apply, as for any user."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to drop the permission override")
    return subprocess.run(
        [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """nbship's CLI, unprivileged as above."""
    return _unprivileged_python("import sys; from nbship.cli import main; sys.exit(main())", *args)


@pytest.mark.parametrize(
    ("unreadable", "expected"),
    [
        ("requirements.txt", "requirements.txt: nbship may not read it (permission denied)"),
        ("binder", "binder/: nbship may not read this folder (permission denied)"),
        ("nbship.toml", "nbship.toml: nbship may not read it (permission denied)"),
        ("Pipfile", "Pipfile: nbship may not read it (permission denied)"),
        ("Pipfile.lock", "Pipfile.lock: nbship may not read it (permission denied)"),
        ("DESCRIPTION", "DESCRIPTION: nbship may not read it (permission denied)"),
    ],
)
def test_unreadable_files_and_folders(make_project: MakeProject, unreadable: str, expected: str) -> None:
    root = make_project({"binder/requirements.txt": "six\n"} if unreadable == "binder" else {unreadable: "six\n"})
    (root / unreadable).chmod(0)
    result = _unprivileged("dockerfile", str(root))
    assert result.returncode == ExitCode.PROJECT, result.stderr
    assert result.stderr.startswith(f"error {expected}") and "bug in nbship" not in result.stderr


def test_init_into_a_read_only_folder_writes_nothing(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "six\n"})
    root.chmod(0o555)
    result = _unprivileged("init", str(root))
    root.chmod(0o755)
    assert result.returncode == ExitCode.PROJECT, result.stderr
    assert "read-only for you" in result.stderr and "nothing was written" in result.stderr
    assert sorted(p.name for p in root.iterdir()) == ["requirements.txt"]


def test_an_unreadable_file_the_build_would_send_is_named(make_project: MakeProject) -> None:
    root = make_project({"requirements.txt": "six\n", "data/private.csv": "1", "notes/a.txt": ""})
    (root / "data" / "private.csv").chmod(0)
    (root / "notes").chmod(0)
    code = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from nbship import ignore",
            "from nbship.errors import NbshipError",
            "for pattern in sys.argv[2:]:",
            "    try:",
            "        ignore.Matcher(ignore.compile_lines([(1, pattern)])).walk(Path(sys.argv[1]))",
            "    except NbshipError as exc:",
            "        print(exc.message)",
        ]
    )
    result = _unprivileged_python(code, str(root), "notes", "data")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("nbship cannot read data/private.csv (permission denied), which the build would send")
    assert lines[1].startswith("nbship cannot read the folder notes/ (Permission denied)")


# -- output is printed as written ------------------------------------------------------------------


def test_markup_and_emoji_codes_in_messages_are_printed_literally(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"requirements.txt": "[bold]numpy[/bold] :x:\n"})
    message = error_of(run("dockerfile", str(root)))
    assert "'[bold]numpy[/bold] :x:'" in message and "❌" not in message


def test_reporter_lines_are_literal(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = console.ConsoleReporter(verbose=False)
    reporter.info("building [bold]x[/bold] :x:")
    reporter.warn("[red]careful[/red] :warning:")
    reporter.step("RUN echo [dim]:x:[/dim]")
    err = capsys.readouterr().err
    assert "nbship building [bold]x[/bold] :x:" in err
    assert "warning [red]careful[/red] :warning:" in err
    assert "RUN echo [dim]:x:[/dim]" in err
