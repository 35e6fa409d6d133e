#!/bin/sh
# nbship's start-up (PID 1 is dumb-init, which runs this): fill the work folder from the image's copy
# of the project when it is new and empty, run the project's start script if any, then the command.
# It never overwrites a file in the work folder: a later nbship refreshes changed content with a
# three-way merge against /opt/nbship/manifest.sha256 (what this image delivered).
set -eu
work="${NBSHIP_WORKDIR:-__WORKDIR__}"
content="__CONTENT_DIR__"
if [ -d "$work" ] && [ -w "$work" ] && [ -z "$(ls -A "$work")" ]; then
    cp -a "$content/." "$work/"
    mkdir -p "$work/.nbship"
    cp /opt/nbship/manifest.sha256 "$work/.nbship/delivered.sha256"
fi
cd "$work" 2>/dev/null || cd "$content"
if [ "$#" -eq 0 ]; then
    set -- jupyter lab --ip=0.0.0.0 --port=__PORT__ --no-browser
fi
start="${NBSHIP_START:-}"
if [ -n "$start" ] && [ -f "$content/$start" ]; then
    if [ "$(head -c 2 "$content/$start")" = "#!" ]; then
        exec "$content/$start" "$@"
    fi
    exec /bin/sh "$content/$start" "$@"
fi
exec "$@"
