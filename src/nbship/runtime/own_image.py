"""Serving an image whose command does not start Jupyter (a minimal Binder Dockerfile: the base
image's `python3`, or a shell), the way Binder serves it: the image's own Jupyter server, on
nbship's port, with nbship's token (JUPYTER_TOKEN, which jupyter_server and notebook read).

Whether the image has a server is found without running anything of it: a created, never started
container is asked, through the archive endpoint, for jupyter-lab, jupyter-notebook or
jupyter-server in each folder of the image's PATH.
"""

from __future__ import annotations

import contextlib
import posixpath
import re

from nbship import contract as c
from nbship.engine.base import ContainerSpec, Engine, ImageInfo
from nbship.errors import NbshipError, NotFoundError, RunError

# Process managers that run the command after them: the command decides.
_INITS = frozenset({"tini", "tini-static", "dumb-init", "catatonit"})
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "fish"})
_INTERPRETER = re.compile(r"^(i?python(\d+(\.\d+)?)?)$")
# Arguments that keep a shell or an interpreter interactive: it would exit at once without a terminal.
_INTERACTIVE_ARGS = frozenset({"-i", "-l", "--login", "-"})
# In order of preference: JupyterLab, then the notebook server, then a bare Jupyter server.
SERVERS = ("jupyter-lab", "jupyter-notebook", "jupyter-server")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ROOT_USERS = frozenset({"", "0", "root", "0:0", "root:root"})


def _without_init(words: list[str]) -> list[str]:
    while words and posixpath.basename(words[0]) in _INITS:
        words = words[1:]
        while words and words[0].startswith("-"):
            done = words[0] == "--"
            words = words[1:]
            if done:
                break
    return words


def starts_a_server(image: ImageInfo) -> bool:
    """False only when the image's command plainly is no server: none, or an interactive shell or
    Python (`CMD ["python3"]`, `bash`). Anything else is the image's own way of serving."""
    words = _without_init([*image.entrypoint, *image.cmd])
    if not words:
        return False
    program = posixpath.basename(words[0])
    interactive = program in _SHELLS or _INTERPRETER.match(program) is not None
    return not (interactive and all(arg in _INTERACTIVE_ARGS for arg in words[1:]))


def describe_command(image: ImageInfo) -> str:
    words = [*image.entrypoint, *image.cmd]
    return " ".join(words) if words else "none"


def find_server(engine: Engine, reference: str, image: ImageInfo) -> str | None:
    """The path of the image's Jupyter server program, or None."""
    path = image.env.get("PATH") or _DEFAULT_PATH
    folders = [folder for folder in path.split(":") if folder.startswith("/")]
    probe = engine.create(ContainerSpec(image=reference, command=("nbship-probe",), network=False))
    try:
        for name in SERVERS:
            for folder in folders:
                candidate = posixpath.join(folder, name)
                with contextlib.suppress(NotFoundError):
                    engine.get_archive(probe.id, candidate)
                    return candidate
    finally:
        engine.remove_container(probe.id)
    return None


def server_command(engine: Engine, reference: str, image: ImageInfo) -> tuple[str, ...] | None:
    """The command that serves the image (None: its own). Raises before anything is started when
    the image cannot be served."""
    if starts_a_server(image):
        return None
    try:
        server = find_server(engine, reference, image)
    except NbshipError as exc:
        raise RunError(f"Could not look into {reference} for a Jupyter server: {exc}") from exc
    command = describe_command(image)
    if server is None:
        raise RunError(
            f"The image {reference} does not start Jupyter by itself (its command is `{command}`) and has no "
            f"Jupyter server on its PATH ({', '.join(SERVERS)}), so there is nothing to serve. Install one in the "
            "Dockerfile (`RUN pip install jupyterlab`), or give the image a CMD that starts a server. "
            "Nothing was started."
        )
    if image.user.strip() in _ROOT_USERS:
        raise RunError(
            f"The image {reference} runs as root, and its Jupyter server refuses to serve as root. Add a "
            "notebook user to the Dockerfile as Binder asks (`ARG NB_USER`, `ARG NB_UID`, `RUN adduser ...`, "
            "`USER ${NB_UID}`): nbship passes both arguments. Nothing was started."
        )
    return (server, "--ip=0.0.0.0", f"--port={c.CONTAINER_PORT}", "--no-browser")
