"""A local conda channel is served to the build from the lock, and the lock is a file of the
project, so it is not trusted: only packages inside the folder channels environment.yml names,
with the bytes the lock hashed, are ever served (a hostile lock once made nbship serve ~/.ssh)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from conda_channel import TEST_PACKAGES, write_channel

from nbship.cli import main
from nbship.errors import LockError
from nbship.lock import channels
from nbship.lock.manage import resolve_channel_auth
from nbship.project.detect import detect
from nbship.project.kinds.environment_yml import CondaInput

from .helpers import MakeProject


@pytest.fixture
def locked(make_project: MakeProject, tmp_path: Path) -> Path:
    """A project whose environment.yml names a folder channel inside it, locked for real."""
    root = make_project({"environment.yml": "channels:\n  - ./channel\ndependencies:\n  - greeting\n"})
    write_channel(root / "channel", TEST_PACKAGES)
    result = CliRunner().invoke(main, ["lock", str(root)])
    assert result.exit_code == 0, result.stderr
    return root


def _spec(root: Path) -> CondaInput:
    spec = detect(root).input(CondaInput)
    assert spec is not None
    return spec


def _retarget(root: Path, target: Path) -> None:
    """Points the lock's (only) local package at `target`, leaving the header current."""
    lock = root / "nbship.lock"
    text = lock.read_text()
    path = next(line.split("conda: ", 1)[1] for line in text.splitlines() if "conda: /" in line)
    lock.write_text(text.replace(path, str(target)))


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http:// to the test's own server
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@contextmanager
def serving(root: Path) -> Iterator[tuple[str, Path]]:
    """The lock's channel served as for a build: (the URL of the locked greeting package, its file)."""
    with channels.conda_secrets(
        _spec(root), lock_display="nbship.lock", auth_file=None, gateway=lambda: "127.0.0.1"
    ) as secrets:
        mapping = json.loads(dict(secrets)["nbship-channel-map"].read_text())
        ((prefix, served),) = mapping.items()
        package = next((root / "channel" / "noarch").glob("greeting-2.0-*.tar.bz2"))
        yield served + package.as_uri()[len(prefix) :], package


def test_the_locked_packages_are_served_and_nothing_else(locked: Path) -> None:
    with serving(locked) as (url, _):
        assert _get(url) == 200
        base = url.rsplit("/noarch/", 1)[0]
        assert _get(base + "/noarch/repodata.json") == 404  # in the channel, but not locked
        assert _get(base + "/../environment.yml") == 404


def test_a_lock_naming_a_file_outside_the_channels_is_refused(locked: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    os.symlink(secret, locked / "innocent-1.0-0.tar.bz2")  # a link shipped in the repository
    _retarget(locked, locked / "innocent-1.0-0.tar.bz2")
    with pytest.raises(LockError, match=r"not inside a folder channel that environment\.yml names"):
        channels.local_packages(_spec(locked), "nbship.lock")


def test_a_link_inside_a_channel_that_leads_out_of_it_is_refused(locked: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    link = locked / "channel" / "noarch" / "stolen-1.0-0.tar.bz2"
    os.symlink(secret, link)
    _retarget(locked, link)
    with pytest.raises(LockError, match="not inside a folder channel"):
        channels.local_packages(_spec(locked), "nbship.lock")


def test_a_package_whose_bytes_changed_is_refused(locked: Path) -> None:
    package = next((locked / "channel" / "noarch").glob("greeting-2.0-*.tar.bz2"))
    package.write_bytes(package.read_bytes() + b"tampered")
    with pytest.raises(LockError, match="its sha256 differs"):
        channels.local_packages(_spec(locked), "nbship.lock")


def test_a_package_swapped_after_the_check_is_not_served(locked: Path) -> None:
    with serving(locked) as (url, package):
        assert _get(url) == 200
        shutil.copy(next((locked / "channel" / "noarch").glob("greeting-1.0-*.tar.bz2")), package)
        assert _get(url) == 404


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "is not valid JSON", id="syntax"),
        pytest.param("[1, 2]", "must map each host", id="a list"),
        pytest.param('{"host": "secret"}', "must map each host", id="a string value"),
        pytest.param("[" * 100_000 + "]" * 100_000, "is not valid JSON", id="nested too deep"),
        pytest.param(b"\xff\xfe{}", "cannot be read", id="UTF-16"),
    ],
)
def test_invalid_channel_credentials_are_one_paragraph(tmp_path: Path, content: str | bytes, problem: str) -> None:
    auth = tmp_path / "auth.json"
    auth.write_bytes(content if isinstance(content, bytes) else content.encode())
    from nbship.errors import UsageError

    with pytest.raises(UsageError, match=problem) as info:
        resolve_channel_auth(auth)
    assert str(auth) in info.value.message or "auth.json" in info.value.message
