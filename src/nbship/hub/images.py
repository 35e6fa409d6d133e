"""The two images a hub runs, as Dockerfiles: the hub image (JupyterHub and its proxy, the same for
every project, named after its inputs) and the users' image (the project's image made hub-ready).

The users' image is the project's image with one layer on top that adds JupyterHub's single-user
server, unless the image has one already. The project's own image stays as it is: `nbship up`,
`check` and `push` never see JupyterHub, and one hub-ready layer works for every kind of project
and for any image given with --image (a conda environment, an own Dockerfile, a registry's image).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nbship import __version__
from nbship import contract as c
from nbship.references import split_reference
from nbship.render.dockerfile import ca_values, template_environment

JUPYTERHUB_VERSION = "6.1.1"  # the hub's own version too: hub/payload/requirements.in pins the same
SINGLEUSER_REQUIREMENT = f"jupyterhub=={JUPYTERHUB_VERSION}"
HUB_BASE_IMAGE = "python:3.11-slim"  # requirements.txt is locked for this Python
# The hub image's build context: nbship's hub files (hub/payload), copied as they are.
CONTEXT_FILES = ("package.json", "package-lock.json", "requirements.txt")
HUB_FILES = ("entrypoint.sh", "jupyterhub_config.py", "nbship_hub.py", "nbship_hub_state.py")
SUFFIX = "-hub"  # the users' image is the project's tag plus this: sst:latest -> sst:latest-hub


def payload_file(name: str) -> bytes:
    return resources.files("nbship.hub.payload").joinpath(name).read_bytes()


def hub_dockerfile(*, buildkit: bool) -> str:
    template = template_environment("nbship.hub").get_template("hub.Dockerfile.j2")
    return template.render(
        version=__version__,
        base=HUB_BASE_IMAGE,
        proxy_dir=c.HUB_PROXY_DIR,
        hub_dir=c.HUB_DIR,
        env_prefix=c.HUB_ENV_PREFIX,
        state_dir=c.HUB_STATE_DIR,
        state_env=c.HUB_STATE_ENV,
        state_folder=c.HUB_STATE_FOLDER,
        uid=c.HUB_UID,
        user=c.HUB_USER,
        port=c.HUB_PORT,
        files=HUB_FILES,
        labels=((c.LABEL_VERSION, __version__), (c.OCI_TITLE, "nbship hub")),
        **ca_values(buildkit=buildkit),
    )


@functools.cache
def hub_image(*, buildkit: bool) -> str:
    """The hub image's reference: its tag changes whenever its Dockerfile or a file it copies does."""
    digest = hashlib.sha256(hub_dockerfile(buildkit=buildkit).encode())
    for name in (*CONTEXT_FILES, *HUB_FILES):
        digest.update(f"\0{name}\0".encode())
        digest.update(hashlib.sha256(payload_file(name)).digest())
    return f"{c.HUB_REPOSITORY}:{__version__}-{digest.hexdigest()[:12]}"


def write_hub_context(folder: Path) -> None:
    """The hub image's build context: nbship's hub files, nothing else."""
    for name in (*CONTEXT_FILES, *HUB_FILES):
        (folder / name).write_bytes(payload_file(name))


def singleuser_dockerfile(image: str, *, buildkit: bool) -> str:
    template = template_environment("nbship.hub").get_template("singleuser.Dockerfile.j2")
    return template.render(
        version=__version__,
        image=image,
        command=c.SINGLEUSER_COMMAND,
        requirement=SINGLEUSER_REQUIREMENT,
        label=c.LABEL_SINGLEUSER,
        jupyterhub=JUPYTERHUB_VERSION,
        port=c.CONTAINER_PORT,
        **ca_values(buildkit=buildkit),
    )


@dataclass(frozen=True)
class UsersImage:
    reference: str  # what users' servers run
    derived: bool  # True: nbship adds the single-user layer to `source`


def users_image(source: str, labels: dict[str, str] | None, tag: str | None = None) -> UsersImage:
    """The hub-ready image for `source`: `source` itself when nbship made it hub-ready already
    (its label says so) and no `tag` is asked for, else `tag` or the source's tag with SUFFIX."""
    if tag is not None:
        return UsersImage(tag, derived=True)
    if labels is not None and c.LABEL_SINGLEUSER in labels:
        return UsersImage(source, derived=False)
    parts = split_reference(source)
    repository = f"{parts.domain}/{parts.path}" if parts.domain else parts.path
    if parts.digest:
        return UsersImage(f"{repository}:hub-{parts.digest.removeprefix('sha256:')[:12]}", derived=True)
    return UsersImage(f"{repository}:{(parts.tag or 'latest')[: 128 - len(SUFFIX)]}{SUFFIX}", derived=True)
