"""run: one command in a new container of the project's image, in its work folder, as the notebook
user; its output streamed and its exit code returned. How a colleague re-runs `python analysis.py`
or papermill in the author's environment."""

from __future__ import annotations

import secrets

from nbship import contract as c
from nbship import envvars
from nbship.commands.serve import check_mount, host_user, image_and_target, mount_choice, refuse_host_mount, work_mount
from nbship.engine import connect
from nbship.engine.base import ContainerSpec
from nbship.errors import UsageError
from nbship.options import BuildOptions, RunOptions
from nbship.reporter import RecordingReporter, Reporter
from nbship.runtime import servers
from nbship.sources.open import ProjectPath


def run_container_name(project_id: str) -> str:
    """Each run its own name, so runs of one project can go side by side (and beside its server)."""
    return f"nbship-run-{project_id}-{secrets.token_hex(3)}"


def run(
    *,
    path: ProjectPath | None = None,
    options: RunOptions,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> int:
    """Runs `options.command` in a new container (built or pulled when needed) and returns its exit
    code. The container is removed afterwards in every case, Ctrl-C included."""
    reporter = reporter or RecordingReporter()
    if not options.command:
        raise UsageError("Give the command to run after --, e.g. `nbship run . -- python analysis.py`.")
    if options.mount is not None:
        check_mount(options.mount, options.volume)
    envvars.check_names(options.env)
    refuse_host_mount(path, options.mount, "run the command in it as the work folder (--mount host)")
    engine = connect()
    image, info, target = image_and_target(engine, path, options.image, build_options, reporter)
    mount = work_mount(engine, target, mount_choice(target, options.mount, reporter), options.volume)
    spec = ContainerSpec(
        image=image,
        name=run_container_name(target.project_id),
        command=options.command,
        # Not io.nbship.project-id, which marks the project's one server: a run is not it.
        labels={c.LABEL_MANAGED: "true", c.LABEL_RUN: target.project_id, c.LABEL_PROJECT_PATH: target.label},
        env=dict(options.env),
        mounts=(mount.engine_mount(servers.image_workdir(info)),),
        user=host_user(mount, reporter),
        resources=options.resources.merged(target.settings.resources),
    )
    reporter.info(f"Running {' '.join(options.command)} in {image}; {mount.describe()}.")
    return engine.run_interactive(spec, tty=options.tty, stdin=options.stdin or options.tty)
