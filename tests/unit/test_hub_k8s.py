"""`nbship hub k8s`: Zero to JupyterHub values, checked against the chart's documented keys.

Kubernetes does not run on these machines, so the values are checked against the keys and types of
the chart's values schema (jupyterhub/values.schema.yaml in zero-to-jupyterhub-k8s, chart 4.x),
written down below for the parts nbship writes: a key that is not documented there, or a value of
a type the schema does not allow, fails the test. What the chart then does with them is not
tested here (see the README).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from nbship import contract as c
from nbship.cli import main
from nbship.errors import UsageError
from nbship.hub import k8s, spec
from nbship.resources import Resources

from .helpers import MakeProject

NUMBER, STRING, INTEGER, BOOLEAN, NULL, ARRAY, OBJECT = (
    "number",
    "string",
    "integer",
    "boolean",
    "null",
    "array",
    "object",
)
ANY = (NUMBER, STRING, INTEGER, BOOLEAN, NULL, ARRAY, OBJECT)
# path -> the JSON types the chart's schema allows there. "*" below a path: the schema leaves that
# object open (additionalProperties), so any key may follow.
DOCUMENTED: dict[str, tuple[str, ...]] = {
    "singleuser": (OBJECT,),
    "singleuser.image": (OBJECT,),
    "singleuser.image.name": (STRING,),
    "singleuser.image.tag": (STRING,),
    "singleuser.image.pullPolicy": (NULL, STRING),
    "singleuser.image.pullSecrets": (ARRAY,),
    "singleuser.uid": (INTEGER, NULL),
    "singleuser.fsGid": (INTEGER, NULL),
    "singleuser.cmd": (ARRAY, STRING, NULL),
    "singleuser.defaultUrl": (STRING, NULL),
    "singleuser.startTimeout": (INTEGER, NULL),
    "singleuser.storage": (OBJECT,),
    "singleuser.storage.type": (STRING,),
    "singleuser.storage.capacity": (STRING, NULL),
    "singleuser.storage.homeMountPath": (STRING,),
    "singleuser.storage.extraLabels": (OBJECT,),
    "singleuser.storage.extraLabels.*": (STRING,),
    "singleuser.memory": (OBJECT,),
    "singleuser.memory.limit": (NUMBER, STRING, NULL),
    "singleuser.memory.guarantee": (NUMBER, STRING, NULL),
    "singleuser.cpu": (OBJECT,),
    "singleuser.cpu.limit": (NUMBER, NULL),
    "singleuser.cpu.guarantee": (NUMBER, NULL),
    "singleuser.extraEnv": (OBJECT, ARRAY),
    "singleuser.extraEnv.*": (STRING, OBJECT),
    "hub": (OBJECT,),
    "hub.config": (OBJECT,),
    "hub.config.*": (OBJECT,),  # traitlets sections: anything below
    "cull": (OBJECT,),
    "cull.enabled": (BOOLEAN,),
    "cull.users": (BOOLEAN, NULL),
    "cull.adminUsers": (BOOLEAN, NULL),
    "cull.timeout": (INTEGER, NULL),
    "cull.every": (INTEGER, NULL),
    "cull.concurrency": (INTEGER, NULL),
    "cull.maxAge": (INTEGER, NULL),
}
REQUIRED = {
    "singleuser.image": ("name", "tag"),
    "singleuser.storage": ("type", "homeMountPath"),
    "cull": ("enabled",),
}
ENUMS = {
    "singleuser.image.pullPolicy": {None, "", "IfNotPresent", "Always", "Never"},
    "singleuser.storage.type": {"dynamic", "static", "none"},
}


def _type(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    return ARRAY if isinstance(value, list) else OBJECT


def _documented(path: str) -> tuple[str, ...] | None:
    """The types allowed at `path`, or None when the schema has no such key."""
    if path in DOCUMENTED:
        return DOCUMENTED[path]
    parts = path.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        open_object = ".".join(parts[:depth]) + ".*"
        if open_object in DOCUMENTED:
            # A key right below an open object has the types given for it; deeper is free-form.
            return DOCUMENTED[open_object] if depth == len(parts) - 1 else ANY
    return None


def check_against_the_chart(values: dict[str, Any], prefix: str = "") -> None:
    for key, value in values.items():
        path = f"{prefix}{key}"
        allowed = _documented(path)
        assert allowed is not None, f"{path} is not a key of the chart's values schema"
        kind = _type(value)
        assert kind in allowed or (kind == INTEGER and NUMBER in allowed), f"{path}: {kind} where {allowed}"
        if path in ENUMS:
            assert value in ENUMS[path], f"{path}: {value!r}"
        for required in REQUIRED.get(path, ()):
            assert required in value, f"{path} needs {required}"
        if isinstance(value, dict):
            check_against_the_chart(value, f"{path}.")


def _spec(**changes: Any) -> k8s.K8sSpec:
    values: dict[str, Any] = {
        "project": "class",
        "image": "ghcr.io/lab/class:2024-hub",
        "uid": 1000,
        "workdir": c.WORKDIR,
        "users": ("alice", "bob"),
        "admins": ("teacher",),
        "idle_timeout": 3600,
        "labels": {c.LABEL_HUB: "class-0123abcd"},
    }
    values.update(changes)
    return k8s.K8sSpec(**values)


def test_the_values_use_only_the_charts_documented_keys() -> None:
    document = k8s.values(
        _spec(resources=Resources(memory=2 * 1024**3, cpus=1.5), env=(("COURSE", "stats"),)), shared_password=True
    )
    check_against_the_chart(document)
    user = document["singleuser"]
    assert user["image"] == {"name": "ghcr.io/lab/class", "tag": "2024-hub", "pullPolicy": "IfNotPresent"}
    assert (user["uid"], user["fsGid"], user["cmd"], user["defaultUrl"]) == (1000, 1000, c.SINGLEUSER_COMMAND, "/lab")
    assert user["storage"]["homeMountPath"] == c.WORKDIR
    assert user["storage"]["capacity"] == k8s.DEFAULT_STORAGE
    assert (user["memory"], user["cpu"], user["extraEnv"]) == (
        {"limit": 2 * 1024**3},
        {"limit": 1.5},
        {"COURSE": "stats"},
    )
    assert document["cull"] == {"enabled": True, "timeout": 3600, "every": 300}
    assert document["hub"]["config"]["Authenticator"] == {
        "admin_users": ["teacher"],
        "allowed_users": ["alice", "bob", "teacher"],
    }
    assert document["hub"]["config"]["JupyterHub"] == {"authenticator_class": k8s.SHARED_PASSWORD}


def test_storage_labels_are_valid_kubernetes_labels() -> None:
    labels = k8s.values(_spec(), shared_password=True)["singleuser"]["storage"]["extraLabels"]
    for key, value in labels.items():
        assert re.fullmatch(r"([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?", key)
        assert re.fullmatch(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?", value)


def test_an_own_authenticator_and_no_culling() -> None:
    auth = spec.AuthenticatorSpec(
        "oauthenticator.github.GitHubOAuthenticator", {"allowed_organizations": ["lab"]}, {"client_secret": "s3cret"}
    )
    document = k8s.values(_spec(authenticator=auth, users=(), admins=(), idle_timeout=0), shared_password=False)
    check_against_the_chart(document)
    assert document["cull"] == {"enabled": False}
    assert document["hub"]["config"] == {
        "JupyterHub": {"authenticator_class": "oauthenticator.github.GitHubOAuthenticator"},
        "GitHubOAuthenticator": {"allowed_organizations": ["lab"]},
    }
    assert "s3cret" not in yaml.safe_dump(document)
    secret = k8s.secret_values(_spec(authenticator=auth), {})
    assert secret == {"hub": {"config": {"GitHubOAuthenticator": {"client_secret": "s3cret"}}}}
    assert secret is not None
    check_against_the_chart(secret)


def test_an_image_of_ones_own_dockerfile_keeps_its_user() -> None:
    document = k8s.values(_spec(uid=None, workdir="/home/me"), shared_password=True)
    check_against_the_chart(document)
    assert (document["singleuser"]["uid"], document["singleuser"]["storage"]["homeMountPath"]) == (None, "/home/me")


@pytest.mark.parametrize("image", ["ghcr.io/lab/class", "lab/class@sha256:" + "a" * 64])
def test_an_image_without_a_tag_is_refused(image: str) -> None:
    with pytest.raises(UsageError, match="with a tag"):
        k8s.image_parts(image)


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_hub_k8s_writes_the_values_and_the_secrets_apart(make_project: MakeProject, no_docker: None) -> None:
    root = make_project(
        {"analysis.ipynb": "{}", "nbship.toml": '[hub]\nusers = ["alice"]\nadmins = ["teacher"]\nidle-timeout = 600\n'}
    )
    out = root.parent / "deploy" / "values.yaml"
    result = _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:1-hub", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith(k8s.MARKER)
    document = yaml.safe_load(text)
    check_against_the_chart(document)
    assert document["cull"]["timeout"] == 600
    secrets_file = out.with_name("values.secret.yaml")
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    secret = yaml.safe_load(secrets_file.read_text())
    check_against_the_chart(secret)
    passwords = secret["hub"]["config"]["SharedPasswordAuthenticator"]
    assert len(passwords["user_password"]) >= 16 and len(passwords["admin_password"]) >= 32
    assert passwords["user_password"] not in text and passwords["admin_password"] not in text
    assert f"-f {out} -f {secrets_file}" in result.stdout
    # A second run replaces what nbship wrote; a file it did not write stays.
    assert _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:2-hub", "-o", str(out)).exit_code == 0
    foreign = root.parent / "mine.yaml"
    foreign.write_text("singleuser: {}\n")
    refused = _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:2-hub", "-o", str(foreign))
    assert refused.exit_code == 3
    assert "nbship did not write it" in refused.stderr
    assert foreign.read_text() == "singleuser: {}\n"


def test_hub_k8s_reads_the_authenticators_secrets_from_the_environment(
    make_project: MakeProject, no_docker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        {
            "analysis.ipynb": "{}",
            "nbship.toml": '[hub.authenticator]\nclass = "oauthenticator.github.GitHubOAuthenticator"\n'
            'client_id = "Iv1.x"\n[hub.authenticator.secrets]\nclient_secret = { env = "NBSHIP_TEST_GH_SECRET" }\n',
        }
    )
    out = root / "values.yaml"
    monkeypatch.delenv("NBSHIP_TEST_GH_SECRET", raising=False)
    missing = _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:1-hub", "-o", str(out))
    assert missing.exit_code == 2
    assert "NBSHIP_TEST_GH_SECRET, which is not set" in missing.stderr
    monkeypatch.setenv("NBSHIP_TEST_GH_SECRET", "very-secret-value")
    assert _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:1-hub", "-o", str(out)).exit_code == 0
    assert "very-secret-value" not in out.read_text()
    secret = yaml.safe_load((root / "values.secret.yaml").read_text())
    assert secret["hub"]["config"]["GitHubOAuthenticator"] == {"client_secret": "very-secret-value"}


def test_a_secret_file_inside_the_project_is_refused(make_project: MakeProject, no_docker: None) -> None:
    root = make_project(
        {
            "analysis.ipynb": "{}",
            "gh-secret.txt": "abc\n",
            "nbship.toml": '[hub.authenticator]\nclass = "x.Y"\n'
            '[hub.authenticator.secrets]\nk = { file = "gh-secret.txt" }\n',
        }
    )
    result = _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:1-hub", "-o", str(root.parent / "v.yaml"))
    assert result.exit_code == 2
    assert "inside the project folder" in result.stderr
    outside = root.parent / "secret.txt"
    outside.write_text("from-a-file\n")
    (root / "nbship.toml").write_text(
        f'[hub.authenticator]\nclass = "x.Y"\n[hub.authenticator.secrets]\nk = {{ file = "{outside}" }}\n'
    )
    assert (
        _run("hub", "k8s", str(root), "--image", "ghcr.io/lab/class:1-hub", "-o", str(root.parent / "v.yaml")).exit_code
        == 0
    )
    assert yaml.safe_load((root.parent / "v.secret.yaml").read_text())["hub"]["config"]["Y"] == {"k": "from-a-file"}


def test_hub_k8s_needs_an_image_with_a_tag(make_project: MakeProject, no_docker: None) -> None:
    root = make_project({"analysis.ipynb": "{}"})
    result = _run("hub", "k8s", str(root), "--image", "lab/class@sha256:" + "a" * 64, "-o", str(root / "v.yaml"))
    assert result.exit_code == 2
    assert "with a tag" in result.stderr
    assert not (root / "v.yaml").exists()


def test_hub_up_json_needs_detach(no_docker: None) -> None:
    result = _run("hub", "up", "--user", "a", "--json")
    assert result.exit_code == 2
    assert "goes with --detach" in result.stdout


def test_the_values_file_is_yaml_nbship_reads_back(tmp_path: Path) -> None:
    text = k8s.render(k8s.values(_spec(), shared_password=True), title="class", note="line one\n\nline two")
    assert k8s.written_by_nbship(text)
    assert yaml.safe_load(text) == k8s.values(_spec(), shared_password=True)
