"""Reading a build's log: the notes nbship's own steps print, and the message of a failed step."""

from __future__ import annotations

from nbship.engine.buildlog import BuildkitLog, notes

# BuildKit's plain progress, as `docker build --progress=plain` prints it.
_LOG = """\
#7 [system 4/6] RUN set -eu; echo "nbship-note: runtime.txt asks for R $asked"
#7 sha256:0f3c
#7 0.512 R 4.2.2; packages from https://cran.example.org
#7 0.513 nbship-note: runtime.txt asks for R 4.3; this image has R 4.2.2
#7 DONE 0.6s

#9 [r-build 7/9] RUN printf 'nbship-note: %s\\n' 'DESCRIPTION names no Package'
#9 1.20 nbship-note: DESCRIPTION names no Package
#9 1.21 nbship-note: runtime.txt asks for R 4.3; this image has R 4.2.2
#9 DONE 1.3s
"""


def _fed(text: str) -> BuildkitLog:
    log = BuildkitLog()
    for line in text.splitlines():
        log.feed(line)
    return log


def test_notes_come_from_the_steps_output_once_each() -> None:
    log = _fed(_LOG)
    assert notes(log.steps.values()) == [
        "runtime.txt asks for R 4.3; this image has R 4.2.2",
        "DESCRIPTION names no Package",
    ]


def test_a_step_that_printed_nothing_is_not_explained_by_another_steps_command() -> None:
    # The failing step never ran (the engine could not start it); an earlier step's command line
    # spells an "nbship: " message that step did not print.
    log = _fed(
        '#5 [system 2/6] RUN command -v python3 || { echo "nbship: the base image has no python3" >&2; exit 1; }\n'
        "#5 DONE 0.1s\n"
        "#8 [r-build 9/9] RUN R CMD INSTALL package\n"
        "#8 ERROR: executor failed running [/bin/sh -c R CMD INSTALL package]: failed to create endpoint\n"
    )
    error = log.error()
    assert error.message.startswith("The build failed at step [r-build 9/9] RUN R CMD INSTALL package.")


def test_the_failed_steps_own_message_leads() -> None:
    log = _fed(
        "#8 [r-build 6/9] RUN Rscript nbship-r-install script install.R\n"
        "#8 2.1 Warning message:\n"
        "#8 2.2 nbship: install.R did not install every package (package 'nope' is not available)\n"
        "#8 ERROR: executor failed running [/bin/sh -c Rscript]: exit code: 1\n"
    )
    assert log.error().message == (
        "install.R did not install every package (package 'nope' is not available). Its last output lines are below."
    )
