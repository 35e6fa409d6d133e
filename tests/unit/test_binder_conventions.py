"""Binder's conventions in the Dockerfile and around it: scripts as Windows checkouts have them,
Binder's environment names, the tools postBuild gets, what a failed postBuild says, the files
nbship does not use, and which images `up` serves with their own Jupyter."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship import contract as c
from nbship.commands.build import own_build_args
from nbship.engine.base import ImageInfo
from nbship.engine.buildlog import Step, failure, missing_command
from nbship.errors import UsageError
from nbship.options import ImageOptions
from nbship.project.detect import detect
from nbship.project.kinds.postbuild import PostBuildInput
from nbship.project.kinds.unused import UNUSED
from nbship.runtime.own_image import starts_a_server

from .helpers import MakeProject, render

CRLF_START = b'#!/bin/bash\r\nexport A=1\r\nexec "$@"\r\n'


# -- start and postBuild ---------------------------------------------------------------------------


def test_crlf_and_mode_are_fixed_in_the_image_copy_only(make_project: MakeProject) -> None:
    root = make_project({"binder/start": CRLF_START, "binder/postBuild": b"\xef\xbb\xbf#!/bin/bash\r\necho hi\r\n"})
    text = render(root)
    assert "sed -i 's/\\r$//' binder/start; chmod 0755 binder/start" in text
    assert "sed -i '1s/^\\xEF\\xBB\\xBF//' binder/postBuild; sed -i 's/\\r$//' binder/postBuild" in text
    content = text.split("FROM system AS content", 1)[1].split("FROM system AS installed", 1)[0]
    assert "chmod 0755 binder/start" in content and "chmod 0755 binder/postBuild" in content
    assert (root / "binder" / "start").read_bytes() == CRLF_START  # the user's file is untouched


def test_a_plain_script_is_only_made_executable(make_project: MakeProject) -> None:
    root = make_project({"postBuild": "#!/bin/sh\necho hi\n"})
    text = render(root)
    assert "chmod 0755 postBuild" in text and "sed -i" not in text
    assert "./postBuild || { status=$?;" in text


def test_postbuild_without_a_shebang_runs_with_bash(make_project: MakeProject) -> None:
    text = render(make_project({"postBuild": "echo hi\n"}))
    assert "/bin/bash ./postBuild || { status=$?;" in text
    assert 'echo "nbship: postBuild failed (exit $status): "postBuild" stopped the build" >&2' in text


def test_a_start_script_with_crlf_still_ends_in_exec(make_project: MakeProject) -> None:
    project = detect(make_project({"start": CRLF_START}))
    assert project.inputs[-1].kind == "start"


@pytest.mark.parametrize(
    ("script", "tools"),
    [
        ("curl -LO https://x.org/a.zip && unzip a.zip\n", ("curl", "wget", "unzip")),
        ("git clone https://x.org/repo.git\n", ("curl", "wget", "unzip", "git")),
        ("pip install git+https://x.org/a.git\n", ("curl", "wget", "unzip", "git")),
        ("wget https://github.com/a/b.git.tar.gz  # not a checkout\n", ("curl", "wget", "unzip")),
    ],
)
def test_postbuild_gets_binder_s_everyday_tools(make_project: MakeProject, script: str, tools: tuple[str, ...]) -> None:
    item = detect(make_project({"postBuild": script})).input(PostBuildInput)
    assert item is not None and item.tools == tools
    system = render(make_project({"postBuild": script}, name="again")).split("FROM system AS env", 1)[0]
    assert " ".join(tools) in system


def test_tools_listed_in_apt_txt_are_not_asked_twice(make_project: MakeProject) -> None:
    text = render(make_project({"postBuild": "curl x\n", "apt.txt": "curl\njq\n"}))
    assert "      curl\n" not in text.replace("curl jq", "")
    assert "      wget unzip\n" in text


def test_no_postbuild_no_tools(make_project: MakeProject) -> None:
    assert "unzip" not in render(make_project({"requirements.txt": "six\n"}))


# -- Binder's environment --------------------------------------------------------------------------


def test_binder_s_names_and_path(make_project: MakeProject) -> None:
    text = render(make_project({"requirements.txt": "six\n"}), user_id=4321)
    final = text.split("FROM system AS installed", 1)[1]
    assert "ENV PATH=/home/jovyan/.local/bin:/opt/nbship/project/.local/bin:/opt/nbship/env/bin:$PATH" in final
    for pair in (
        "REPO_DIR=/opt/nbship/project",
        "NB_USER=jovyan",
        "NB_UID=4321",
        "NB_PYTHON_PREFIX=/opt/nbship/env",
        "KERNEL_PYTHON_PREFIX=/opt/nbship/env",
    ):
        assert f"    {pair}" in final
    # login shells put the same folders first
    assert "for d in /opt/nbship/env/bin /opt/nbship/project/.local/bin /home/jovyan/.local/bin; do" in text


# -- what a failed build says -------------------------------------------------------------------------


def _failed(*lines: str) -> str:
    return failure(Step("[image 9/9] RUN ...", list(lines)), list(lines)).message


def test_a_failed_postbuild_is_reported_in_nbship_s_words() -> None:
    message = _failed("downloading", "nbship: postBuild failed (exit 3): binder/postBuild stopped the build")
    assert message.startswith("postBuild failed (exit 3): binder/postBuild stopped the build.")
    assert "last output lines are below" in message and "RUN" not in message


def test_a_missing_command_is_named() -> None:
    message = _failed(
        "./binder/postBuild: line 3: git: command not found",
        "nbship: postBuild failed (exit 127): binder/postBuild stopped the build",
    )
    assert message.startswith("postBuild failed (exit 127)")
    assert "The command 'git' is not in the image" in message and "apt.txt" in message


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("./postBuild: line 3: svn: command not found", "svn"),
        ("./postBuild: 3: make: not found", "make"),
        ("/bin/sh: 1: node: not found", "node"),
        ("everything fine", None),
    ],
)
def test_missing_commands_of_bash_and_dash(line: str, command: str | None) -> None:
    assert missing_command([line]) == command


def test_nbship_s_own_checks_still_read_as_sentences() -> None:
    message = _failed("nbship: the base image x has no python3; pick a Python base image with --base-image")
    assert message.startswith("The base image x has no python3")


def test_a_hash_mismatch_says_what_it_means() -> None:
    message = _failed("error: Failed to download `six==1.16.0`", "  Caused by: Hash mismatch for `six==1.16.0`")
    assert message.startswith("The files downloaded for 'six' do not have the hashes the lock records")


# -- files nbship does not use -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "instead"), UNUSED)
def test_every_unused_file_is_named_with_what_nbship_does(make_project: MakeProject, name: str, instead: str) -> None:
    project = detect(make_project({name: "x\n"}))
    assert [item.reason for item in project.ignored] == [f"{name} is not used: {instead}."]


def test_root_files_beside_a_binder_folder_are_named(make_project: MakeProject) -> None:
    project = detect(make_project({"binder/requirements.txt": "six\n", "apt.txt": "jq\n", "postBuild": "echo\n"}))
    reasons = sorted(item.reason for item in project.ignored)
    assert reasons == [
        "apt.txt at the root is not used: binder/ holds the project's environment files (as on Binder). "
        "Move it into binder/ or delete it.",
        "postBuild at the root is not used: binder/ holds the project's environment files (as on Binder). "
        "Move it into binder/ or delete it.",
    ]


def test_files_beside_an_own_dockerfile_it_does_not_mention(make_project: MakeProject) -> None:
    root = make_project(
        {
            "Dockerfile": "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
            "requirements.txt": "six\n",
            "apt.txt": "jq\n",
        }
    )
    reasons = [item.reason for item in detect(root).ignored]
    assert reasons == [
        "apt.txt is not used: the project's own Dockerfile builds the image as it is (as on Binder), "
        "and it does not mention the file."
    ]


def test_a_plain_project_has_nothing_to_report(make_project: MakeProject) -> None:
    assert detect(make_project({"requirements.txt": "six\n", "postBuild": "echo\n"})).ignored == ()


# -- images served with their own Jupyter -------------------------------------------------------------


def _image(entrypoint: tuple[str, ...] = (), cmd: tuple[str, ...] = ()) -> ImageInfo:
    return ImageInfo("sha256:x", (), {}, 0, {}, "", "1000", entrypoint=entrypoint, cmd=cmd)


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "serves"),
    [
        ((), (), False),
        ((), ("python3",), False),
        ((), ("/bin/bash",), False),
        ((), ("bash", "-l"), False),
        ((), ("ipython",), False),
        (("tini", "-g", "--"), ("sh",), False),
        (("/usr/bin/dumb-init", "--"), ("python3.11",), False),
        ((), ("jupyter", "lab", "--ip=0.0.0.0"), True),
        (("tini", "-g", "--"), ("start-notebook.py",), True),
        ((), ("sh", "-c", "jupyter lab"), True),
        ((), ("python3", "-m", "http.server"), True),
        (("/opt/nbship/bin/dumb-init", "--", "/bin/sh", "/opt/nbship/bin/entrypoint"), ("jupyter", "lab"), True),
        (("/usr/local/bin/my-entrypoint.sh",), ("bash",), True),  # its own way: left alone
    ],
)
def test_which_images_start_a_server(entrypoint: tuple[str, ...], cmd: tuple[str, ...], serves: bool) -> None:
    assert starts_a_server(_image(entrypoint, cmd)) is serves


def test_payload_reader_is_shipped(tmp_path: Path) -> None:
    from nbship import contract as c
    from nbship.render import support

    placed = {f"{c.NBSHIP_DIR}/{item.path}" for item in support.support_files()}
    assert c.PIPFILE_LOCK_READER in placed


# -- the build arguments of an own Dockerfile --------------------------------------------------------


def test_an_own_dockerfile_gets_the_uid_of_the_option_else_the_settings(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({"Dockerfile": "FROM python:3.11-slim\nARG NB_USER\nARG NB_UID\n"})
    monkeypatch.delenv("NBSHIP_USER_ID", raising=False)
    assert own_build_args(detect(root), ImageOptions()) == {c.NB_USER_ENV: c.NB_USER, c.NB_UID_ENV: str(c.DEFAULT_UID)}
    assert own_build_args(detect(root), ImageOptions(user_id=4242))[c.NB_UID_ENV] == "4242"
    monkeypatch.setenv("NBSHIP_USER_ID", "1234")
    assert own_build_args(detect(root), ImageOptions())[c.NB_UID_ENV] == "1234"
    with pytest.raises(UsageError, match="non-root uid"):
        own_build_args(detect(root), ImageOptions(user_id=0))
    assert own_build_args(detect(make_project({"requirements.txt": "six\n"}, name="plain")), ImageOptions()) == {}
