"""Which Docker daemon nbship talks to, decided once, by the docker CLI's own rules.

The SDK and the CLI must address the same daemon. Each reads DOCKER_HOST and `docker context` on
its own, and they disagree at the edges: the SDK looks for contexts beside a config.json it finds
(so with DOCKER_CONFIG set and no config.json there yet, it misses the contexts the CLI sees and
falls back to the default socket), and the 20.10 CLI treats an empty DOCKER_HOST as set. So nbship
resolves the endpoint here, builds the SDK client from it, and pins every CLI it runs to the same
choice through that CLI's environment.

The CLI's order: DOCKER_HOST (with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), else the context named
by DOCKER_CONTEXT, else the config file's `currentContext` (`docker context use`), else the
default socket. Contexts live in $DOCKER_CONFIG (default ~/.docker)/contexts: meta/<sha256 of
the name>/meta.json holds the endpoint, tls/<sha256>/docker/ its CA, certificate and key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbship.errors import DockerUnavailableError

DEFAULT_CONTEXT = "default"


@dataclass(frozen=True)
class TlsFiles:
    """A context's TLS material (any file may be missing) and whether the daemon is verified."""

    ca: Path | None
    cert: Path | None
    key: Path | None
    verify: bool


@dataclass(frozen=True)
class DockerEndpoint:
    host: str  # "" for the platform's default socket
    chosen_by: str  # how it was chosen, for messages
    context: str  # the context the CLI is pinned to ("default" when DOCKER_HOST or nothing chose)
    tls: TlsFiles | None = None

    def describe(self) -> str:
        return f"{self.host or 'the default socket'} ({self.chosen_by})"

    @property
    def configured(self) -> bool:
        """Whether the user pointed Docker somewhere (DOCKER_HOST or a context), not at its default."""
        return self.chosen_by == "DOCKER_HOST" or self.context != DEFAULT_CONTEXT

    def cli_env(self) -> dict[str, str | None]:
        """Environment changes that pin a docker CLI to this endpoint (None: remove the variable)."""
        if self.chosen_by == "DOCKER_HOST":
            # The CLI reads DOCKER_HOST and its TLS variables as the SDK did; a context must not win.
            return {"DOCKER_CONTEXT": None}
        return {
            "DOCKER_HOST": None,
            "DOCKER_TLS_VERIFY": None,
            "DOCKER_CERT_PATH": None,
            "DOCKER_CONTEXT": self.context,
        }

    def sdk_kwargs(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """Arguments for docker.DockerClient that address this endpoint."""
        import docker.tls
        import docker.utils

        if self.chosen_by == "DOCKER_HOST":
            kwargs: dict[str, Any] = dict(docker.utils.kwargs_from_env(environment=dict(environ)))
        else:
            kwargs = {"base_url": self.host} if self.host else {}
            if self.tls is not None:
                client_cert = (str(self.tls.cert), str(self.tls.key)) if self.tls.cert and self.tls.key else None
                kwargs["tls"] = docker.tls.TLSConfig(
                    client_cert=client_cert,
                    ca_cert=str(self.tls.ca) if self.tls.ca else None,
                    verify=self.tls.verify,
                )
        if str(kwargs.get("base_url", "")).startswith("ssh://"):
            # The system's ssh client (and its config and agent) rather than paramiko, as the CLI does.
            kwargs["use_ssh_client"] = True
        return kwargs


def config_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get("DOCKER_CONFIG", "")
    return Path(configured).expanduser() if configured else Path.home() / ".docker"


def _context_id(name: str) -> str:
    import hashlib  # here: only a named context needs it, and OpenSSL's load is felt in `nbship status`

    return hashlib.sha256(name.encode()).hexdigest()


def _current_context(folder: Path) -> str | None:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DockerUnavailableError(
            f"The docker config file {path} could not be read ({exc}). Fix or remove it, then try again."
        ) from exc
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def load_context(folder: Path, name: str, chosen_by: str) -> DockerEndpoint:
    """The endpoint of the context `name` as the docker CLI stores it under `folder`."""
    meta = folder / "contexts" / "meta" / _context_id(name) / "meta.json"
    hint = f"`docker context ls` lists the contexts there; `docker context use {DEFAULT_CONTEXT}` goes back."
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DockerUnavailableError(
            f"The docker context '{name}' ({chosen_by}) does not exist in {folder / 'contexts'}. {hint}"
        ) from None
    except (OSError, ValueError) as exc:
        raise DockerUnavailableError(
            f"The docker context '{name}' could not be read from {meta} ({exc}). {hint}"
        ) from exc
    endpoints = data.get("Endpoints") if isinstance(data, dict) else None
    endpoint = endpoints.get("docker") if isinstance(endpoints, dict) else None
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("Host", ""), str):
        raise DockerUnavailableError(f"The docker context '{name}' in {meta} has no Docker endpoint. {hint}")
    tls_dir = folder / "contexts" / "tls" / _context_id(name) / "docker"
    tls = None
    if tls_dir.is_dir():
        found = {stem: tls_dir / f"{stem}.pem" for stem in ("ca", "cert", "key") if (tls_dir / f"{stem}.pem").is_file()}
        if found:
            tls = TlsFiles(
                found.get("ca"), found.get("cert"), found.get("key"), not endpoint.get("SkipTLSVerify", False)
            )
    return DockerEndpoint(str(endpoint.get("Host") or ""), chosen_by, name, tls)


def resolve(environ: Mapping[str, str] | None = None) -> DockerEndpoint:
    """The daemon the docker CLI would address with this environment."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return DockerEndpoint(env["DOCKER_HOST"], "DOCKER_HOST", DEFAULT_CONTEXT)
    folder = config_dir(env)
    if env.get("DOCKER_CONTEXT"):
        name, chosen_by = env["DOCKER_CONTEXT"], f"DOCKER_CONTEXT={env['DOCKER_CONTEXT']}"
    else:
        current = _current_context(folder)
        name, chosen_by = (current, f"docker context {current}") if current else (DEFAULT_CONTEXT, "")
    if name == DEFAULT_CONTEXT:
        return DockerEndpoint("", chosen_by or "no DOCKER_HOST or docker context set", DEFAULT_CONTEXT)
    return load_context(folder, name, chosen_by)
