"""A hub's state in its volume: hub.json (what to serve), secrets.json (the admin token and the
authenticator's secrets) and passwords.json (a scrypt hash per user), all of it written by nbship
before the hub starts, as a tar put into the stopped hub container.

The passwords themselves are made here, printed once by the CLI and never stored: the hub keeps
their hashes. A later `hub up` keeps each remaining user's hash and the admin token, so the
passwords handed out stay valid across `hub down` and `hub up`.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field

from nbship import contract as c
from nbship.hub.spec import HubSpec

HUB_FILE = "hub.json"
SECRETS_FILE = "secrets.json"
PASSWORDS_FILE = "passwords.json"
# scrypt's cost for the users' passwords (RFC 7914's interactive values: 16 MiB, ~50 ms a login).
# hub/payload/nbship_hub_state.verify reads the cost from each hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_password() -> str:
    """16 characters from 12 random bytes: typed once by a student, so no look-alike padding."""
    return secrets.token_urlsafe(12)


def new_token() -> str:
    return secrets.token_hex(32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


@dataclass(frozen=True)
class HubState:
    hub: Mapping[str, object]  # hub.json
    admin_token: str
    hashes: Mapping[str, str] = field(default_factory=dict)  # user -> password hash
    authenticator_secrets: Mapping[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        secret = {"admin_token": self.admin_token, "authenticator": dict(self.authenticator_secrets)}
        return {
            HUB_FILE: _dump(self.hub),
            SECRETS_FILE: _dump(secret),
            PASSWORDS_FILE: _dump(dict(sorted(self.hashes.items()))),
        }


def _dump(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Previous:
    """What an earlier `hub up` left in the state volume (empty for a new hub)."""

    admin_token: str | None = None
    hub: Mapping[str, object] = field(default_factory=dict)  # its hub.json
    hashes: Mapping[str, str] = field(default_factory=dict)
    users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)


def next_state(spec: HubSpec, previous: Previous, *, renew: bool) -> tuple[HubState, dict[str, str]]:
    """The state to start the hub with, and the passwords made now (user -> password).

    Users who had a password keep it unless `renew`; users no longer named lose it."""
    made: dict[str, str] = {}
    hashes: dict[str, str] = {}
    if spec.passwords:
        for user in dict.fromkeys((*spec.admins, *spec.users)):
            kept = previous.hashes.get(user)
            if kept is not None and not renew:
                hashes[user] = kept
            else:
                made[user] = new_password()
                hashes[user] = hash_password(made[user])
    auth = spec.authenticator
    state = HubState(
        hub=spec.hub_json(),
        admin_token=previous.admin_token or new_token(),
        hashes=hashes,
        authenticator_secrets=dict(auth.secrets) if auth else {},
    )
    return state, made


def archive(state: HubState) -> bytes:
    """The state as a tar to unpack at the state volume's mount point: the folder nbship/ and its
    files, owned by the hub's user, the secrets readable by it alone."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(c.HUB_STATE_FOLDER)
        folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o700, c.HUB_UID, c.HUB_UID
        tar.addfile(folder)
        for name, data in state.files().items():
            info = tarfile.TarInfo(f"{c.HUB_STATE_FOLDER}/{name}")
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, c.HUB_UID, c.HUB_UID
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_archive(data: bytes) -> Previous:
    """The state in a tar of the state folder as the engine's archive endpoint gives it; anything
    that does not parse counts as absent (a hub started afresh keeps no stale secret)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            name = member.name.split("/")[-1]
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and name in {HUB_FILE, SECRETS_FILE, PASSWORDS_FILE}:
                files[name] = handle.read()
    hub, secret, hashes = (_load(files.get(name)) for name in (HUB_FILE, SECRETS_FILE, PASSWORDS_FILE))
    token = secret.get("admin_token")
    return Previous(
        admin_token=token if isinstance(token, str) and len(token) >= 32 else None,
        hub=hub,
        hashes={user: value for user, value in hashes.items() if isinstance(value, str)},
        users=_names(hub.get("users")),
        admins=_names(hub.get("admins")),
        files=files,
    )


def _load(data: bytes | None) -> dict[str, object]:
    if data is None:
        return {}
    try:
        loaded = json.loads(data)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _names(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()
