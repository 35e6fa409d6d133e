"""BuildPlan → Dockerfile text: the skeleton template, with each input kind's fragments in place."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from importlib import resources
from typing import Any

import jinja2

from nbship import __version__
from nbship import contract as c
from nbship.project import plan as p
from nbship.project.kinds.base import Fragment
from nbship.values import dockerfile_string

_CA_FILE = f"{c.SECRET_DIR}/{c.CA_SECRET}"
# Exported only when the build was given a CA bundle; every client nbship's steps use reads one of these.
_CA_ENV = (
    f"CA=; if [ -s {_CA_FILE} ]; then CA={_CA_FILE}; "
    "export SSL_CERT_FILE=$CA PIP_CERT=$CA REQUESTS_CA_BUNDLE=$CA CURL_CA_BUNDLE=$CA GIT_SSL_CAINFO=$CA; fi;"
)
_CA_MOUNT = f"--mount=type=secret,id={c.CA_SECRET},mode=0444,required=false \\\n    "
# Build-stage paths that no image holds: nbship's programs (the refresh program and its modules)
# in the content stage, the locks in the SBOM's.
_STAGED_BIN = "/tmp/nbship/bin"  # noqa: S108 - inside a build stage
_CONTEXT_MOUNT = "/tmp/nbship/context"  # noqa: S108 - inside a build stage
_SBOM_LOCKS_DIR = "/tmp/nbship/locks"  # noqa: S108 - inside a build stage
# The content stage's layers apart from the project's rest: the specs (a tree like CONTENT_DIR's),
# and the notebooks with the manifest (a tree like NBSHIP_DIR's).
_CONTENT_STABLE = "/tmp/nbship/content/stable"  # noqa: S108 - inside a build stage
_CONTENT_LAST = "/tmp/nbship/content/last"  # noqa: S108 - inside a build stage
_BOOT_VENV = "/tmp/nbship/pip"  # noqa: S108 - a pip for a base image without one, in the env stage only
_BYTECODE_STORE = "nbship-bytecode"  # a folder of the download cache's mount (payload/bytecode.py)
_PLAIN_ENV_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def _copy_args(source: str, destination: str) -> str:
    """COPY's arguments; the JSON form where a name has white space, which the plain form splits on."""
    if any(ch.isspace() for ch in source + destination):
        return json.dumps([source, destination])
    return f"{source} {destination}"


def _envquote(value: str) -> str:
    """An ENV value as Docker reads it back: bare when plain, else double-quoted with escapes."""
    return value if _PLAIN_ENV_VALUE.match(value) else dockerfile_string(value)


def _environment() -> jinja2.Environment:
    return template_environment("nbship.render")


def template_environment(package: str) -> jinja2.Environment:
    """Jinja for Dockerfiles from the templates/ folder of `package`: strict, unescaped, with the
    `shquote` and `envquote` filters."""

    def load(name: str) -> str:
        return resources.files(package).joinpath("templates").joinpath(name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - the output is a Dockerfile, not HTML
    )
    env.filters["shquote"] = shlex.quote
    env.filters["envquote"] = _envquote
    env.filters["dockerstring"] = dockerfile_string
    env.globals["copy_args"] = _copy_args
    return env


def _mounts(cache_target: str, *, buildkit: bool) -> str:
    """A RUN's download cache and optional CA secret (BuildKit only)."""
    if not buildkit:
        return ""
    return f"--mount=type=cache,target={cache_target},sharing=locked \\\n    {_CA_MOUNT}"


def ca_values(*, buildkit: bool) -> dict[str, str]:
    """A RUN step's optional CA secret (`ca_mount`) and the exports that trust it (`ca_env`, which
    also sets CA to the file, or to nothing): BuildKit only."""
    return {"ca_env": _CA_ENV if buildkit else "", "ca_mount": _CA_MOUNT if buildkit else ""}


