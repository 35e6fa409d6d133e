"""Small helpers that ask the real daemon (through the docker CLI) what an image or container is."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def docker(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, input=input, check=check, timeout=600)


def inspect(obj: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", obj).stdout)
    return data[0]


def run_in(image: str, script: str, *extra: str) -> str:
    """`docker run --rm IMAGE sh -c SCRIPT`: goes through the image's entrypoint like a user's run."""
    result = docker("run", "--rm", *extra, image, "sh", "-c", script, check=False)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def layers(image: str) -> list[str]:
    return list(inspect(image)["RootFS"]["Layers"])


def project_containers(project_id_prefix: str) -> list[str]:
    out = docker("ps", "-a", "--filter", "label=io.nbship.managed=true", "--format", "{{.Names}}").stdout
    return [name for name in out.split() if name.startswith(f"nbship-{project_id_prefix}")]


def bridge_gateway() -> str:
    """The host as build and run containers reach it (127.0.0.1 would be the container itself)."""
    out = docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}", check=False)
    return out.stdout.strip() or "172.17.0.1"
