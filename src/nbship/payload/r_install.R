# nbship's R package installer. nbship's Dockerfile runs it with Rscript in the R build stage
# (/opt/nbship/build/nbship-r-install), as the notebook user; it needs base R only (3.5 and later).
#
#   Rscript nbship-r-install script FILE        runs a project's install.R, as Binder does
#   Rscript nbship-r-install deps SPEC...       installs each dependency a DESCRIPTION names
#                                               ("pkg" or "pkg (>= 1.0)") that R cannot load yet
#
# install.packages() only warns when a package cannot be had, and a build would then go on
# without it. Here those warnings are collected and the step fails with one line that starts
# with "nbship: ", which nbship shows as the build's error.

failure_patterns <- c(
  "is not available",
  "are not available",
  "had non-zero exit status",
  "unable to access index for repository",
  "download of package .* failed"
)

state <- new.env()
state$problems <- character()
state$tls <- FALSE

# A message's first paragraph, on one line (R adds advice after a blank line).
one_line <- function(text) {
  if (!nzchar(text)) return(text)
  gsub("\\s+", " ", trimws(strsplit(text, "\n\n", fixed = TRUE)[[1]][1]))
}

on_warning <- function(w) {
  text <- one_line(conditionMessage(w))
  if (grepl("SSL|certificate", text)) state$tls <- TRUE
  if (any(vapply(failure_patterns, grepl, logical(1), x = text))) {
    state$problems <- c(state$problems, text)
  }
}

fail <- function(what, problems) {
  text <- paste0("nbship: ", what)
  if (length(problems)) text <- paste0(text, " (", paste(unique(problems), collapse = "; "), ")")
  if (state$tls) {
    text <- paste0(
      text, "; the repository's certificate is not trusted here: behind a TLS-intercepting proxy, ",
      "give nbship your CA bundle with --ca-bundle FILE"
    )
  }
  message(text)
  quit(save = "no", status = 1)
}

watched <- function(expr) {
  error <- tryCatch(
    {
      withCallingHandlers(expr, warning = on_warning)
      NULL
    },
    error = function(e) one_line(conditionMessage(e))
  )
  error
}

options(Ncpus = max(1L, parallel::detectCores(), na.rm = TRUE))

run_script <- function(file) {
  error <- watched(source(file, echo = FALSE))
  if (!is.null(error)) fail(paste(file, "failed:", error), state$problems)
  if (length(state$problems)) fail(paste(file, "did not install every package"), state$problems)
}

spec_pattern <- "^\\s*([A-Za-z][A-Za-z0-9.]*[A-Za-z0-9])\\s*(\\(\\s*([<>=!]+)\\s*([0-9.-]+)\\s*\\))?\\s*$"

parse_spec <- function(spec) {
  parts <- regmatches(spec, regexec(spec_pattern, spec))[[1]]
  if (!length(parts)) fail(paste0("'", spec, "' is not a dependency like 'pkg (>= 1.0)'"), character())
  list(spec = spec, name = parts[2], op = parts[4], version = parts[5])
}

satisfied <- function(dep) {
  have <- tryCatch(utils::packageVersion(dep$name), error = function(e) NULL)
  if (is.null(have)) return(FALSE)
  if (!nzchar(dep$op)) return(TRUE)
  isTRUE(do.call(dep$op, list(have, package_version(dep$version))))
}

install_dependencies <- function(specs) {
  deps <- lapply(specs, parse_spec)
  wanted <- Filter(Negate(satisfied), deps)
  if (!length(wanted)) {
    cat("nbship-r: every dependency is installed already\n")
    return(invisible())
  }
  names <- vapply(wanted, function(dep) dep$name, "")
  error <- watched(utils::install.packages(names))
  missing <- Filter(Negate(satisfied), wanted)
  if (!is.null(error) || length(missing)) {
    what <- vapply(missing, function(dep) dep$spec, "")
    fail(
      paste0(
        "the DESCRIPTION's dependencies could not all be installed",
        if (length(what)) paste0(": ", paste(what, collapse = ", ")) else "",
        if (!is.null(error)) paste0(" (", error, ")") else ""
      ),
      state$problems
    )
  }
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) >= 2 && args[1] == "script") {
  run_script(args[2])
} else if (length(args) >= 1 && args[1] == "deps") {
  install_dependencies(args[-1])
} else {
  fail("usage: nbship-r-install script FILE | deps SPEC...", character())
}
