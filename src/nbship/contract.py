"""The image contract, defined once: what an nbship image and nbship's containers agree on.

Labels, paths inside the image, the server's port, environment variable names and build secret
ids. The Dockerfile template, the compose file, the engine calls and the code that runs inside
the image (nbship.payload) all take these values from here; the payload files, which run on the
image's own Python or shell and cannot import nbship, repeat the few they need, and
tests/unit/test_contract.py pins that they agree.
"""

from __future__ import annotations

# -- The notebook user and the folders of an image -------------------------------------------
NB_USER = "jovyan"  # Binder's name for the notebook user: notebooks that hard-code it keep working
DEFAULT_UID = 1000
HOME = f"/home/{NB_USER}"
WORKDIR = f"{HOME}/work"  # the work folder: a named volume by default
NBSHIP_DIR = "/opt/nbship"
ENV_PREFIX = f"{NBSHIP_DIR}/env"  # the environment (a virtualenv or a conda prefix)
CONTENT_DIR = f"{NBSHIP_DIR}/project"  # the project as the image delivers it, outside any volume
DATA_DIR = f"{NBSHIP_DIR}/data"  # data/, read-only, linked from the work folder
MANIFEST = f"{NBSHIP_DIR}/manifest.json"  # what the image delivers, file by file
SBOM = f"{NBSHIP_DIR}/sbom.spdx.json"  # what the image holds, package by package (SPDX 2.3 JSON)
BIN_DIR = f"{NBSHIP_DIR}/bin"  # nbship's run-time support files (payload/bin)
BUILD_DIR = f"{NBSHIP_DIR}/build"  # nbship's build-time support files (payload/build), build stages only
TOOLS_DIR = f"{NBSHIP_DIR}/tools"  # uv and dumb-init, build stages only
RATTLER_DIR = f"{NBSHIP_DIR}/rattler"  # py-rattler for a conda install, build stages only
ENTRYPOINT = f"{BIN_DIR}/entrypoint"
REFRESH = f"{BIN_DIR}/nbship-refresh"
SBOM_WRITER = f"{BIN_DIR}/nbship-sbom"  # payload/sbom.py: writes SBOM in the image's last step
DUMB_INIT = f"{BIN_DIR}/dumb-init"
ASSEMBLE_MODULE = "nbship_build.assemble"  # payload/assemble.py and its siblings, under BUILD_DIR
LAYERS_DIR = f"{NBSHIP_DIR}/layers"  # the environment laid out in layer trees, build stages only
ENV_LAYERS = 14  # how many layers the environment is cut into (payload/layers.py budget: 2 base, 4 server, 8 packages)
BYTECODE_MODULE = "nbship_build.bytecode"  # payload/bytecode.py: the server's bytecode, in a stage of its own
BYTECODE_LIST = f"{LAYERS_DIR}/bytecode.json"  # what that stage compiles, written by the assembly
BYTECODE_DIR = f"{NBSHIP_DIR}/bytecode"  # the compiled bytecode laid out from the root, build stages only
CONDA_INSTALLER = f"{BUILD_DIR}/nbship-conda-install"
CONDA_PIP_DIR = f"{BUILD_DIR}/conda-pip"  # the lock's PyPI packages as hashed requirements (pip.txt, jupyterlab.txt)
PIPFILE_LOCK_READER = f"{BUILD_DIR}/nbship-pipfile-lock"
SEED_WHEELS = f"{BUILD_DIR}/nbship-seed-wheels"  # the pip and setuptools wheels the base Python ships
LAB_OVERRIDES = f"{BUILD_DIR}/lab-overrides.json"
R_INSTALLER = f"{BUILD_DIR}/nbship-r-install"  # install.R and DESCRIPTION dependencies (payload/r_install.R)
R_LIBRARY = f"{NBSHIP_DIR}/rlib"  # the R packages a project installs, owned by the notebook user
# The work folder's own record of what the image delivered last (written by nbship-refresh).
RECORD_DIR = ".nbship"
RECORD = f"{RECORD_DIR}/delivered.json"
# Served from the image through a link rather than copied into the work folder.
LINKED_DIRS = ("data",)
# Folders never searched for notebooks, on the host and by nbship check in the image.
SKIP_DIRS = frozenset({".git", ".ipynb_checkpoints", "__pycache__", ".venv", "venv", "node_modules", ".tox", ".nbship"})