def _env_create(plan: p.BuildPlan) -> str:
    """The step that makes the environment. It gets what `python3 -m venv` gives (pip, and below
    Python 3.12 setuptools, in the versions the base Python ships): notebooks run `%pip install`.
    With uv, those wheels installed by uv instead of by ensurepip (~2 s), or from the index when
    the base Python ships none; without the Windows scripts uv adds."""
    if plan.installer != "uv":
        return f"python3 -m venv {c.ENV_PREFIX}"
    major, minor = (int(part) for part in plan.python.version.split(".")[:2])
    seeds = "pip setuptools" if (major, minor) < (3, 12) else "pip"
    return (
        f'{c.TOOLS_DIR}/bin/uv venv -q --allow-existing --python "$(command -v python3)" {c.ENV_PREFIX}; '
        f"rm -f {c.ENV_PREFIX}/bin/*.bat; "
        f"{c.TOOLS_DIR}/bin/uv pip install -q --python {c.ENV_PREFIX}/bin/python "
        f"$(python3 {c.SEED_WHEELS} {seeds})"
    )


def _tools_setup(requirement: str, wheels: Mapping[str, str] | None = None) -> str:
    """The step that installs one of nbship's programs (pinned, with no dependencies) under
    TOOLS_DIR. Programs, not modules: installed as files (--target), with the base image's pip
    when it has one, which saves a virtualenv and its ensurepip (~2 s). (Asking for pip by
    importing it: `pip --version` costs a whole start of pip, ~0.3 s.) With `wheels` (a machine,
    as `uname -m` names it, to the address of its wheel with the hash), the wheel for this machine
    comes from its address, and the requirement from the index when there is none or it fails."""
    pip = (
        f"if python3 -c 'import pip' >/dev/null 2>&1; then PIP='python3 -m pip'; "
        f"else python3 -m venv {_BOOT_VENV}; PIP='{_BOOT_VENV}/bin/python -m pip'; fi; "
        "export PIP_ROOT_USER_ACTION=ignore"
    )
    install = f"$PIP install -q --no-warn-script-location --no-deps --no-compile --target {c.TOOLS_DIR}"
    if not wheels:
        return f"{pip}; {install} {shlex.quote(requirement)}"
    name = requirement.split("=", 1)[0]
    cases = " ".join(f"{machine}) W={shlex.quote(f'{name} @ {url}')};;" for machine, url in wheels.items())
    return (
        f'{pip}; \\\n    case "$(uname -m)" in {cases} *) W=;; esac; \\\n'
        f'    if [ -z "$W" ] || ! {install} --retries 1 --timeout 30 "$W"; then \\\n'
        f'      [ -z "$W" ] || echo "nbship: installing {requirement} from the index instead" >&2; \\\n'
        f"      rm -rf {c.TOOLS_DIR}; {install} {shlex.quote(requirement)}; \\\n    fi"
    )


