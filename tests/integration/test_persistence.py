"""The user's work persists: the project's volume across down/up, the refresh from a rebuilt image,
--mount host/none, --volume, down --volumes, and export/import of volumes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import TEST_PREFIX, copy_project, free_port, nbship_exe, run_cli
from docker_helpers import docker, inspect

from nbship.errors import ExitCode
from nbship.project.detect import detect

pytestmark = pytest.mark.docker

TINY_TAG = f"{TEST_PREFIX}/tiny-persist:latest"


@dataclass(frozen=True)
class Lab:
    base: str
    token: str

    def put(self, name: str, text: str) -> None:
        body = {"type": "file", "format": "text", "content": text}
        response = requests.put(f"{self.base}/api/contents/{name}?token={self.token}", json=body, timeout=20)
        assert response.status_code in {200, 201}, response.text

    def get(self, name: str) -> str | None:
        response = requests.get(f"{self.base}/api/contents/{name}?token={self.token}&content=1", timeout=20)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return str(response.json()["content"])

    def names(self) -> set[str]:
        listing = requests.get(f"{self.base}/api/contents?token={self.token}", timeout=20).json()
        return {item["name"] for item in listing["content"]}


def up(project: Path | None, *args: str) -> tuple[Lab, str]:
    port = free_port()
    where = [str(project)] if project is not None else []
    result = run_cli("up", *where, "--detach", "--port", str(port), *args)
    assert result.exit_code == 0, result.output + result.stderr
    url = result.stdout.strip().splitlines()[-1]
    return Lab(f"http://127.0.0.1:{port}", url.split("token=", 1)[1]), result.stderr


def down(project: Path, *args: str) -> str:
    result = run_cli("down", str(project), *args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stderr


@pytest.fixture
def tiny(docker_daemon: str, tmp_path: Path) -> Iterator[Path]:
    project = copy_project("tiny", tmp_path)
    (project / "README.md").write_text("# Tiny\n\nThe image's first README.\n")
    yield project
    run_cli("down", str(project), "--volumes")


def volume_of(project: Path) -> str:
    return f"nbship-{detect(project).project_id}"


def test_work_survives_down_up_and_container_removal(tiny: Path) -> None:
    lab, err = up(tiny, "-t", TINY_TAG)
    assert f"volume {volume_of(tiny)}" in err
    lab.put("results.txt", "42\n")
    down(tiny)
    assert docker("volume", "inspect", volume_of(tiny), check=False).returncode == 0
    lab, _ = up(tiny, "-t", TINY_TAG)
    assert lab.get("results.txt") == "42\n"
    # data written by hand into a container that is then removed by docker itself
    container = f"nbship-{detect(tiny).project_id}"
    docker("rm", "-f", container)
    lab, _ = up(tiny, "-t", TINY_TAG)
    assert lab.get("results.txt") == "42\n"
    listed = run_cli("volume", "ls")
    assert volume_of(tiny) in listed.stdout and str(tiny) in listed.stdout


def test_rebuilt_image_refreshes_the_volume_without_losing_edits(tiny: Path) -> None:
    lab, _ = up(tiny, "-t", TINY_TAG)
    lab.put("README.md", "# Tiny\n\nMy notes on the analysis.\n")
    lab.put("mine.txt", "created by me\n")
    down(tiny)
    # The author changes the project: a new notebook, a changed README and notebook.
    (tiny / "second.ipynb").write_text((tiny / "tiny.ipynb").read_text().replace("hello", "second"))
    (tiny / "tiny.ipynb").write_text((tiny / "tiny.ipynb").read_text().replace("hello", "updated"))
    (tiny / "README.md").write_text("# Tiny\n\nThe image's second README.\n")
    lab, err = up(tiny, "-t", TINY_TAG)
    assert "kept your version of README.md" in err and "README.from-image.md" in err, err
    assert lab.get("README.md") == "# Tiny\n\nMy notes on the analysis.\n"
    assert lab.get("README.from-image.md") == "# Tiny\n\nThe image's second README.\n"
    assert lab.get("mine.txt") == "created by me\n"
    assert "second.ipynb" in lab.names()
    notebook = lab.get("tiny.ipynb")
    assert notebook is not None and "updated from nbship" in json.dumps(notebook)
    down(tiny)
    # A colleague's plain `docker run -v VOLUME:...` gets the same refresh from the image itself.
    (tiny / "third.ipynb").write_text((tiny / "tiny.ipynb").read_text())
    assert run_cli("build", str(tiny), "-t", TINY_TAG).exit_code == 0
    out = docker("run", "--rm", "-v", f"{volume_of(tiny)}:/home/jovyan/work", TINY_TAG, "ls")
    assert {"third.ipynb", "second.ipynb", "mine.txt", "README.from-image.md"} <= set(out.stdout.split())
    assert "refreshed the work folder" in out.stderr


def test_mount_host_edits_land_in_the_checkout(tiny: Path) -> None:
    if os.getuid() == 0:
        # As root (CI), the server runs as the folder's owner: give the checkout to an ordinary uid.
        for path in [tiny, *tiny.rglob("*")]:
            os.chown(path, 1234, 1234)
    expected_owner = os.getuid() if os.getuid() != 0 else 1234
    lab, err = up(tiny, "-t", TINY_TAG, "--mount", "host")
    assert "project folder" in err
    lab.put("from-lab.txt", "written in JupyterLab\n")
    created = tiny / "from-lab.txt"
    assert created.read_text() == "written in JupyterLab\n"
    assert created.stat().st_uid == expected_owner
    assert lab.get("tiny.ipynb") is not None
    assert not (tiny / ".nbship").exists()  # nothing of nbship's is written into the checkout
    down(tiny)
    assert created.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="only root on the host can own a folder by root")
def test_mount_host_on_a_root_owned_folder_warns(tiny: Path) -> None:
    _, err = up(tiny, "-t", TINY_TAG, "--mount", "host")
    assert "belongs to root" in err and "cannot save" in err
    down(tiny)


def test_mount_none_keeps_nothing(tiny: Path) -> None:
    lab, err = up(tiny, "-t", TINY_TAG, "--mount", "none")
    assert "nothing is kept" in err
    lab.put("scratch.txt", "gone soon\n")
    container = f"nbship-{detect(tiny).project_id}"
    anonymous = [m["Name"] for m in inspect(container)["Mounts"] if m["Type"] == "volume"]
    assert len(anonymous) == 1
    down(tiny)
    assert docker("volume", "inspect", anonymous[0], check=False).returncode != 0
    assert docker("volume", "inspect", volume_of(tiny), check=False).returncode != 0
    lab, _ = up(tiny, "-t", TINY_TAG, "--mount", "none")
    assert lab.get("scratch.txt") is None


def test_named_volume_option_and_errors(tiny: Path) -> None:
    name = f"nbship-test-shared-{time.time_ns()}"
    missing = run_cli("up", str(tiny), "-t", TINY_TAG, "--volume", name, "--detach")
    assert missing.exit_code == 8 and f"no volume named {name}" in missing.stderr
    assert run_cli("volume", "create", name).exit_code == 0
    try:
        lab, err = up(tiny, "-t", TINY_TAG, "--volume", name)
        assert f"volume {name}" in err and "tiny.ipynb" in lab.names()
        in_use = run_cli("volume", "rm", name)
        assert in_use.exit_code == ExitCode.IN_USE and "used by the container" in in_use.stderr
        down(tiny)
    finally:
        assert run_cli("volume", "rm", name).exit_code == 0


def test_down_volumes_says_what_it_removes(tiny: Path) -> None:
    up(tiny, "-t", TINY_TAG)
    err = down(tiny, "--volumes")
    assert f"Removing the volume {volume_of(tiny)}" in err
    assert docker("volume", "inspect", volume_of(tiny), check=False).returncode != 0


def _members(archive: Path) -> dict[str, tuple[int, int, int, str, str]]:
    """Each entry's mode, owner, group, content hash and link target."""
    out = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member) if member.isfile() else None
            digest = hashlib.sha256(data.read()).hexdigest() if data else ""
            out[member.name.removeprefix("./") or "."] = (member.mode, member.uid, member.gid, digest, member.linkname)
    return out


