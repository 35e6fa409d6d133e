#!/bin/sh
# nbship's start-up: PID 1 is dumb-init, which runs this before the command. It brings the work
# folder up to date with the image (nbship-refresh fills a new volume and merges a newer image's
# files into a used one, never overwriting the user's), runs the project's start script if there
# is one, then the command: JupyterLab unless another was given.
set -eu
# Facts of the image, as nbship.contract defines them (tests/unit/test_contract.py pins them).
refresh=/opt/nbship/bin/nbship-refresh
manifest=/opt/nbship/manifest.json
port=8888
work="${NBSHIP_WORKDIR:-/home/jovyan/work}"
content="${NBSHIP_CONTENT:-/opt/nbship/project}"

# Run as another uid (a bind-mounted checkout owned by the host user), HOME is not ours to write.
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME="/tmp/nbship-home-$(id -u)"
    export HOME
    mkdir -p "$HOME"
fi
# Root in a user namespace whose root is not the machine's (rootless Docker runs a bind-mounted
# checkout's server so: there root is the user who runs the daemon) may serve Jupyter, which
# refuses root unless its config allows it. The machine's own root never gets this.
if [ "$(id -u)" = 0 ] && [ -r /proc/self/uid_map ] && ! grep -Eq '^[[:space:]]*0[[:space:]]+0[[:space:]]' /proc/self/uid_map; then
    conf="/tmp/nbship-jupyter-config"
    mkdir -p "$conf"
    printf '{"ServerApp": {"allow_root": true}}\n' > "$conf/jupyter_server_config.json"
    JUPYTER_CONFIG_PATH="$conf${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
    export JUPYTER_CONFIG_PATH
fi
if [ -d "$work" ] && [ -w "$work" ]; then
    python3 "$refresh" sync "$content" "$manifest" "$work" \
        || echo "nbship: the work folder could not be brought up to date with the image (see above); starting anyway" >&2
fi
cd "$work" 2>/dev/null || cd "$content"
if [ "$#" -eq 0 ]; then
    set -- jupyter lab --ip=0.0.0.0 --port="$port" --no-browser
fi
start="${NBSHIP_START:-}"
if [ -n "$start" ] && [ -f "$content/$start" ]; then
    if [ "$(head -c 2 "$content/$start")" = "#!" ]; then
        exec "$content/$start" "$@"
    fi
    exec /bin/sh "$content/$start" "$@"
fi
exec "$@"
