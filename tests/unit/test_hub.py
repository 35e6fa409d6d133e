"""nbship hub without a daemon: the hub image's files agree with the contract, the state nbship
writes (passwords, tokens, hub.json) round-trips and becomes the configuration JupyterHub gets,
the users' image names, user names, and the [hub] settings."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship import contract as c
from nbship.errors import InputFileError, UsageError
from nbship.hub import images, spec, state
from nbship.hub.payload import nbship_hub_state as payload
from nbship.settings import load_settings

from .helpers import MakeProject, message_of

PAYLOAD = Path(payload.__file__).parent


def _spec(**changes: Any) -> spec.HubSpec:
    values: dict[str, Any] = {
        "project_id": "class-0123abcd",
        "project_path": "/home/teacher/class",
        "image": "class:latest-hub",
        "image_id": "sha256:" + "1" * 64,
        "hub_image": images.hub_image(buildkit=True),
        "workdir": c.WORKDIR,
        "users": ("alice", "bob"),
        "admins": ("teacher",),
    }
    values.update(changes)
    return spec.HubSpec(**values)


def _unpack(data: bytes, into: Path) -> Path:
    """The state tar's files as the hub's volume holds them (its top folder inside `into`)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            target = into / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                handle = tar.extractfile(member)
                assert handle is not None
                target.write_bytes(handle.read())
    return into / c.HUB_STATE_FOLDER


# -- the hub image's own files agree with nbship ------------------------------------------------


def test_the_hub_payload_agrees_with_the_contract() -> None:
    entry = (PAYLOAD / "entrypoint.sh").read_text()
    assert f"socket={c.ENGINE_SOCKET}\n" in entry
    assert f"user={c.HUB_USER}\n" in entry
    assert f'state="${{{c.HUB_STATE_ENV}:-{c.HUB_STATE_DIR}/{c.HUB_STATE_FOLDER}}}"' in entry
    for name in ("jupyterhub_config.py", "nbship_hub.py"):
        assert f'os.environ["{c.HUB_STATE_ENV}"]' in (PAYLOAD / name).read_text()
    assert (payload.HUB_FILE, payload.SECRETS_FILE, payload.PASSWORDS_FILE) == (
        state.HUB_FILE,
        state.SECRETS_FILE,
        state.PASSWORDS_FILE,
    )
    assert payload.FORMAT == spec.STATE_FORMAT
    dockerfile = images.hub_dockerfile(buildkit=True)
    assert f"{c.HUB_STATE_ENV}={c.HUB_STATE_DIR}/{c.HUB_STATE_FOLDER}" in dockerfile
    assert f"--uid {c.HUB_UID} " in dockerfile and f" {c.HUB_USER};" in dockerfile
    assert f"EXPOSE {c.HUB_PORT}" in dockerfile


