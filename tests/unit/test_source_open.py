"""A fetched project is read-only input: what refuses to write into it, and the one place a work
folder's kind is chosen, where a `mount = "host"` setting gives way for a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship.commands.serve import Target, mount_choice, refuse_host_mount
from nbship.errors import UsageError
from nbship.options import MountChoice
from nbship.reporter import RecordingReporter
from nbship.settings import Settings
from nbship.sources.open import refuse_fetched
from nbship.sources.refs import SourceRef


def test_writing_into_a_link_is_refused_with_how_to_own_it() -> None:
    git = SourceRef("git", "https://host.org/owner/repo.git", "v1")
    with pytest.raises(UsageError, match=r"git clone https://host\.org/owner/repo\.git, then git checkout v1"):
        refuse_fetched(git, "write into it")
    with pytest.raises(UsageError, match="download and unpack it"):
        refuse_fetched(SourceRef("archive", "https://host.org/code.zip"), "write into it")
    refuse_fetched(Path("my-analysis"), "write into it")  # a folder is the user's own


def test_mount_host_is_refused_only_for_a_link() -> None:
    link = SourceRef("git", "https://host.org/owner/repo.git")
    with pytest.raises(UsageError, match="read-only input"):
        refuse_host_mount(link, "host", "mount it")
    refuse_host_mount(link, "volume", "mount it")
    refuse_host_mount(link, None, "mount it")
    refuse_host_mount(Path("."), "host", "mount it")
    refuse_host_mount(None, "host", "mount it")


@pytest.mark.parametrize("fetched", [False, True])
@pytest.mark.parametrize("given", [None, "volume", "none"])
def test_a_host_setting_gives_way_to_the_volume_for_a_link(fetched: bool, given: MountChoice | None) -> None:
    target = Target("p-1", "https://host.org/r.git", Path("/cache/project"), Settings(mount="host"), fetched=fetched)
    reporter = RecordingReporter()
    chosen = mount_choice(target, given, reporter)
    if given is not None:
        assert chosen == given and not reporter.of("warn")
    elif fetched:
        assert chosen == "volume" and "read-only input" in reporter.of("warn")[0]
    else:
        assert chosen == "host" and not reporter.of("warn")
