"""The other engines a researcher has, started for real: a second dockerd (its own socket, data
root and bridge), and a non-root user who runs rootless Docker and rootless Podman and nbship
itself. Everything here is started by the tests and stopped by them; the machine's default
daemon and its default docker context are never changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import TEST_PREFIX

STATE = Path(os.environ.get("NBSHIP_STATE_DIR", "/var/lib/nbship-test"))
DOCKER = "/usr/bin/docker"  # 20.10 with BuildKit built in (the first client on PATH may lack it)
BASE_IMAGE = "python:3.11-slim"


def need(condition: bool, message: str) -> None:
    """A missing component fails under CI=true and skips elsewhere."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(cmd: Sequence[str], *, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=900, check=False, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result  # type: ignore[no-any-return]


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _slot(name: str, count: int) -> int:
    return int(hashlib.sha256(f"{TEST_PREFIX}-{name}".encode()).hexdigest()[:8], 16) % count


# -- a second dockerd -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dockerd:
    socket: str  # unix:///.../docker.sock
    tcp: str  # tcp://127.0.0.1:PORT, TLS with client certificates
    certs: Path  # ca.pem, cert.pem, key.pem for a client

    def docker(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([DOCKER, "-H", self.socket, *args], check=check, input=input)

    def has_image(self, reference: str) -> bool:
        return self.docker("image", "inspect", reference, check=False).returncode == 0


def _certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as `dockerd --tlsverify` wants."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        run(["openssl", *args], cwd=str(folder))

    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=nbship test CA",
    )
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        key = "key.pem" if name == "client" else f"{name}-key.pem"
        cert = "cert.pem" if name == "client" else f"{name}-cert.pem"
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (folder / f"{name}.ext").write_text(extension + "\n")
        ssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def second_dockerd(root: Path) -> Iterator[Dockerd]:
    """A dockerd of its own beside the machine's: socket, data root, exec root and bridge. Its NAT
    rules are the test's own (--iptables=false): a second daemon managing iptables would rewrite
    the chains the machine's daemon relies on."""
    need(shutil.which("dockerd") is not None and Path(DOCKER).exists(), "dockerd is not installed")
    need(shutil.which("openssl") is not None, "openssl is not installed (scripts/setup-test-machine.sh)")
    bridge = f"nbd{hashlib.sha256(TEST_PREFIX.encode()).hexdigest()[:8]}"
    subnet = f"10.231.{_slot('bridge', 250)}"
    root.mkdir(parents=True, exist_ok=True)
    certs = root / "certs"
    _certificates(certs)
    (root / "daemon.json").write_text("{}\n")
    run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=False)
    run(["ip", "addr", "replace", f"{subnet}.1/24", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    rules = [
        ["-t", "nat", "POSTROUTING", "-s", f"{subnet}.0/24", "!", "-o", bridge, "-j", "MASQUERADE"],
        ["FORWARD", "-i", bridge, "-j", "ACCEPT"],
        ["FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ]
    for rule in rules:
        table, chain, spec = (rule[:2], rule[2], rule[3:]) if rule[0] == "-t" else ([], rule[0], rule[1:])
        run(["iptables", *table, "-I", chain, "1", *spec])
    socket_path = root / "docker.sock"
    port = _free_tcp_port()
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--config-file",
            str(root / "daemon.json"),
            "--host",
            f"unix://{socket_path}",
            "--host",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(certs / "ca.pem"),
            "--tlscert",
            str(certs / "server-cert.pem"),
            "--tlskey",
            str(certs / "server-key.pem"),
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
            "--bridge",
            bridge,
            "--iptables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    daemon = Dockerd(f"unix://{socket_path}", f"tcp://127.0.0.1:{port}", certs)
    try:
        wait_for(lambda: daemon.docker("info", check=False).returncode == 0, 60, "the second dockerd")
        load_image_from_default([DOCKER, "-H", daemon.socket, "load"], BASE_IMAGE)
        yield daemon
    finally:
        _stop_group(process)
        log.close()
        for rule in rules:
            table, chain, spec = (rule[:2], rule[2], rule[3:]) if rule[0] == "-t" else ([], rule[0], rule[1:])
            run(["iptables", *table, "-D", chain, *spec], check=False)
        run(["ip", "link", "delete", bridge], check=False)
        shutil.rmtree(root, ignore_errors=True)


def load_image_from_default(load: Sequence[str], image: str, *, user: EngineUser | None = None) -> None:
    """`docker save IMAGE | LOAD` from the machine's daemon (nothing can be pulled here)."""
    saved = subprocess.Popen([DOCKER, "save", image], stdout=subprocess.PIPE)
    command = user.command(load) if user else list(load)
    try:
        loaded = subprocess.run(command, stdin=saved.stdout, capture_output=True, text=True, timeout=600, check=False)
    finally:
        assert saved.stdout is not None
        saved.stdout.close()
        saved.wait(timeout=60)
    assert loaded.returncode == 0, f"loading {image} failed: {loaded.stderr[-2000:]}"


# -- a non-root user with rootless engines ------------------------------------------------


@dataclass
class EngineUser:
    name: str
    uid: int
    gid: int
    home: Path
    python: str  # an interpreter this user can run, importing this checkout's nbship
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def runtime_dir(self) -> Path:
        return Path(f"/run/user/{self.uid}")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/usr/share/docker.io/contrib",
            "LANG": "C.UTF-8",
            **self.extra_env,
            **(extra or {}),
        }

    def command(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        assignments = [f"{key}={value}" for key, value in self.env(env).items()]
        return ["runuser", "-u", self.name, "--", "env", "-i", *assignments, *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run(self.command(args, env), check=check, input=input, cwd=str(cwd or self.home))

    def nbship(
        self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real nbship command, run by this user."""
        return self.run(self.python, "-m", "nbship", *args, env=env, input=input, check=False, cwd=cwd)

    def folder(self, name: str) -> Path:
        """A fresh folder owned by the user, where the user (and nobody else) may write."""
        path = self.home / "t" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        shutil.chown(path.parent, self.name, self.name)
        shutil.chown(path, self.name, self.name)
        return path

    def give(self, path: Path) -> Path:
        for item in [path, *path.rglob("*")]:
            os.lchown(item, self.uid, self.gid)
        return path


def _python_for(user: str) -> str:
    """The running interpreter when the user may run it; else a small venv on the system Python of
    the same version, whose site path reaches this checkout's installed packages."""
    ok = run(["runuser", "-u", user, "--", sys.executable, "-c", "import nbship"], check=False, cwd="/")
    if ok.returncode == 0:
        return sys.executable
    system = "/usr/bin/python3"
    probe = "import sys; print(*sys.version_info[:2], sep='.')"
    version = run([system, "-c", probe], check=False).stdout.strip()
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    need(
        version == ours,
        f"the test user cannot run {sys.executable}, and {system} is Python {version or '?'}, not {ours}",
    )
    venv = STATE / f"user-python-{TEST_PREFIX}"
    if not (venv / "bin" / "python").exists():
        run([system, "-m", "venv", "--without-pip", str(venv)])
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([str(venv / "bin" / "python"), "-c", where]).stdout.strip())
    for folder in [STATE, venv]:
        folder.chmod(0o755)
    packages = Path(sysconfig.get_paths()["purelib"])

    def imports() -> subprocess.CompletedProcess[str]:
        probe = [str(venv / "bin" / "python"), "-c", "import nbship, docker"]
        return run(["runuser", "-u", user, "--", *probe], check=False, cwd="/")

    (site / "nbship-tests.pth").write_text(f"import site; site.addsitedir({str(packages)!r})\n")
    if imports().returncode != 0:
        # The checkout is where the user may not read (under /root, say): a readable copy of what
        # the tests' own environment has, this checkout's source included.
        (site / "nbship-tests.pth").write_text(f"import site; site.addsitedir({str(_readable_copy(packages))!r})\n")
    result = imports()
    need(result.returncode == 0, f"the test user cannot import nbship: {result.stderr[-500:]}")
    return str(venv / "bin" / "python")


_DEV_ONLY = ("playwright", "mypy", "mypyc", "ruff", "hypothesis", "pip", "setuptools", "_pytest", "pytest")


def _readable_copy(packages: Path) -> Path:
    copy = STATE / f"user-site-{TEST_PREFIX}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(packages, copy, ignore=shutil.ignore_patterns(*_DEV_ONLY, "*__mypyc*"), symlinks=True)
    for pth in copy.glob("*.pth"):
        lines = pth.read_text().splitlines()
        moved = []
        for number, line in enumerate(lines):
            if line and not line.startswith(("import", "#")) and Path(line).is_dir():
                target = copy / f"_source_{number}_{pth.stem}"
                shutil.copytree(line, target, symlinks=True)
                line = str(target)
            moved.append(line)
        pth.write_text("\n".join(moved) + "\n")
    for path in [copy, *copy.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    return copy


def make_test_user() -> EngineUser:
    """A non-root user with sub-uid/sub-gid ranges, a runtime folder and Podman storage on overlay
    (created when missing; its home keeps engine caches between runs)."""
    need(os.geteuid() == 0, "creating the test user needs root")
    for tool in ("newuidmap", "slirp4netns", "rootlesskit", "podman"):
        need(shutil.which(tool) is not None, f"{tool} is not installed: run scripts/setup-test-machine.sh")
    need(
        Path("/dev/net/tun").exists() and os.stat("/dev/net/tun").st_mode & 0o006 == 0o006,
        "/dev/net/tun is not usable by users (scripts/setup-test-machine.sh makes it 0666)",
    )
    name = TEST_PREFIX[:32]
    for ids in ("/etc/subuid", "/etc/subgid"):
        Path(ids).touch()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", name])
        entry = pwd.getpwnam(name)
    start = 300000 + _slot("subids", 8000) * 65536
    for flag, ids in (("--add-subuids", "/etc/subuid"), ("--add-subgids", "/etc/subgid")):
        if not any(line.split(":")[0] == name for line in Path(ids).read_text().splitlines()):
            run(["usermod", flag, f"{start}-{start + 65535}", name])
    runtime = Path(f"/run/user/{entry.pw_uid}")
    runtime.mkdir(parents=True, exist_ok=True)
    os.chown(runtime, entry.pw_uid, entry.pw_gid)
    runtime.chmod(0o700)
    home = Path(entry.pw_dir)
    # Storage on overlay, as Fedora sets it up; without a config this Podman falls back to vfs here.
    storage = home / ".config" / "containers" / "storage.conf"
    storage.parent.mkdir(parents=True, exist_ok=True)
    storage.write_text('[storage]\ndriver = "overlay"\n')
    for path in (home / ".config", storage.parent, storage):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return EngineUser(name, entry.pw_uid, entry.pw_gid, home, _python_for(name))


def podman_has(user: EngineUser, image: str) -> bool:
    return user.run("podman", "image", "exists", image, check=False).returncode == 0


def give_podman_base_image(user: EngineUser) -> None:
    """The stand-in base image in the user's Podman storage, under its official name."""
    official = f"docker.io/library/{BASE_IMAGE}"
    if podman_has(user, official):
        return
    load_image_from_default(["podman", "load"], BASE_IMAGE, user=user)
    user.run("podman", "tag", f"localhost/{BASE_IMAGE}", official)
    user.run("podman", "untag", f"localhost/{BASE_IMAGE}", f"localhost/{BASE_IMAGE}", check=False)


@contextlib.contextmanager
def rootless_dockerd(user: EngineUser) -> Iterator[str]:
    """dockerd-rootless.sh run by the user; yields its DOCKER_HOST."""
    need(Path("/usr/share/docker.io/contrib/dockerd-rootless.sh").exists(), "dockerd-rootless.sh is missing")
    socket_path = user.runtime_dir / "docker.sock"
    host = f"unix://{socket_path}"
    log = (user.runtime_dir / "dockerd-rootless.log").open("wb")
    process = subprocess.Popen(
        user.command(["dockerd-rootless.sh"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers() -> bool:
        return run([DOCKER, "-H", host, "info"], check=False).returncode == 0

    try:
        try:
            wait_for(answers, 60, "rootless dockerd")
        except AssertionError:
            log.flush()
            raise AssertionError((user.runtime_dir / "dockerd-rootless.log").read_text()[-3000:]) from None
        if run([DOCKER, "-H", host, "image", "inspect", BASE_IMAGE], check=False).returncode != 0:
            load_image_from_default([DOCKER, "-H", host, "load"], BASE_IMAGE)
        yield host
    finally:
        _stop_group(process)
        log.close()


def remove_podman_leftovers(user: EngineUser) -> None:
    """Containers, volumes and images this session's tests made in the user's Podman storage."""
    for label in ("io.nbship.managed=true", "io.podman.compose.project"):
        ids = user.run("podman", "ps", "-a", "-q", "--filter", f"label={label}", check=False).stdout.split()
        if ids:
            user.run("podman", "rm", "-f", "-v", *ids, check=False)
    names = user.run("podman", "volume", "ls", "-q", "--filter", "label=io.nbship.managed=true", check=False).stdout
    if names.split():
        user.run("podman", "volume", "rm", "-f", *names.split(), check=False)
    images = user.run("podman", "images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    ours = [ref for ref in images if ref.split("/", 1)[-1].startswith(f"{TEST_PREFIX}/") or f"/{TEST_PREFIX}/" in ref]
    if ours:
        user.run("podman", "rmi", "-f", *ours, check=False)
    # Rootless Podman keeps a pause process holding its user namespace; it started with the tests.
    pause = user.runtime_dir / "libpod" / "tmp" / "pause.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pause.read_text().strip()), signal.SIGTERM)


def remove_docker_leftovers(host: str) -> None:
    """The same on another Docker daemon (rootless, or the second one)."""

    def docker(*args: str) -> list[str]:
        return run([DOCKER, "-H", host, *args], check=False).stdout.split()

    containers = docker("ps", "-a", "-q", "--filter", "label=io.nbship.managed=true")
    if containers:
        docker("rm", "-f", "-v", *containers)
    volumes = docker("volume", "ls", "-q", "--filter", "label=io.nbship.managed=true")
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    images = [ref for ref in listed if ref.startswith(f"{TEST_PREFIX}/")]
    if images:
        docker("rmi", "-f", *images)
