#!/usr/bin/env bash
set -euo pipefail
# Airflow for Mercado, as local processes on 127.0.0.1: a pinned install in .local/airflow-venv, its
# metadata in the local PostgreSQL (database of AIRFLOW_DATABASE_URL), LocalExecutor.
#
#   scripts/airflow.sh install         install or update the venv (pinned) and migrate the metadata DB
#   scripts/airflow.sh venv            only install or update the venv
#   scripts/airflow.sh start           start api-server (UI + REST API), scheduler, dag-processor and
#                                      triggerer in the background; idempotent; prints the UI login
#   scripts/airflow.sh stop | status   stop them / exit non-zero unless all four run
#   scripts/airflow.sh login           print the UI's URL, user and password
#   scripts/airflow.sh worker …        a Celery worker (`airflow celery worker`, without serving logs);
#                                      scripts/cluster.sh runs one on each node
#   scripts/airflow.sh <airflow args>  the airflow CLI with the project's settings, e.g.
#                                      scripts/airflow.sh backfill create --dag-id mercado_daily …
#   scripts/airflow.sh pytest|python …  the venv's pytest or python with the same settings
#
# Settings (environment or .env): AIRFLOW_HOME (.local/airflow), AIRFLOW_DATABASE_URL, AIRFLOW_PORT
# (8080), MERCADO_EXECUTOR (local: LocalExecutor; celery: CeleryExecutor, whose broker `start` starts
# and whose workers are scripts/cluster.sh's nodes), MERCADO_RUNNER (local, or docker: the tasks in containers on the project's engine,
# MERCADO_DOCKER_URL, default .local/docker/docker.sock, which scripts/docker.sh starts). Secrets
# Airflow needs (JWT and session keys, the UI password) are generated once into $AIRFLOW_HOME, never
# committed.
#
# `start` with other settings than the running components were started with (the DAG file's
# SETTINGS and PASSED_ENV: a different runner, warehouse, bucket…) restarts all four, so the DAG is
# never parsed or run with a mix of both; it says which settings changed (values only for the runner).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

VENV="$LOCAL/airflow-venv"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$LOCAL/airflow}"
mkdir -p "$AIRFLOW_HOME"
AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
AIRFLOW_URL="http://127.0.0.1:$AIRFLOW_PORT"
export AIRFLOW_URL
# The metadata database: postgres://… as everywhere in the project, in SQLAlchemy's spelling. On
# the local cluster Airflow logs in as its own role, mercado_airflow, which owns that database
# (made and handed over by `install`, before it migrates) and nothing else.
db_url="${AIRFLOW_DATABASE_URL:?AIRFLOW_DATABASE_URL is not set (see .env.example)}"
db_on_local_cluster=0
if [[ "$db_url" == postgres*://*@127.0.0.1:"${MERCADO_PG_PORT:-}"/* && -r "$PG_SECRETS/mercado_airflow" ]]; then
  db_on_local_cluster=1
  db_url=$(role_url mercado_airflow "$db_url")
fi
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://${db_url#*://}"
# The executor: local (LocalExecutor, this machine) or celery (CeleryExecutor: the tasks run on the
# worker nodes of scripts/cluster.sh, Redis as broker, results in the metadata database).
case "${MERCADO_EXECUTOR:=local}" in
  local) export AIRFLOW__CORE__EXECUTOR=LocalExecutor ;;
  celery)
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    redis_secret="$REDIS_SECRETS/${MERCADO_CLUSTER_NAME:-mercado}"
    if [ -r "$redis_secret" ]; then
      AIRFLOW__CELERY__BROKER_URL="redis://:$(< "$redis_secret")@127.0.0.1:${MERCADO_REDIS_PORT:-56379}/0"
      export AIRFLOW__CELERY__BROKER_URL
    fi
    # The result backend defaults to the metadata database (db+postgresql://…).
    ;;
  *) die "MERCADO_EXECUTOR must be local or celery, not '$MERCADO_EXECUTOR'" ;;
esac
# How many task instances the scheduler keeps queued or running at once. LocalExecutor runs them on
# this machine: 8. CeleryExecutor: Airflow's default, 32; the workers' slots (MERCADO_NODE_CONCURRENCY
# per node) bound what runs, and the rest wait in the broker (8 would be the whole cluster's limit).
# A value this script chose itself (MERCADO_DEFAULT_PARALLELISM) is chosen again: a nested call for
# another executor (a benchmark under `airflow.sh python` starting a Celery cluster's Airflow) must not
# inherit LocalExecutor's 8. A value the user set is kept.
if [ -n "${MERCADO_DEFAULT_PARALLELISM:-}" ] && [ "${AIRFLOW__CORE__PARALLELISM:-}" = "$MERCADO_DEFAULT_PARALLELISM" ]; then
  unset AIRFLOW__CORE__PARALLELISM
