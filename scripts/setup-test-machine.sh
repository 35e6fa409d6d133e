#!/usr/bin/env bash
# Prepares a fresh Debian machine (as root) for nbship's test suite:
#   - Docker Engine from Debian (docker.io), started by hand when no daemon answers
#   - docker-compose v1, a local registry, headless Chromium, debootstrap, a C compiler, git
#   - stand-in base images under the official names nbship defaults to, built from
#     Debian when they cannot be pulled (no registry is reachable on these machines)
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

NBSHIP_STATE_DIR=${NBSHIP_STATE_DIR:-/var/lib/nbship-test}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# "tag suite with-python" triples; python:3.11-slim is nbship's default base.
STANDINS=${NBSHIP_STANDINS:-"python:3.11-slim:bookworm:py python:3.9-slim:bullseye:py debian:bookworm-slim:bookworm:nopy"}
mkdir -p "$NBSHIP_STATE_DIR"

need_pkgs=()
command -v /usr/bin/docker >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# The tests' conda-forge-like channel compiles a package with a binary prefix placeholder.
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)
# git with git-http-backend: the tests serve repositories over HTTP for `nbship up URL@REF`.
[[ -x /usr/lib/git-core/git-http-backend ]] || need_pkgs+=(git)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# The first docker client on PATH may lack BuildKit; /usr/bin/docker (20.10) has it built in.
DOCKER=/usr/bin/docker
DOCKER=$DOCKER NBSHIP_STATE_DIR=$NBSHIP_STATE_DIR bash "$(dirname "$0")/start-dockerd.sh"

build_standin() {
  local tag=$1 suite=$2 kind=$3
  if "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    log "stand-in $tag already present"
    return
  fi
  if "$DOCKER" pull -q "$tag" >/dev/null 2>&1; then
    log "pulled the official $tag"
    return
  fi
  local rootfs="$NBSHIP_STATE_DIR/rootfs-$suite-$kind"
  local include=ca-certificates
  [[ $kind == py ]] && include=ca-certificates,python3,python3-venv,python3-pip,python-is-python3
  if [[ ! -f "$rootfs/.complete" ]]; then
    log "debootstrap $suite ($kind) for $tag"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 \
      || { tail -n 30 "$rootfs.log" >&2; exit 1; }
    touch "$rootfs/.complete"
  fi
  # HTTPS on these machines passes a TLS-intercepting proxy; the official images would not
  # trust it, the stand-ins do so that tests reach PyPI (nbship's --ca-bundle is tested apart).
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  log "importing $tag"
  tar -C "$rootfs" --exclude=./.complete -c . | "$DOCKER" import -c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
}

for spec in $STANDINS; do
  IFS=: read -r name ver suite kind <<<"$spec"
  build_standin "$name:$ver" "$suite" "$kind"
done
log "ready: $("$DOCKER" version --format 'engine {{.Server.Version}}')"
