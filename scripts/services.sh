#!/usr/bin/env bash
set -euo pipefail
# Start, stop and check Mercado's local services: PostgreSQL and moto's server (S3, DynamoDB, IAM).
# Both are plain processes on 127.0.0.1 with their state under .local/; `start` is idempotent.
#
#   scripts/services.sh start|stop|status|env
#
# Ports and users come from .env (or .env.example): MERCADO_PG_PORT, MOTO_PORT, DATABASE_URL.
#
# PostgreSQL logins (least privilege; passwords generated once into .local/secrets/pg/, mode 600,
# scram-sha-256 on TCP; the unix socket opens only for the server's own OS user):
#   mercado            the cluster's superuser (MERCADO_PG_SUPERUSER, the user of .env's URLs): bootstrap,
#                      the tests' own databases
#   mercado_migrator   owns the OLTP database; applies the migrations (`mercado-api migrate`)
#   mercado_api        the API: rows of the OLTP tables (oltp_writer), no DDL
#   mercado_extract    the extract task: reads the OLTP tables (oltp_reader), read-only sessions
#   mercado_loader     the warehouse tasks: owns the warehouse database (data_engineer)
#   mercado_analytics  the API's vendor analytics and the KPIs: the marts only (marts_reader)
#   mercado_airflow    owns Airflow's metadata database
#   mercado_iceberg    owns the Iceberg SQL catalog's database (python/mercado_iceberg)
# `start` makes them (and the databases of DATABASE_URL, WAREHOUSE_URL and AIRFLOW_DATABASE_URL,
# each owned by its role and closed to others); what each group role may do is granted by
# sql/access/oltp_grants.sql (after the migrations) and sql/warehouse/grants.sql (by the load).
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

# The cluster's superuser (not DATABASE_URL's user: scripts hand their components other logins).
pg_user()     { echo "${MERCADO_PG_SUPERUSER:-mercado}"; }
pg_password() { cat "$PG_SECRETS/$(pg_user)"; }

# Login role → the group roles it is a member of (a comma list, as GRANT takes it).
# shellcheck disable=SC2054
LOGINS=(
  mercado_migrator:
  mercado_api:oltp_writer
  mercado_extract:oltp_reader
  mercado_loader:data_engineer,data_scientist,bi_analyst,marts_reader
  mercado_analytics:marts_reader
  mercado_airflow:
  mercado_iceberg:
)
GROUPS_=(oltp_writer oltp_reader data_engineer data_scientist bi_analyst marts_reader)

