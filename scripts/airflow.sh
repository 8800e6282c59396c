#!/usr/bin/env bash
# Airflow for Mercado's DAGs, as plain processes: a pinned install in .local/airflow-venv and a
# metadata database (SQLite) in .local/airflow.
#
#   scripts/airflow.sh install       install or update the venv (pinned)
#   scripts/airflow.sh <airflow args> run the airflow CLI with the project's settings, e.g.
#                                     scripts/airflow.sh dags test mercado_daily 2025-03-17
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

VENV="$LOCAL/airflow-venv"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$LOCAL/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export MERCADO_BIN_DIR="${MERCADO_BIN_DIR:-$ROOT/target/debug}"

install() {
  local stamp="$VENV/.mercado-requirements"
  local want; want=$(cat "$ROOT/python/airflow-requirements.txt" "$ROOT/python/airflow-constraints.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Airflow into $VENV (pinned; about two minutes)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/python/airflow-requirements.txt" \
      -c "$ROOT/python/airflow-constraints.txt" >&2
    echo "$want" > "$stamp"
  fi
  if [ ! -f "$AIRFLOW_HOME/airflow.db" ]; then
    log "creating Airflow's metadata database in $AIRFLOW_HOME"
    "$VENV/bin/airflow" db migrate >"$LOCAL/airflow-migrate.log" 2>&1 || { tail -n 20 "$LOCAL/airflow-migrate.log" >&2; die "airflow db migrate failed"; }
  fi
}

case "${1:-}" in
  install) install ;;
  python|pytest) tool="$1"; shift; install; exec "$VENV/bin/$tool" "$@" ;;
  "") echo "usage: $0 install | <airflow args> | pytest <args> | python <args>" >&2; exit 2 ;;
  *) install; exec "$VENV/bin/airflow" "$@" ;;
esac