def test_export_import_round_trip(tiny: Path, tmp_path: Path) -> None:
    lab, _ = up(tiny, "-t", TINY_TAG)
    lab.put("results.txt", "42\n")
    container = f"nbship-{detect(tiny).project_id}"
    docker(
        "exec",
        container,
        "sh",
        "-c",
        "mkdir -p deep/er && echo x > deep/er/f && chmod 640 deep/er/f && ln -s results.txt link",
    )
    down(tiny)
    # As root, from a container of its own: nbship's has no-new-privileges, so `exec -u 0` gets no capabilities.
    root = "echo root > /w/owned-by-root && chmod 600 /w/owned-by-root"
    docker("run", "--rm", "-u", "0", "-v", f"{volume_of(tiny)}:/w", "--entrypoint", "sh", TINY_TAG, "-c", root)
    first = tmp_path / "work.tar.gz"
    assert run_cli("volume", "export", volume_of(tiny), str(first)).exit_code == 0
    copy = f"nbship-test-import-{time.time_ns()}"
    try:
        assert run_cli("volume", "import", copy, str(first), "--keep-owners").exit_code == 0
        again = tmp_path / "again.tar"
        assert run_cli("volume", "export", copy, str(again)).exit_code == 0
        before, after = _members(first), _members(again)
        assert before == after
        assert before["deep/er/f"][:3] == (0o640, 1000, 1000)
        assert before["owned-by-root"][:3] == (0o600, 0, 0)
        assert before["."][1:3] == (1000, 1000)
        assert before["link"][4] == "results.txt"
        # the imported volume serves the same work
        lab, _ = up(tiny, "-t", TINY_TAG, "--volume", copy)
        assert lab.get("results.txt") == "42\n"
        down(tiny)
        exists = run_cli("volume", "import", copy, str(first))
        assert exists.exit_code == 2 and "already exists" in exists.stderr
        refused = run_cli("volume", "export", copy, str(first))
        assert refused.exit_code == 2 and "--force" in refused.stderr
        folder = tmp_path / "as-folder"
        assert run_cli("volume", "export", copy, str(folder)).exit_code == 0
        assert (folder / "results.txt").read_text() == "42\n"
        assert (folder / "deep" / "er" / "f").stat().st_mode & 0o777 == 0o640
        from_folder = f"{copy}-dir"
        assert run_cli("volume", "import", from_folder, str(folder)).exit_code == 0
        out = docker(
            "run", "--rm", "-v", f"{from_folder}:/w", "--entrypoint", "stat", TINY_TAG, "-c", "%u %a", "/w/results.txt"
        )
        assert out.stdout.split() == ["1000", "644"]
        assert run_cli("volume", "rm", from_folder).exit_code == 0
        # Without --keep-owners, every file of a tar belongs to the notebook user.
        assert run_cli("volume", "import", from_folder, str(first)).exit_code == 0
        owners = docker(
            "run", "--rm", "-v", f"{from_folder}:/w", "--entrypoint", "stat", TINY_TAG, "-c", "%u", "/w/owned-by-root"
        )
        assert owners.stdout.split() == ["1000"]
        assert run_cli("volume", "rm", from_folder).exit_code == 0
    finally:
        run_cli("volume", "rm", copy)
    missing = run_cli("volume", "export", "nbship-no-such-volume", str(tmp_path / "x.tar"))
    assert missing.exit_code == 8 and "no volume named" in missing.stderr


def test_shell_without_a_server_opens_the_projects_work(tiny: Path) -> None:
    lab, _ = up(tiny, "-t", TINY_TAG)
    lab.put("results.txt", "from the lab\n")
    down(tiny)
    result = subprocess.run(
        [nbship_exe(), "shell", str(tiny), "-t", TINY_TAG],
        input="cat results.txt; echo more >> results.txt; grep NoNewPrivs /proc/self/status\nexit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "from the lab" in result.stdout and f"on the volume {volume_of(tiny)}" in result.stderr
    assert result.stdout.split()[-2:] == ["NoNewPrivs:", "1"]  # no process in it can gain privileges
    lab, _ = up(tiny, "-t", TINY_TAG)
    assert lab.get("results.txt") == "from the lab\nmore\n"
