"""Which engine nbship uses (--engine, NBSHIP_ENGINE, the `engine` setting, then auto), the clear
error when the chosen one is missing, and Buildah's build log read into steps. No engine runs:
the engines asked for are missing on purpose (an empty PATH, a socket that does not exist)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from nbship.cli import main
from nbship.engine import choose, connect
from nbship.engine.buildlog import BuildahLog, NotInContext
from nbship.engine.docker import DockerEngine, api_refusal
from nbship.engine.podman import PodmanEngine
from nbship.engine.podman_values import version_refusal
from nbship.errors import BuildError, DockerUnavailableError, ExitCode, InputFileError, UsageError
from nbship.project.detect import detect
from nbship.project.origin import Origin
from nbship.settings import load_settings
from nbship.sources.open import engine_setting

from .helpers import MakeProject


@pytest.fixture
def no_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No podman on PATH and a Docker socket that does not exist."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("NBSHIP_ENGINE", raising=False)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_the_caller_then_the_variable_then_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBSHIP_ENGINE", raising=False)
    assert choose(None) == ("auto", "the engine setting (auto)")
    assert choose(None, setting="podman")[0] == "podman"
    monkeypatch.setenv("NBSHIP_ENGINE", "Docker ")
    assert choose(None, setting="podman") == ("docker", "NBSHIP_ENGINE=docker")
    assert choose("podman", setting="docker") == ("podman", "--engine podman")
    monkeypatch.setenv("NBSHIP_ENGINE", "kubernetes")
    with pytest.raises(
        UsageError, match=r"NBSHIP_ENGINE='kubernetes' names no engine nbship knows: use one of auto, docker, podman"
    ):
        choose(None)


def test_the_engine_setting(make_project: MakeProject) -> None:
    assert load_settings(make_project({"nbship.toml": 'engine = "podman"\n'}))[0].engine == "podman"
    assert (
        load_settings(make_project({"pyproject.toml": '[tool.nbship]\nengine = "docker"\n'}, name="p2"))[0].engine
        == "docker"
    )
    with pytest.raises(InputFileError) as info:
        load_settings(make_project({"nbship.toml": 'name = "x"\nengine = "lxc"\n'}, name="p3"))
    assert info.value.line == 2 and "engine" in info.value.message


def test_a_fetched_projects_setting_does_not_choose_the_engine(make_project: MakeProject) -> None:
    root = make_project({"nbship.toml": 'engine = "podman"\n'}, name="fetched")
    assert engine_setting(detect(root)) == "podman"  # the user's own folder
    origin = Origin("https://example.org/r.git@v1", "git:example.org/r@v1", "r", "v1", "https://example.org/r", "ab12")
    assert engine_setting(detect(root, origin=origin)) == "auto"  # a download's file chooses nothing here
    assert engine_setting(None) == "auto"


def test_a_choice_connects_lazily_to_that_engine(no_engines: None) -> None:
    assert isinstance(connect("docker"), DockerEngine)
    assert isinstance(connect(None, setting="podman"), PodmanEngine)


def test_chosen_podman_missing_is_one_paragraph(no_engines: None) -> None:
    result = run("--engine", "podman", "volume", "ls")
    assert result.exit_code == ExitCode.DOCKER_UNAVAILABLE
    text = result.stderr.strip()
    assert text.startswith("error Podman was chosen (--engine podman), but there is no `podman` command on PATH.")
    assert "Traceback" not in result.output and "\n\n" not in text


def test_auto_with_neither_engine_names_both(no_engines: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Docker's default endpoint (where auto may fall back), at a socket that is not there.
    monkeypatch.setattr(DockerEngine, "endpoint", property(lambda self: _no_socket(tmp_path)))
    engine = connect()  # nothing asked yet: a command refuses its bad input before any engine work
    with pytest.raises(DockerUnavailableError) as info:
        _ = engine.name
    assert "No container engine answers here" in info.value.message
    assert "no.sock" in info.value.message and "no `podman` command on PATH" in info.value.message


def _no_socket(tmp_path: Path) -> object:
    from nbship.engine.docker_endpoint import DockerEndpoint

    return DockerEndpoint(f"unix://{tmp_path}/no.sock", "no DOCKER_HOST or docker context set", "default")


def test_a_docker_the_user_pointed_to_never_falls_back(
    no_engines: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/elsewhere.sock")
    # A podman on PATH (never run): auto must not take it when Docker was pointed somewhere.
    podman = tmp_path / "empty-bin" / "podman"
    podman.parent.mkdir()
    podman.write_text("#!/bin/sh\nexit 99\n")
    podman.chmod(0o755)
    with pytest.raises(DockerUnavailableError) as info:
        _ = connect().name
    assert info.value.message.startswith(
        f"Cannot reach the Docker daemon at unix://{tmp_path}/elsewhere.sock (DOCKER_HOST)"
    )


def test_an_engine_too_old_is_one_paragraph_naming_what_was_found() -> None:
    podman = version_refusal("3.4.4", "/usr/bin/podman", " (chosen by --engine podman)")
    assert podman is not None and "\n" not in podman
    assert podman.startswith("Podman 3.4.4 (chosen by --engine podman) is too old: nbship needs Podman 4.0 or later")
    assert "(found /usr/bin/podman)" in podman and "apt install podman" in podman
    assert version_refusal("4.0.0", "podman") is None and version_refusal("5.2.1-dev", "podman") is None
    docker = api_refusal("1.39", "unix:///var/run/docker.sock")
    assert docker is not None and "\n" not in docker
    assert "daemon at unix:///var/run/docker.sock speaks Engine API 1.39; nbship needs 1.40" in docker
    assert api_refusal("1.41", "x") is None and api_refusal("2.0", "x") is None


@given(st.text(max_size=20))
def test_any_reported_version_is_accepted_or_refused_in_words(version: str) -> None:
    for refusal in (version_refusal(version, "podman"), api_refusal(version, "here")):
        assert refusal is None or version in refusal


def test_engine_option_is_checked() -> None:
    result = run("--engine", "lxc", "status")
    assert result.exit_code == ExitCode.USAGE and "'lxc' is not one of 'auto', 'docker', 'podman'" in result.output
    assert "--engine [auto|docker|podman]" in run("--help").output


# `podman build` of a two-stage Dockerfile whose last step fails (Podman 4.3.1, Buildah 1.28.2).
FAILED_BUILD = """\
[1/2] STEP 1/2: FROM python:3.11-slim AS first
[1/2] STEP 2/2: RUN echo preparing
preparing
--> b722ecdffe3
[2/2] STEP 1/3: FROM b722ecdffe38eb1afb748b04fee2126ef3b890ac805b51e13f271fd9481f9f3e AS second
[2/2] STEP 2/3: COPY . /x
--> Using cache 9e0b8726a4a5c1e7a7f6a5a9b6f1d8a1c4f4f0d6e1b2c3d4e5f6a7b8c9d0e1f2
--> 9e0b8726a4a
[2/2] STEP 3/3: RUN echo "about to fail"; echo "nbship: the base image has no python4; pick another" >&2; exit 3
about to fail
nbship: the base image has no python4; pick another
time="2026-12-01T11:12:00Z" level=warning msg="HEALTHCHECK is not supported for OCI image format"
Error: building at STEP "RUN echo ...": while running runtime: exit status 3
"""


def test_a_buildah_log_in_steps_and_its_failure() -> None:
    log = BuildahLog()
    started = [step.name for line in FAILED_BUILD.splitlines() if (step := log.feed(line))]
    assert started == [
        "[first 1/2] FROM python:3.11-slim AS first",
        "[first 2/2] RUN echo preparing",
        "[second 1/3] FROM b722ecdffe38eb1afb748b04fee2126ef3b890ac805b51e13f271fd9481f9f3e AS second",
        "[second 2/3] COPY . /x",
        '[second 3/3] RUN echo "about to fail"; echo "nbship: the base image has no python4; pick another" >&2; exit 3',
    ]
    assert log.steps["1:2"].lines == ["preparing"]
    assert [(step.stage, step.instruction[:8], step.cached) for step in log.report().steps] == [
        ("first", "RUN echo", False),
        ("second", "COPY . /", True),
        ("second", "RUN echo", False),
    ]
    error = log.error()
    assert isinstance(error, BuildError)
    assert error.message.startswith("The base image has no python4; pick another.")  # the Dockerfile's own words
    assert error.details is not None and "about to fail" in error.details and "level=warning" not in error.details


def test_a_single_stage_buildah_log() -> None:
    log = BuildahLog()
    for line in ["STEP 1/2: FROM python:3.11-slim", "STEP 2/2: RUN pip install nosuchpackage",
                 "ERROR: No matching distribution found for nosuchpackage", "Error: building at STEP ..."]:  # fmt: skip
        log.feed(line)
    error = log.error()
    assert "'nosuchpackage' could not be found in PyPI" in error.message and "[2/2] RUN pip install" in error.message
    assert log.report().steps == ()  # steps of an unnamed single stage, as for BuildKit


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("data/missing.txt", 'copier: stat: "/data/missing.txt": no such file or directory'),
        ("../outside.txt", "possible escaping context directory error: "
                           'copier: stat: "/outside.txt": no such file or directory'),
    ],
)  # fmt: skip
def test_a_buildah_copy_outside_the_context(source: str, error: str) -> None:
    # Podman 4.3's words, as `podman build` printed them on this machine.
    log = BuildahLog()
    stopped = f'Error: building at STEP "COPY {source} /x": checking on sources under "/tmp/ctx": {error}'
    for line in ["STEP 1/2: FROM scratch AS one", f"STEP 2/2: COPY {source} /x", stopped]:
        log.feed(line)
    found = log.error()
    assert isinstance(found, NotInContext), found.message
    assert found.path == source.removeprefix("../") and "not in the build context" in found.message
    assert "[one 2/2] COPY" in found.message


@given(st.lists(st.text(max_size=80), max_size=30))
def test_any_output_reads_as_a_log(lines: list[str]) -> None:
    log = BuildahLog()
    for line in lines:
        log.feed(line)
    assert isinstance(log.error(), BuildError)
