"""Where a project came from when it was named by a link (a git URL, a DOI, a record, an archive)
rather than a folder: the values its identity and its image labels are made from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """A fetched project's source, credential-free. Never a path of nbship's cache: two people who
    open the same reference get the same project id, image tag and volume."""

    reference: str  # as a user would give it again (shown, and in the io.nbship.source label)
    identity: str  # the canonical form the project id is hashed from
    name: str  # the project's default name (the `name` setting still wins)
    tag: str  # the default image tag's tag part: the git ref, else "latest"
    source_url: str  # the repository or record, for org.opencontainers.image.source
    revision: str  # what the reference resolved to: a commit, a record version, a content digest
