#!/usr/bin/env bash
# nbship's whole test suite, from a fresh machine: prepares Docker and what the tests use
# (scripts/setup-test-machine.sh, needs root), installs nbship with its test dependencies into
# .venv, then runs the linter, the type checker and pytest (unit, integration, browser).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-machine.sh

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The test dependencies (an extra), and the linter and type checker (a dependency group: tools for
# working on nbship, which its users never install).
.venv/bin/python -m pip install -q -e '.[test]' --group lint

echo "== ruff" >&2
.venv/bin/ruff check
.venv/bin/ruff format --check
echo "== mypy (strict)" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/pytest "$@"
