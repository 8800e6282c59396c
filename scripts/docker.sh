#!/usr/bin/env bash
# A Docker engine for the DockerOperator end-to-end test, as a plain process (no systemd), and the
# tasks image built the local way (no registry reachable): a Debian base made with debootstrap and
# `docker import`, plus the task binaries built on this host (docker/tasks-local.Dockerfile).
#
#   scripts/docker.sh start    install docker.io and debootstrap if missing, start dockerd
#   scripts/docker.sh image    build mercado-tasks:0.1.0 from target/debug (after cargo build)
#   scripts/docker.sh stop
#   scripts/docker.sh env      export DOCKER_HOST for this engine
# State under .local/docker; the engine's socket is .local/docker/docker.sock.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

DK="$LOCAL/docker"
SOCK="$DK/docker.sock"
export DOCKER_HOST="unix://$SOCK"
IMAGE="${MERCADO_TASKS_IMAGE:-mercado-tasks:0.1.0}"

ready() { docker version >/dev/null 2>&1; }

start() {
  mkdir -p "$DK"
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing Debian's docker.io and debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends docker.io debootstrap >&2
  fi
  if ready; then log "Docker engine already running ($SOCK)"; return; fi
  log "starting dockerd ($SOCK; no bridge, no iptables: containers use the host network)"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --data-root "$DK/data" --exec-root "$DK/exec" --pidfile "$DK/docker.pid" -H "$DOCKER_HOST" \
    >"$DK/dockerd.log" 2>&1 &
  wait_for dockerd 60 ready || { tail -n 20 "$DK/dockerd.log" >&2; die "dockerd did not start"; }
}

image() {
  ready || start
  if ! docker image inspect mercado-base:bookworm >/dev/null 2>&1; then
    if [ ! -f "$DK/base.tar" ]; then
      log "debootstrap --variant=minbase --include=ca-certificates bookworm (about a minute)"
      rm -rf "$DK/rootfs"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$DK/rootfs" http://deb.debian.org/debian >"$DK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$DK/debootstrap.log" >&2; die "debootstrap failed"; }
      tar -C "$DK/rootfs" -cf "$DK/base.tar" . && rm -rf "$DK/rootfs"
    fi
    docker import "$DK/base.tar" mercado-base:bookworm >/dev/null
  fi
  local bin="${MERCADO_BIN_DIR:-$ROOT/target/debug}" ctx="$DK/context"
  rm -rf "$ctx" && mkdir -p "$ctx"
  mkdir -p "$ctx/bin"
  cp "$bin/mercado-task" "$ctx/bin/"
  log "building $IMAGE from $bin"
  docker build -q -f "$ROOT/docker/tasks-local.Dockerfile" -t "$IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
}

stop() {
  local pid; pid=$(cat "$DK/docker.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    log "dockerd stopped"
  fi
  # dockerd leaves its network namespace mounted under the exec root; unmount it so the folder
  # can be removed.
  grep -o " $DK/exec[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
}

case "${1:-}" in
  start) start ;;
  image) image ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  *) echo "usage: $0 start|image|stop|env" >&2; exit 2 ;;
esac
