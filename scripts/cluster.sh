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
#   scripts/cluster.sh api N       N API replicas, each on its own node, behind HAProxy on the API's
#                                  address (MERCADO_API_BIND): clients change nothing
#   scripts/cluster.sh api-kill K  API replica K lost: every process SIGKILLed, namespace deleted
#   scripts/cluster.sh api-stats   requests each replica answered (HAProxy's counters)
#
# How a node reaches the host: a namespace has only its own loopback. Every server stays on the
# host's 127.0.0.1 (the house rule), so each port a node needs (PostgreSQL, the emulator, Redis,
# Airflow's api-server) is carried by socat: inside the node it listens on the node's 127.0.0.1:PORT,
# the same address as on the host, and forwards to a Unix socket that a host-side socat connects to
# 127.0.0.1:PORT. The tasks' settings (URLs) are therefore the same on a node as on the host, and a
# node reaches exactly those ports and nothing else, as a firewall's allow-list would.
#
# API replicas: each runs `mercado-api` (MERCADO_BIN_DIR, target/debug) on its node's
# 127.0.0.1:8000, with the caller's settings (DATABASE_URL, MERCADO_DDB_TABLE, the JWKS… the schema
# migrated already); HAProxy (Debian's haproxy) balances over them through each node's Unix socket,
# checks /readyz every second, and sends a request that found its replica gone (refused, or no
# answer) to another one. Only requests safe to repeat are re-sent: reads, cart writes, PATCH, and
# checkouts (an Idempotency-Key answers a repeat with the first transaction); other POSTs are not.
# Nothing a replica holds is needed by another: carts, idempotency records and orders live in
# DynamoDB, customers and stock in PostgreSQL, each client's rate in PostgreSQL's rate_limits
# (MERCADO_RATE_LIMIT_STORE=postgres, which the replicas get unless it is set).
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
      socat "UNIX-LISTEN:$BRIDGES/$port.sock,fork,unlink-early,mode=600,backlog=1024" "TCP:127.0.0.1:$port"
  done
  for port in $(bridged_ports); do
    wait_for "the host bridge of port $port" 10 test -S "$BRIDGES/$port.sock" || die "socat did not listen on $BRIDGES/$port.sock"
  done
}

# --- Nodes ---------------------------------------------------------------------------------------
node_running() { pid_alive "$(node_dir "$1")/worker.pid"; }

node_up() {
  local k="$1" ns dir port
  ns=$(namespace "$k"); dir=$(node_dir "$k")
  node_running "$k" && return 0
  mkdir -p "$dir/tmp" "$dir/logs"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  for port in $(bridged_ports); do
    start_daemon "$dir/bridge-$port.pid" "$dir/bridge-$port.log" ip netns exec "$ns" \
      socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=1024" "UNIX-CONNECT:$BRIDGES/$port.sock"
  done
  make_cgroups "node$k"
  # The worker joins the node's cgroups before it becomes Airflow, so all it starts is capped; its
  # own UTS namespace gives it its own host name (what Airflow records as a task's hostname).
  # shellcheck disable=SC2016  # the inner shell expands its own arguments
  start_daemon "$dir/worker.pid" "$dir/worker.log" env \
    TMPDIR="$dir/tmp" MERCADO_NODE_LOGS="$dir/logs" \
    "$ROOT/scripts/cluster.sh" in-cgroups "node$k" ip netns exec "$ns" \
      unshare --uts bash -c 'hostname "$0" && exec "$@"' "$NAME-node$k" "$ROOT/scripts/airflow.sh" worker \
      --celery-hostname "node$k@$NAME" --concurrency "$NODE_CONCURRENCY"
  log "node $k: namespace $ns, ${NODE_CPU} CPU, ${NODE_MEMORY_MIB} MiB, worker log $dir/worker.log"
}

