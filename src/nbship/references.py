"""Image references (`registry/namespace/name:tag`), checked before Docker sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbship.errors import UsageError

# The distribution reference grammar, simplified to what a tag for `docker build -t` may be.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_REFERENCE_RE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@sha256:[a-f0-9]{{64}})?$"
)


@dataclass(frozen=True)
class Reference:
    domain: str | None  # a registry host ("ghcr.io", "127.0.0.1:5000"); None: Docker Hub
    path: str  # "alice/sst-analysis"
    tag: str | None
    digest: str | None


def _domain(candidate: str | None) -> str | None:
    if not candidate:
        return None
    return candidate if ("." in candidate or ":" in candidate or candidate == "localhost") else None


def split_reference(reference: str) -> Reference:
    """The parts of a reference that validate_reference accepted."""
    rest, _, digest = reference.partition("@")
    first, slash, remainder = rest.partition("/")
    domain = _domain(first) if slash else None
    name = remainder if domain else rest
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    path = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return Reference(domain, path, tag, digest or None)


def validate_reference(reference: str, *, what: str = "image name") -> str:
    """Returns `reference` with ':latest' added when it has no tag; raises UsageError when invalid."""
    match = _REFERENCE_RE.match(reference)
    domain = match.group("domain") if match else None
    is_host = bool(domain) and ("." in domain or ":" in domain or domain == "localhost")  # type: ignore[operator]
    # In "user/name" the first part is a path component, which must be lowercase like the rest.
    if match and domain and not is_host and not re.fullmatch(_COMPONENT, domain):
        match = None
    if not match or len(reference) > 255:
        raise UsageError(
            f"'{reference}' is not a valid {what}. Use lowercase letters, digits and . _ - separated "
            "by '/', optionally a registry host first and ':tag' last, e.g. 'sst-analysis:latest' "
            "or 'ghcr.io/alice/sst-analysis:1.0'."
        )
    last = reference.rsplit("/", 1)[-1]
    return reference if (":" in last or "@" in last) else f"{reference}:latest"
