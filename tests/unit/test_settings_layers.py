"""Where each option's value comes from: NBSHIP_<OPTION> over nbship.toml over nbship's defaults
(the command line over all three is tested through the CLI in test_cli_offline.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbship.errors import InputFileError, UsageError
from nbship.resources import GpuRequest
from nbship.settings import ENV_NAMES, ENV_SETTINGS, Settings, env_name, load_settings
from nbship.settings_model import TOP_KEYS

from .helpers import MakeProject, message_of

# One valid value per setting a variable can set: (as TOML, as the variable's text, as read back).
VALUES: dict[tuple[str, ...], tuple[str, str, Any]] = {
    ("base-image",): ('"python:3.12-slim"', "python:3.12-slim", "python:3.12-slim"),
    ("strip",): ("false", "false", False),
    ("installer",): ('"pip"', "pip", "pip"),
    ("user-id",): ("4321", "4321", 4321),
    ("builder",): ('"classic"', "classic", "classic"),
    ("reproducible",): ("true", "yes", True),
    ("engine",): ('"docker"', "docker", "docker"),
    ("port",): ("9999", "9999", 9999),
    ("bind",): ('"0.0.0.0"', "0.0.0.0", "0.0.0.0"),
    ("mount",): ('"host"', "host", "host"),
    ("ready-timeout",): ("30", "30", 30.0),
    ("memory",): ('"2g"', "2g", 2 * 1024**3),
    ("cpus",): ("1.5", "1.5", 1.5),
    ("gpus",): ('"all"', "all", GpuRequest(count=-1, text="all")),
    ("check", "timeout"): ("45", "45", 45),
    ("hub", "port"): ("8100", "8100", 8100),
    ("hub", "bind"): ('"0.0.0.0"', "0.0.0.0", "0.0.0.0"),
    ("hub", "swarm"): ("true", "1", True),
    ("hub", "idle-timeout"): ("0", "0", 0),
}


def _read(value: Settings, key: tuple[str, ...]) -> Any:
    field = key[-1].replace("-", "_")
    return getattr(getattr(value, key[0]) if len(key) > 1 else value, field)


def _toml(key: tuple[str, ...], text: str) -> str:
    return f"[{key[0]}]\n{key[1]} = {text}\n" if len(key) > 1 else f"{key[0]} = {text}\n"


def test_every_variable_has_a_value_here() -> None:
    assert set(VALUES) == set(ENV_SETTINGS)
    assert env_name(("user-id",)) == "NBSHIP_USER_ID"
    assert env_name(("check", "timeout")) == "NBSHIP_CHECK_TIMEOUT"


def test_no_variable_is_one_the_image_uses() -> None:
    from nbship import contract as c

    inside = {c.WORKDIR_ENV, c.CONTENT_ENV, c.START_ENV, c.CHANNEL_MAP_ENV}
    assert not inside & set(ENV_NAMES)


@pytest.mark.parametrize("key", list(VALUES), ids=lambda key: ".".join(key))
def test_each_setting_from_the_file_and_from_its_variable(make_project: MakeProject, key: tuple[str, ...]) -> None:
    as_toml, as_env, expected = VALUES[key]
    root = make_project({"nbship.toml": _toml(key, as_toml)})
    assert _read(load_settings(root, {})[0], key) == expected
    assert _read(load_settings(make_project(name="bare"), {env_name(key): as_env})[0], key) == expected
    assert _read(load_settings(None, {env_name(key): as_env})[0], key) == expected
    assert _read(load_settings(make_project(name="none"), {})[0], key) == _read(Settings(), key)


def test_the_variable_wins_over_the_file_and_the_rest_of_the_file_stays(make_project: MakeProject) -> None:
    root = make_project(
        {"nbship.toml": 'installer = "pip"\nport = 9000\n[check]\ntimeout = 5\nnotebooks = ["a.ipynb"]\n'}
    )
    found, source = load_settings(root, {"NBSHIP_INSTALLER": "uv", "NBSHIP_CHECK_TIMEOUT": "7"})
    assert source == root / "nbship.toml"
    assert (found.installer, found.port, found.check.timeout, found.check.notebooks) == ("uv", 9000, 7, ("a.ipynb",))


def test_an_empty_variable_is_not_set(make_project: MakeProject) -> None:
    root = make_project({"nbship.toml": "port = 9000\n"})
    assert load_settings(root, {"NBSHIP_PORT": "  "})[0].port == 9000


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("NBSHIP_PORT", "http", "NBSHIP_PORT='http' is not a whole number"),
        ("NBSHIP_PORT", "70000", "NBSHIP_PORT='70000' is invalid"),
        ("NBSHIP_STRIP", "maybe", "NBSHIP_STRIP='maybe' is not a yes or no"),
        ("NBSHIP_INSTALLER", "conda", "NBSHIP_INSTALLER='conda' is invalid"),
        ("NBSHIP_USER_ID", "0", "NBSHIP_USER_ID='0' is invalid"),
        ("NBSHIP_MEMORY", "lots", "NBSHIP_MEMORY='lots' is invalid"),
        ("NBSHIP_CPUS", "-1", "NBSHIP_CPUS='-1' is invalid"),
        ("NBSHIP_GPUS", "many", "NBSHIP_GPUS='many' is invalid"),
        ("NBSHIP_BIND", "localhost; rm -rf /", "NBSHIP_BIND='localhost; rm -rf /' is invalid"),
        ("NBSHIP_CHECK_TIMEOUT", "0", "NBSHIP_CHECK_TIMEOUT='0' is invalid"),
    ],
)
def test_a_bad_variable_is_named(make_project: MakeProject, name: str, text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        load_settings(make_project(), {name: text})
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "guess"),
    [
        ('instaler = "pip"\n', "installer"),
        ("userid = 1\n", "user-id"),
        ("[check]\ntimeot = 3\n", "timeout"),
        ("[hub]\nidle-timout = 3\n", "idle-timeout"),
        ("ready-timeot = 3\n", "ready-timeout"),
    ],
)
def test_unknown_keys_get_a_guess_and_the_whole_list(make_project: MakeProject, text: str, guess: str) -> None:
    with pytest.raises(InputFileError) as info:
        load_settings(make_project({"nbship.toml": text}), {})
    message = info.value.message
    assert f"(did you mean '{guess}'?)" in message
    for key in TOP_KEYS:
        assert key in message
    assert "in a [check] table: notebooks, timeout" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('memory = "4 bananas"\n', "setting 'memory' is invalid"),
        ("memory = 12\n", "setting 'memory' is invalid"),
        ("cpus = true\n", "setting 'cpus' is invalid"),
        ("gpus = 1\n", "setting 'gpus' is invalid"),
        ('gpus = "colour=red"\n', "unknown key 'colour'"),
        ('mount = "cloud"\n', "setting 'mount' is invalid"),
        ("user-id = 0\n", "setting 'user-id' is invalid"),
        ("ready-timeout = 0\n", "setting 'ready-timeout' is invalid"),
        ('engine = "rkt"\n', "setting 'engine' is invalid"),
    ],
)
def test_bad_values_in_the_file_name_the_line(make_project: MakeProject, text: str, fragment: str) -> None:
    with pytest.raises(InputFileError) as info:
        load_settings(make_project({"nbship.toml": 'name = "x"\n' + text}), {})
    assert info.value.line == 2
    assert fragment in info.value.message


_keys = st.sampled_from(sorted(VALUES))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(in_file=st.sets(_keys), in_env=st.sets(_keys))
def test_layering_loses_nothing(make_project: MakeProject, tmp_path: Path, in_file: set[Any], in_env: set[Any]) -> None:
    """Every setting comes from the variable when set, else the file when set, else the default;
    other file values are kept."""
    top = [key for key in in_file if len(key) == 1]
    text = "".join(f"{key[0]} = {VALUES[key][0]}\n" for key in sorted(top))
    for table in sorted({key[0] for key in in_file if len(key) > 1}):
        text += f"[{table}]\n" + "".join(f"{key[1]} = {VALUES[key][0]}\n" for key in in_file if key[:1] == (table,))
    root = tmp_path / "layers"
    root.mkdir(exist_ok=True)
    (root / "nbship.toml").write_text(text)
    # The variables' values differ from the file's where they can, so the winner shows.
    env = {env_name(key): VALUES[key][1] for key in in_env}
    found, _ = load_settings(root, env)
    for key in VALUES:
        expected = VALUES[key][2] if key in in_env or key in in_file else _read(Settings(), key)
        assert _read(found, key) == expected


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from([*TOP_KEYS, "bogus", "user_id", "check"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)),
        max_size=6,
    )
)
def test_any_settings_data_is_read_or_refused_with_a_message(data: dict[str, Any]) -> None:
    from nbship import settings_model as s

    data = {key: value for key, value in data.items() if value is not None}
    message = message_of(lambda: s._validate(data, Path("nbship.toml"), "", ""))
    assert message is None or message.startswith("nbship.toml")


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(sorted(ENV_NAMES)), st.text(max_size=12), max_size=5))
def test_any_variables_are_read_or_refused_with_a_message(env: dict[str, str]) -> None:
    message = message_of(lambda: load_settings(None, env))
    assert message is None or any(name in message for name in env)


def test_the_plain_defaults_are_what_the_schema_gives_for_no_settings() -> None:
    # Without a settings file or variable nbship never imports the schema: its defaults are the
    # plain values', so the two must agree field by field, and hold the same fields.
    import dataclasses

    from nbship import settings_model

    read = settings_model.as_value(settings_model.SettingsModel.model_validate({}))
    for field in dataclasses.fields(Settings):
        assert getattr(read, field.name) == getattr(Settings(), field.name), field.name
    assert read == Settings()
    for model, value in settings_model.VALUES.items():
        assert {f.name for f in dataclasses.fields(value)} == set(model.model_fields) | (
            {"traits"} if model is settings_model.AuthenticatorModel else set()
        ), value.__name__


def test_no_settings_read_without_the_schema(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    code = (
        "import sys\nfrom pathlib import Path\nfrom nbship.settings import load_settings\n"
        f"print(load_settings(Path({str(tmp_path)!r}), {{'NBSHIP_PORT': ' '}})[1])\n"
        "print(*sorted(m for m in sys.modules if m.startswith(('pydantic', 'nbship.settings_model'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["None", ""], result.stdout
