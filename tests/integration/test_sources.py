"""Projects opened from links: git over HTTP and file://, Zenodo, Figshare and Dataverse records (by
link and by DOI), and archive URLs, each through the real `nbship` entry point up to a served
JupyterLab and a passing `nbship check`, against servers the tests run on 127.0.0.1 that answer
the way those services document their APIs. Then what must hold around them: the identity comes
from the reference, a moved branch is noticed, credentials never land anywhere, bad references
get one-paragraph errors, and what was fetched is never written to."""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import PROJECTS, TEST_PREFIX, free_port, nbship_exe, run_cli
from docker_helpers import docker, inspect
from source_servers import (
    Deposits,
    Served,
    commit_and_push,
    dataverse_routes,
    doi_routes,
    figshare_routes,
    file_routes,
    git,
    git_daemon,
    git_server,
    make_repository,
    project_files,
    route_server,
    tar_gz,
    zenodo_routes,
    zip_bytes,
)

from nbship import contract as c
from nbship.commands.build import default_tag
from nbship.errors import ExitCode
from nbship.runtime.volumes import volume_name
from nbship.sources.open import open_project
from nbship.sources.refs import parse_reference

pytestmark = pytest.mark.docker

CONTENT = project_files(PROJECTS / "source-project")
TOKEN = "zenodo-token-9f3c2a7d41"  # the restricted record's token: must appear in no label, layer or file
REPO = f"{TEST_PREFIX}-analysis.git"  # its name makes the default tag; the prefix keeps runs apart
DV_PID = "doi:10.7910/DVN/NBS18"


@dataclass(frozen=True)
class World:
    root: Path
    git: str
    bare: Path
    work: Path
    servers: dict[str, Served]
    deposits: Deposits
    daemon: str  # git:// on the same repositories

    def url(self, name: str) -> str:
        return self.servers[name].url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, docker_daemon: str) -> Iterator[World]:
    root = tmp_path_factory.mktemp("sources")
    (root / "git").mkdir()
    bare, work = make_repository(root / "git", REPO, CONTENT)
    git("tag", "-a", "v1", "-m", "the published version", cwd=work)
    git("push", "-q", "origin", "v1", cwd=work)
    make_repository(root / "git", "pinned.git", {**CONTENT, "requirements.txt": b"six==1.16.0\n"})
    deposits = Deposits(
        zenodo={
            "1001": CONTENT,
            "1002": {"analysis-v1.zip": zip_bytes(CONTENT, top="owner-analysis-1a2b3c")},
            "1003": {},
        },
        zenodo_concepts={"1000": "1002"},
        figshare={"2001": CONTENT},
        dataverse={DV_PID: CONTENT},
        files={
            "analysis-1.0.tar.gz": tar_gz(CONTENT, top="analysis-1.0"),
            "broken.zip": b"<html>this is a page, not an archive</html>",
            "cut.tar.gz": tar_gz(CONTENT, top="cut"),
            "flaky.tar.gz": tar_gz({**CONTENT, "flaky.txt": b"arrived on the second try\n"}, top="flaky"),
        },
        restricted={"1002": TOKEN},
        cut_off={"cut.tar.gz": 99, "flaky.tar.gz": 1},
    )
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        servers = {
            "git": stack.enter_context(git_server(root / "git")),
            "zenodo": stack.enter_context(route_server(functools.partial(zenodo_routes, deposits))),
            "figshare": stack.enter_context(route_server(functools.partial(figshare_routes, deposits))),
            "dataverse": stack.enter_context(route_server(functools.partial(dataverse_routes, deposits))),
            "files": stack.enter_context(route_server(functools.partial(file_routes, deposits))),
        }
        registered = {
            "10.5281/zenodo.1001": f"{servers['zenodo'].url}/records/1001",
            "10.5281/zenodo.1000": f"{servers['zenodo'].url}/doi/10.5281/zenodo.1000",  # the concept: latest version
            "10.5281/zenodo.1003": f"{servers['zenodo'].url}/records/1003",
            "10.6084/m9.figshare.2001.v2": f"{servers['figshare'].url}/articles/dataset/analysis/2001/2",
            "10.7910/DVN/NBS18": f"{servers['dataverse'].url}/citation?persistentId={DV_PID}",
            "10.5555/just-a-page": f"{servers['files'].url}/page",
            "10.5555/unknown-host": "https://nbship-missing-host.invalid/records/5",
        }
        servers["doi"] = stack.enter_context(route_server(functools.partial(doi_routes, registered)))
        daemon = stack.enter_context(git_daemon(root / "git", free_port()))
        env.setenv(c.CACHE_DIR_ENV, str(root / "cache"))
        env.setenv(c.DOI_RESOLVER_ENV, servers["doi"].url)
        env.setenv(c.FIGSHARE_API_ENV, f"{servers['figshare'].url}/v2")
        env.setenv(c.ZENODO_TOKEN_ENV, TOKEN)
        yield World(root, servers["git"].url, bare, work, servers, deposits, daemon)
        for tag in {f"{TEST_PREFIX}-analysis:main", f"{TEST_PREFIX}-analysis:v1"}:
            docker("rmi", "-f", tag, check=False)