fi
if [ -z "${AIRFLOW__CORE__PARALLELISM:-}" ]; then
  if [ "$MERCADO_EXECUTOR" = celery ]; then MERCADO_DEFAULT_PARALLELISM=32; else MERCADO_DEFAULT_PARALLELISM=8; fi
  export MERCADO_DEFAULT_PARALLELISM AIRFLOW__CORE__PARALLELISM="$MERCADO_DEFAULT_PARALLELISM"
else
  unset MERCADO_DEFAULT_PARALLELISM
fi
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AIRFLOW_URL/execution/"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="$AIRFLOW_URL"
export AIRFLOW__API__WORKERS=1
# A worker node of scripts/cluster.sh keeps its tasks' logs in its own directory (MERCADO_NODE_LOGS).
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="${MERCADO_NODE_LOGS:-$AIRFLOW_HOME/logs}"
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export MERCADO_RUNNER="${MERCADO_RUNNER:-local}"
export MERCADO_BIN_DIR="${MERCADO_BIN_DIR:-$ROOT/target/debug}"
# The project's Docker engine (scripts/docker.sh) for DockerOperator, and for docker clients alike.
export MERCADO_DOCKER_URL="${MERCADO_DOCKER_URL:-unix://$LOCAL/docker/docker.sock}"
export DOCKER_HOST="$MERCADO_DOCKER_URL"
SETTINGS_FILE="$AIRFLOW_HOME/components.settings"

COMPONENTS=(api-server scheduler dag-processor triggerer)

# Keys every component must share (tokens the scheduler signs, the api-server checks), and the UI
# password: random, made once per AIRFLOW_HOME.
secrets() {
  local file="$AIRFLOW_HOME/secrets.env"
  if [ ! -f "$file" ]; then
    (umask 077; python3 - "$file" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<'PY'
import json, secrets, sys
with open(sys.argv[1], "w") as f:
    f.write(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(32)}\n")
    f.write(f"AIRFLOW__API__SECRET_KEY={secrets.token_urlsafe(32)}\n")
with open(sys.argv[2], "w") as f:
    json.dump({"admin": secrets.token_urlsafe(12)}, f)
PY
    )
  fi
  # The file is generated just above, per AIRFLOW_HOME: nothing for shellcheck to follow.
  set -a
  # shellcheck source=/dev/null
  . "$file"
  set +a
}

venv() {
  pinned_venv "$VENV" "Airflow (about a minute)" "$ROOT/python/airflow-requirements.txt" "$ROOT/python/airflow-constraints.txt"
}

install() {
  venv
  local want; want=$(cat "$VENV/.mercado-requirements")
  "$ROOT/scripts/services.sh" start >/dev/null
  local migrated="$AIRFLOW_HOME/.migrated" stamp db_name
  # What was migrated: the requirements and the database, never its password.
  stamp="$want $(url_without_password "$db_url")"
  if [ "$(cat "$migrated" 2>/dev/null)" != "$stamp" ]; then
    if [ "$db_on_local_cluster" = 1 ]; then
      # The database's name only: the URL holds a password, and arguments are visible to `ps`.
      db_name="${db_url##*/}"
      "$ROOT/scripts/services.sh" database airflow "${db_name%%\?*}"
    fi
    log "migrating Airflow's metadata database (${db_url##*/})"
    "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 \
      || { tail -n 20 "$AIRFLOW_HOME/migrate.log" >&2; die "airflow db migrate failed"; }
    echo "$stamp" > "$migrated"
  fi
}

