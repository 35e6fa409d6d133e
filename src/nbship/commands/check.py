"""Checking: the project's notebooks executed headless in its image."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nbship import contract as c
from nbship import envvars
from nbship.check.execute import MissingNotebooks, RunSpec, run_check
from nbship.check.html import write_html
from nbship.check.inputs import image_settings, missing_error, notebook_option, project_settings
from nbship.check.output import inside, prepare_output_dir, write_output
from nbship.check.report import to_json
from nbship.check.results import CheckReport, with_comparisons
from nbship.commands.build import build_project
from nbship.commands.fresh import BuildOutcome
from nbship.commands.sbom import image_sbom
from nbship.engine import connect
from nbship.errors import NotFoundError, ProjectError, UsageError
from nbship.options import BuildOptions, CheckOptions, EngineChoice
from nbship.references import validate_reference
from nbship.reporter import RecordingReporter, Reporter
from nbship.sources.open import ProjectPath, engine_setting, open_project

DEFAULT_CHECK_TIMEOUT = 600  # seconds per cell


def check(
    *,
    path: ProjectPath | None = None,
    options: CheckOptions | None = None,
    build_options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    built: BuildOutcome | None = None,
    engine: EngineChoice | None = None,
) -> CheckReport:
    """Builds when needed, then executes the project's notebooks headless in a fresh container of
    its image and reports each one. Failing notebooks are in the report, not raised.
    `built`: what `build` just returned for this project; its image is checked as it is."""
    options = options or CheckOptions()
    reporter = reporter or RecordingReporter()
    if options.timeout is not None and options.timeout < 1:
        raise UsageError(f"--timeout {options.timeout}: give the seconds a cell may run, 1 or more.")
    if options.tolerance is not None and not (0 <= options.tolerance < 1):
        raise UsageError(f"--tolerance {options.tolerance}: give a relative tolerance such as 1e-6 (0 up to 1).")
    envvars.check_names(options.env)
    asked = tuple(notebook_option(name) for name in options.notebooks)
    output_dir = prepare_output_dir(options.output_dir) if options.output_dir else None
    html_dir = prepare_output_dir(options.html_dir, what="--html") if options.html_dir else None
    project_label: str | None = None
    project = open_project(path or Path("."), reporter=reporter) if path is not None or not options.image else None
    engine_used = connect(engine, setting=engine_setting(project), reporter=reporter)
    if project is not None:
        # A folder (and maybe an image): the folder's settings; its image unless one is given.
        project_label = project.label
        source = project_settings(project)
        for folder in (output_dir, html_dir):
            if folder is not None and inside(folder, project.root):
                reporter.warn(
                    f"{folder} is inside the project: what nbship writes there will be part of the next "
                    "build and of the next check. Add that folder to .dockerignore, or use a folder outside."
                )
    if options.image:
        image = validate_reference(options.image)
        if engine_used.image(image) is None:
            raise NotFoundError(f"The image {image} is not on this machine. Build it or pull it first.")
        if project is None:
            source = image_settings(engine_used, image)
    else:
        assert project is not None
        if built is None:
            built = build_project(engine_used, project, build_options or BuildOptions(), reporter)
        image = built.image
    compare = options.compare or options.tolerance is not None
    chosen = asked or source.settings.check.notebooks
    timeout = options.timeout or source.settings.check.timeout or DEFAULT_CHECK_TIMEOUT
    spec = RunSpec(
        image=image,
        notebooks=chosen,
        timeout=timeout,
        network=options.network,
        skip_dirs=tuple(c.SKIP_DIRS),
        keep_originals=compare,
        env=options.env,
        resources=options.resources.merged(source.settings.resources),
    )
    # Named before the run, so the report says which image was proven even if the tag moves later.
    checked = engine_used.image(image)
    image_id = checked.id if checked is not None else ""
    sbom = image_sbom(engine_used, image, image_id) if checked is not None else None
    started = dt.datetime.now(dt.timezone.utc)
    try:
        outcome = run_check(engine_used, spec, reporter)
    except MissingNotebooks as exc:
        raise missing_error(exc, from_option=bool(options.notebooks), source=source, image=image) from exc
    if not outcome.results:
        where = project_label or f"the image {image} ({outcome.root})"
        raise ProjectError(f"There are no notebooks in {where}, so there is nothing to check.")
    results = (
        with_comparisons(
            outcome.results, originals=outcome.originals, executed=outcome.executed, tolerance=options.tolerance
        )
        if compare
        else list(outcome.results)
    )
    report = CheckReport(
        image=image,
        network=options.network,
        timeout=timeout,
        duration=(dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
        notebooks=tuple(results),
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        compared=compare,
        output_dir=output_dir,
        html_dir=html_dir,
        image_id=image_id,
        sbom_digest=sbom.digest if sbom is not None else None,
    )
    if output_dir is not None:
        write_output(output_dir, outcome.executed, to_json(report))
    if html_dir is not None:
        write_html(html_dir, report, to_json(report))
    return report