# --- Caps: each node's cgroups (cgroup v1: cpu, memory, cpuacct) ------------------------------
# make_cgroups GROUP: the node's CPU quota (MERCADO_NODE_CPU) and memory limit.
make_cgroups() {
  local g quota
  for g in "$CGROUP_CPU" "$CGROUP_MEMORY" "$CGROUP_ACCT"; do mkdir -p "$g/$NAME-$1"; done
  quota=$(python3 -c "print(int(float('$NODE_CPU') * 100000))")
  echo 100000 > "$CGROUP_CPU/$NAME-$1/cpu.cfs_period_us"
  echo "$quota" > "$CGROUP_CPU/$NAME-$1/cpu.cfs_quota_us"
  echo $((NODE_MEMORY_MIB * 1024 * 1024)) > "$CGROUP_MEMORY/$NAME-$1/memory.limit_in_bytes"
}

# in_cgroups GROUP CMD...: this process joins GROUP's cgroups, then becomes CMD (all it starts
# stays capped).
in_cgroups() {
  local group="$1" g; shift
  for g in "$CGROUP_CPU" "$CGROUP_MEMORY" "$CGROUP_ACCT"; do echo $$ > "$g/$NAME-$group/cgroup.procs"; done
  exec "$@"
}

# Every process of a node (its cgroup holds what it runs and everything that started).
group_pids() {
  cat "$CGROUP_CPU/$NAME-$1/cgroup.procs" 2>/dev/null || true
}
node_pids() { group_pids "node$1"; }

# kill_group GROUP: SIGKILL every process of the node, as when its machine is lost.
kill_group() {
  local pid
  while read -r pid; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; done < <(group_pids "$1") || true
}

remove_cgroups() {
  for _ in $(seq 1 50); do [ -z "$(group_pids "$1")" ] && break; sleep 0.1; done
  rmdir "$CGROUP_CPU/$NAME-$1" "$CGROUP_MEMORY/$NAME-$1" "$CGROUP_ACCT/$NAME-$1" 2>/dev/null || true
}

