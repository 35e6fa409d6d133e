"""Source references: what each kind of link parses into, the identity two people share, what is
never shown or labelled (passwords, signed-link parameters), and that no text ends in anything but
a reference, a path, or a one-paragraph UsageError."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbship.cli.options import PROJECT
from nbship.errors import UsageError
from nbship.sources.refs import SourceHosts, SourceRef, docker_tag, parse_reference

HOSTS = SourceHosts(doi_resolver="http://127.0.0.1:1", figshare_api="http://127.0.0.1:2/v2")


def parse(text: str) -> SourceRef:
    found = parse_reference(text, hosts=HOSTS)
    assert found is not None, text
    return found


@pytest.mark.parametrize(
    ("text", "kind", "location", "ref"),
    [
        ("https://host.org/owner/repo.git@v1.2", "git", "https://host.org/owner/repo.git", "v1.2"),
        (
            "https://host.org/owner/repo.git@feature/new-plot",
            "git",
            "https://host.org/owner/repo.git",
            "feature/new-plot",
        ),
        ("https://alice@host.org/owner/repo.git", "git", "https://alice@host.org/owner/repo.git", None),
        ("git@github.com:owner/repo.git@0123abcd", "git", "git@github.com:owner/repo.git", "0123abcd"),
        ("git@github.com:owner/repo", "git", "git@github.com:owner/repo", None),
        ("ssh://git@host.org:2222/owner/repo.git@main", "git", "ssh://git@host.org:2222/owner/repo.git", "main"),
        ("git://host.org/repo.git", "git", "git://host.org/repo.git", None),
        ("git+https://host.org/owner/repo@v2", "git", "https://host.org/owner/repo", "v2"),
        ("file:///srv/repos/analysis@dev", "git", "file:///srv/repos/analysis", "dev"),
        ("file:///srv/paper-code.tar.gz", "archive", "file:///srv/paper-code.tar.gz", None),
        ("https://host.org/owner/repo@v1", "web", "https://host.org/owner/repo", "v1"),
        ("https://host.org/downloads/paper-code.zip", "archive", "https://host.org/downloads/paper-code.zip", None),
        ("https://host.org/a/b.TAR.GZ", "archive", "https://host.org/a/b.TAR.GZ", None),
    ],
)
def test_git_web_and_archive_links(text: str, kind: str, location: str, ref: str | None) -> None:
    parsed = parse(text)
    assert (parsed.kind, parsed.location, parsed.ref) == (kind, location, ref)


@pytest.mark.parametrize(
    ("text", "kind", "record", "version"),
    [
        ("https://zenodo.org/records/1234567", "zenodo", "1234567", None),
        ("https://zenodo.org/record/1234567", "zenodo", "1234567", None),
        ("https://sandbox.zenodo.org/api/records/99", "zenodo", "99", None),
        ("https://data.caltech.edu/records/82kn8-3nk04", "zenodo", "82kn8-3nk04", None),
        ("https://figshare.com/articles/dataset/Sea_surface/9782777/2", "figshare", "9782777", "2"),
        ("https://figshare.com/articles/9782777", "figshare", "9782777", None),
        ("https://uni.figshare.com/articles/code/Analysis/123", "figshare", "123", None),
        ("http://127.0.0.1:2/articles/dataset/x/55/3", "figshare", "55", "3"),
        (
            "https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/TJCLKP",
            "dataverse",
            "doi:10.7910/DVN/TJCLKP",
            None,
        ),
        (
            "https://demo.dataverse.org/citation?persistentId=doi:10.70122/FK2/X",
            "dataverse",
            "doi:10.70122/FK2/X",
            None,
        ),
    ],
)
def test_record_links(text: str, kind: str, record: str, version: str | None) -> None:
    parsed = parse(text)
    assert (parsed.kind, parsed.record, parsed.version) == (kind, record, version)


def test_a_figshare_path_on_another_host_is_just_a_web_link() -> None:
    assert parse("https://example.org/articles/dataset/x/55").kind == "web"


@pytest.mark.parametrize(
    "text",
    [
        "doi:10.5281/zenodo.123",
        "DOI:10.5281/zenodo.123",
        "https://doi.org/10.5281/zenodo.123",
        "http://dx.doi.org/10.5281/zenodo.123",
    ],
)
def test_dois(text: str) -> None:
    parsed = parse(text)
    assert (parsed.kind, parsed.location, parsed.display) == ("doi", "10.5281/zenodo.123", "doi:10.5281/zenodo.123")
    assert parsed.source_url == "https://doi.org/10.5281/zenodo.123"


@pytest.mark.parametrize(
    "text", [".", "analysis", "./analysis", "/home/me/analysis", "C:/work/x", "name:with:colons", "my@folder"]
)
def test_paths_are_not_references(text: str) -> None:
    assert parse_reference(text, hosts=HOSTS) is None


def test_one_repository_has_one_identity_whatever_names_it() -> None:
    names = [
        "https://github.com/owner/repo.git",
        "https://github.com/owner/repo",
        "https://alice@GitHub.com/owner/repo/",
        "git@github.com:owner/repo.git",
        "ssh://git@github.com/owner/repo.git",
        "git+https://github.com/owner/repo.git",
    ]
    identities = {parse(name).identity for name in names}
    assert identities == {"git:github.com/owner/repo"}
    assert parse("https://github.com/owner/repo.git@v1").identity != parse("https://github.com/owner/repo.git").identity
    assert parse("doi:10.5281/ZENODO.1").identity == parse("https://doi.org/10.5281/zenodo.1").identity


def test_names_and_tags() -> None:
    assert (parse("git@host.org:owner/sst-analysis.git@v1.2").name, parse("git@host.org:x/y@v1.2").tag) == (
        "sst-analysis",
        "v1.2",
    )
    assert parse("https://host.org/o/r.git@feature/plot").tag == "feature-plot"
    assert parse("https://host.org/o/r.git").tag == "latest"
    assert parse("https://host.org/dl/paper-code-1.0.tar.gz").name == "paper-code-1.0"
    assert parse("https://zenodo.org/records/77").name == "zenodo-77"
    assert parse("https://figshare.com/articles/x/y/5/3").tag == "v3"
    assert parse("https://dataverse.org/citation?persistentId=doi:10.1/DVN/AB").name == "dataverse-DVN-AB"
    versioned = parse("https://dataverse.org/dataset.xhtml?persistentId=doi:10.1/DVN/AB&version=2.0")
    assert (versioned.version, versioned.tag) == ("2.0", "v2.0")
    assert versioned.identity != parse("https://dataverse.org/dataset.xhtml?persistentId=doi:10.1/DVN/AB").identity


def test_credentials_are_refused_and_never_shown() -> None:
    with pytest.raises(UsageError) as caught:
        parse_reference("https://alice:hunter2-secret@host.org/o/r.git", hosts=HOSTS)
    assert "hunter2-secret" not in caught.value.message and "****" in caught.value.message
    signed = parse("https://host.org/x.tar.gz?X-Amz-Signature=abc123&X-Amz-Credential=k&token=t&part=1")
    assert "abc123" not in signed.display and "token" not in signed.display and "part=1" in signed.display
    assert parse("https://alice@host.org/o/r.git").display == "https://host.org/o/r.git"


@pytest.mark.parametrize(
    "text",
    [
        "doi:11.1/x",
        "doi:10.5281",
        "https://host.org/o/r.git@",
        "https://host.org/o/r.git@a..b",
        "https://host.org/o/r.git@bad ref",
        "https://host.org/o/r.git@-x",
        "file:///tmp/a.zip@v1",
        "file://otherhost/tmp/repo",
        "ftp://host.org/x",
        "https:///nohost",
        "https://host.org:notaport/x",
        "git+https://doi.org/10.1/x",
    ],
)
def test_malformed_references_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_reference(text, hosts=HOSTS)
    assert "\n" not in caught.value.message


def test_docker_tags_are_valid() -> None:
    assert docker_tag("feature/x") == "feature-x"
    assert docker_tag("..x") == "x"
    assert docker_tag("/") == "latest"
    assert len(docker_tag("a" * 300)) == 128


def test_the_cli_argument_turns_a_local_archive_into_a_reference(tmp_path: Path) -> None:
    archive = tmp_path / "paper-code.tar.gz"
    archive.write_bytes(b"")
    converted = PROJECT.convert(str(archive), None, None)
    assert isinstance(converted, SourceRef) and converted.kind == "archive"
    assert converted.location == archive.resolve().as_uri()
    assert PROJECT.convert(str(tmp_path), None, None) == tmp_path
    assert PROJECT.convert(str(tmp_path / "missing.zip"), None, None) == tmp_path / "missing.zip"


# -- properties -------------------------------------------------------------------------------

_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)
_host = st.builds(
    lambda parts: ".".join(parts), st.lists(_segment.filter(lambda s: "_" not in s), min_size=1, max_size=3)
)
_ref = st.one_of(st.none(), st.builds(lambda parts: "/".join(parts), st.lists(_segment, min_size=1, max_size=3)))


@given(_host, st.lists(_segment, min_size=1, max_size=3), _ref, st.sampled_from(["https://", "ssh://git@", "scp"]))
def test_a_git_reference_survives_being_shown_and_given_again(
    host: str, path: list[str], ref: str | None, scheme: str
) -> None:
    location = f"git@{host}:{'/'.join(path)}.git" if scheme == "scp" else f"{scheme}{host}/{'/'.join(path)}.git"
    text = location + (f"@{ref}" if ref else "")
    parsed = parse(text)
    assert (parsed.kind, parsed.location, parsed.ref) == ("git", location, ref)
    again = parse(parsed.display)
    assert again.identity == parsed.identity and again.ref == ref
    assert parsed.name == path[-1]


@given(st.text(max_size=80))
def test_any_text_is_a_reference_a_path_or_a_usage_error(text: str) -> None:
    try:
        parsed = parse_reference(text, hosts=HOSTS)
    except UsageError as exc:
        message = exc.message
    else:
        message = None
    if message is not None:
        assert message and "\n" not in message
    elif parsed is not None:
        assert parsed.display and parsed.identity and parsed.name is not None
        assert docker_tag(parsed.tag) == parsed.tag


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/@?=&.%+-_~", max_size=60))
def test_url_shaped_text_never_escapes_as_another_exception(rest: str) -> None:
    for scheme in ("https://", "http://", "file://", "ssh://", "git+https://"):
        try:
            parsed = parse_reference(scheme + rest, hosts=HOSTS)
        except UsageError:
            continue
        if parsed is not None and "://" in parsed.display:
            assert urllib.parse.urlsplit(parsed.display).password is None  # a password never reaches a label


def test_the_api_refuses_a_path_where_a_link_is_expected() -> None:
    from nbship import api

    assert api.source("doi:10.5281/zenodo.1").kind == "doi"
    with pytest.raises(UsageError, match="not a link"):
        api.source("./my-folder")
