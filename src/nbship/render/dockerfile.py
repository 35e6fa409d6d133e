"""BuildPlan → Dockerfile text, through one Jinja template."""

from __future__ import annotations

import json
import shlex
from importlib import resources

import jinja2

from nbship import __version__
from nbship.project import plan as p

_CA_SECRET = "/run/secrets/nbship-ca"
# Exported only when the build was given a CA bundle; every client nbship's steps use reads one of these.
_CA_ENV = (
    f"CA=; if [ -s {_CA_SECRET} ]; then CA={_CA_SECRET}; "
    "export SSL_CERT_FILE=$CA PIP_CERT=$CA REQUESTS_CA_BUNDLE=$CA CURL_CA_BUNDLE=$CA GIT_SSL_CAINFO=$CA; fi;"
)


# JupyterLab defaults for a served analysis: no prompt to fetch news or check for updates from
# the internet (the server may be offline, and a colleague reproducing it should see the work).
_LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def _template(name: str) -> str:
    return resources.files("nbship.render").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def _copy_args(source: str, destination: str) -> str:
    """COPY's arguments; the JSON form where a name has white space, which the plain form splits on."""
    if any(ch.isspace() for ch in source + destination):
        return json.dumps([source, destination])
    return f"{source} {destination}"


def entrypoint_script() -> str:
    return (
        _template("entrypoint.sh")
        .replace("__WORKDIR__", p.WORKDIR)
        .replace("__CONTENT_DIR__", p.CONTENT_DIR)
        .replace("__PORT__", str(p.CONTAINER_PORT))
        .replace("__REFRESH__", p.REFRESH)
        .replace("__MANIFEST__", p.MANIFEST)
    )


def refresh_script() -> str:
    """nbship.image.refresh as the file the image runs (it is standard-library Python only)."""
    return resources.files("nbship.image").joinpath("refresh.py").read_text(encoding="utf-8")


def conda_installer_lines() -> list[str]:
    """The builder stage's installer (nbship/conda/install.py), written into the stage line by line."""
    return resources.files("nbship.conda").joinpath("install.py").read_text(encoding="utf-8").splitlines()


def slim_script() -> str:
    """nbship.image.slim as the file the env stage runs (standard-library Python only)."""
    return resources.files("nbship.image").joinpath("slim.py").read_text(encoding="utf-8")


def _strip_step(plan: p.BuildPlan) -> str:
    """Appended to every install step of the env stage: the trim runs in the layer that installed."""
    if not plan.strip:
        return ""
    keep = "".join(f" --keep {name}" for name in plan.strip_keep)
    return f"; \\\n    {p.ENV_PREFIX}/bin/python {p.SLIM} {p.ENV_PREFIX}{keep}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _template(name)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - the output is a Dockerfile, not HTML
    )
    env.filters["shquote"] = shlex.quote
    env.globals["copy_args"] = _copy_args
    return env


def _mounts(cache_target: str, *, buildkit: bool) -> str:
    """A RUN's download cache and optional CA secret (BuildKit only)."""
    if not buildkit:
        return ""
    return (
        f"--mount=type=cache,target={cache_target},sharing=locked \\\n    "
        "--mount=type=secret,id=nbship-ca,mode=0444,required=false \\\n    "
    )


def render_dockerfile(plan: p.BuildPlan) -> str:
    if plan.installer == "uv":
        install = f"/opt/nbship/tools/bin/uv pip install --python {p.ENV_PREFIX}/bin/python"
        cache_target = "/root/.cache/uv"
    else:
        install = f"{p.ENV_PREFIX}/bin/python -m pip install"
        cache_target = "/root/.cache/pip"
    mounts = _mounts(cache_target, buildkit=plan.buildkit)
    text = (
        _environment()
        .get_template("Dockerfile.j2")
        .render(
            plan=plan,
            version=__version__,
            install=install,
            mounts=mounts,
            ca_env=_CA_ENV if plan.buildkit else "",
            env_prefix=p.ENV_PREFIX,
            content_dir=p.CONTENT_DIR,
            data_dir=p.DATA_DIR,
            manifest=p.MANIFEST,
            workdir=p.WORKDIR,
            port=p.CONTAINER_PORT,
            uv_requirement=p.UV_REQUIREMENT,
            dumb_init_requirement=p.DUMB_INIT_REQUIREMENT,
            entrypoint_lines=entrypoint_script().splitlines(),
            refresh_lines=refresh_script().splitlines(),
            refresh=p.REFRESH,
            rattler_requirement=p.RATTLER_REQUIREMENT,
            conda_installer_lines=conda_installer_lines() if plan.conda_lock else [],
            pip_mounts=_mounts("/root/.cache/pip", buildkit=plan.buildkit),
            slim=p.SLIM,
            slim_lines=slim_script().splitlines() if plan.strip else [],
            strip=_strip_step(plan),
            lab_overrides=json.dumps(_LAB_OVERRIDES, separators=(",", ":")),
        )
    )
    return text.rstrip() + "\n"
