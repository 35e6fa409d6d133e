"""Each exit code means one thing, and the README's table says what: the table lists every code
of nbship.errors.ExitCode, and the errors a link can end in map to the codes that table gives."""

from __future__ import annotations

import re
from pathlib import Path

from nbship.errors import ExitCode, FetchError, LockError, NetworkError, NotFoundError

README = Path(__file__).resolve().parents[2] / "README.md"


def _table() -> dict[int, str]:
    section = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.MULTILINE)}


def test_the_readme_lists_every_exit_code_once() -> None:
    assert sorted(_table()) == sorted(int(code) for code in ExitCode)
    assert len({int(code) for code in ExitCode}) == len(ExitCode.__members__)  # no number under two names


def test_the_network_is_one_code_for_indexes_channels_and_links() -> None:
    table = _table()
    assert NetworkError("x").exit_code == ExitCode.NETWORK and int(ExitCode.NETWORK) == 12
    assert all(words in table[12] for words in ("package index", "conda channel", "a link could not be fetched"))
    assert FetchError("x").exit_code == ExitCode.NETWORK and "fetched" in table[12]
    assert not issubclass(FetchError, NetworkError)  # only an unanswered host lets the cache stand in
    assert LockError("x").exit_code == ExitCode.PROJECT and NotFoundError("x").exit_code == ExitCode.NOT_FOUND
