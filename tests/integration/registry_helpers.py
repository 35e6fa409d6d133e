"""A real registry (Debian's docker-registry) on 127.0.0.1, optionally behind htpasswd basic auth."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import requests
from conftest import free_port, wait_until


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    username: str | None = None
    password: str | None = None


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code in {200, 401}
    except requests.RequestException:
        return False


@contextmanager
def running_registry(root: Path, *, user: tuple[str, str] | None = None) -> Iterator[Registry]:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.fail("docker-registry is not installed: run `bash scripts/setup-test-machine.sh` first")
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if user is not None:
        hashed = bcrypt.hashpw(user[1].encode(), bcrypt.gensalt(rounds=5)).decode()
        (root / "htpasswd").write_text(f"{user[0]}:{hashed}\n")
        auth = f"auth:\n  htpasswd:\n    realm: nbship-test\n    path: {root / 'htpasswd'}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_until(lambda: _answers(f"http://127.0.0.1:{port}/v2/"), timeout=30):
            pytest.fail(f"the test registry did not start: {(root / 'registry.log').read_text()[-2000:]}")
        yield Registry(f"127.0.0.1:{port}", *(user or (None, None)))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