def test_the_hub_image_installs_what_its_lock_files_pin() -> None:
    pins = [
        line for line in (PAYLOAD / "requirements.in").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert f"jupyterhub=={images.JUPYTERHUB_VERSION}" in pins
    locked = (PAYLOAD / "requirements.txt").read_text()
    for pin in pins:
        assert re.search(rf"^{re.escape(pin)} \\$", locked, re.MULTILINE), f"{pin} is not in requirements.txt"
    # Every locked package carries hashes, so pip's --require-hashes install can run.
    blocks = re.split(r"^(?=[a-z0-9])", locked, flags=re.MULTILINE)[1:]
    assert len(blocks) > 20
    assert all(re.match(r"[a-z0-9][\w.-]*==\S+", block) and "--hash=sha256:" in block for block in blocks)
    lock = json.loads((PAYLOAD / "package-lock.json").read_text())
    wanted = json.loads((PAYLOAD / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == wanted
    assert all("integrity" in item for name, item in lock["packages"].items() if name)


def test_the_hub_image_is_named_after_its_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    first = images.hub_image(buildkit=True)
    assert first.startswith(f"{c.HUB_REPOSITORY}:")
    assert first != images.hub_image(buildkit=False)
    original = images.payload_file
    images.hub_image.cache_clear()
    monkeypatch.setattr(
        images, "payload_file", lambda name: original(name) + (b"#" if name == "nbship_hub.py" else b"")
    )
    try:
        assert images.hub_image(buildkit=True) != first
    finally:
        images.hub_image.cache_clear()


def test_the_classic_builder_gets_no_build_mounts() -> None:
    assert "--mount=" not in images.hub_dockerfile(buildkit=False)
    assert "--mount=" not in images.singleuser_dockerfile("class:latest", buildkit=False)
    assert f"--mount=type=secret,id={c.CA_SECRET}" in images.singleuser_dockerfile("class:latest", buildkit=True)


def test_the_users_image_adds_the_single_user_server_only_when_missing() -> None:
    text = images.singleuser_dockerfile("ghcr.io/lab/class:1.0", buildkit=True)
    assert "\nFROM ghcr.io/lab/class:1.0\n" in text
    assert f"if ! command -v {c.SINGLEUSER_COMMAND} " in text
    assert f"jupyterhub=={images.JUPYTERHUB_VERSION}" in text
    assert f'LABEL {c.LABEL_SINGLEUSER}="{images.JUPYTERHUB_VERSION}"' in text
    assert "JUPYTERHUB_SERVICE_PREFIX" in text  # the health check asks below the user's prefix


@pytest.mark.parametrize(
    ("source", "labels", "tag", "expected", "derived"),
    [
        ("class:latest", {}, None, "class:latest-hub", True),
        ("127.0.0.1:5000/lab/class:2024", {}, None, "127.0.0.1:5000/lab/class:2024-hub", True),
        ("lab/class@sha256:" + "ab" * 32, {}, None, "lab/class:hub-" + "ab" * 6, True),
        ("class:latest-hub", {c.LABEL_SINGLEUSER: "6.1.1"}, None, "class:latest-hub", False),
        ("class:latest-hub", {c.LABEL_SINGLEUSER: "6.1.1"}, "mine:1", "mine:1", True),
        ("class:" + "t" * 128, {}, None, "class:" + "t" * 124 + "-hub", True),
    ],
)
def test_the_users_image_name(
    source: str, labels: dict[str, str], tag: str | None, expected: str, derived: bool
) -> None:
    assert images.users_image(source, labels, tag) == images.UsersImage(expected, derived)


# -- users, passwords and the state -------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "Alice", "a.b_c-d", "alice@example.org", "x" * 64, "7"])
def test_user_names_nbship_takes(name: str) -> None:
    assert spec.check_user_name(name) == name.lower()


@pytest.mark.parametrize("name", ["", " ", "-x", "a b", "a/b", "x" * 65, "ali\nce", "é", "a;rm"])
def test_user_names_nbship_refuses(name: str) -> None:
    with pytest.raises(UsageError, match="cannot be a hub user name"):
        spec.check_user_name(name)


@given(st.text(max_size=80))
def test_any_user_name_is_taken_or_refused_with_a_message(name: str) -> None:
    message = message_of(lambda: spec.check_user_name(name))
    if message is None:
        assert re.fullmatch(r"[a-z0-9][a-z0-9._@+-]*", spec.check_user_name(name))


@settings(max_examples=15, deadline=None)  # scrypt costs ~50 ms by design
@given(st.text(min_size=1, max_size=40))
def test_the_hub_accepts_the_password_nbship_hashed_and_nothing_else(password: str) -> None:
    record = state.hash_password(password)
    assert payload.verify(password, record)
    assert not payload.verify(password + "x", record)
    assert not payload.verify(password, None)


@pytest.mark.parametrize("record", ["", "scrypt$1$2", "md5$x", "scrypt$16384$8$1$zz$00", "scrypt$a$8$1$00$00"])
def test_a_malformed_hash_never_lets_anyone_in(record: str) -> None:
    assert not payload.verify("anything", record)


def test_a_new_hub_gets_a_password_per_user_and_an_admin_token() -> None:
    made_state, made = state.next_state(_spec(), state.Previous(), renew=False)
    assert set(made) == {"alice", "bob", "teacher"}
    assert len(set(made.values())) == 3 and all(len(value) >= 16 for value in made.values())
    assert all(payload.verify(made[user], made_state.hashes[user]) for user in made)
    assert len(made_state.admin_token) == 64
    files = made_state.files()
    assert not any(password.encode() in data for password in made.values() for data in files.values())


def test_a_later_hub_up_keeps_passwords_and_the_token_of_those_still_named() -> None:
    first, made = state.next_state(_spec(), state.Previous(), renew=False)
    previous = state.read_archive(state.archive(first))
    second, made_now = state.next_state(_spec(users=("alice", "carol")), previous, renew=False)
    assert set(made_now) == {"carol"}
    assert second.hashes["alice"] == first.hashes["alice"]
    assert second.hashes["teacher"] == first.hashes["teacher"]
    assert "bob" not in second.hashes
    assert second.admin_token == first.admin_token
    renewed, made_again = state.next_state(_spec(), previous, renew=True)
    assert set(made_again) == {"alice", "bob", "teacher"} and renewed.hashes["alice"] != first.hashes["alice"]
    assert made_again["alice"] != made["alice"]


def test_an_authenticator_of_ones_own_means_no_passwords() -> None:
    auth = spec.AuthenticatorSpec(
        "oauthenticator.github.GitHubOAuthenticator", {"client_id": "x"}, {"client_secret": "s"}
    )
    made_state, made = state.next_state(_spec(authenticator=auth), state.Previous(), renew=False)
    assert made == {} and made_state.hashes == {}
    assert json.loads(made_state.files()["secrets.json"])["authenticator"] == {"client_secret": "s"}
    assert b'"s"' not in made_state.files()["hub.json"]


def test_the_state_archive_is_owned_by_the_hub_user_and_private() -> None:
    made_state, _ = state.next_state(_spec(), state.Previous(), renew=False)
    with tarfile.open(fileobj=io.BytesIO(state.archive(made_state))) as tar:
        members = {member.name: member for member in tar}
    assert set(members) == {c.HUB_STATE_FOLDER, *(f"{c.HUB_STATE_FOLDER}/{name}" for name in made_state.files())}
    assert all((member.uid, member.gid) == (c.HUB_UID, c.HUB_UID) for member in members.values())
    assert all(member.mode & 0o077 == 0 for member in members.values())


@settings(max_examples=50)
@given(
    users=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), max_size=5, unique=True),
    admins=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), max_size=2, unique=True),
    idle=st.integers(min_value=0, max_value=10**6),
)
def test_the_state_round_trips_through_its_archive(users: list[str], admins: list[str], idle: int) -> None:
    given_spec = _spec(users=tuple(users), admins=tuple(admins), idle_timeout=idle)
    made_state = state.HubState(given_spec.hub_json(), state.new_token(), {u: f"h-{u}" for u in users + admins})
    back = state.read_archive(state.archive(made_state))
    assert back.admin_token == made_state.admin_token
    assert dict(back.hashes) == dict(made_state.hashes)
    assert (back.users, back.admins) == (tuple(users), tuple(admins))
    assert dict(back.files) == made_state.files()
    assert back.hub == made_state.hub


