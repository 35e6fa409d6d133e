"""nbship hub against the real daemon: JupyterHub with two users on this machine, then the same on a
one-node Docker Swarm the test starts (and leaves). Each user's server starts through the hub's
API, holds the project's notebooks, keeps its own work in its own volume; the work survives `hub
down` / `hub up`; a rebuilt image reaches every user with their edits kept; idle servers are culled;
the hub's API refuses a request without a token. One hub image and one users' image serve every
test (the first `hub up` builds them)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import TEST_PREFIX, copy_project, free_port, run_cli
from docker_helpers import docker, inspect

from nbship import contract as c
from nbship.hub import images
from nbship.project.detect import detect

pytestmark = pytest.mark.docker

TAG = f"{TEST_PREFIX}/hub-class:latest"
USERS_TAG = f"{TAG}-hub"


@dataclass(frozen=True)
class Hub:
    base: str  # http://127.0.0.1:PORT
    token: str  # the admin token
    document: dict[str, Any]  # what `hub up --json` printed

    def api(self, method: str, path: str, *, anonymous: bool = False, token: str | None = None) -> requests.Response:
        """A call of the hub's API with the admin token (another token, or none when `anonymous`)."""
        headers = {} if anonymous else {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.base}/hub/api{path}", headers=headers, timeout=30)

    def start(self, *users: str, timeout: float = 180) -> None:
        for user in users:
            assert self.api("POST", f"/users/{user}/server").status_code in {201, 202, 400}
        deadline = time.monotonic() + timeout
        waiting = set(users)
        while waiting and time.monotonic() < deadline:
            for user in sorted(waiting):
                server = (self.api("GET", f"/users/{user}").json().get("servers") or {}).get("")
                if server and server.get("ready"):
                    waiting.discard(user)
            time.sleep(0.5)
        assert not waiting, f"servers of {waiting} did not start"

    def running(self, user: str) -> bool:
        return bool((self.api("GET", f"/users/{user}").json().get("servers") or {}).get(""))

    def files(self, user: str) -> dict[str, str]:
        """The text files of the user's work folder, through the user's server (the admin token
        may reach every server: access:servers)."""
        headers = {"Authorization": f"token {self.token}"}
        listing = requests.get(f"{self.base}/user/{user}/api/contents", headers=headers, timeout=30)
        assert listing.status_code == 200, listing.text
        found = {}
        for item in listing.json()["content"]:
            if item["type"] in {"file", "notebook"}:
                got = requests.get(
                    f"{self.base}/user/{user}/api/contents/{item['name']}?type=file&format=text",
                    headers=headers,
                    timeout=30,
                )
                content = got.json()["content"]
                found[item["name"]] = content if isinstance(content, str) else json.dumps(content)
        return found


class Login:
    """A person in a browser: logs in with the password nbship printed, then uses their JupyterLab."""

    def __init__(self, base: str, user: str, password: str) -> None:
        self.base, self.user = base, user
        self.session = requests.Session()
        page = self.session.get(f"{base}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        form = {"username": user, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
        self.status = self.session.post(f"{base}/hub/login", data=form, allow_redirects=False, timeout=30).status_code

    def open_lab(self, owner: str | None = None) -> requests.Response:
        """JupyterLab's page of `owner`'s server (the user's own by default), after the OAuth dance."""
        return self.session.get(f"{self.base}/user/{owner or self.user}/lab", timeout=60)

    def _headers(self) -> dict[str, str]:
        return {"X-XSRFToken": self.session.cookies.get("_xsrf", path=f"/user/{self.user}/") or ""}

    def put(self, name: str, text: str) -> int:
        body = {"type": "file", "format": "text", "content": text}
        url = f"{self.base}/user/{self.user}/api/contents/{name}"
        return self.session.put(url, json=body, headers=self._headers(), timeout=30).status_code

    def names(self, owner: str | None = None) -> tuple[int, set[str]]:
        got = self.session.get(
            f"{self.base}/user/{owner or self.user}/api/contents", headers=self._headers(), timeout=30
        )
        return got.status_code, {item["name"] for item in got.json()["content"]} if got.status_code == 200 else set()


def hub_up(project: Path, *args: str) -> Hub:
    result = run_cli("hub", "up", str(project), "-d", "--json", "-t", TAG, *args)
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.stdout)
    return Hub(document["url"].removesuffix("/hub/"), document["admin_token"], document)