def shared_values(plan: p.BuildPlan) -> dict[str, Any]:
    """What the skeleton and every fragment may use, besides a fragment's own values."""
    if plan.installer == "uv":
        install = f"{c.TOOLS_DIR}/bin/uv pip install --python {c.ENV_PREFIX}/bin/python"
        cache_target = "/root/.cache/uv"
        installer_env = "UV_LINK_MODE=copy UV_CACHE_DIR=/root/.cache/uv" if plan.buildkit else "UV_NO_CACHE=1"
        installer_env += " UV_SYSTEM_CERTS=1"
    else:
        install = f"{c.ENV_PREFIX}/bin/python -m pip install"
        cache_target = "/root/.cache/pip"
        installer_env = "PIP_CACHE_DIR=/root/.cache/pip" if plan.buildkit else "PIP_NO_CACHE_DIR=1"
    env_create = _env_create(plan)
    keep = "".join(f" --keep {name}" for name in plan.strip_keep)
    # The server's bytecode compiles in a stage of its own, beside the COPY steps of the layers,
    # where that stage can run the environment's Python: BuildKit (the classic builder runs stages
    # one after the other, and mounts nothing) or another builder that reruns a step when what it
    # bind-mounts changes (`mount_context`: not Podman's Buildah before 1.35, not `nbship init`'s
    # Dockerfile, which anything may build), and a virtualenv on the base image's Python (a conda
    # prefix brings its own, which the assembly has moved into the layer trees).
    bytecode_stage = plan.buildkit and plan.mount_context and plan.strip and not plan.stage("env-base")
    # The folder of the download cache's mount that keeps the server's bytecode across builds.
    bytecode_store = f"--bytecode-store {cache_target}/{_BYTECODE_STORE}"
    lab_settings = f"{c.ENV_PREFIX}/share/jupyter/lab/settings"
    return {
        "plan": plan,
        "version": __version__,
        "buildkit": plan.buildkit,
        "install": install,
        "installer_env": installer_env,
        "mounts": _mounts(cache_target, buildkit=plan.buildkit),
        "cache_target": cache_target,
        "pip_mounts": _mounts("/root/.cache/pip", buildkit=plan.buildkit),
        **ca_values(buildkit=plan.buildkit),
        "ca_secret": c.CA_SECRET,
        # The install steps no longer trim: the assembly at the end of the env stage leaves out what
        # stripping removes while it lays the environment out in layers (payload/assemble.py).
        "strip": "",
        # A fixed hash seed: before Python 3.11, marshal writes a set constant's items in hash
        # order, so the server's bytecode would differ from one build to the next.
        "assemble": f"cd {c.BUILD_DIR}; PYTHONHASHSEED=0 {c.ENV_PREFIX}/bin/python -m {c.ASSEMBLE_MODULE} "
        f"{c.ENV_PREFIX} {c.LAYERS_DIR} --uid {plan.uid} --layers {c.ENV_LAYERS} --move"
        + (f" --strip{keep}" if plan.strip else ""),
        # The stage whose last step lays the environment out (payload/assemble.py).
        "layers_stage": "env-project" if plan.stage("project") else "env",
        "layers_dir": c.LAYERS_DIR,
        "bytecode_stage": bytecode_stage,
        "bytecode_compile": f"cd {c.BUILD_DIR}; PYTHONHASHSEED=0 python3 -m {c.BYTECODE_MODULE} {c.BYTECODE_LIST} "
        f"{c.BYTECODE_DIR} --uid {plan.uid} {bytecode_store}",
        "bytecode_store": bytecode_store,
        "bytecode_dir": c.BYTECODE_DIR,
        "env_layers": c.ENV_LAYERS,
        # The environment every stage on the base image starts from (system, tools).
        "base_env": "LANG=C.UTF-8 LC_ALL=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1",
        # uv (the build's, with uv as the installer) from its wheel's address, which the env stage
        # waits for; dumb-init (the image's) in a stage of its own, which only the image stage needs.
        "uv_tools": plan.installer == "uv",
        "tools_setup": _tools_setup(p.UV_REQUIREMENT, p.UV_WHEELS),
        "init_setup": _tools_setup(p.DUMB_INIT_REQUIREMENT),
        "env_create": env_create,
        "lab_settings": f"mkdir -p {lab_settings}; cp {c.LAB_OVERRIDES} {lab_settings}/overrides.json",
        "jupyterlab": plan.jupyterlab,
        "support_stage": c.SUPPORT_STAGE,
        "support_folder": c.SUPPORT_FOLDER,
        "nbship_dir": c.NBSHIP_DIR,
        "env_prefix": c.ENV_PREFIX,
        "content_dir": c.CONTENT_DIR,
        "data_dir": c.DATA_DIR,
        "manifest": c.MANIFEST,
        "bin_dir": c.BIN_DIR,
        "build_dir": c.BUILD_DIR,
        "tools_dir": c.TOOLS_DIR,
        "dumb_init": c.DUMB_INIT,
        "refresh": c.REFRESH,
        "refresh_name": c.REFRESH.rsplit("/", 1)[1],
        "staged_bin": _STAGED_BIN,
        "content_stable": _CONTENT_STABLE,
        "content_last": _CONTENT_LAST,
        "content_name": c.CONTENT_DIR.removeprefix(c.NBSHIP_DIR + "/"),
        "manifest_name": c.MANIFEST.removeprefix(c.NBSHIP_DIR + "/"),
        # Without a step after the project's copy (postBuild), the manifest and the SBOM are made
        # where a notebook edit reruns the fewest steps; after one, they must see what it added.
        "early_records": not plan.stage("final"),
        # BuildKit mounts the context into the content stage's one RUN, unless a step (a script
        # made runnable) changes the copy before it is recorded.
        "context_mount": _CONTEXT_MOUNT
        if plan.mount_context and not plan.stage("final") and not plan.stage("content")
        else "",
        "sbom_locks": plan.sbom_locks,
        "sbom_locks_dir": _SBOM_LOCKS_DIR,
        "sbom": c.SBOM,
        "sbom_writer": c.SBOM_WRITER,
        "sbom_args": (c.SOURCE_DATE_EPOCH_ENV, c.BASE_DIGEST_ENV),
        "r_library": c.R_LIBRARY,
        "entrypoint": c.ENTRYPOINT,
        "workdir": c.WORKDIR,
        "workdir_env": c.WORKDIR_ENV,
        "home": c.HOME,
        "port": c.CONTAINER_PORT,
        # The first folder wins: tools a postBuild put in ~/.local/bin come before the environment's.
        "path_dirs": (*c.LOCAL_BIN_DIRS, f"{c.ENV_PREFIX}/bin"),
        "binder_env": (
            (c.REPO_DIR_ENV, c.CONTENT_DIR),
            (c.NB_USER_ENV, plan.user),
            (c.NB_UID_ENV, str(plan.uid)),
            (c.NB_PYTHON_PREFIX_ENV, c.ENV_PREFIX),
            (c.KERNEL_PYTHON_PREFIX_ENV, c.ENV_PREFIX),
        ),
    }