@given(st.binary(max_size=200), st.sampled_from(["hub.json", "secrets.json", "passwords.json"]))
def test_state_files_that_do_not_parse_count_as_absent(garbage: bytes, name: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"{c.HUB_STATE_FOLDER}/{name}")
        info.size = len(garbage)
        tar.addfile(info, io.BytesIO(garbage))
    back = state.read_archive(buffer.getvalue())
    assert isinstance(back.hashes, dict) and isinstance(back.users, tuple)
    assert back.admin_token is None or len(back.admin_token) >= 32


# -- what JupyterHub is configured with ---------------------------------------------------------


def _configuration(tmp_path: Path, given_spec: spec.HubSpec) -> dict[str, dict[str, Any]]:
    made_state, _ = state.next_state(given_spec, state.Previous(), renew=False)
    folder = _unpack(state.archive(made_state), tmp_path)
    return payload.configuration(folder, python="/opt/hub/python")


def test_the_hub_serves_the_named_users_with_nbships_passwords(tmp_path: Path) -> None:
    config = _configuration(tmp_path, _spec())
    hub = config["JupyterHub"]
    assert hub["spawner_class"] == "nbship_hub.NbshipDockerSpawner"
    assert hub["authenticator_class"] == "nbship_hub.NbshipPasswordAuthenticator"
    assert hub["bind_url"] == f"http://:{c.HUB_PORT}"
    assert hub["hub_connect_url"] == f"http://{spec.hub_name('class-0123abcd')}:{c.HUB_API_PORT}"
    assert hub["db_url"] == f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    assert config["Authenticator"] == {"admin_users": {"teacher"}, "allowed_users": {"alice", "bob", "teacher"}}
    assert config["NbshipPasswordAuthenticator"]["passwords_file"] == str(
        tmp_path / c.HUB_STATE_FOLDER / "passwords.json"
    )
    docker = config["DockerSpawner"]
    assert (docker["image"], docker["cmd"], docker["remove"]) == ("class:latest-hub", [c.SINGLEUSER_COMMAND], True)
    assert docker["network_name"] == spec.hub_name("class-0123abcd")
    assert docker["extra_host_config"] == {"security_opt": [c.NO_NEW_PRIVILEGES]}
    api = next(item for item in hub["services"] if item["name"] == spec.API_SERVICE)
    assert len(api["api_token"]) == 64
    role = next(item for item in hub["load_roles"] if item["services"] == [spec.API_SERVICE])
    assert set(role["scopes"]) == {"admin:users", "admin:servers", "access:servers"}


