#!/usr/bin/env bash
set -euo pipefail
# README command 2: every test, on real services. CI runs exactly this (.ci/run).
#   1. local services up (PostgreSQL without fsync unless a durable one runs, moto), installing
#      what is missing; the patched moto server's own tests
#   2. scripts/lint.sh: rustfmt, clippy, cargo doc, shellcheck, ruff, mypy, sqlfluff, hadolint, dclint
#   3. cargo test: unit tests and the API's HTTP integration tests (each on its own database/table)
#   4. schemathesis against the served /openapi.json; a smoke run of the benchmark suite; the lake's
#      Iceberg tables (python/mercado_iceberg/tests, in .local/iceberg-venv)
#   5. Airflow (pinned, in .local/airflow-venv): DAG tests; `airflow dags test` end to end with each
#      runner; a backfill driven by a real scheduler compared with the dates run one by one; the UI in
#      headless Chromium (Debian's chromium and chromedriver, installed when missing); the DAG on
#      CeleryExecutor with two worker nodes (scripts/cluster.sh), one of them lost mid-task
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"
started=$SECONDS
# The tests' PostgreSQL may skip fsync (it is rebuilt at will); a durable one already running
# for the main command is used as it is.
export MERCADO_PG_DURABLE="${MERCADO_PG_DURABLE:-0}"

"$ROOT/scripts/services.sh" start
local_passwords_into_env  # the logins' passwords exist now (generated on a fresh machine by start)

# Databases left by earlier runs' tests (each test makes its own); the cluster is throwaway anyway.
pg "$DATABASE_URL" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 't\_%' OR datname LIKE 'schemathesis\_%'" \
  | while read -r db; do [ -n "$db" ] && pg "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done

log "scripts' own tests: moto's patched TransactWriteItems (cost independent of table size, atomic, serialised); the run follower's rules"
"$LOCAL/venv/bin/python" -m pytest -q -p no:cacheprovider scripts/tests 2>&1 | tee "$LOCAL/pytest-moto.log"

"$ROOT/scripts/lint.sh"

log "cargo test"
# Chromium renders the report task's HTML in tasks/lake/tests/report.rs, and the Airflow UI below.
apt_install chromedriver chromium chromium-driver
cargo test --workspace --locked 2>&1 | tee "$LOCAL/cargo-test.log"

log "schemathesis"
"$ROOT/scripts/schemathesis.sh"

log "benchmark suite, smoke run (tiny, debug build: the suite works and its outputs agree; no timing counts)"
"$ROOT/scripts/bench_suite.sh" --smoke
log "authentication benchmark, smoke run (tiny, debug build: it runs; no timing counts)"
"$ROOT/scripts/bench_auth.sh" --smoke
log "API replicas benchmark, smoke run (one replica behind HAProxy, debug build: it runs; no timing counts)"
"$ROOT/scripts/bench_replicas.sh" --smoke

log "Iceberg: the lake's tables through the catalog, pyiceberg and DuckDB (python/mercado_iceberg/tests)"
"$ROOT/scripts/iceberg.sh" pytest -q -p no:cacheprovider python/mercado_iceberg/tests 2>&1 | tee "$LOCAL/pytest-iceberg.log"
log "Iceberg commit benchmark, smoke run (three small days: it runs; no timing counts)"
"$ROOT/scripts/iceberg.sh" python scripts/bench_iceberg.py --smoke

log "Airflow: DAG tests, then the DAG end to end for two dates with each runner"
"$ROOT/scripts/airflow.sh" install
"$ROOT/scripts/docker.sh" start
"$ROOT/scripts/docker.sh" image
rm -f "$LOCAL/e2e-timings.json"
AIRFLOW__CORE__UNIT_TEST_MODE=True "$ROOT/scripts/airflow.sh" pytest -q -p no:cacheprovider dags/tests 2>&1 | tee "$LOCAL/pytest-dags.log"
rm -f "$LOCAL/backfill-timings.json" "$LOCAL/command1-timings.json" "$LOCAL/cluster-timings.json"
"$ROOT/scripts/airflow.sh" pytest -q -p no:cacheprovider dags/e2e 2>&1 | tee "$LOCAL/pytest-e2e.log"
log "end-to-end wall time per runner (two dates, seconds): $(cat "$LOCAL/e2e-timings.json")"
log "backfill of five dates through the scheduler (seconds): $(cat "$LOCAL/backfill-timings.json")"
log "CeleryExecutor on two worker nodes (scripts/cluster.sh; seconds): $(cat "$LOCAL/cluster-timings.json")"
log "command 1 for one day, wall time per runner (seconds; docker: engine started and image built first): $(cat "$LOCAL/command1-timings.json")"

count() { grep -hEo "[0-9]+ $1" "$LOCAL/pytest-moto.log" "$LOCAL/cargo-test.log" "$LOCAL/pytest-iceberg.log" "$LOCAL/pytest-dags.log" "$LOCAL/pytest-e2e.log" | awk '{s+=$1} END {print s+0}'; }
log "all tests done in $((SECONDS - started)) s (cargo test, pytest; schemathesis and sqlfluff above)"
echo "tests: $(count passed) passed, $(count failed) failed"
