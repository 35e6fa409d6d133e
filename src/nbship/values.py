"""Values that nbship writes into Dockerfiles, shell lines, YAML, labels and messages, checked
where they enter and quoted where they leave.

A value from the user (a folder's name, a setting, a line of a project file, an image's config)
may hold anything. Whatever ends up in a Dockerfile or a compose file must stay one value there:
no line break that starts a new instruction or key, no `$` that Docker or Compose expands, no
comma that adds a `--mount` option. And no URL nbship records carries the credentials it was
written with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

# C0 and C1 control characters, DEL and Unicode's own line and paragraph separators: each can end
# a line for one reader or another (Docker's parser, YAML, a terminal).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters a Dockerfile's COPY source interprets: variables, glob patterns, the escape character.
_COPY_SPECIAL = frozenset("$*?[]\\")
# A container path nbship mounts on or writes into compose.yaml: absolute, plain characters only
# (no ',' that --mount reads as a separator, no ':' of volume shorthand, no '$' Compose expands).
_CONTAINER_PATH_RE = re.compile(r"^(/[A-Za-z0-9._@+~ -]+)+/?$")
_URL_USERINFO_RE = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/\s?#]+)@", re.IGNORECASE)
# git's scp-like remote syntax: user@host:path
_SCP_REMOTE_RE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>(?!//)[^\s]+)$")


def control_character(value: str) -> str | None:
    """The first control character (line break, tab, escape, ...) in `value`, if any."""
    found = _CONTROL_RE.search(value)
    return found.group(0) if found else None


def shown(value: str, limit: int = 120) -> str:
    """`value` as a message can show it on one line: control characters escaped, long ones cut."""
    text = _CONTROL_RE.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def copy_source_problem(path: str) -> str | None:
    """Why `path` cannot be named in a COPY instruction as it is (None: it can)."""
    if control_character(path):
        return "its name holds a line break or another control character"
    special = sorted(_COPY_SPECIAL & set(path))
    if special:
        return f"its name holds {' '.join(repr(ch) for ch in special)}, which a Dockerfile's COPY would interpret"
    if any(part != part.strip() for part in path.split("/")):
        return "a part of its name starts or ends with a space, which ignore files cannot name"
    return None


def container_path_problem(path: str) -> str | None:
    """Why `path` is not a folder nbship will mount a volume on (None: it is a plain absolute path)."""
    if not _CONTAINER_PATH_RE.match(path):
        return "it is not a plain absolute path (letters, digits, space and . _ @ + ~ - only)"
    if any(part in {".", ".."} for part in path.split("/")):
        return "it holds '.' or '..'"
    return None


def dockerfile_string(value: str, escape: str = "\\") -> str:
    """A double-quoted Dockerfile word holding exactly `value` (LABEL, ENV): `$` is not expanded.

    `escape` is the Dockerfile's escape character (a `# escape=` directive may make it a backtick)."""
    out = "".join(escape + ch if ch in {escape, '"', "$"} else ch for ch in value)
    return f'"{out}"'


def dockerfile_escape(text: str) -> str:
    """The escape character a Dockerfile's `# escape=` directive sets (a backslash without one)."""
    for line in text.splitlines():
        stripped = line.strip()
        match = re.match(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)\s*$", stripped)
        if not match:
            break  # parser directives come first; anything else ends them
        if match.group(1).lower() == "escape" and match.group(2) in {"\\", "`"}:
            return match.group(2)
    return "\\"


def label_instruction(labels: Mapping[str, str], dockerfile: str) -> str:
    """One LABEL instruction setting `labels`, quoted for `dockerfile` (what `--label` does)."""
    escape = dockerfile_escape(dockerfile)
    pairs = " ".join(
        f"{dockerfile_string(key, escape)}={dockerfile_string(value, escape)}" for key, value in labels.items()
    )
    return f"LABEL {pairs}"


def compose_literal(value: str) -> str:
    """A compose.yaml value Compose reads as written: `$` doubled, so nothing is interpolated."""
    return value.replace("$", "$$")


def public_url(url: str) -> str:
    """A URL as nbship may record it (an image label, a message): no user, password or token in
    it, nor a query or fragment, where tokens also travel. git's `user@host:path` becomes
    `ssh://host/path`."""
    url = url.strip()
    scp = _SCP_REMOTE_RE.match(url)
    if scp and "://" not in url:
        return f"ssh://{scp.group('host')}/{scp.group('path').lstrip('/')}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return redact_urls(url)
    if not parts.scheme or not parts.netloc:
        return redact_urls(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    netloc = host + (f":{port}" if port else "")
    return str(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def redact_urls(text: str) -> str:
    """`text` with the user and password taken out of every URL in it (`https://u:p@h` → `https://h`).
    A user with a password already masked (`u:****@`, how nbship shows what it refused) stays:
    a token given as the user has no `:`."""

    def strip(match: re.Match[str]) -> str:
        userinfo = match.group("userinfo")
        masked = userinfo.endswith(":****") and ":" not in userinfo[: -len(":****")]
        return match.group(0) if masked else match.group("scheme")

    return _URL_USERINFO_RE.sub(strip, text)
