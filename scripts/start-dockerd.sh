#!/usr/bin/env bash
# Starts dockerd when no daemon answers, and waits until it does. The daemon gets a session of its
# own (setsid): a Ctrl-C in the terminal that ran this script (scripts/demo.sh, say) goes to that
# terminal's foreground job only, so it stops the demo's server and never the machine's daemon.
# Used by scripts/setup-test-machine.sh. The daemon's address follows DOCKER_HOST, as the client's
# does; NBSHIP_DOCKERD_ARGS adds dockerd arguments (the tests start a private daemon with them).
set -euo pipefail

DOCKER=${DOCKER:-/usr/bin/docker}
NBSHIP_STATE_DIR=${NBSHIP_STATE_DIR:-/var/lib/nbship-test}
LOG=${NBSHIP_DOCKERD_LOG:-$NBSHIP_STATE_DIR/dockerd.log}

"$DOCKER" info >/dev/null 2>&1 && exit 0
mkdir -p "$(dirname "$LOG")"
read -r -a extra <<<"${NBSHIP_DOCKERD_ARGS:-}"
printf '[setup] %s\n' "starting dockerd" >&2
setsid nohup dockerd "${extra[@]}" >"$LOG" 2>&1 </dev/null &
for _ in $(seq 1 120); do
  "$DOCKER" info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
printf '[setup] %s\n' "dockerd did not start; see $LOG" >&2
tail -n 30 "$LOG" >&2
exit 1