# -- Every container nbship starts or writes a compose file for -------------------------------
# No process in it gains privileges: a setuid file in a volume runs as whoever calls it.
NO_NEW_PRIVILEGES = "no-new-privileges:true"

# -- The server ------------------------------------------------------------------------------
CONTAINER_PORT = 8888
LOOPBACK = "127.0.0.1"

# -- Environment variables --------------------------------------------------------------------
TOKEN_ENV = "JUPYTER_TOKEN"
WORKDIR_ENV = "NBSHIP_WORKDIR"  # where the image keeps the work (read by nbship for --image images)
CONTENT_ENV = "NBSHIP_CONTENT"
START_ENV = "NBSHIP_START"  # the project's start script, relative to CONTENT_DIR
CHANNEL_MAP_ENV = "NBSHIP_CHANNEL_MAP"
RATTLER_AUTH_ENV = "RATTLER_AUTH_FILE"
# Binder's names, which postBuild scripts, start scripts and notebooks written for Binder use.
REPO_DIR_ENV = "REPO_DIR"  # the project folder as the image has it (CONTENT_DIR)
NB_USER_ENV = "NB_USER"
NB_UID_ENV = "NB_UID"
NB_PYTHON_PREFIX_ENV = "NB_PYTHON_PREFIX"  # the environment the server and the kernel run from
KERNEL_PYTHON_PREFIX_ENV = "KERNEL_PYTHON_PREFIX"
# Where Binder puts user-installed tools on PATH (postBuild installs them there), first.
LOCAL_BIN_DIRS = (f"{HOME}/.local/bin", f"{CONTENT_DIR}/.local/bin")
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"  # reproducible-builds.org's name: the clock of a build
BASE_DIGEST_ENV = "NBSHIP_BASE_DIGEST"  # a build argument: the base image's digest, for the SBOM
R_LIBS_ENV = "R_LIBS_USER"  # R's own variable: the library R installs into and loads from first
# Fetched sources (nbship.sources): on the host only, never passed into a build or a container.
CACHE_DIR_ENV = "NBSHIP_CACHE_DIR"  # default: $XDG_CACHE_HOME/nbship, else ~/.cache/nbship
DOI_RESOLVER_ENV = "NBSHIP_DOI_RESOLVER"  # default https://doi.org
FIGSHARE_API_ENV = "NBSHIP_FIGSHARE_API"  # default https://api.figshare.com/v2
ZENODO_TOKEN_ENV = "NBSHIP_ZENODO_TOKEN"  # sent as a Bearer token to Zenodo / InvenioRDM hosts only
FIGSHARE_TOKEN_ENV = "NBSHIP_FIGSHARE_TOKEN"  # sent to Figshare's API only
DATAVERSE_TOKEN_ENV = "NBSHIP_DATAVERSE_TOKEN"  # sent as X-Dataverse-key to the dataset's host only

# -- Build secrets (BuildKit --secret ids) ----------------------------------------------------
SECRET_DIR = "/run/secrets"
CA_SECRET = "nbship-ca"
CHANNEL_AUTH_SECRET = "nbship-channel-auth"
CHANNEL_MAP_SECRET = "nbship-channel-map"

