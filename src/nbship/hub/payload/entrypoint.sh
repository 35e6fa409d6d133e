#!/bin/sh
# The hub container's start. It begins as root only to learn which group may use the engine's
# socket (the socket is how the hub starts users' servers), then runs JupyterHub as the hub user
# with that group. Where the socket gives its group no access (a rootless engine's socket, say),
# JupyterHub stays root inside the container, which such an engine maps to an unprivileged user.
set -eu
# Facts of the hub image, as nbship.contract defines them (tests/unit/test_hub.py pins them).
socket=/var/run/docker.sock
user=jupyterhub
state="${NBSHIP_HUB_STATE:-/srv/jupyterhub/nbship}"

if [ "$(id -u)" != 0 ]; then
    exec "$@"
fi
if [ ! -S "$socket" ]; then
    echo "nbship hub: no engine socket at $socket: the hub cannot start users' servers" >&2
    exit 1
fi
mode=$(stat -c %a "$socket")
gid=$(stat -c %g "$socket")
if [ $(( (0$mode >> 3) & 6 )) -eq 6 ]; then
    HOME=$(dirname "$state")
    export HOME
    exec setpriv --reuid="$user" --regid="$user" --groups="$gid" --inh-caps=-all -- "$@"
fi
echo "nbship hub: the engine socket ($mode) gives its group no access; JupyterHub runs as root in its container" >&2
exec "$@"