def hub_down(project: Path, *args: str) -> str:
    result = run_cli("hub", "down", str(project), *args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stderr


def hub_objects(project_id: str) -> tuple[set[str], set[str]]:
    """The containers and the volumes that carry the hub's label."""
    containers = docker("ps", "-a", "--filter", f"label={c.LABEL_HUB}={project_id}", "--format", "{{.Names}}").stdout
    volumes = docker("volume", "ls", "-q", "--filter", f"label={c.LABEL_HUB}={project_id}").stdout
    return set(containers.split()), set(volumes.split())


@pytest.fixture(scope="module")
def hub_class(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = copy_project("hub-class", tmp_path_factory.mktemp("hub"))
    yield project
    run_cli("hub", "down", str(project), "--volumes")


@pytest.fixture
def one_node_swarm(docker_daemon: str) -> Iterator[None]:
    """A swarm of this one engine, left afterwards, with the network swarm made for its nodes:
    the daemon is shared, so it is left as it was found."""
    before = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if before == "active":
        yield  # someone's swarm: used, never left
        return
    had_gateway = docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
    docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        docker("swarm", "leave", "--force", check=False)
        if not had_gateway:
            docker("network", "rm", "docker_gwbridge", check=False)


def test_a_hub_for_two_users_on_one_host(hub_class: Path) -> None:
    project_id = detect(hub_class).project_id
    port = free_port()
    hub = hub_up(hub_class, "--user", "alice", "--user", "bob", "--admin", "teacher", "-p", str(port))
    doc = hub.document
    assert doc["url"] == f"http://127.0.0.1:{port}/hub/"
    assert (doc["image"], doc["swarm"], doc["started"]) == (USERS_TAG, False, True)
    passwords = {name: user["password"] for name, user in doc["users"].items()}
    assert set(passwords) == {"alice", "bob", "teacher"} and all(passwords.values())
    assert doc["users"]["teacher"]["admin"] and not doc["users"]["alice"]["admin"]
    # Published on loopback only.
    bindings = json.loads(docker("container", "inspect", f"nbship-{project_id}-hub").stdout)[0]["HostConfig"][
        "PortBindings"
    ]
    assert bindings == {f"{c.HUB_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # The API refuses a request without a token, or with a wrong one.
    assert hub.api("GET", "/users", anonymous=True).status_code == 403
    assert hub.api("GET", "/users", token="0" * 64).status_code == 403
    assert hub.api("GET", "/users").status_code == 200

    hub.start("alice", "bob")
    alice = Login(hub.base, "alice", passwords["alice"])
    bob = Login(hub.base, "bob", passwords["bob"])
    assert (alice.status, bob.status) == (302, 302)
    assert Login(hub.base, "alice", passwords["bob"]).status == 403
    assert alice.open_lab().status_code == 200 and bob.open_lab().status_code == 200
    assert {"lesson.ipynb", "README.md"} <= alice.names()[1]
    assert {"lesson.ipynb", "README.md"} <= bob.names()[1]
    assert alice.put("alice-notes.txt", "what alice found\n") == 201
    assert bob.put("README.md", "# Bob's own notes\n") in {200, 201}
    assert "alice-notes.txt" not in bob.names()[1]
    # Bob's login does not open Alice's server.
    assert bob.open_lab("alice").status_code == 403
    assert bob.names("alice")[0] == 403
    # Each user's work is a volume of their own, labelled with the project and the user.
    for user in ("alice", "bob"):
        server = json.loads(docker("container", "inspect", f"nbship-{project_id}-hub-{user}").stdout)[0]
        assert server["HostConfig"]["SecurityOpt"] == [c.NO_NEW_PRIVILEGES]
        labels = server["Config"]["Labels"]
        assert (labels[c.LABEL_HUB_USER], labels[c.LABEL_HUB_ROLE], labels[c.LABEL_PROJECT_ID]) == (user, "server", "")
        volume = json.loads(docker("volume", "inspect", f"nbship-{project_id}-hub-{user}").stdout)[0]["Labels"]
        assert (volume[c.LABEL_HUB_USER], volume[c.LABEL_PROJECT_ID], volume[c.LABEL_HUB]) == (
            user,
            project_id,
            project_id,
        )
    # The users' servers are not the project's JupyterLab: `nbship down` and `status` leave them be.
    assert "No nbship server was running" in run_cli("down", str(hub_class)).stderr
    assert hub.running("alice")
    status = json.loads(run_cli("hub", "status", str(hub_class), "--json").stdout)["hubs"]
    assert [item["users"]["alice"]["server"] for item in status] == ["running"]

    # hub down stops every server; the work stays, and so do the passwords.
    hub_down(hub_class)
    containers, volumes = hub_objects(project_id)
    assert containers == set()
    assert volumes == {f"nbship-{project_id}-hub", f"nbship-{project_id}-hub-alice", f"nbship-{project_id}-hub-bob"}
    again = hub_up(hub_class, "-p", str(port))
    assert {name: user["password"] for name, user in again.document["users"].items()} == dict.fromkeys(passwords)
    assert again.token == hub.token
    again.start("alice")
    assert again.files("alice")["alice-notes.txt"] == "what alice found\n"
    assert Login(hub.base, "alice", passwords["alice"]).status == 302

    # Nothing changed: the hub and alice's server are left running as they are.
    same = hub_up(hub_class, "-p", str(port))
    assert same.document["started"] is False and same.running("alice")

    # A rebuilt image with a changed notebook reaches both users, their own edits kept.
    lesson = hub_class / "lesson.ipynb"
    lesson.write_text(lesson.read_text().replace("lesson one", "lesson one, revised"))
    rebuilt = hub_up(hub_class, "-p", str(port))
    assert rebuilt.document["started"] is True
    rebuilt.start("alice", "bob")
    alice_files, bob_files = rebuilt.files("alice"), rebuilt.files("bob")
    assert "lesson one, revised" in alice_files["lesson.ipynb"] and "lesson one, revised" in bob_files["lesson.ipynb"]
    assert alice_files["alice-notes.txt"] == "what alice found\n"
    assert bob_files["README.md"] == "# Bob's own notes\n"
    assert "alice-notes.txt" not in bob_files

    hub_down(hub_class, "--volumes")
    assert hub_objects(project_id) == (set(), set())


def test_a_hub_on_a_one_node_swarm(hub_class: Path, one_node_swarm: None) -> None:
    project_id = detect(hub_class).project_id
    port = free_port()
    hub = hub_up(hub_class, "--swarm", "--user", "alice", "--user", "bob", "-p", str(port), "--idle-timeout", "0")
    assert hub.document["swarm"] is True
    network = json.loads(docker("network", "inspect", f"nbship-{project_id}-hub").stdout)[0]
    assert (network["Driver"], network["Attachable"]) == ("overlay", True)
    bindings = json.loads(docker("container", "inspect", f"nbship-{project_id}-hub").stdout)[0]["HostConfig"][
        "PortBindings"
    ]
    assert bindings == {f"{c.HUB_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert hub.api("GET", "/users", anonymous=True).status_code == 403

    hub.start("alice", "bob")
    services = docker("service", "ls", "--filter", f"label={c.LABEL_HUB}={project_id}", "--format", "{{.Name}}")
    assert set(services.stdout.split()) == {f"nbship-{project_id}-hub-alice", f"nbship-{project_id}-hub-bob"}
    alice = Login(hub.base, "alice", hub.document["users"]["alice"]["password"])
    assert alice.status == 302 and alice.open_lab().status_code == 200
    assert alice.put("swarm-notes.txt", "written on the swarm\n") == 201
    assert "lesson.ipynb" in hub.files("bob") and "swarm-notes.txt" not in hub.files("bob")

    hub_down(hub_class)
    assert docker("service", "ls", "-q", "--filter", f"label={c.LABEL_HUB}={project_id}").stdout.strip() == ""
    containers, volumes = hub_objects(project_id)
    assert containers == set()
    assert f"nbship-{project_id}-hub-alice" in volumes
    labels = json.loads(docker("volume", "inspect", f"nbship-{project_id}-hub-alice").stdout)[0]["Labels"]
    assert (labels[c.LABEL_HUB_USER], labels[c.LABEL_HUB_ROLE]) == ("alice", "work")

    again = hub_up(hub_class, "--swarm", "-p", str(port), "--idle-timeout", "15")
    again.start("alice")
    assert again.files("alice")["swarm-notes.txt"] == "written on the swarm\n"
    # Idle servers are culled after the timeout.
    deadline = time.monotonic() + 120
    while again.running("alice") and time.monotonic() < deadline:
        time.sleep(2)
    assert not again.running("alice"), "the idle server was not culled"
    assert docker("service", "ls", "-q", "--filter", f"label={c.LABEL_HUB}={project_id}").stdout.strip() == ""
    hub_down(hub_class, "--volumes")
    assert hub_objects(project_id) == (set(), set())


def test_hub_up_refuses_what_it_cannot_serve(hub_class: Path, docker_daemon: str) -> None:
    no_users = run_cli("hub", "up", str(hub_class), "-d", "-t", TAG)
    assert no_users.exit_code == 2 and "Name the hub's users" in no_users.stderr
    bad_name = run_cli("hub", "up", str(hub_class), "-d", "-t", TAG, "--user", "a b")
    assert bad_name.exit_code == 2 and "cannot be a hub user name" in bad_name.stderr
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if state != "active":
        no_swarm = run_cli("hub", "up", str(hub_class), "-d", "-t", TAG, "--user", "a", "--swarm")
        assert no_swarm.exit_code == 2 and "docker swarm init" in no_swarm.stderr


def test_hub_image_names_the_hub_ready_image(hub_class: Path) -> None:
    ready = f"{TEST_PREFIX}/hub-class-ready:1"
    made = run_cli("hub", "image", str(hub_class), "-t", TAG, "--name", ready, "--json")
    assert made.exit_code == 0, made.output + made.stderr
    assert json.loads(made.stdout) == {"format": 1, "image": ready, "source": TAG, "built": True}
    labels = inspect(ready)["Config"]["Labels"]
    assert labels[c.LABEL_SINGLEUSER] == images.JUPYTERHUB_VERSION
    version = docker("run", "--rm", ready, c.SINGLEUSER_COMMAND, "--version").stdout.strip()
    assert version.endswith(images.JUPYTERHUB_VERSION)
    # Made once; an image that is hub-ready already is served as it is.
    again = json.loads(run_cli("hub", "image", str(hub_class), "-t", TAG, "--name", ready, "--json").stdout)
    assert again["built"] is False
    as_is = json.loads(run_cli("hub", "image", "--image", ready, "--json").stdout)
    assert as_is == {"format": 1, "image": ready, "source": ready, "built": False}
    docker("rmi", ready)


def test_an_image_without_a_jupyter_server_is_refused(docker_daemon: str) -> None:
    result = run_cli("hub", "image", "--image", "python:3.11-slim", "--name", f"{TEST_PREFIX}/no-jupyter:hub")
    assert result.exit_code == 5, result.output + result.stderr
    assert "has no Jupyter server" in result.stderr
