#!/usr/bin/env bash
set -euo pipefail
# Airflow past one machine, proven on one: CeleryExecutor workers on "nodes" that are Linux network
# namespaces, each with its own loopback, its own temporary directory, and a CPU and memory cap
# (cgroup), so N nodes never share a local file and never use more than the machine has. The
# scheduler, api-server, PostgreSQL, the broker (Redis) and the S3/DynamoDB emulator run on the host.
#
#   scripts/cluster.sh up N        start the broker and N worker nodes (idempotent; more or fewer
#                                  than run now: nodes are added or taken away)
#   scripts/cluster.sh down        stop every node, the bridges and the broker
#   scripts/cluster.sh status      the broker, and each node: its worker's pid, processes, CPU seconds used
#   scripts/cluster.sh kill K      a node fails: SIGKILL every process of node K (its cgroup) and
#                                  delete its namespace (the fault test's "machine lost")
#   scripts/cluster.sh broker      start only the broker (scripts/airflow.sh start calls it)
#
# How a node reaches the host: a namespace has only its own loopback. Every server stays on the
# host's 127.0.0.1 (the house rule), so each port a node needs (PostgreSQL, the emulator, Redis,
# Airflow's api-server) is carried by socat: inside the node it listens on the node's 127.0.0.1:PORT,
# the same address as on the host, and forwards to a Unix socket that a host-side socat connects to
# 127.0.0.1:PORT. The tasks' settings (URLs) are therefore the same on a node as on the host, and a
# node reaches exactly those ports and nothing else, as a firewall's allow-list would.
#
# Settings (environment or .env): MERCADO_CLUSTER_NAME (mercado; tests use their own),
# MERCADO_REDIS_PORT (56379), MERCADO_NODE_CPU (CPUs per node, 0.5), MERCADO_NODE_MEMORY_MIB (2048),
# MERCADO_NODE_CONCURRENCY (tasks at once per node, 2). The broker's password is generated once into
# .local/secrets/redis/<cluster> (mode 600) and reaches Airflow as AIRFLOW__CELERY__BROKER_URL in the
# environment, never in an argument. Needs root (namespaces, cgroups); Debian's redis-server and
# socat are installed when missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
# The nodes' workers, and airflow.sh when it reads the broker's password: CeleryExecutor.
export MERCADO_EXECUTOR=celery

NAME="${MERCADO_CLUSTER_NAME:-mercado}"
[[ "$NAME" =~ ^[a-z0-9]{1,12}$ ]] || die "MERCADO_CLUSTER_NAME must be 1-12 lowercase letters or digits, not '$NAME'"
STATE="$LOCAL/cluster/$NAME"
BRIDGES="$STATE/bridges"
REDIS_PORT="${MERCADO_REDIS_PORT:-56379}"
NODE_CPU="${MERCADO_NODE_CPU:-0.5}"
NODE_MEMORY_MIB="${MERCADO_NODE_MEMORY_MIB:-2048}"
NODE_CONCURRENCY="${MERCADO_NODE_CONCURRENCY:-2}"
CGROUP_CPU=/sys/fs/cgroup/cpu/mercado
CGROUP_MEMORY=/sys/fs/cgroup/memory/mercado
CGROUP_ACCT=/sys/fs/cgroup/cpuacct/mercado

