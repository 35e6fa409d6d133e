"""Which Docker daemon nbship addresses: the docker CLI's order (DOCKER_HOST, DOCKER_CONTEXT, the
current context, the default socket), contexts read as the CLI stores them, and the environment
that pins every docker CLI nbship runs to the same daemon. No daemon is needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship.engine.docker_endpoint import DEFAULT_CONTEXT, DockerEndpoint, resolve
from nbship.errors import DockerUnavailableError


def _context(config: Path, name: str, host: str, *, skip_verify: bool | None = None, tls: tuple[str, ...] = ()) -> Path:
    """A context laid out as `docker context create` writes it."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    endpoint: dict[str, object] = {"Host": host}
    if skip_verify is not None:
        endpoint["SkipTLSVerify"] = skip_verify
    meta = config / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    folder = config / "contexts" / "tls" / digest / "docker"
    for stem in tls:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.pem").write_text("not a real certificate\n")
    return folder


def _use(config: Path, name: str) -> None:
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def test_docker_host_comes_first(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "tcp://10.0.0.5:2376")
    _use(tmp_path, "remote")
    env = {"DOCKER_HOST": "unix:///tmp/other.sock", "DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": str(tmp_path)}
    endpoint = resolve(env)
    assert (endpoint.host, endpoint.chosen_by, endpoint.context) == ("unix:///tmp/other.sock", "DOCKER_HOST", "default")
    # The CLI must not follow DOCKER_CONTEXT over DOCKER_HOST; its TLS variables stay as they are.
    assert endpoint.cli_env() == {"DOCKER_CONTEXT": None}
    assert endpoint.sdk_kwargs(env)["base_url"].endswith("/tmp/other.sock")


def test_docker_context_variable_over_the_current_context(tmp_path: Path) -> None:
    _context(tmp_path, "colima", "unix:///home/me/.colima/default/docker.sock")
    _context(tmp_path, "desktop-linux", "unix:///home/me/.docker/desktop/docker.sock")
    _use(tmp_path, "desktop-linux")
    endpoint = resolve({"DOCKER_CONTEXT": "colima", "DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.host == "unix:///home/me/.colima/default/docker.sock"
    assert endpoint.chosen_by == "DOCKER_CONTEXT=colima"
    assert endpoint.configured


def test_the_current_context_pins_the_cli_and_the_sdk(tmp_path: Path) -> None:
    _context(tmp_path, "desktop-linux", "unix:///home/me/.docker/desktop/docker.sock")
    _use(tmp_path, "desktop-linux")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": ""}  # an empty DOCKER_HOST is no choice
    endpoint = resolve(env)
    assert endpoint.chosen_by == "docker context desktop-linux"
    assert endpoint.cli_env() == {
        "DOCKER_HOST": None,
        "DOCKER_TLS_VERIFY": None,
        "DOCKER_CERT_PATH": None,
        "DOCKER_CONTEXT": "desktop-linux",
    }
    assert endpoint.sdk_kwargs(env) == {"base_url": "unix:///home/me/.docker/desktop/docker.sock"}


def test_a_context_found_without_a_config_file(tmp_path: Path) -> None:
    # `docker context create` writes no config.json; the SDK would look for contexts beside one.
    _context(tmp_path, "remote", "tcp://10.0.0.5:2376")
    endpoint = resolve({"DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.host == "tcp://10.0.0.5:2376"


def test_the_default_socket_when_nothing_is_set(tmp_path: Path) -> None:
    endpoint = resolve({"DOCKER_CONFIG": str(tmp_path)})
    assert (endpoint.host, endpoint.context, endpoint.configured) == ("", DEFAULT_CONTEXT, False)
    assert endpoint.sdk_kwargs({}) == {}
    assert "the default socket" in endpoint.describe()
    _use(tmp_path, "default")
    assert not resolve({"DOCKER_CONFIG": str(tmp_path)}).configured


def test_tls_material_of_a_context(tmp_path: Path) -> None:
    _context(tmp_path, "tls", "tcp://10.0.0.5:2376", tls=("ca", "cert", "key"))
    endpoint = resolve({"DOCKER_CONTEXT": "tls", "DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.tls is not None and endpoint.tls.verify
    tls = endpoint.sdk_kwargs({})["tls"]
    assert (
        tls.verify is True
        and tls.ca_cert == str(endpoint.tls.ca)
        and tls.cert
        == (
            str(endpoint.tls.cert),
            str(endpoint.tls.key),
        )
    )


def test_skip_tls_verify_and_a_ca_only_context(tmp_path: Path) -> None:
    _context(tmp_path, "lab", "tcp://lab:2376", skip_verify=True, tls=("ca",))
    endpoint = resolve({"DOCKER_CONTEXT": "lab", "DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.tls is not None and not endpoint.tls.verify and endpoint.tls.cert is None
    tls = endpoint.sdk_kwargs({})["tls"]
    assert tls.verify is False and tls.cert is None


def test_ssh_hosts_use_the_ssh_client(tmp_path: Path) -> None:
    _context(tmp_path, "server", "ssh://me@server.example.org")
    kwargs = resolve({"DOCKER_CONTEXT": "server", "DOCKER_CONFIG": str(tmp_path)}).sdk_kwargs({})
    assert kwargs == {"base_url": "ssh://me@server.example.org", "use_ssh_client": True}
    assert DockerEndpoint("ssh://h", "DOCKER_HOST", "default").sdk_kwargs({"DOCKER_HOST": "ssh://h"})["use_ssh_client"]


def test_a_missing_context_is_a_clear_error(tmp_path: Path) -> None:
    _use(tmp_path, "gone")
    with pytest.raises(DockerUnavailableError) as info:
        resolve({"DOCKER_CONFIG": str(tmp_path)})
    assert "The docker context 'gone' (docker context gone) does not exist" in info.value.message
    assert "docker context use default" in info.value.message


def test_broken_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(DockerUnavailableError, match=r"config.json could not be read"):
        resolve({"DOCKER_CONFIG": str(tmp_path)})
    (tmp_path / "config.json").write_text("{}")
    meta = _context(tmp_path, "odd", "x").parent.parent.parent / "meta"
    (next(meta.iterdir()) / "meta.json").write_text(json.dumps({"Name": "odd", "Endpoints": {}}))
    with pytest.raises(DockerUnavailableError, match=r"has no Docker endpoint"):
        resolve({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "odd"})


_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(config=_json, meta=_json, name=_texts, host=st.one_of(st.none(), _texts))
def test_any_config_resolves_or_says_why(tmp_path_factory: pytest.TempPathFactory, config: object, meta: object,
                                         name: str, host: str | None) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("cfg")
    (folder / "config.json").write_text(json.dumps(config))
    meta_file = folder / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta_file.parent.mkdir(parents=True)
    meta_file.write_text(json.dumps(meta))
    env = {"DOCKER_CONFIG": str(folder), **({"DOCKER_CONTEXT": name} if name else {})}
    if host is not None:
        env["DOCKER_HOST"] = host.replace("\x00", "")
    try:
        endpoint = resolve(env)
    except DockerUnavailableError as exc:
        message = exc.message
    else:
        assert isinstance(endpoint.describe(), str)
        assert set(endpoint.cli_env()) <= {"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"}
        return
    assert str(folder) in message  # the error names where it looked