# A password for each login (the superuser's included), made once.
pg_secrets() {
  (umask 077; mkdir -p "$PG_SECRETS")
  local role
  for role in "$(pg_user)" "${LOGINS[@]%%:*}"; do
    [ -s "$PG_SECRETS/$role" ] && continue
    (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$PG_SECRETS/$role")
  done
}

# psql as the superuser through the cluster's unix socket (its own OS user only; no password, so
# this also sets the superuser's password on a cluster made before it was generated). SQL on stdin.
pg_socket_sql() {
  { echo "SET client_min_messages = warning;"; cat; } | as_pg psql -h "$PG_DIR" -p "$MERCADO_PG_PORT" -U "$(pg_user)" -d postgres -q -v ON_ERROR_STOP=1 >/dev/null
}

# The login and group roles, with their passwords (sent on stdin, never as arguments).
pg_logins() {
  local entry role groups
  {
    printf "ALTER ROLE %s PASSWORD '%s';\n" "$(pg_user)" "$(pg_password)"
    for role in "${GROUPS_[@]}"; do
      printf "SELECT 'CREATE ROLE %s NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s')\n\\gexec\n" "$role" "$role"
    done
    for entry in "${LOGINS[@]}"; do
      role="${entry%%:*}"; groups="${entry#*:}"
      printf "SELECT 'CREATE ROLE %s' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s')\n\\gexec\n" "$role" "$role"
      printf "ALTER ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '%s';\n" \
        "$role" "$(< "$PG_SECRETS/$role")"
      if [ -n "$groups" ]; then printf "GRANT %s TO %s;\n" "$groups" "$role"; fi
    done
    printf "ALTER ROLE mercado_extract SET default_transaction_read_only = on;\n"
    printf "ALTER ROLE mercado_analytics SET default_transaction_read_only = on;\n"
  } | pg_socket_sql || die "could not set up the PostgreSQL logins"
}

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
pg_fsync() { as_pg psql -h "$PG_DIR" -p "$MERCADO_PG_PORT" -U "$(pg_user)" -d postgres -tAc "SHOW fsync" 2>/dev/null; }

pg_start() {
  local bin; bin=$(pg_bin)
  local want=on mode=durable; [ "$PG_DURABLE" = 0 ] && { want=off; mode="fast, not durable"; }
  if pg_ready; then
    # A durable server serves the tests too; a fast one is restarted when durability is asked for.
    if [ "$want" = off ] || [ "$(pg_fsync)" = on ] || [ ! -f "$PG_DATA/postmaster.pid" ]; then
      log "PostgreSQL already running on 127.0.0.1:$MERCADO_PG_PORT"; pg_logins; pg_databases; return
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
    (umask 077; pg_password > "$pwfile")
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DATA" -U "$(pg_user)" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { rm -f "$pwfile"; cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
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
  pg_logins
  pg_databases
}

pg_databases() {
  # The OLTP database, the local warehouse and Airflow's metadata live in this one cluster.
  pg_database oltp "$DATABASE_URL"
  [ -n "${WAREHOUSE_URL:-}" ] && pg_database warehouse "$WAREHOUSE_URL"
  [ -n "${AIRFLOW_DATABASE_URL:-}" ] && pg_database airflow "$AIRFLOW_DATABASE_URL"
  [ -n "${ICEBERG_CATALOG_URL:-}" ] && pg_database iceberg "$ICEBERG_CATALOG_URL"
  return 0
}

# pg_database oltp|warehouse|airflow URL|NAME: the database (of URL, or named NAME), made if missing,
# owned by the login that makes its tables and open (CONNECT) only to the roles that use it.
pg_database() {
  local kind="$1" db="${2##*/}" owner roles
  db="${db%%\?*}"
  case "$kind" in
    oltp)      owner=mercado_migrator; roles=oltp_writer,oltp_reader ;;
    warehouse) owner=mercado_loader;   roles=data_engineer,data_scientist,bi_analyst,marts_reader ;;
    airflow)   owner=mercado_airflow;  roles= ;;
    iceberg)   owner=mercado_iceberg;  roles= ;;
    *) die "pg_database: no kind of database '$kind' (oltp, warehouse, airflow or iceberg)" ;;
  esac
  {
    printf "SELECT 'CREATE DATABASE \"%s\"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '%s')\n\\gexec\n" "$db" "$db"
    printf 'ALTER DATABASE "%s" OWNER TO %s;\n' "$db" "$owner"
    printf 'REVOKE ALL ON DATABASE "%s" FROM PUBLIC;\n' "$db"
    if [ -n "$roles" ]; then printf 'GRANT CONNECT ON DATABASE "%s" TO %s;\n' "$db" "$roles"; fi
  } | pg_socket_sql || die "could not set up database $db"
}

# The emulator keeps its buckets in memory: stopping it loses the lake, so the local Iceberg catalog
# (the database of ICEBERG_CATALOG_URL), whose tables point at metadata in those buckets, is emptied
# with it (dropped here, made again by `start`). Kept, it would name files that no longer exist and
# every later commit would fail on them.
iceberg_catalog_forget() {
  local db="${ICEBERG_CATALOG_URL:-}"
  [[ "$db" == postgres*://*@127.0.0.1:"$MERCADO_PG_PORT"/* ]] && pg_ready || return 0
  db="${db##*/}"; db="${db%%\?*}"
  printf 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);\n' "$db" | pg_socket_sql >/dev/null \
    && log "the local Iceberg catalog ($db) emptied with the emulator's buckets"
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
  start)  venv; pg_secrets; pg_start; moto_start ;;  # the venv also serves the tests, even when moto runs from elsewhere
  stop)   moto_stop; iceberg_catalog_forget; pg_stop ;;
  status) status ;;
  env)    env | grep -E '^(DATABASE_URL|AWS_|MOTO_PORT|MERCADO_)' | sed 's/^/export /' ;;
  venv)   venv ;;
  # `database oltp|warehouse|airflow|iceberg NAME`: that database made and owned as `start` makes its own
  # (give its name, not its URL: arguments are visible to other users, and a URL holds a password).
  database) pg_ready || die "PostgreSQL is not running (scripts/services.sh start)"; pg_database "${2:?kind}" "${3:?database name}" ;;
  *) echo "usage: $0 start|stop|status|env|venv|database KIND NAME" >&2; exit 2 ;;
esac
