"""-e / --env-file and --memory / --cpus / --gpus, read as docker run reads them: table tests and
property tests (nothing lost, no input ends in an unexpected exception)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbship import envvars
from nbship.errors import InputFileError, UsageError
from nbship.resources import MIN_MEMORY, GpuRequest, Resources, parse_cpus, parse_gpus, parse_memory

from .helpers import message_of

ENVIRON = {"HOME_REGION": "eu", "EMPTY": ""}


def test_env_file_follows_docker() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "  A=1\n"
        "B= two words \n"
        'C="quoted stays quoted"\n'
        "D=\n"
        "E=x=y\n"
        "HOME_REGION\n"
        "NOT_SET_ANYWHERE\n"
        "EMPTY\n"
    )
    assert envvars.parse_env_file(text, source="vars.env", environ=ENVIRON) == (
        ("A", "1"),
        ("B", " two words "),
        ("C", '"quoted stays quoted"'),
        ("D", ""),
        ("E", "x=y"),
        ("HOME_REGION", "eu"),
        ("EMPTY", ""),
    )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [("A=1\nB C=2\n", 2, "white space"), ("=value\n", 1, "the name is empty"), ("A=1\0\n", 1, "NUL")],
)
def test_env_file_errors_name_the_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(InputFileError) as info:
        envvars.parse_env_file(text, source="vars.env", environ={})
    assert (info.value.path, info.value.line) == ("vars.env", line)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("A=1", ("A", "1")), ("A=", ("A", "")), ("A=b=c", ("A", "b=c")), ("HOME_REGION", ("HOME_REGION", "eu"))],
)
def test_assignments(text: str, expected: tuple[str, str]) -> None:
    assert envvars.parse_assignment(text, environ=ENVIRON) == expected


def test_a_name_not_in_the_environment_is_left_out() -> None:
    assert envvars.parse_assignment("NOT_SET_ANYWHERE", environ=ENVIRON) is None


@pytest.mark.parametrize("text", ["=1", "A B=1", ""])
def test_bad_assignments(text: str) -> None:
    with pytest.raises(UsageError, match="-e"):
        envvars.parse_assignment(text, environ={})


def test_files_then_e_and_the_last_value_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=file-a\nB=file-a\n")
    second.write_text("B=file-b\nC=file-b\n")
    assert envvars.collect(["C=flag", "D=flag"], [first, second], environ={}) == (
        ("A", "file-a"),
        ("B", "file-b"),
        ("C", "flag"),
        ("D", "flag"),
    )


def test_missing_env_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--env-file .*no such file"):
        envvars.collect([], [tmp_path / "nope.env"], environ={})


def test_names_nbship_sets_are_refused() -> None:
    with pytest.raises(UsageError, match="NBSHIP_START is set by nbship itself"):
        envvars.check_names((("NBSHIP_START", "x"),))
    with pytest.raises(UsageError, match="Give the token with --token"):
        envvars.check_names(
            (("JUPYTER_TOKEN", "x"),),
            reserved=frozenset({"JUPYTER_TOKEN"}),
            hint={"JUPYTER_TOKEN": "Give the token with --token."},
        )
    envvars.check_names((("ANYTHING_ELSE", "x"),))


_names = st.text(st.characters(blacklist_characters="=\0#", blacklist_categories=("Zs", "Cc", "Zl", "Zp")), min_size=1)
_values = st.text(st.characters(blacklist_characters="\0\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))


@settings(max_examples=300)
@given(st.dictionaries(_names, _values, max_size=8))
def test_env_file_round_trip(pairs: dict[str, str]) -> None:
    """Whatever is written as NAME=VALUE lines is read back unchanged."""
    text = "".join(f"{name}={value}\n" for name, value in pairs.items())
    assert dict(envvars.parse_env_file(text, source="f", environ={})) == pairs


@settings(max_examples=300)
@given(st.text())
def test_any_env_file_text_is_read_or_refused_with_its_line(text: str) -> None:
    found: list[envvars.Env] = []
    message = message_of(lambda: found.append(envvars.parse_env_file(text, source="f", environ={})))
    if message is not None:
        assert re.match(r"^f, line \d+: ", message)
    else:
        assert all(name and "=" not in name for name, _ in found[0])


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 1024**2),
        ("4g", 4 * 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        ("6m", MIN_MEMORY),
        ("7340032", 7340032),
        ("2gb", 2 * 1024**3),
        ("1 g", 1024**3),
        ("1GiB", 1024**3),
    ],
)
def test_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "lots", "4x", "-1g", "1k", "5m", "g"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(UsageError, match="--memory"):
        parse_memory(text)


@settings(max_examples=200)
@given(st.integers(min_value=6, max_value=10**6), st.sampled_from(["m", "M", "mb", "MiB"]))
def test_memory_in_megabytes(count: int, unit: str) -> None:
    assert parse_memory(f"{count}{unit}") == count * 1024**2


@settings(max_examples=300)
@given(st.text(max_size=12))
def test_any_memory_text_is_read_or_refused(text: str) -> None:
    sizes: list[int] = []
    message = message_of(lambda: sizes.append(parse_memory(text)))
    assert "--memory" in message if message is not None else sizes[0] >= MIN_MEMORY


@pytest.mark.parametrize(("text", "cpus"), [("1", 1.0), ("0.5", 0.5), ("2.25", 2.25), (3, 3.0)])
def test_cpus(text: str | int, cpus: float) -> None:
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "two", ""])
def test_bad_cpus(text: str) -> None:
    with pytest.raises(UsageError, match="--cpus"):
        parse_cpus(text)


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("all", GpuRequest(count=-1, text="all")),
        ("2", GpuRequest(count=2, text="2")),
        ('"device=0,2"', GpuRequest(count=0, device_ids=("0", "2"), text='"device=0,2"')),
        ("count=1,driver=nvidia", GpuRequest(count=1, driver="nvidia", text="count=1,driver=nvidia")),
        (
            '"capabilities=compute,utility"',
            GpuRequest(count=1, capabilities=("compute", "utility", "gpu"), text='"capabilities=compute,utility"'),
        ),
    ],
)
def test_gpus_as_docker_reads_them(text: str, request_: GpuRequest) -> None:
    assert parse_gpus(text) == request_


@pytest.mark.parametrize("text", ["", "many", "count=x", "all,all", "colour=red", "count=1,count=2"])
def test_bad_gpus(text: str) -> None:
    with pytest.raises(UsageError, match="--gpus"):
        parse_gpus(text)


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_any_gpus_text_is_read_or_refused(text: str) -> None:
    message = message_of(lambda: parse_gpus(text))
    assert message is None or "--gpus" in message


def test_limits_not_given_come_from_the_fallback() -> None:
    given_ = Resources(memory=MIN_MEMORY)
    fallback = Resources(memory=2 * MIN_MEMORY, cpus=1.0)
    assert given_.merged(fallback) == Resources(memory=MIN_MEMORY, cpus=1.0)
