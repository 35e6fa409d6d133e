#!/usr/bin/env bash
# The main job on a fresh machine: prepare Docker (scripts/setup-test-machine.sh, needs root),
# install nbship into .venv, then build and serve the bundled example project with JupyterLab.
# Extra arguments go to `nbship up`, e.g. `bash scripts/demo.sh --detach --port 8890`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-machine.sh

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# An editable install follows the checkout, so once it runs it needs no reinstall.
.venv/bin/nbship --version >/dev/null 2>&1 || .venv/bin/python -m pip install -q -e .
# Ctrl-C stops the server (nbship up removes its container); the daemon, started in a session of
# its own by scripts/start-dockerd.sh, keeps running.
exec .venv/bin/nbship up examples/sea-surface-temperature "$@"