node_down() {
  local k="$1" signal="${2:-TERM}" dir ns f
  dir=$(node_dir "$k"); ns=$(namespace "$k")
  [ "$signal" = KILL ] || stop_daemon "$dir/worker.pid"
  kill_group "node$k"
  rm -f "$dir/worker.pid"
  for f in "$dir"/bridge-*.pid; do [ -e "$f" ] && stop_daemon "$f"; done
  ip netns del "$ns" 2>/dev/null || true
  remove_cgroups "node$k"
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
  stop_daemon "$STATE/haproxy.pid"
  for k in $(api_replicas_present); do api_down "$k"; done
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

# --- API replicas behind HAProxy ----------------------------------------------------------------
LB_BIND="${MERCADO_API_BIND:-127.0.0.1:8000}"
API_BIN="${MERCADO_BIN_DIR:-$ROOT/target/debug}/mercado-api"
api_dir() { echo "$STATE/api$1"; }
api_namespace() { echo "mc-$NAME-a$1"; }
api_replicas_present() {
  local d
  for d in "$STATE"/api*; do [ -d "$d" ] && echo "${d##*/api}"; done | sort -n
}

api_up() {
  local k="$1" ns dir port
  ns=$(api_namespace "$k"); dir=$(api_dir "$k")
  pid_alive "$dir/api.pid" && return 0
  mkdir -p "$dir/tmp"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  # A replica needs PostgreSQL and the emulator, nothing else.
  for port in "${MERCADO_PG_PORT:?}" "${MOTO_PORT:?}"; do
    start_daemon "$dir/bridge-$port.pid" "$dir/bridge-$port.log" ip netns exec "$ns" \
      socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=1024" "UNIX-CONNECT:$BRIDGES/$port.sock"
  done
  make_cgroups "api$k"
  # Each client's rate is counted where every replica sees it (PostgreSQL), not per process.
  start_daemon "$dir/api.pid" "$dir/api.log" env TMPDIR="$dir/tmp" MERCADO_API_BIND=127.0.0.1:8000 MERCADO_MIGRATE=false \
    MERCADO_RATE_LIMIT_STORE="${MERCADO_RATE_LIMIT_STORE:-postgres}" \
    "$ROOT/scripts/cluster.sh" in-cgroups "api$k" ip netns exec "$ns" "$API_BIN"
  # The balancer reaches the replica through a Unix socket served inside its namespace.
  start_daemon "$dir/lb-bridge.pid" "$dir/lb-bridge.log" ip netns exec "$ns" \
    socat "UNIX-LISTEN:$dir/api.sock,fork,unlink-early,mode=600,backlog=1024" "TCP:127.0.0.1:8000"
  log "API replica $k: namespace $ns, ${NODE_CPU} CPU, ${NODE_MEMORY_MIB} MiB, log $dir/api.log"
}

api_down() {
  local k="$1" dir f
  dir=$(api_dir "$k")
  kill_group "api$k"
  for f in "$dir"/*.pid; do [ -e "$f" ] && stop_daemon "$f"; done
  ip netns del "$(api_namespace "$k")" 2>/dev/null || true
  remove_cgroups "api$k"
  rm -rf "$dir"
}

balancer() {
  apt_install haproxy haproxy
  local k servers=""
  for k in $(api_replicas_present); do
    servers+="  server api$k unix@$(api_dir "$k")/api.sock check"$'\n'
  done
  cat > "$STATE/haproxy.cfg" <<EOF
global
  maxconn 4096
  stats socket $STATE/haproxy.sock mode 600 level user

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  # A request whose replica is gone (refused, reset before any answer) goes to another one.
  # The whole request is buffered first, so it can be sent again.
  option http-buffer-request
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response junk-response response-timeout
  log stderr format raw local0 warning

frontend api
  bind $LB_BIND
  # Re-send only what is safe to repeat: reads, PATCH, carts (replaced whole), and checkouts
  # (their Idempotency-Key answers a repeat with the first transaction). Not other POSTs.
  acl repeatable path_beg /cart /checkout
  http-request disable-l7-retry if METH_POST !repeatable
  default_backend replicas

backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 2
$servers
EOF
  if pid_alive "$STATE/haproxy.pid"; then
    # A new list of replicas: reload (the running one finishes its requests).
    kill -USR2 "$(cat "$STATE/haproxy.pid")" 2>/dev/null || true
  else
    start_daemon "$STATE/haproxy.pid" "$STATE/haproxy.log" haproxy -W -db -f "$STATE/haproxy.cfg"
  fi
  wait_for "HAProxy on $LB_BIND over $(api_replicas_present | wc -l) API replicas" 60 \
    curl -fsS -o /dev/null "http://$LB_BIND/readyz" || { tail -n 20 "$STATE/haproxy.log" >&2; die "the balancer did not answer"; }
}

api() {
  local n="${1:?usage: cluster.sh api N}" k
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || die "N must be a positive number of replicas, not '$n'"
  [ "$(id -u)" = 0 ] || die "replicas are network namespaces and cgroups: run as root"
  [ -x "$API_BIN" ] || die "no API binary at $API_BIN (cargo build)"
  host_bridges
  for k in $(api_replicas_present); do [ "$k" -gt "$n" ] && api_down "$k"; done
  for k in $(seq 1 "$n"); do api_up "$k"; done
  balancer
}

# How many requests each replica answered (HAProxy's stats), one "apiK N" line each.
api_stats() {
  echo "show stat" | socat - "UNIX-CONNECT:$STATE/haproxy.sock" \
    | awk -F, '$1 == "replicas" && $2 ~ /^api/ { print $2, $8 }'
}

case "${1:-}" in
  up) up "${2:-}" ;;
  api) api "${2:-}" ;;
  api-kill) api_down "${2:?usage: cluster.sh api-kill K}"; log "API replica $2 of $NAME: killed, namespace deleted" ;;
  api-stats) api_stats ;;
  down) down ;;
  status) status ;;
  kill) node_down "${2:?usage: cluster.sh kill K}" KILL; log "node $2 of $NAME: killed, namespace deleted" ;;
  broker) broker ;;
  # Internal: how a node's process starts inside its cgroups.
  in-cgroups) shift; in_cgroups "$@" ;;
  ""|-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; [ -n "${1:-}" ] ;;
  *) die "unknown command '$1' (scripts/cluster.sh --help)" ;;
esac