namespace() { echo "mc-$NAME-$1"; }
node_dir() { echo "$STATE/node$1"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_daemon PIDFILE LOG CMD...: CMD in its own session (stop ends its process group).
start_daemon() {
  local pidfile="$1" logfile="$2"; shift 2
  pid_alive "$pidfile" && return 0
  setsid "$@" >"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

stop_daemon() {
  local pidfile="$1" pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# --- The broker ----------------------------------------------------------------------------------
redis_password_file() { echo "$REDIS_SECRETS/$NAME"; }

broker() {
  apt_install redis-server redis-server
  mkdir -p "$STATE/redis"
  local secret; secret=$(redis_password_file)
  if [ ! -s "$secret" ]; then
    (umask 077; mkdir -p "$(dirname "$secret")"; python3 -c 'import secrets; print(secrets.token_hex(24))' > "$secret")
  fi
  # The config holds the password: made with mode 600, read by redis-server only.
  (umask 077; cat > "$STATE/redis/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $(cat "$secret")
dir $STATE/redis
save ""
appendonly no
EOF
  )
  start_daemon "$STATE/redis.pid" "$STATE/redis.log" redis-server "$STATE/redis/redis.conf"
  wait_for "Redis (the Celery broker) on 127.0.0.1:$REDIS_PORT" 30 \
    bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 20 <&3 | grep -q NOAUTH" \
    || { tail -n 20 "$STATE/redis.log" >&2; die "Redis did not start"; }
}

# --- Bridges: host ports carried into the nodes -------------------------------------------------
# The host ports a worker node needs: PostgreSQL, the emulator, the broker, Airflow's api-server.
bridged_ports() {
  local pg="${MERCADO_PG_PORT:?}" moto="${MOTO_PORT:?}" airflow="${AIRFLOW_PORT:-8080}"
  echo "$pg $moto $REDIS_PORT $airflow"
}

host_bridges() {
  apt_install socat socat
  mkdir -p "$BRIDGES"
  chmod 700 "$BRIDGES"
  local port
  for port in $(bridged_ports); do
    start_daemon "$BRIDGES/host-$port.pid" "$BRIDGES/host-$port.log" \
      socat "UNIX-LISTEN:$BRIDGES/$port.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$port"
  done
  for port in $(bridged_ports); do
    wait_for "the host bridge of port $port" 10 test -S "$BRIDGES/$port.sock" || die "socat did not listen on $BRIDGES/$port.sock"
  done
}

# --- Nodes ---------------------------------------------------------------------------------------
node_running() { pid_alive "$(node_dir "$1")/worker.pid"; }

node_up() {
  local k="$1" ns dir cpu mem acct port quota
  ns=$(namespace "$k"); dir=$(node_dir "$k")
  node_running "$k" && return 0
  mkdir -p "$dir/tmp" "$dir/logs"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  for port in $(bridged_ports); do
    start_daemon "$dir/bridge-$port.pid" "$dir/bridge-$port.log" ip netns exec "$ns" \
      socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$BRIDGES/$port.sock"
  done
  cpu="$CGROUP_CPU/$NAME-node$k"; mem="$CGROUP_MEMORY/$NAME-node$k"; acct="$CGROUP_ACCT/$NAME-node$k"
  mkdir -p "$cpu" "$mem" "$acct"
  quota=$(python3 -c "print(int(float('$NODE_CPU') * 100000))")
  echo 100000 > "$cpu/cpu.cfs_period_us"
  echo "$quota" > "$cpu/cpu.cfs_quota_us"
  echo $((NODE_MEMORY_MIB * 1024 * 1024)) > "$mem/memory.limit_in_bytes"
  # The worker joins the node's cgroups before it becomes Airflow, so all it starts is capped; its
  # own UTS namespace gives it its own host name (what Airflow records as a task's hostname).
  # shellcheck disable=SC2016  # the inner shells expand their own arguments
  start_daemon "$dir/worker.pid" "$dir/worker.log" env \
    TMPDIR="$dir/tmp" MERCADO_NODE_LOGS="$dir/logs" \
    bash -c 'for g in "$1" "$2" "$3"; do echo $$ > "$g/cgroup.procs"; done && shift 3 && exec "$@"' node \
      "$cpu" "$mem" "$acct" ip netns exec "$ns" \
      unshare --uts bash -c 'hostname "$0" && exec "$@"' "$NAME-node$k" "$ROOT/scripts/airflow.sh" worker \
      --celery-hostname "node$k@$NAME" --concurrency "$NODE_CONCURRENCY"
  log "node $k: namespace $ns, ${NODE_CPU} CPU, ${NODE_MEMORY_MIB} MiB, worker log $dir/worker.log"
}

# Every process of the node (its cgroup holds the worker and everything the worker started).
node_pids() {
  cat "$CGROUP_CPU/$NAME-node$1/cgroup.procs" 2>/dev/null || true
}

node_down() {
  local k="$1" signal="${2:-TERM}" dir ns f pid
  dir=$(node_dir "$k"); ns=$(namespace "$k")
  if [ "$signal" = KILL ]; then
    for pid in $(node_pids "$k"); do kill -KILL "$pid" 2>/dev/null || true; done
  else
    stop_daemon "$dir/worker.pid"
  fi
  for pid in $(node_pids "$k"); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$dir/worker.pid"
  for f in "$dir"/bridge-*.pid; do [ -e "$f" ] && stop_daemon "$f"; done
  ip netns del "$ns" 2>/dev/null || true
  for _ in $(seq 1 50); do [ -z "$(node_pids "$k")" ] && break; sleep 0.1; done
  rmdir "$CGROUP_CPU/$NAME-node$k" "$CGROUP_MEMORY/$NAME-node$k" "$CGROUP_ACCT/$NAME-node$k" 2>/dev/null || true
  rm -rf "$dir"
}

# CPU seconds node K's processes used since it started (its cpuacct cgroup).
cpu_seconds() {
  awk '{ printf "%.1f", $1 / 1e9 }' "$CGROUP_ACCT/$NAME-node$1/cpuacct.usage" 2>/dev/null || echo "?"
}

nodes_present() {
  local d
  for d in "$STATE"/node*; do [ -d "$d" ] && echo "${d##*/node}"; done | sort -n
}

up() {
  local n="${1:?usage: cluster.sh up N}" k
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || die "N must be a positive number of nodes, not '$n'"
  [ "$(id -u)" = 0 ] || die "nodes are network namespaces and cgroups: run as root"
  # What a node runs, installed before it starts (a node reaches no package registry): Airflow
  # with the Celery provider, the Iceberg step's venv. The task binaries are the build's.
  "$ROOT/scripts/airflow.sh" venv
  "$ROOT/scripts/iceberg.sh" venv
  broker
  host_bridges
  for k in $(nodes_present); do [ "$k" -gt "$n" ] && node_down "$k"; done
  for k in $(seq 1 "$n"); do node_up "$k"; done
}

down() {
  local k f
  for k in $(nodes_present); do node_down "$k"; done
  for f in "$BRIDGES"/host-*.pid; do [ -e "$f" ] && stop_daemon "$f"; done
  stop_daemon "$STATE/redis.pid"
  rm -rf "$STATE"
  log "cluster $NAME: down"
}

status() {
  local k rc=0 used
  if pid_alive "$STATE/redis.pid"; then echo "broker: redis on 127.0.0.1:$REDIS_PORT (pid $(cat "$STATE/redis.pid"))"
  else echo "broker: stopped"; rc=1; fi
  for k in $(nodes_present); do
    used=$(cpu_seconds "$k")
    if node_running "$k"; then
      echo "node $k: worker pid $(cat "$(node_dir "$k")/worker.pid"), namespace $(namespace "$k"), $(wc -w <<<"$(node_pids "$k")") processes, ${used} CPU s"
    else
      echo "node $k: stopped"; rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  kill) node_down "${2:?usage: cluster.sh kill K}" KILL; log "node $2 of $NAME: killed, namespace deleted" ;;
  broker) broker ;;
  ""|-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; [ -n "${1:-}" ] ;;
  *) die "unknown command '$1' (scripts/cluster.sh --help)" ;;
esac
