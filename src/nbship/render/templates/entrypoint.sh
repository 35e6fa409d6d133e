#!/bin/sh
# nbship's start-up (PID 1 is dumb-init, which runs this). It brings the work folder up to date
# with the image (nbship-refresh: fills a new volume, merges a newer image's files into a used
# one, never overwrites the user's), runs the project's start script if any, then the command.
set -eu
work="${NBSHIP_WORKDIR:-__WORKDIR__}"
content="__CONTENT_DIR__"
# Run as another uid (a bind-mounted checkout owned by the host user), HOME is not ours to write.
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME="/tmp/nbship-home-$(id -u)"
    export HOME
    mkdir -p "$HOME"
fi
if [ -d "$work" ] && [ -w "$work" ]; then
    python3 __REFRESH__ sync "$content" __MANIFEST__ "$work" \
        || echo "nbship: the work folder could not be brought up to date with the image (see above); starting anyway" >&2
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