def _render_fragment(env: jinja2.Environment, fragment: Fragment, shared: Mapping[str, Any]) -> str:
    return env.from_string(fragment.template).render({**shared, **fragment.values})


def _last_instruction(text: str) -> str:
    """The last instruction of `text` (Dockerfile lines), from its first line to the end."""
    lines, last, continued = text.rstrip().split("\n"), 0, False
    for number, line in enumerate(lines):
        bare = line.strip()
        if not continued and bare and not bare.startswith("#"):
            last = number
        if bare and not bare.startswith("#"):
            continued = bare.endswith("\\")
    return "\n".join(lines[last:])


def with_assembly(text: str, assembly: str) -> str:
    """`text`, the env stage's last instructions, with the environment's assembly at the end: inside
    its last RUN when that is a shell-form RUN, so that the files that RUN installed are moved into
    the layer trees instead of copied (payload/assemble.py); else as a RUN of its own."""
    lines = text.rstrip().split("\n")
    start = _last_instruction(text).lstrip()
    if start.startswith("RUN ") and not start[4:].lstrip().startswith("["):
        # After its last line that is no comment. `&&`: a RUN that does not stop at its first
        # failure still fails when its last command does.
        end = max(n for n, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#"))
        lines[end] += f" && \\\n    {{ {assembly}; }}"
        return "\n".join(lines)
    return "\n".join([*lines, f"RUN {assembly}"])


def render_dockerfile(plan: p.BuildPlan) -> str:
    env = _environment()
    shared = shared_values(plan)
    rendered = {
        stage: [_render_fragment(env, fragment, shared) for fragment in plan.stage(stage)]
        for stage in ("stages", "system", "env", "project", "content", "image", "final")
    }
    env_base = [_render_fragment(env, fragment, shared) for fragment in plan.stage("env-base")]
    # The assembly ends the env stage's (or, with the project's own package, env-project's) last step.
    last = rendered["project"] or rendered["env"] or env_base
    # The server's bytecode is kept in the download cache's mount when the step has it, so a build
    # after a dependency change compiles only what changed.
    store = f" {shared['bytecode_store']}"
    mounted = f"--mount=type=cache,target={shared['cache_target']},"
    if shared["bytecode_stage"]:
        shared = {**shared, "assemble": shared["assemble"] + f" --defer-bytecode {c.BYTECODE_LIST}"}
        store = ""
    if last:
        keeps = plan.buildkit and mounted in _last_instruction(last[-1])
        last[-1] = with_assembly(last[-1], shared["assemble"] + (store if keeps else ""))
    else:
        shared = {**shared, "assemble": shared["assemble"] + (store if plan.buildkit else "")}
    values = {**shared, **rendered, "env_base": env_base[0] if env_base else "", "assemble_in_base": not last}
    text = env.get_template("Dockerfile.j2").render(values)
    return text.rstrip() + "\n"
