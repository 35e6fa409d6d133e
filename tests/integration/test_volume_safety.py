"""Volumes against hostile or broken input, on the real daemon: an import cannot bring privileges
in, an export cannot make device nodes or setuid files on the host, no container nbship starts
gains privileges, `down --image --volumes` never removes another project's work, and a first
start killed during the fill of a volume is completed by the next one."""

from __future__ import annotations

import io
import shutil
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import TEST_PREFIX, copy_project, free_port, run_cli
from docker_helpers import docker, inspect

from nbship.project.detect import detect

pytestmark = pytest.mark.docker

TAG = f"{TEST_PREFIX}/tiny-safety:latest"
MANY_TAG = f"{TEST_PREFIX}/many-files:latest"
MANY = 3000


@pytest.fixture(scope="module")
def tiny(docker_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = copy_project("tiny", tmp_path_factory.mktemp("safety"))
    # --rebuild: an unchanged project skips the build, and the image would keep an earlier copy's id.
    assert run_cli("build", str(project), "-t", TAG, "--rebuild").exit_code == 0
    yield project
    run_cli("down", str(project), "--volumes")


@pytest.fixture
def volume_name() -> Iterator[Callable[..., str]]:
    """Names for volumes of the test's own, removed after it."""
    names: list[str] = []

    def make(suffix: str = "") -> str:
        names.append(f"{TEST_PREFIX}-vol-{time.time_ns()}{suffix}")
        return names[-1]

    yield make
    for name in names:
        docker("volume", "rm", "-f", name, check=False)


def in_volume(volume: str, script: str, *, user: str = "1000") -> str:
    """A shell in a fresh container of the test image, on the volume at /w (no entrypoint)."""
    result = docker("run", "--rm", "-u", user, "-v", f"{volume}:/w", "--entrypoint", "sh", TAG, "-c", script)
    return result.stdout


def hostile_tar(path: Path) -> Path:
    """A tar a careless or hostile colleague hands over: a setuid-root program, devices, a FIFO."""
    program = Path(shutil.which("id") or "/usr/bin/id").read_bytes()
    with tarfile.open(path, "w") as tar:
        for name, kind, mode in [
            (".", tarfile.DIRTYPE, 0o755),
            ("notes.md", tarfile.REGTYPE, 0o644),
            ("id", tarfile.REGTYPE, 0o4755),
            ("null", tarfile.CHRTYPE, 0o666),
            ("sda", tarfile.BLKTYPE, 0o660),
            ("pipe", tarfile.FIFOTYPE, 0o644),
        ]:
            member = tarfile.TarInfo(name)
            member.type, member.mode, member.uid, member.gid = kind, mode, 0, 0
            member.devmajor, member.devminor = (1, 3) if kind == tarfile.CHRTYPE else (8, 0)
            data = program if name == "id" else b"my notes\n" if kind == tarfile.REGTYPE else b""
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def test_import_leaves_out_devices_and_setuid_and_gives_files_to_the_notebook_user(
    tiny: Path, tmp_path: Path, volume_name: Callable[..., str]
) -> None:
    archive = hostile_tar(tmp_path / "hostile.tar")
    name = volume_name()
    result = run_cli("volume", "import", name, str(archive))
    assert result.exit_code == 0, result.output + result.stderr
    assert "Left out 3 entries: device node: 2 (null, sda); FIFO: 1 (pipe)." in result.stderr
    assert "Removed the setuid/setgid bit from 1 file(s): id." in result.stderr
    listing = in_volume(name, "stat -c '%n %F %a %u:%g' /w /w/*; /w/id -u")
    assert listing.splitlines() == [
        "/w directory 755 1000:1000",
        "/w/id regular file 755 1000:1000",
        "/w/notes.md regular file 644 1000:1000",
        "1000",
    ]
    # Asked to keep the archive's owners: root's file stays root's, still without the setuid bit.
    kept = volume_name("-kept")
    assert run_cli("volume", "import", kept, str(archive), "--keep-owners").exit_code == 0
    assert in_volume(kept, "stat -c '%a %u' /w/id; /w/id -u").split() == ["755", "0", "1000"]
    both = run_cli("volume", "import", volume_name("-x"), str(archive), "--keep-owners", "--owner", "5")
    assert both.exit_code == 2 and "contradict" in both.stderr


def test_no_container_nbship_starts_gains_privileges(tiny: Path, volume_name: Callable[..., str]) -> None:
    # A setuid-root program in a volume, put there behind nbship's back (as root, by docker itself).
    name = volume_name()
    docker("volume", "create", name)
    in_volume(name, "cp /usr/bin/id /w/id && chmod 4755 /w/id && chown 1000 /w", user="0")
    assert in_volume(name, "/w/id -u") == "0\n"  # what any container without the option allows
    port = free_port()
    up = run_cli("up", str(tiny), "-t", TAG, "--volume", name, "--port", str(port), "--detach")
    assert up.exit_code == 0, up.output + up.stderr
    container = f"nbship-{detect(tiny).project_id}"
    try:
        assert "no-new-privileges:true" in inspect(container)["HostConfig"]["SecurityOpt"]
        assert docker("exec", container, "/home/jovyan/work/id", "-u").stdout == "1000\n"
    finally:
        assert run_cli("down", str(tiny)).exit_code == 0


def test_export_to_a_folder_makes_no_device_or_setuid_file_and_copies_hard_links(
    tiny: Path, tmp_path: Path, volume_name: Callable[..., str]
) -> None:
    name = volume_name()
    docker("volume", "create", name)
    in_volume(
        name,
        "mkdir -p /w/d && echo hi > /w/d/f && ln /w/d/f /w/hl && mknod /w/null c 1 3 && mkfifo /w/pipe "
        "&& cp /usr/bin/id /w/id && chmod 4755 /w/id && ln -s /etc /w/etc && chown -R 1000:1000 /w/d",
        user="0",
    )
    dest = tmp_path / "exported"
    result = run_cli("volume", "export", name, str(dest))
    assert result.exit_code == 0, result.output + result.stderr
    assert (
        "device node: 1 (null); FIFO: 1 (pipe)" in result.stderr
        and "setuid/setgid bit from 1 file(s): id" in result.stderr
    )
    found = {p.name: p.lstat() for p in dest.rglob("*")}
    assert set(found) == {"d", "f", "hl", "id", "etc"}
    assert all(stat.S_ISREG(s.st_mode) or stat.S_ISDIR(s.st_mode) or stat.S_ISLNK(s.st_mode) for s in found.values())
    assert found["id"].st_mode & 0o7777 == 0o755
    assert (dest / "hl").read_text() == "hi\n" and found["hl"].st_ino != found["f"].st_ino
    # A tar export keeps the volume as it is (the import screens it on the way back).
    archive = tmp_path / "as-is.tar"
    assert run_cli("volume", "export", name, str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
    assert members["null"].ischr() and members["id"].mode & 0o4000 and members["hl"].linkname == "./d/f"


def test_down_image_volumes_removes_only_what_that_run_created(tiny: Path) -> None:
    own = f"nbship-{detect(tiny).project_id}"
    # The project's own volume, then an image that carries the project's id (any image can claim it).
    assert run_cli("up", str(tiny), "-t", TAG, "--port", str(free_port()), "--detach").exit_code == 0
    assert run_cli("down", str(tiny)).exit_code == 0
    assert run_cli("up", "--image", TAG, "--port", str(free_port()), "--detach").exit_code == 0
    down = run_cli("down", "--image", TAG, "--volumes")
    assert down.exit_code == 0 and f"Kept the volume {own}: it holds the work of {tiny}" in down.stderr, down.stderr
    assert docker("volume", "inspect", own, check=False).returncode == 0
    assert run_cli("down", str(tiny), "--volumes").exit_code == 0
    # A volume that `up --image` made for this image is that run's, and goes.
    assert run_cli("up", "--image", TAG, "--port", str(free_port()), "--detach").exit_code == 0
    labels = docker("volume", "inspect", "-f", '{{index .Labels "io.nbship.image-repository"}}', own).stdout
    assert labels.strip() == TAG.rsplit(":", 1)[0]  # the volume was made for this image's run
    down = run_cli("down", "--image", TAG, "--volumes")
    assert down.exit_code == 0 and f"Removing the volume {own}" in down.stderr, down.stderr
    assert docker("volume", "inspect", own, check=False).returncode != 0


@pytest.fixture(scope="module")
def many(tiny: Path) -> Path:
    project = tiny.parent / "many"
    shutil.copytree(tiny, project)
    folder = project / "many"
    folder.mkdir()
    for i in range(MANY):
        (folder / f"{i:05}.txt").write_text(f"file {i}\n" * 20)
    assert run_cli("build", str(project), "-t", MANY_TAG).exit_code == 0
    return project


def _count(volume: str) -> int:
    out = docker("run", "--rm", "-v", f"{volume}:/w", "--entrypoint", "sh", MANY_TAG, "-c", "ls /w/many | wc -l")
    return int(out.stdout.strip() or 0)


def _killed_during_fill(volume: str) -> int:
    """Starts the image on a new volume and kills it once the fill is under way; how many files it left."""
    container = docker("run", "-d", "-v", f"{volume}:/home/jovyan/work", MANY_TAG).stdout.strip()
    try:
        for _ in range(400):
            started = docker(
                "exec", container, "sh", "-c", "ls /home/jovyan/work/many 2>/dev/null | wc -l", check=False
            )
            if started.stdout.strip() not in {"", "0"}:
                break
        docker("kill", container, check=False)
    finally:
        docker("rm", "-f", container, check=False)
    return _count(volume)


def test_a_start_killed_during_the_first_fill_is_completed_by_the_next(
    many: Path, volume_name: Callable[..., str]
) -> None:
    for _ in range(5):  # the fill takes about a second: try until the kill lands inside it
        name = volume_name()
        docker("volume", "create", name)
        left = _killed_during_fill(name)
        if 0 < left < MANY:
            break
    else:
        pytest.fail(f"no kill landed during the fill of {MANY} files (the last left {left})")
    # In between, the user works on the half-filled volume: a new file, an edit, a file the fill
    # had not reached yet.
    in_volume(
        name,
        "echo mine > /w/mine.txt && echo edited > /w/many/00000.txt && echo early > /w/many/02999.txt",
    )
    started = docker("run", "--rm", "-v", f"{name}:/home/jovyan/work", MANY_TAG, "true")
    assert "finished filling the work folder" in started.stderr, started.stderr
    assert (
        "kept your version of many/02999.txt; the image's new version is in many/02999.from-image.txt" in started.stderr
    )
    assert _count(name) == MANY + 2  # and the image's versions of the two files beside them
    contents = in_volume(
        name,
        "cat /w/mine.txt /w/many/00000.txt /w/many/02999.txt /w/many/00000.from-image.txt | head -4; "
        "find /w -path /w/.nbship -prune -o -name '.nbship-*' -print | wc -l",
    )
    assert contents.splitlines() == ["mine", "edited", "early", "file 0", "0"]
    # The next start has nothing left to do.
    again = docker("run", "--rm", "-v", f"{name}:/home/jovyan/work", MANY_TAG, "true")
    assert "nbship:" not in again.stderr, again.stderr