def test_the_idle_culler_runs_with_the_timeout_and_only_when_asked(tmp_path: Path) -> None:
    culled = _configuration(tmp_path / "a", _spec(idle_timeout=120))
    culler = next(item for item in culled["JupyterHub"]["services"] if item["name"] == "idle-culler")
    assert culler["command"] == ["/opt/hub/python", "-m", "jupyterhub_idle_culler", "--timeout=120", "--cull-every=30"]
    kept = _configuration(tmp_path / "b", _spec(idle_timeout=0))
    assert [item["name"] for item in kept["JupyterHub"]["services"]] == [spec.API_SERVICE]


def test_swarm_limits_environment_and_an_own_authenticator(tmp_path: Path) -> None:
    from nbship.resources import Resources

    auth = spec.AuthenticatorSpec(
        "oauthenticator.github.GitHubOAuthenticator",
        {"client_id": "abc", "allowed_organizations": ["lab"]},
        {"client_secret": "s3cret"},
    )
    config = _configuration(
        tmp_path,
        _spec(
            swarm=True,
            users=(),
            admins=(),
            authenticator=auth,
            resources=Resources(memory=2 * 1024**3, cpus=1.5),
            env=(("COURSE", "stats"),),
        ),
    )
    assert config["JupyterHub"]["spawner_class"] == "nbship_hub.NbshipSwarmSpawner"
    assert config["JupyterHub"]["authenticator_class"] == "oauthenticator.github.GitHubOAuthenticator"
    assert config["GitHubOAuthenticator"] == {
        "client_id": "abc",
        "allowed_organizations": ["lab"],
        "client_secret": "s3cret",
    }
    assert "allowed_users" not in config["Authenticator"]  # the authenticator's own allow rules decide
    assert "remove" not in config["DockerSpawner"]  # SwarmSpawner always removes its services
    assert "extra_host_config" not in config["DockerSpawner"]  # a service has no host configuration
    assert (config["DockerSpawner"]["mem_limit"], config["DockerSpawner"]["cpu_limit"]) == (2 * 1024**3, 1.5)
    assert config["Spawner"]["environment"] == {"COURSE": "stats"}


def test_what_the_spawners_label_and_mount(tmp_path: Path) -> None:
    made_state, _ = state.next_state(_spec(), state.Previous(), renew=False)
    facts = payload.spawner_facts(_unpack(state.archive(made_state), tmp_path))
    assert facts["name_prefix"] == spec.user_prefix("class-0123abcd")
    assert facts["workdir"] == c.WORKDIR
    assert facts["user_label"] == c.LABEL_HUB_USER
    # Servers inherit the image's project id, which would make `nbship down` take one for the
    # project's JupyterLab: their own label empties it. Volumes keep it, so `nbship clean` finds them.
    assert facts["server_labels"][c.LABEL_PROJECT_ID] == ""
    assert facts["server_labels"][c.LABEL_HUB_ROLE] == "server"
    assert facts["work_labels"][c.LABEL_PROJECT_ID] == "class-0123abcd"
    assert facts["work_labels"][c.LABEL_HUB] == "class-0123abcd"