# -- Labels -----------------------------------------------------------------------------------
LABEL_PREFIX = "io.nbship."
LABEL_VERSION = "io.nbship.version"
LABEL_FINGERPRINT = "io.nbship.fingerprint"
LABEL_PROJECT_ID = "io.nbship.project-id"
LABEL_PROJECT_PATH = "io.nbship.project-path"
LABEL_IMAGE_REPOSITORY = "io.nbship.image-repository"  # on a volume `up --image` created: for which image
LABEL_MANAGED = "io.nbship.managed"
LABEL_PORT = "io.nbship.port"
LABEL_BIND = "io.nbship.bind"
LABEL_MOUNT = "io.nbship.mount"
LABEL_CHECK = "io.nbship.check"
LABEL_RUN = "io.nbship.run"  # on `nbship run` containers: the project id (never io.nbship.project-id,
# which marks the project's one server container)
LABEL_SOURCE = "io.nbship.source"  # the reference a fetched project was built from, credential-free
OCI_SOURCE = "org.opencontainers.image.source"
OCI_REVISION = "org.opencontainers.image.revision"
OCI_CREATED = "org.opencontainers.image.created"
OCI_TITLE = "org.opencontainers.image.title"

# -- nbship's support files in a build --------------------------------------------------------
# The stage the Dockerfile copies them from, and the folder `nbship init` writes them into.
SUPPORT_STAGE = "nbship"
SUPPORT_REPOSITORY = "nbship/support"
# The one-layer image (an empty /nbship) whose never-started containers reach volumes for export and
# import on Docker.
HELPER_REPOSITORY = "nbship/volume-helper"
SUPPORT_FOLDER = ".nbship-image"

# -- nbship archive: one file that `docker load` reads, with what a reader needs beside the image --
ARCHIVE_FOLDER = "nbship-archive"  # inside the tar, beside docker save's files (docker load skips it)
ARCHIVE_CHECKSUMS = f"{ARCHIVE_FOLDER}/SHA256SUMS"  # the tar's last member: every other one's sha256
ARCHIVE_INFO = f"{ARCHIVE_FOLDER}/archive.json"  # the image's reference and id, the SBOM's digest
LOCK_FILES = ("requirements.lock", "nbship.lock", "Pipfile.lock")  # the locks an image's project may hold
LOCK_FOLDERS = ("", "binder", ".binder")  # where, in the project, the locks sit

# -- nbship check -----------------------------------------------------------------------------
CHECK_EVENT_PREFIX = "::nbship-check::"  # one runner event per line (payload/check_runner.py)

# -- nbship hub -------------------------------------------------------------------------------
# The hub image nbship builds (hub/payload) and the containers, volumes and networks of a hub.
HUB_REPOSITORY = "nbship/hub"  # tagged <nbship version>-<digest of the image's inputs>
HUB_DIR = f"{NBSHIP_DIR}/hub"  # the hub's own files in the hub image (hub/payload)
HUB_ENV_PREFIX = f"{HUB_DIR}/env"  # JupyterHub, DockerSpawner, the idle culler, OAuthenticator
HUB_PROXY_DIR = f"{HUB_DIR}/proxy"  # configurable-http-proxy
HUB_STATE_DIR = "/srv/jupyterhub"  # the hub's database, cookie secret and nbship's state: a volume
HUB_STATE_ENV = "NBSHIP_HUB_STATE"  # where the hub finds nbship's state files (hub/payload reads it)
HUB_STATE_FOLDER = "nbship"  # nbship's files in the state volume: hub.json, secrets.json, passwords.json
HUB_USER = "jupyterhub"
HUB_UID = 1000  # the hub runs as this user, with the engine socket's group (hub/payload/entrypoint.sh)
HUB_PORT = 8000  # the proxy, the hub's one public port (JupyterHub's own default)
HUB_API_PORT = 8081  # the hub itself, reached by the proxy and by users' servers on the hub's network
ENGINE_SOCKET = "/var/run/docker.sock"  # where the hub container finds the engine's socket
SINGLEUSER_COMMAND = "jupyterhub-singleuser"  # what a hub starts in a user's container
LABEL_HUB = "io.nbship.hub"  # the project id, on everything a hub made
LABEL_HUB_ROLE = "io.nbship.hub-role"  # hub, server, state or work
LABEL_HUB_USER = "io.nbship.hub-user"  # the JupyterHub user a server or a work volume belongs to
LABEL_SINGLEUSER = "io.nbship.hub-singleuser"  # on images nbship made hub-ready: JupyterHub's version
