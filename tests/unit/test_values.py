"""Values written into Dockerfiles, command lines, compose files and messages: checked where they
enter, quoted where they leave, and no URL keeps its credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nbship import contract as c
from nbship.engine.base import Builder, BuildRequest, ImageInfo
from nbship.engine.docker_cli import buildkit_command, dockerfile_with_labels
from nbship.errors import BuildError, InputFileError, UsageError
from nbship.render.compose import ComposeSpec, render_compose
from nbship.runtime.servers import image_workdir
from nbship.values import (
    container_path_problem,
    control_character,
    copy_source_problem,
    dockerfile_escape,
    dockerfile_string,
    label_instruction,
    public_url,
    redact_urls,
    shown,
)


@pytest.mark.parametrize(
    ("remote", "recorded"),
    [
        ("https://user:TOKEN@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://x-access-token:ghp_abc@github.com/org/repo", "https://github.com/org/repo"),
        ("https://oauth2:glpat@gitlab.example.org:8443/g/r.git", "https://gitlab.example.org:8443/g/r.git"),
        ("https://host/org/repo.git?private_token=abc#frag", "https://host/org/repo.git"),
        ("ssh://git@host:2222/org/repo.git", "ssh://host:2222/org/repo.git"),
        ("git@github.com:org/repo.git", "ssh://github.com/org/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://user:p@ss@host/repo", "https://host/repo"),
        ("  https://u:p@[::1]:8080/r  ", "https://[::1]:8080/r"),
    ],
)
def test_public_url_keeps_no_credentials(remote: str, recorded: str) -> None:
    assert public_url(remote) == recorded


@settings(max_examples=300)
@given(
    user=st.text("abcXYZ019-_.~%", min_size=1, max_size=12),
    secret=st.text("abcXYZ019-_.~%!$&'()*+,;=:@", min_size=1, max_size=24),
    path=st.text("abc/._-", max_size=20),
)
def test_no_secret_survives_in_a_url(user: str, secret: str, path: str) -> None:
    assume(secret != "****")  # nbship's own mask, kept in messages (below)
    url = f"https://{user}:{secret}@example.org/{path}"
    for text in (public_url(url), redact_urls(f"remote {url} failed")):
        assert f"{user}:{secret}" not in text
        assert "@example.org" not in text


def test_a_password_nbship_masked_keeps_its_user_in_messages() -> None:
    assert redact_urls("https://alice:****@host.org/r.git carries a password") == (
        "https://alice:****@host.org/r.git carries a password"
    )
    assert redact_urls("https://ghp_token@host.org/r https://a:b:****@h/") == "https://host.org/r https://h/"


def test_errors_never_carry_credentials() -> None:
    error = BuildError(
        "could not fetch https://bob:hunter2@pkgs.example.org/simple", details="GET https://bob:hunter2@x/"
    )
    assert "hunter2" not in error.message and "hunter2" not in (error.details or "")
    assert "https://pkgs.example.org/simple" in error.message
    assert "hunter2" not in str(InputFileError("requirements.txt", 3, "--index-url https://bob:hunter2@h/", "Fix."))


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "tab\there", "esc\x1b[31m", "line\u2028sep", "nul\x00", "del\x7f"])
def test_control_characters_are_found_and_shown_escaped(value: str) -> None:
    assert control_character(value)
    assert control_character(shown(value)) is None


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("extra.txt", False),
        ("reqs/dev requirements.txt", False),
        ("$HOME.txt", True),
        ("${HOME}/x.txt", True),
        ("req[1].txt", True),
        ("*.txt", True),
        ("a\\b.txt", True),
        ("new\nline.txt", True),
        (" leading.txt", True),
    ],
)
def test_copy_sources_docker_would_interpret_are_refused(path: str, refused: bool) -> None:
    assert (copy_source_problem(path) is not None) is refused


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/home/jovyan/work", True),
        ("/srv/my work", True),
        ("/w\nprivileged: true", False),
        ("/w,type=bind,source=/", False),
        ("/home/$USER", False),
        ("relative/work", False),
        ("/a/../etc", False),
        ("/a:/b", False),
    ],
)
def test_container_paths(path: str, ok: bool) -> None:
    assert (container_path_problem(path) is None) is ok


def _image(workdir: str = "", env: dict[str, str] | None = None) -> ImageInfo:
    return ImageInfo("sha256:1", ("evil:latest",), {}, 0, env or {}, workdir, "")


@pytest.mark.parametrize(
    "image",
    [
        _image(env={"NBSHIP_WORKDIR": "/home/jovyan/work\n    privileged: true\n    cap_add: [ALL]"}),
        _image(workdir="/w\nprivileged: true"),
        _image(env={"NBSHIP_WORKDIR": "/w,readonly=false,type=bind,source=/"}),
    ],
)
def test_an_image_with_a_hostile_work_folder_is_refused(image: ImageInfo) -> None:
    with pytest.raises(
        UsageError, match=r"^The image evil:latest gives its work folder as '.*' \((NBSHIP_WORKDIR|WorkingDir)\)"
    ):
        image_workdir(image)


def test_plain_work_folders_are_used() -> None:
    assert image_workdir(_image(env={"NBSHIP_WORKDIR": "/srv/work"})) == "/srv/work"
    assert image_workdir(_image(workdir="/data")) == "/data"
    assert image_workdir(_image()) == "/home/jovyan/work"


# -- compose.yaml: a serializer, so no value becomes structure ---------------------------------

_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(title=_any_text, workdir=_any_text, path=_any_text, image=_any_text)
def test_compose_values_stay_values(title: str, workdir: str, path: str, image: str) -> None:
    spec = ComposeSpec(
        title=title,
        image=image,
        port=8888,
        container_port=8888,
        workdir=workdir,
        volume="nbship-p-1234abcd",
        labels={"io.nbship.project-path": path},
    )
    text = render_compose(spec)
    header, _, body = text.partition("\nservices:")
    assert all(line.startswith("#") for line in header.splitlines())
    document = yaml.safe_load("services:" + body)
    assert set(document) == {"services", "volumes"}
    lab = document["services"]["lab"]
    assert set(lab) == {"image", "init", "restart", "ports", "environment", "volumes", "healthcheck", "security_opt"}
    assert "privileged" not in lab and "cap_add" not in lab
    assert lab["security_opt"] == [c.NO_NEW_PRIVILEGES]
    # Compose reads `$$` as `$`: what it sees is exactly the value.
    assert lab["image"].replace("$$", "$") == image
    assert lab["volumes"][0]["target"].replace("$$", "$") == workdir
    assert document["volumes"]["work"]["labels"]["io.nbship.project-path"].replace("$$", "$") == path


def test_a_hostile_name_and_work_folder_inject_no_compose_keys() -> None:
    spec = ComposeSpec(
        title="x\nservices:\n  evil:\n    privileged: true",
        image="lab:latest",
        port=8888,
        container_port=8888,
        workdir="/home/jovyan/work\n    privileged: true\n    cap_add: [ALL]",
        volume="nbship-x-1",
        labels={"io.nbship.project-path": "/tmp/$HOME/${EVIL:?}"},
    )
    document = yaml.safe_load(render_compose(spec))
    assert list(document["services"]) == ["lab"]
    assert "privileged" not in document["services"]["lab"]
    assert document["volumes"]["work"]["labels"]["io.nbship.project-path"] == "/tmp/$$HOME/$${EVIL:?}"


# -- Dockerfile strings and the build command line -------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("$HOME and ${X}", '"\\$HOME and \\${X}"'),
        ("back\\slash", '"back\\\\slash"'),
        ("Café ∑", '"Café ∑"'),
    ],
)
def test_dockerfile_strings(value: str, quoted: str) -> None:
    assert dockerfile_string(value) == quoted


def test_the_escape_directive_is_honoured() -> None:
    text = "# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n"
    assert dockerfile_escape(text) == "`"
    assert dockerfile_escape("FROM x\n# escape=`\n") == "\\"  # directives only come first
    assert label_instruction({"k": 'a"$b`'}, text) == 'LABEL "k"="a`"`$b``"'


def test_labels_and_secrets_never_reach_the_command_line(tmp_path: Path) -> None:
    secret_file = tmp_path / "ca.pem"
    secret_file.write_text("CERT")
    request = BuildRequest(
        context=tmp_path,
        dockerfile="FROM x\nRUN true",
        ignore=(".git",),
        tag="p:latest",
        builder=Builder("buildkit", "BuildKit"),
        labels={"org.opencontainers.image.source": "https://h/r.git", "org.opencontainers.image.title": 'a "$b"'},
        secrets=(("nbship-ca", secret_file),),
    )
    command = buildkit_command("docker", request, tmp_path)
    joined = " ".join(command)
    assert "--label" not in command and "https://h/r.git" not in joined and "CERT" not in joined
    assert f"id=nbship-ca,src={secret_file}" in joined  # a path, never the content
    written = (tmp_path / "Dockerfile").read_text()
    assert written == dockerfile_with_labels(request)
    assert written == (
        'FROM x\nRUN true\nLABEL "org.opencontainers.image.source"="https://h/r.git" '
        '"org.opencontainers.image.title"="a \\"\\$b\\""\n'
    )
    assert (tmp_path / "Dockerfile.dockerignore").read_text() == ".git\n"
