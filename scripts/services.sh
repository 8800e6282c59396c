#!/usr/bin/env bash
set -euo pipefail
# Start, stop and check Mercado's local services: PostgreSQL and moto's server (S3, DynamoDB, IAM).
# Both are plain processes on 127.0.0.1 with their state under .local/; `start` is idempotent.
#
#   scripts/services.sh start|stop|status|env
#
# Ports and credentials come from .env (or .env.example): MERCADO_PG_PORT, MOTO_PORT, DATABASE_URL.
# PostgreSQL keeps its default durability (fsync, full-page writes, synchronous commit): the main
# command's OLTP data and warehouse survive a crash. MERCADO_PG_DURABLE=0 (the test command sets
# it) trades that for speed when it starts the server; a durable `start` restarts a fast one.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

PG_DIR="$LOCAL/pg"
PG_DURABLE="${MERCADO_PG_DURABLE:-1}"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/server.log"
VENV="$LOCAL/venv"
MOTO_PID="$LOCAL/moto.pid"
MOTO_LOG="$LOCAL/moto.log"

# --- PostgreSQL -------------------------------------------------------------------------------
pg_bin() {
  local ctl
  ctl=$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n1 || true)
  if [ -z "$ctl" ]; then
    log "PostgreSQL server binaries not found; installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends postgresql >&2
    ctl=$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n1)
  fi
  dirname "$ctl"
}

# initdb refuses to run as root: run the server as the postgres user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_user()     { local u="${DATABASE_URL#*://}"; u="${u%%@*}"; echo "${u%%:*}"; }
pg_password() { local u="${DATABASE_URL#*://}"; u="${u%%@*}"; echo "${u#*:}"; }

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$MERCADO_PG_PORT"; }

# As root the server runs as `postgres`, which must be able to reach .local/pg: when the checkout
# sits under a directory closed to others (a home with mode 700, say), grant traversal (o+x, not
# read) on the directories above it.
pg_reachable() {
  [ "$(id -u)" = 0 ] || return 0
  id postgres >/dev/null 2>&1 || as_pg true
  runuser -u postgres -- test -x "$LOCAL" && return 0
  local dir="$LOCAL"
  while [ "$dir" != / ]; do
    if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
      log "letting the postgres user traverse $dir (chmod o+x) so the cluster can live in $PG_DIR"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
  runuser -u postgres -- test -x "$LOCAL" || die "the postgres user cannot reach $LOCAL"
}

# on|off: whether the running server syncs its writes.
pg_fsync() { PGPASSWORD="$(pg_password)" psql -h 127.0.0.1 -p "$MERCADO_PG_PORT" -U "$(pg_user)" -d postgres -tAc "SHOW fsync" 2>/dev/null; }

pg_start() {
  local bin; bin=$(pg_bin)
  local want=on mode=durable; [ "$PG_DURABLE" = 0 ] && { want=off; mode="fast, not durable"; }
  if pg_ready; then
    # A durable server serves the tests too; a fast one is restarted when durability is asked for.
    if [ "$want" = off ] || [ "$(pg_fsync)" = on ] || [ ! -f "$PG_DATA/postmaster.pid" ]; then
      log "PostgreSQL already running on 127.0.0.1:$MERCADO_PG_PORT"; pg_databases; return
    fi
    log "restarting PostgreSQL: it runs with fsync=$(pg_fsync), this command wants it $mode"
    pg_stop
  fi
  mkdir -p "$PG_DIR"
  pg_reachable
  [ "$(id -u)" = 0 ] && chown -R postgres "$PG_DIR"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $PG_DATA"
    local pwfile="$PG_DIR/.pw"
    pg_password > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DATA" -U "$(pg_user)" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
  fi
  log "starting PostgreSQL ($mode) on 127.0.0.1:$MERCADO_PG_PORT"
  # TCP on loopback only (scram-sha-256); the unix socket lives in the cluster folder, not /var/run,
  # and only the server's own OS user may open it (mode 0700): its `trust` then admits no one else.
  local opts="-c listen_addresses=127.0.0.1 -p $MERCADO_PG_PORT -c unix_socket_directories='$PG_DIR' -c unix_socket_permissions=0700 -c max_connections=300"
  [ "$PG_DURABLE" = 0 ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start -o "$opts" >/dev/null \
    || { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL did not start"; }
  wait_for PostgreSQL 30 pg_ready || die "PostgreSQL did not become ready"
  pg_databases
}

pg_databases() {
  # The OLTP database, the local warehouse and Airflow's metadata live in this one cluster.
  local url db
  for url in "$DATABASE_URL" "${WAREHOUSE_URL:-}" "${AIRFLOW_DATABASE_URL:-}"; do
    [ -n "$url" ] || continue
    db="${url##*/}"; db="${db%%\?*}"
    if ! PGPASSWORD="$(pg_password)" psql -h 127.0.0.1 -p "$MERCADO_PG_PORT" -U "$(pg_user)" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
      PGPASSWORD="$(pg_password)" psql -h 127.0.0.1 -p "$MERCADO_PG_PORT" -U "$(pg_user)" -d postgres -qc "CREATE DATABASE \"$db\"" >&2
      log "created database $db"
    fi
  done
}

pg_stop() {
  [ -f "$PG_DATA/postmaster.pid" ] || { log "PostgreSQL not running"; return; }
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null && log "PostgreSQL stopped"
}

# --- moto ------------------------------------------------------------------------------------
venv() {
  pinned_venv "$VENV" "Python tools (moto, schemathesis)" "$ROOT/python/requirements.txt" "$ROOT/python/constraints.txt"
}

moto_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null; }

moto_start() {
  if moto_ready; then log "moto already running on 127.0.0.1:$MOTO_PORT"; return; fi
  venv
  log "starting moto (S3, DynamoDB, IAM) on 127.0.0.1:$MOTO_PORT"
  nohup "$VENV/bin/python" "$ROOT/scripts/moto_server.py" --host 127.0.0.1 --port "$MOTO_PORT" \
    >"$MOTO_LOG" 2>&1 &
  echo $! > "$MOTO_PID"
  wait_for moto 60 moto_ready || { tail -n 20 "$MOTO_LOG" >&2; die "moto did not start"; }
}

moto_stop() {
  if [ -f "$MOTO_PID" ] && kill "$(cat "$MOTO_PID")" 2>/dev/null; then log "moto stopped"; else log "moto not running"; fi
  rm -f "$MOTO_PID"
}

status() {
  local rc=0
  if pg_ready; then echo "postgres  up    127.0.0.1:$MERCADO_PG_PORT  fsync=$(pg_fsync)"; else echo "postgres  down"; rc=1; fi
  if moto_ready; then echo "moto      up    127.0.0.1:$MOTO_PORT"; else echo "moto      down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  start)  venv; pg_start; moto_start ;;  # the venv also serves the tests, even when moto runs from elsewhere
  stop)   moto_stop; pg_stop ;;
  status) status ;;
  env)    env | grep -E '^(DATABASE_URL|AWS_|MOTO_PORT|MERCADO_)' | sed 's/^/export /' ;;
  venv)   venv ;;
  *) echo "usage: $0 start|stop|status|env|venv" >&2; exit 2 ;;
esac