def _up(ref: str, *args: str) -> tuple[str, str, str]:
    """`nbship up REF --detach`: the lab's base URL, its token, and what nbship said."""
    port = free_port()
    result = run_cli("up", ref, "--detach", "--port", str(port), *args)
    assert result.exit_code == 0, result.output + result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
    return f"http://127.0.0.1:{port}", url.split("token=", 1)[1], result.stderr


def _names(base: str, token: str, folder: str = "") -> set[str]:
    listing = requests.get(f"{base}/api/contents/{folder}?token={token}", timeout=20).json()
    return {item["name"] for item in listing["content"]}


CASES = {
    "git-http-tag": lambda w: f"{w.git}/{REPO}@v1",
    "git-file": lambda w: f"file://{w.bare}",
    "git-daemon-branch": lambda w: f"{w.daemon}/{REPO}@main",
    "zenodo-link": lambda w: f"{w.url('zenodo')}/records/1001",
    "zenodo-concept-doi-with-token": lambda w: "doi:10.5281/zenodo.1000",
    "figshare-doi-link": lambda w: "https://doi.org/10.6084/m9.figshare.2001.v2",
    "dataverse-doi": lambda w: "doi:10.7910/DVN/NBS18",
    "archive-url": lambda w: f"{w.url('files')}/files/analysis-1.0.tar.gz",
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_link_is_served_and_checked(world: World, case: str) -> None:
    ref = CASES[case](world)
    tag = f"{TEST_PREFIX}/src-{case}:latest"
    base, token, said = _up(ref, "-t", tag)
    try:
        assert {"analysis.ipynb", "README.md", "data"} <= _names(base, token)
        assert _names(base, token, "data") == {"values.csv"}
        labels = inspect(tag)["Config"]["Labels"]
        assert labels[c.LABEL_SOURCE] == str(parse_reference(ref))
        assert TOKEN not in str(labels) and "@" not in labels[c.OCI_SOURCE].split("://", 1)[-1].split("/", 1)[0]
        assert labels[c.OCI_REVISION]  # the commit, record version or content digest it resolved to
        checked = run_cli("check", ref, "-t", tag, "--json")  # stdout is the report alone: fetching says nothing there
        assert checked.exit_code == 0, checked.output + checked.stderr
        report = json.loads(checked.stdout)
        assert report["ok"] and report["image"] == tag
        assert [(item["path"], item["status"]) for item in report["notebooks"]] == [("analysis.ipynb", "passed")]
        assert "already fetched" in checked.stderr and "up to date" in checked.stderr  # cache and image reused
    finally:
        downed = run_cli("down", ref, "--volumes")
        assert downed.exit_code == 0, downed.output + downed.stderr
    if case == "git-http-tag":
        assert labels[c.OCI_REVISION] == git("rev-parse", "v1^{commit}", cwd=world.work)
        assert labels[c.OCI_SOURCE] == f"{world.git}/{REPO}"
    if case == "zenodo-concept-doi-with-token":
        assert "resolves to" in said and "record 1002" in said  # the concept DOI's latest version
        assert world.servers["zenodo"].seen("Authorization") and all(
            not server.seen("Authorization") for name, server in world.servers.items() if name != "zenodo"
        )
        saved = subprocess.run(f"docker save {tag} | grep -c -a {TOKEN}", shell=True, capture_output=True, text=True)  # noqa: S602
        assert saved.stdout.strip() == "0"


def test_the_identity_comes_from_the_reference(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = parse_reference(f"{world.git}/{REPO}@v1")
    assert ref is not None
    found = []
    for colleague in ("alice", "bob"):  # two machines: two caches, nothing shared
        monkeypatch.setenv(c.CACHE_DIR_ENV, str(tmp_path / colleague))
        found.append(open_project(ref))
    alice, bob = found
    assert alice.root != bob.root
    assert alice.project_id == bob.project_id and alice.project_id.startswith(f"{TEST_PREFIX}-analysis-")
    assert default_tag(alice) == default_tag(bob) == f"{TEST_PREFIX}-analysis:v1"
    assert volume_name(alice.project_id) == volume_name(bob.project_id)
    other = parse_reference(f"{world.git}/{REPO}@main")
    assert other is not None
    assert open_project(other).project_id != alice.project_id


def test_a_moved_branch_is_fetched_again_and_the_work_is_kept(world: World) -> None:
    ref = f"{world.git}/{REPO}@main"
    base, token, said = _up(ref)
    tag = f"{TEST_PREFIX}-analysis:main"  # the default tag: the repository's name and the ref
    try:
        assert inspect(tag)["Config"]["Labels"][c.LABEL_SOURCE] == ref
        body = {"type": "file", "format": "text", "content": "my notes\n"}
        assert requests.put(f"{base}/api/contents/notes.txt?token={token}", json=body, timeout=20).ok
        again = run_cli("build", ref, "--json")
        assert again.exit_code == 0, again.output + again.stderr
        assert json.loads(again.stdout)["image"] == tag and json.loads(again.stdout)["built"] is False
        assert "already fetched" in again.stderr and "up to date" in again.stderr
        assert run_cli("down", ref).exit_code == 0
        moved = commit_and_push(world.work, {"second.ipynb": CONTENT["analysis.ipynb"]}, "a second notebook")
        base, token, said = _up(ref)
        assert "moved since nbship fetched it" in said and moved[:12] in said
        assert {"second.ipynb", "notes.txt", "analysis.ipynb"} <= _names(base, token)
        assert inspect(tag)["Config"]["Labels"][c.OCI_REVISION] == moved
    finally:
        run_cli("down", ref, "--volumes")


def test_compose_for_a_link_writes_into_the_current_folder(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{world.git}/{REPO}@v1"
    monkeypatch.chdir(tmp_path)
    result = run_cli("compose", ref, "-t", f"{TEST_PREFIX}/src-git-http-tag:latest")
    assert result.exit_code == 0, result.output + result.stderr
    text = (tmp_path / "compose.yaml").read_text()
    project = open_project(parse_reference(ref) or Path("."))
    assert volume_name(project.project_id) in text and ref in text
    assert (tmp_path / ".env").is_file()
    assert not (project.root / "compose.yaml").exists()


def test_lock_writes_into_nbships_copy_never_into_what_was_fetched(world: World) -> None:
    ref = f"{world.git}/pinned.git"
    result = run_cli("lock", ref, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    project = open_project(parse_reference(ref) or Path("."))
    assert (project.root / "requirements.lock").is_file()
    assert [item["path"] for item in json.loads(result.stdout)["locks"]] == [str(project.root / "requirements.lock")]
    assert f"wrote {project.root / 'requirements.lock'}" in result.stderr
    assert not (project.root.parent / "fetched" / "requirements.lock").exists()


def test_writing_into_a_fetched_project_is_refused(world: World) -> None:
    ref = f"{world.git}/{REPO}@v1"
    for args in (("init", ref), ("up", ref, "--mount", "host"), ("run", ref, "--mount", "host", "--", "true")):
        result = run_cli(*args)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert "read-only input" in result.stderr and f"git clone {world.git}/{REPO}" in result.stderr


def test_private_git_goes_through_the_users_own_credentials(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "git").mkdir()
    make_repository(tmp_path / "git", "private.git", CONTENT)
    password = "s3cret-Pa55word"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    with git_server(tmp_path / "git", auth=("alice", password)) as server:
        ref = f"{server.url}/private.git"
        refused = run_cli("dockerfile", ref)
        assert refused.exit_code == ExitCode.NETWORK, refused.output
        assert "needs credentials" in refused.stderr and "credential helper" in refused.stderr
        with_password = run_cli("dockerfile", ref.replace("http://", f"http://alice:{password}@"))
        assert with_password.exit_code == ExitCode.USAGE and password not in with_password.stderr
        store = tmp_path / "credentials"
        store.write_text(f"{server.url.replace('http://', f'http://alice:{password}@')}\n")
        git("config", "--global", "credential.helper", f"store --file={store}")
        allowed = run_cli("dockerfile", ref)
        assert allowed.exit_code == 0, allowed.output + allowed.stderr
    grep = subprocess.run(["grep", "-r", "-l", password, str(world.root / "cache")], capture_output=True, text=True)
    assert grep.stdout == ""  # nbship stored the credential nowhere


def _error(*args: str) -> tuple[int, str]:
    result = run_cli(*args)
    assert "Traceback" not in result.output and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr  # one paragraph, last
    return result.exit_code, errors[0]


def test_bad_references_get_one_paragraph_errors(world: World) -> None:
    cases = [
        (("dockerfile", "https://nbship-missing-host.invalid/owner/repo.git"), ExitCode.NETWORK, "is unknown"),
        (("dockerfile", "doi:10.5555/unknown-host"), ExitCode.NETWORK, "nbship-missing-host.invalid is unknown"),
        (("dockerfile", f"{world.git}/{REPO}@no-such-branch"), ExitCode.NOT_FOUND, "It has branches: main; tags: v1"),
        (("dockerfile", f"{world.git}/missing.git"), ExitCode.NOT_FOUND, "There is no git repository"),
        (("dockerfile", "doi:10.5555/not-registered"), ExitCode.NOT_FOUND, "is not registered"),
        (("dockerfile", "doi:10.5555/just-a-page"), ExitCode.NETWORK, "is not a git repository, a Zenodo"),
        (("dockerfile", "doi:10.5281/zenodo.1003"), ExitCode.PROJECT, "has no files"),
        (("dockerfile", f"{world.url('files')}/files/broken.zip"), ExitCode.PROJECT, "is not a zip or tar archive"),
        (("dockerfile", "doi:not-a-doi"), ExitCode.USAGE, "is not a DOI"),
    ]
    for args, code, words in cases:
        exit_code, text = _error(*args)
        assert exit_code == code and words in text, (args, text)


def test_a_cut_off_download_is_retried_and_never_kept(world: World) -> None:
    exit_code, text = _error("dockerfile", f"{world.url('files')}/files/cut.tar.gz")
    assert exit_code == ExitCode.NETWORK and "cut off 3 times" in text
    downloads = world.root / "cache" / "sources" / "downloads"
    assert not [p for p in downloads.iterdir() if p.is_file()]  # no partial file, none renamed into place
    flaky = run_cli("dockerfile", f"{world.url('files')}/files/flaky.tar.gz")
    assert flaky.exit_code == 0, flaky.output + flaky.stderr
    gets = [path for method, path, _ in world.servers["files"].requests if path == "/files/flaky.tar.gz"]
    assert len(gets) == 2


def test_what_was_fetched_is_reused_without_the_network(tmp_path: Path, world: World) -> None:
    (tmp_path / "git").mkdir()
    make_repository(tmp_path / "git", "offline.git", CONTENT)
    with git_server(tmp_path / "git") as server:
        ref = f"{server.url}/offline.git"
        assert run_cli("dockerfile", ref).exit_code == 0
    result = run_cli("dockerfile", ref)  # the server is gone
    assert result.exit_code == 0, result.output + result.stderr
    assert "Cannot reach 127.0.0.1" in result.stderr and "Using what" in result.stderr
    down = run_cli("down", ref)
    assert down.exit_code == 0 and "No nbship server was running" in down.stderr


def test_run_and_clean_take_a_link(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = f"{world.git}/{REPO}@v1"
    tag = f"{TEST_PREFIX}/src-run-clean:latest"
    project = open_project(parse_reference(ref) or Path("."))
    # The user's own setting for their folders gives way for a link: its copy is never a work folder.
    monkeypatch.setenv("NBSHIP_MOUNT", "host")
    listing = "import pathlib; print(sorted(p.name for p in pathlib.Path('.').iterdir()))"
    result = subprocess.run(
        [nbship_exe(), "run", ref, "-t", tag, "--", "python", "-c", listing],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'analysis.ipynb'" in result.stdout and "'data'" in result.stdout
    assert "read-only input" in result.stderr and volume_name(project.project_id) in result.stderr
    monkeypatch.delenv("NBSHIP_MOUNT")
    cleaned = run_cli("clean", ref, "--volumes", "--json")
    assert cleaned.exit_code == 0, cleaned.output + cleaned.stderr
    outcome = json.loads(cleaned.stdout)
    assert tag in {image["image"] for image in outcome["images"]}
    assert volume_name(project.project_id) in outcome["volumes"]
    assert docker("image", "inspect", tag, check=False).returncode != 0
    never = run_cli("clean", f"{world.git}/{REPO}@no-such-branch")  # nothing of it was ever fetched here
    assert never.exit_code == ExitCode.NOT_FOUND and "has not fetched" in never.stderr


def test_nothing_was_ever_written_into_what_was_fetched(world: World) -> None:
    """Runs last in this module: every fetched copy still holds exactly what its source served."""
    fetched = sorted((world.root / "cache" / "sources" / "trees").glob("*/fetched"))
    assert fetched
    for folder in fetched:
        files = project_files(folder)
        extra = set(files) - set(CONTENT) - {"second.ipynb", "flaky.txt", "requirements.txt"}
        assert not extra, (folder, extra)
        assert all(files[name] == CONTENT[name] for name in CONTENT), folder


def test_a_fetched_projects_settings_cannot_open_the_server_to_the_network(world: World) -> None:
    repo = f"{TEST_PREFIX}-open.git"
    make_repository(world.root / "git", repo, {**CONTENT, "nbship.toml": b'bind = "0.0.0.0"\n'})
    ref = f"{world.git}/{repo}"
    tag = f"{TEST_PREFIX}/src-open:latest"
    try:
        base, _token, said = _up(ref, "-t", tag)
        assert "cannot open the server to other machines by itself" in said
        port = base.rsplit(":", 1)[1]
        ports = docker("ps", "--filter", f"publish={port}", "--format", "{{.Ports}}").stdout
        assert f"127.0.0.1:{port}->" in ports and "0.0.0.0" not in ports
    finally:
        run_cli("down", ref, "--volumes")
        docker("rmi", "-f", tag, check=False)