def test_a_state_of_another_format_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / c.HUB_STATE_FOLDER
    folder.mkdir()
    (folder / "hub.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        payload.load(folder)


# -- [hub] settings -----------------------------------------------------------------------------


def test_hub_settings_are_read(make_project: MakeProject) -> None:
    root = make_project(
        {
            "nbship.toml": """
[hub]
users = ["alice", "bob"]
admins = ["teacher"]
port = 8100
idle-timeout = 600

[hub.authenticator]
class = "oauthenticator.github.GitHubOAuthenticator"
client_id = "Iv1.abc"
allowed_organizations = ["lab"]

[hub.authenticator.secrets]
client_secret = { env = "GITHUB_CLIENT_SECRET" }
"""
        }
    )
    hub = load_settings(root, {})[0].hub
    assert (hub.users, hub.admins, hub.port, hub.idle_timeout) == (("alice", "bob"), ("teacher",), 8100, 600)
    assert hub.authenticator is not None
    assert hub.authenticator.class_name == "oauthenticator.github.GitHubOAuthenticator"
    assert hub.authenticator.traits == {"client_id": "Iv1.abc", "allowed_organizations": ["lab"]}
    assert hub.authenticator.secrets["client_secret"].env == "GITHUB_CLIENT_SECRET"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[hub]\nusers = ["a"]\n[hub.authenticator]\nclass = "x.Y"\nclient_secret = "abc"\n', 3, "never goes in"),
        ('[hub.authenticator]\nclass = "x.Y"\n[hub.authenticator.secrets]\nk = {}\n', 4, "exactly one of env"),
        (
            '[hub.authenticator]\nclass = "x.Y"\n[hub.authenticator.secrets]\nk = { env = "A B" }\n',
            4,
            "not an environment",
        ),
        ('[hub.authenticator]\nclass = "GitHub"\n', 2, "importable class"),
        ('[hub.authenticator]\nclass = "x.Y"\nsince = 2024-01-01\n', 1, "give it as a string"),
        ("[hub]\nidle-timeout = -1\n", 2, "greater than or equal to 0"),
        ("[hub]\nport = 0\n", 2, "greater than or equal to 1"),
        ('[hub]\nbind = "everywhere"\n', 2, "IP address"),
        ('[hub]\nuserz = ["a"]\n', 2, "did you mean 'users'?"),
    ],
)
def test_bad_hub_settings_name_their_line(make_project: MakeProject, text: str, line: int, fragment: str) -> None:
    with pytest.raises(InputFileError) as info:
        load_settings(make_project({"nbship.toml": text}), {})
    assert info.value.line == line, info.value.message
    assert fragment in info.value.message


@settings(max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(["class", "client_id", "token", "scope", "secrets", "x-y", "enabled"]),
        st.one_of(
            st.booleans(),
            st.integers(),
            st.text(max_size=8),
            st.lists(st.text(max_size=4), max_size=2),
            st.dictionaries(st.sampled_from(["env", "file", "x"]), st.text(max_size=6), max_size=2),
        ),
        max_size=5,
    )
)
def test_any_authenticator_table_is_read_or_refused_with_a_message(data: dict[str, Any]) -> None:
    from nbship import settings_model as s

    message = message_of(lambda: s._validate({"hub": {"authenticator": data}}, Path("nbship.toml"), "", ""))
    if message is None:
        found = s._validate({"hub": {"authenticator": data}}, Path("nbship.toml"), "", "").hub.authenticator
        assert found is not None
        assert {
            **found.traits,
            "class": found.class_name,
            **({"secrets": data["secrets"]} if "secrets" in data else {}),
        }.keys() == data.keys()


_HUB_TOML = """
[hub]
users = ["alice"]
bind = "0.0.0.0"

[hub.authenticator]
class = "oauthenticator.github.GitHubOAuthenticator"
client_id = "Iv1.abc"

[hub.authenticator.secrets]
client_secret = { env = "NBSHIP_TEST_HUB_SECRET" }
"""


@pytest.mark.parametrize("fetched", [False, True])
def test_a_fetched_projects_file_cannot_open_the_hub_nor_choose_its_logins(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, fetched: bool
) -> None:
    from nbship.commands.hub import project_authenticator
    from nbship.commands.serve import Target, bind_choice
    from nbship.reporter import RecordingReporter

    monkeypatch.setenv("NBSHIP_TEST_HUB_SECRET", "s3cret")
    monkeypatch.delenv("NBSHIP_HUB_BIND", raising=False)
    root = make_project({"nbship.toml": _HUB_TOML})
    target = Target(
        "p-01234567",
        "https://example.org/p.git" if fetched else str(root),
        root,
        load_settings(root, {})[0],
        fetched=fetched,
    )
    reporter = RecordingReporter()
    hub = target.settings.hub
    auth = project_authenticator(target, reporter)
    bind = bind_choice(target, None, reporter, setting=hub.bind, key=("hub", "bind"))
    warnings = [message for kind, message in reporter.events if kind == "warn"]
    if fetched:
        assert (auth, bind) == (None, c.LOOPBACK)
        assert len(warnings) == 2 and "using nbship's passwords" in warnings[0] and "--bind 0.0.0.0" in warnings[1]
        # The user's own choice still opens it.
        assert bind_choice(target, "0.0.0.0", reporter, setting=hub.bind, key=("hub", "bind")) == "0.0.0.0"
        monkeypatch.setenv("NBSHIP_HUB_BIND", "0.0.0.0")
        assert bind_choice(target, None, reporter, setting=hub.bind, key=("hub", "bind")) == "0.0.0.0"
    else:
        assert auth is not None and auth.secrets == {"client_secret": "s3cret"}
        assert bind == "0.0.0.0" and warnings == []
