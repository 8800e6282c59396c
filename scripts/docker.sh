#!/usr/bin/env bash
set -euo pipefail
# The project's Docker engine, as a plain process (no systemd), for the docker runner
# (MERCADO_RUNNER=docker: command 1 and the end-to-end tests), and the tasks image built the local
# way (no registry reachable): a Debian base made with debootstrap and `docker import`, plus the
# task binary built on this host (docker/tasks-local.Dockerfile).
#
#   scripts/docker.sh start    install docker.io and debootstrap if missing, start dockerd (idempotent)
#   scripts/docker.sh image    build mercado-tasks:0.1.0 from target/debug (after cargo build), unless
#                              the image already holds that very binary (its sha256 is a label); and
#                              mercado-iceberg:0.1.0, the Iceberg step (Debian's Python 3.11, the
#                              pinned packages of .local/iceberg-venv, python/mercado_iceberg), unless
#                              it holds those very files (docker/iceberg-local.Dockerfile)
#   scripts/docker.sh ensure   both: what command 1 runs before Airflow's tasks need the engine
#   scripts/docker.sh stop
#   scripts/docker.sh env      export DOCKER_HOST for this engine
# State under .local/docker; the engine's socket is .local/docker/docker.sock (scripts/airflow.sh
# hands the same address to Airflow's components as MERCADO_DOCKER_URL and DOCKER_HOST).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

DK="$LOCAL/docker"
SOCK="$DK/docker.sock"
export DOCKER_HOST="unix://$SOCK"
IMAGE="${MERCADO_TASKS_IMAGE:-mercado-tasks:0.1.0}"
ICEBERG_IMAGE="${MERCADO_ICEBERG_IMAGE:-mercado-iceberg:0.1.0}"

ready() { docker version >/dev/null 2>&1; }
BINARY_LABEL=org.mercado.binary.sha256

# The Debian mirror this machine's apt already uses (deb822 sources or sources.list), for debootstrap.
debian_mirror() {
  python3 - "$1" <<'PY'
import glob, sys
suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and suite in fields.get("suites", []) and fields.get("uris"):
            print(fields["uris"][0]); sys.exit(0)
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = [w for w in line.split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            print(words[1]); sys.exit(0)
sys.exit(f"no apt source for Debian {suite} on this machine; add one to /etc/apt/sources.list.d/")
PY
}

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

# A Debian base image made by debootstrap (no registry to pull one from), `tag` from `tar`, with
# the packages `include`s.
base_image() {
  local tag="$1" tar="$2" include="$3"
  docker image inspect "$tag" >/dev/null 2>&1 && return
  if [ ! -f "$tar" ]; then
    log "debootstrap --variant=minbase --include=$include bookworm (about a minute)"
    rm -rf "$DK/rootfs"
    local mirror; mirror=$(debian_mirror bookworm) || die "no Debian mirror for debootstrap"
    debootstrap --variant=minbase --include="$include" bookworm "$DK/rootfs" "$mirror" >"$DK/debootstrap.log" 2>&1 \
      || { tail -n 20 "$DK/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$DK/rootfs" -cf "$tar" . && rm -rf "$DK/rootfs"
  fi
  docker import "$tar" "$tag" >/dev/null
}

image() {
  ready || start
  base_image mercado-base:bookworm "$DK/base.tar" ca-certificates
  local bin="${MERCADO_BIN_DIR:-$ROOT/target/debug}" ctx="$DK/context" sum have
  [ -x "$bin/mercado-task" ] || die "$bin/mercado-task is missing: run cargo build --workspace --bins first"
  sum=$(sha256sum "$bin/mercado-task" | cut -d' ' -f1)
  have=$(docker image inspect -f "{{ index .Config.Labels \"$BINARY_LABEL\" }}" "$IMAGE" 2>/dev/null || true)
  if [ "$have" = "$sum" ]; then log "$IMAGE is up to date (mercado-task ${sum:0:12})"
  else
    rm -rf "$ctx" && mkdir -p "$ctx/bin"
    cp "$bin/mercado-task" "$ctx/bin/"
    if [ -n "$have" ]; then log "rebuilding $IMAGE: $bin/mercado-task changed"; else log "building $IMAGE from $bin"; fi
    docker build -q -f "$ROOT/docker/tasks-local.Dockerfile" --label "$BINARY_LABEL=$sum" -t "$IMAGE" "$ctx" \
      >"$DK/build.log" 2>&1 || { tail -n 20 "$DK/build.log" >&2; die "docker build of $IMAGE failed"; }
    rm -rf "$ctx"
  fi
  iceberg_image
}

# The Iceberg step's image: Debian's python3 (3.11, the ABI of the venv's wheels) and the venv's
# installed packages (pinned by python/iceberg-requirements.txt), so nothing is downloaded inside.
iceberg_image() {
  "$ROOT/scripts/iceberg.sh" venv
  base_image mercado-python-base:bookworm "$DK/base-python.tar" ca-certificates,python3
  local site="$LOCAL/iceberg-venv/lib/python3.11/site-packages" ctx="$DK/context-iceberg" sum
  [ -d "$site" ] || die "$site is missing (the venv's Python is not 3.11?)"
  sum=$(cat "$ROOT/python/iceberg-requirements.txt" "$ROOT"/python/mercado_iceberg/*.py "$ROOT/docker/iceberg-local.Dockerfile" \
        | sha256sum | cut -d' ' -f1)
  if [ "$(docker image inspect -f "{{ index .Config.Labels \"$BINARY_LABEL\" }}" "$ICEBERG_IMAGE" 2>/dev/null || true)" = "$sum" ]; then
    log "$ICEBERG_IMAGE is up to date (python/mercado_iceberg ${sum:0:12})"; return
  fi
  rm -rf "$ctx" && mkdir -p "$ctx/python"
  cp -r "$site" "$ctx/site-packages"
  rm -rf "$ctx/site-packages"/{pip,setuptools,_pytest,pytest}* "$ctx/site-packages/__pycache__"
  cp -r "$ROOT/python/mercado_iceberg" "$ctx/python/"
  rm -rf "$ctx/python/mercado_iceberg/tests"
  find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
  log "building $ICEBERG_IMAGE (the Iceberg step)"
  docker build -q -f "$ROOT/docker/iceberg-local.Dockerfile" --label "$BINARY_LABEL=$sum" -t "$ICEBERG_IMAGE" "$ctx" \
    >"$DK/build.log" 2>&1 || { tail -n 20 "$DK/build.log" >&2; die "docker build of $ICEBERG_IMAGE failed"; }
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
  { grep -o " $DK/exec[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
}

case "${1:-}" in
  start) start ;;
  image) image ;;
  ensure) start; image ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  -h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" ;;
  *) echo "usage: $0 start|image|ensure|stop|env" >&2; exit 2 ;;
esac