pidfile() { echo "$AIRFLOW_HOME/$1.pid"; }
running() { local f; f=$(pidfile "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
api_up() { curl -fsS -o /dev/null "$AIRFLOW_URL/api/v2/monitor/health"; }

# The settings the components hand to the DAG and its tasks, one line each: the name and a digest of
# the value (the runner's value in clear). Names from the DAG file's SETTINGS and PASSED_ENV.
settings_digest() {
  python3 - "$ROOT/dags/mercado_daily.py" <<'PY'
import ast, hashlib, os, sys
names = set()
for node in ast.parse(open(sys.argv[1]).read()).body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("SETTINGS", "PASSED_ENV") for t in node.targets):
        names |= set(ast.literal_eval(node.value))
for name in sorted(names):
    value = os.environ.get(name)
    if value is None:
        shown = "unset"
    elif name == "MERCADO_RUNNER":
        shown = value
    else:
        shown = hashlib.sha256(value.encode()).hexdigest()[:16]
    print(f"{name}={shown}")
PY
}

any_running() { local c; for c in "${COMPONENTS[@]}"; do running "$c" && return 0; done; return 1; }

start() {
  install
  secrets
  local c want changed
  if [ "$MERCADO_EXECUTOR" = celery ]; then
    "$ROOT/scripts/cluster.sh" broker
    AIRFLOW__CELERY__BROKER_URL="redis://:$(< "$redis_secret")@127.0.0.1:${MERCADO_REDIS_PORT:-56379}/0"
    export AIRFLOW__CELERY__BROKER_URL
  fi
  want="$(settings_digest)
MERCADO_EXECUTOR=$MERCADO_EXECUTOR"
  if any_running && [ "$(cat "$SETTINGS_FILE" 2>/dev/null)" != "$want" ]; then
    changed=$({ diff <(cat "$SETTINGS_FILE" 2>/dev/null) <(echo "$want") || true; } | sed -n 's/^> //p' \
      | sed -E 's/^(MERCADO_(RUNNER|EXECUTOR)=.*)$/\1/; s/^([A-Z_]+)=[0-9a-f]{16}$/\1/; s/^([A-Z_]+)=unset$/\1 (unset)/' | paste -sd, - | sed 's/,/, /g')
    log "Airflow's components run with other settings than these (${changed:-unknown}): restarting them"
    stop
  fi
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then continue; fi
    # setsid: each component leads its own process group, so stop ends its workers too.
    setsid "$VENV/bin/airflow" "$c" >"$AIRFLOW_HOME/$c.log" 2>&1 < /dev/null &
    echo $! > "$(pidfile "$c")"
    log "started airflow $c (log: $AIRFLOW_HOME/$c.log)"
  done
  (umask 077; echo "$want" > "$SETTINGS_FILE")
  wait_for "Airflow api-server at $AIRFLOW_URL" 120 api_up \
    || { tail -n 30 "$AIRFLOW_HOME/api-server.log" >&2; die "the Airflow api-server did not come up"; }
}

stop() {
  local c pid
  for c in "${COMPONENTS[@]}"; do
    running "$c" || { rm -f "$(pidfile "$c")"; continue; }
    pid=$(cat "$(pidfile "$c")")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$(pidfile "$c")"
    log "stopped airflow $c"
  done
}

status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "airflow $c: running (pid $(cat "$(pidfile "$c")"))"; else echo "airflow $c: stopped"; rc=1; fi
  done
  return $rc
}

login() {
  secrets
  python3 - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$AIRFLOW_URL" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))
print(f"Airflow UI: {sys.argv[2]}   user: admin   password: {users['admin']}")
PY
}

case "${1:-}" in
  install) install ;;
  venv) venv ;;
  start) start; login ;;
  stop) stop ;;
  status) status ;;
  login) login ;;
  worker)
    shift
    [ "$MERCADO_EXECUTOR" = celery ] || die "a worker needs MERCADO_EXECUTOR=celery"
    [ -n "${AIRFLOW__CELERY__BROKER_URL:-}" ] || die "no broker password yet: scripts/cluster.sh broker makes it"
    secrets
    # Airflow's default queue and the DAG's chain queue (MERCADO_CHAIN_QUEUE: the tasks later dates
    # wait on), unless the caller names the queues.
    queues=()
    case " $* " in *" --queues "*|*" --queues="*|*" -q "*) ;; *)
      chain="${MERCADO_CHAIN_QUEUE-chain}"
      queues=(--queues "${AIRFLOW__OPERATORS__DEFAULT_QUEUE:-default}${chain:+,$chain}") ;;
    esac
    exec "$VENV/bin/airflow" celery worker --skip-serve-logs "${queues[@]}" "$@" ;;
  python|pytest) tool="$1"; shift; install; secrets; exec "$VENV/bin/$tool" "$@" ;;
  ""|-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; [ -n "${1:-}" ] ;;
  *) install; secrets; exec "$VENV/bin/airflow" "$@" ;;
esac
