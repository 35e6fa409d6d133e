"""Sharing without Docker: push targets, reference parts, the compose file and its .env, and the
CLI refusing bad input before any Docker work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from nbship.cli import main
from nbship.errors import NotFoundError, RegistryError, UsageError
from nbship.references import split_reference
from nbship.render.compose import (
    ComposeSpec,
    env_with_token,
    gitignore_with,
    render_compose,
    token_in,
    written_by_nbship,
)
from nbship.runtime.registry import classify, registry_of, validate_push_target

from .helpers import MakeProject


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("alice/sst", "alice/sst:latest"),
        ("alice/sst:1.0", "alice/sst:1.0"),
        ("ghcr.io/alice/sst:1.0", "ghcr.io/alice/sst:1.0"),
        ("127.0.0.1:5000/team/sst:v2", "127.0.0.1:5000/team/sst:v2"),
        ("localhost:5000/sst", "localhost:5000/sst:latest"),
        ("registry.example.org/sst", "registry.example.org/sst:latest"),
    ],
)
def test_valid_push_targets(reference: str, expected: str) -> None:
    assert validate_push_target(reference) == expected


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("sst", "YOUR_DOCKER_ID/sst"),
        ("sst:1.0", "Docker Hub's official images"),
        ("Alice/SST:1.0", "Did you mean 'alice/sst:1.0'?"),
        ("alice/sst@sha256:" + "a" * 64, "needs a tag"),
        ("alice/sst:", "push target looks like"),
        ("https://ghcr.io/alice/sst", "push target looks like"),
    ],
)
def test_bad_push_targets_show_the_right_form(reference: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_push_target(reference)
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("sst", (None, "sst", None, None)),
        ("alice/sst:1", (None, "alice/sst", "1", None)),
        ("127.0.0.1:5000/a/b:c", ("127.0.0.1:5000", "a/b", "c", None)),
        ("localhost/sst", ("localhost", "sst", None, None)),
        ("ghcr.io/a/b@sha256:" + "f" * 64, ("ghcr.io", "a/b", None, "sha256:" + "f" * 64)),
    ],
)
def test_split_reference(reference: str, parts: tuple[str | None, ...]) -> None:
    got = split_reference(reference)
    assert (got.domain, got.path, got.tag, got.digest) == parts


def test_registry_of() -> None:
    assert registry_of("alice/sst:1") == "docker.io"
    assert registry_of("ghcr.io/alice/sst:1") == "ghcr.io"


@pytest.mark.parametrize(
    ("message", "kind", "says"),
    [
        ("unauthorized: authentication required", RegistryError, "nbship login 127.0.0.1:5000"),
        ("denied: requested access to the resource is denied", RegistryError, "Log in first"),
        (
            "Get http://127.0.0.1:5000/v2/: dial tcp 127.0.0.1:5000: connect: connection refused",
            RegistryError,
            "Cannot reach",
        ),
        ("manifest for 127.0.0.1:5000/a/b:1 not found: manifest unknown", NotFoundError, "is not in the registry"),
        ("something else entirely", RegistryError, "Could not push"),
    ],
)
def test_registry_failures_say_what_to_do(message: str, kind: type[Exception], says: str) -> None:
    error = classify(message, "127.0.0.1:5000/a/b:1", action="push")
    assert isinstance(error, kind) and says in error.message


def _spec() -> ComposeSpec:
    return ComposeSpec(
        title="sst analysis",
        image="alice/sst:1.0",
        port=8890,
        container_port=8888,
        workdir="/home/jovyan/work",
        volume="nbship-sst-0123abcd",
        labels={"io.nbship.managed": "true", "io.nbship.project-path": "/home/a/my project: 2"},
    )


def test_compose_file_follows_the_compose_specification() -> None:
    text = render_compose(_spec())
    assert written_by_nbship(text)
    spec = yaml.safe_load(text)
    assert set(spec) == {"services", "volumes"}
    lab = spec["services"]["lab"]
    assert lab["image"] == "alice/sst:1.0"
    assert lab["ports"] == ["127.0.0.1:8890:8888"]
    assert lab["init"] is True
    assert lab["volumes"] == [{"type": "volume", "source": "work", "target": "/home/jovyan/work"}]
    assert lab["environment"]["JUPYTER_TOKEN"].startswith("${JUPYTER_TOKEN:?")
    assert lab["healthcheck"]["test"][0] == "CMD"
    assert spec["volumes"]["work"] == {
        "name": "nbship-sst-0123abcd",
        "labels": {"io.nbship.managed": "true", "io.nbship.project-path": "/home/a/my project: 2"},
    }


def test_env_file_keeps_other_lines_and_the_token() -> None:
    text, changed = env_with_token(None, "t" * 64, replace=False)
    assert changed and token_in(text) == "t" * 64 and text.startswith("#")
    existing = "API_URL=https://example.org\nJUPYTER_TOKEN=old-token-value-long\n"
    kept, changed = env_with_token(existing, "new" * 20, replace=False)
    assert not changed and kept == existing
    replaced, changed = env_with_token(existing, "new" * 20, replace=True)
    assert changed and "API_URL=https://example.org" in replaced and token_in(replaced) == "new" * 20
    added, _ = env_with_token("API_URL=x", "n" * 20, replace=False)
    assert added == "API_URL=x\nJUPYTER_TOKEN=" + "n" * 20 + "\n"
    assert token_in("export JUPYTER_TOKEN='quoted-token'\n") == "quoted-token"


def test_gitignore_gets_env_once() -> None:
    assert gitignore_with(None, ".env") == "# nbship: the token for compose.yaml\n.env\n"
    assert gitignore_with("*.pyc", ".env") == "*.pyc\n# nbship: the token for compose.yaml\n.env\n"
    assert gitignore_with("*.pyc\n.env\n", ".env") is None
    assert gitignore_with("/.env\n", ".env") is None


def test_push_refuses_a_bad_target_before_any_docker_work(no_docker: None, make_project: MakeProject) -> None:
    project = make_project({"a.ipynb": "{}"})
    for target, code in (("sst:1.0", 2), ("Alice/SST", 2), ("alice/sst@sha256:" + "0" * 64, 2)):
        result = run("push", str(project), "--to", target)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output and result.stderr.startswith("error ")


def test_up_option_conflicts_are_usage_errors(no_docker: None, make_project: MakeProject) -> None:
    project = make_project({"a.ipynb": "{}"})
    result = run("up", str(project), "--image", "alice/sst:1", "--mount", "host", "--volume", "x")
    assert result.exit_code == 2
    result = run("up", str(project), "--mount", "bogus")
    assert result.exit_code == 2 and "bogus" in result.stderr


def test_login_needs_a_password(no_docker: None) -> None:
    result = run("login", "127.0.0.1:5000", "--username", "alice", "--password-stdin", input="")
    assert result.exit_code == 2 and "password is empty" in result.stderr


def test_compose_refuses_to_overwrite_a_foreign_file(no_docker: None, make_project: MakeProject) -> None:
    project = make_project({"a.ipynb": "{}", "compose.yaml": "services: {}\n"})
    result = run("compose", str(project))
    assert result.exit_code == 3 and "--force" in result.stderr
    assert (Path(project) / "compose.yaml").read_text() == "services: {}\n"
    assert not (Path(project) / ".env").exists()
