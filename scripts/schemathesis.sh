#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from the served /openapi.json and
# checks that no response is a 5xx or breaks the documented schema, status codes or content type.
# Runs the built API on its own database and DynamoDB table, on a free port of 127.0.0.1.
# Bounded: MERCADO_SCHEMATHESIS_EXAMPLES examples per operation (default 60) and 300 s at most.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

API_BIN="$ROOT/target/debug/mercado-api"
[ -x "$API_BIN" ] || die "build the API first: cargo build -p mercado-api"
NAME="schemathesis_$(date +%s)_$$"
PORT=$(free_port)
DB_URL="${DATABASE_URL%/*}/$NAME"
PGPASSWORD_URL="${DATABASE_URL}"

psql "$DATABASE_URL" -qc "CREATE DATABASE \"$NAME\"" >&2
cleanup() {
  [ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
  psql "$PGPASSWORD_URL" -qc "DROP DATABASE IF EXISTS \"$NAME\"" >/dev/null 2>&1 || true
}
trap cleanup EXIT

DATABASE_URL="$DB_URL" MERCADO_DDB_TABLE="$NAME" MERCADO_API_BIND="127.0.0.1:$PORT" RUST_LOG=warn \
  "$API_BIN" > "$LOCAL/schemathesis-api.log" 2>&1 &
API_PID=$!
wait_for "API for schemathesis" 60 curl -fsS "http://127.0.0.1:$PORT/readyz" \
  || { cat "$LOCAL/schemathesis-api.log" >&2; die "API did not start"; }

# Seed one of each resource so generated ids sometimes hit real rows.
curl -fsS -o /dev/null -XPOST "http://127.0.0.1:$PORT/customers" -d '{"first_name":"S","last_name":"T","email":"s@t.co"}'
curl -fsS -o /dev/null -XPOST "http://127.0.0.1:$PORT/vendors" -d '{"vendor_name":"S","region":"PT"}'
curl -fsS -o /dev/null -XPOST "http://127.0.0.1:$PORT/inventory?vendor_id=1" -d '{"item_name":"S","category":1,"price":1}'

log "schemathesis against http://127.0.0.1:$PORT/openapi.json"
timeout 300 "$LOCAL/venv/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,negative_data_rejection \
  --max-examples "${MERCADO_SCHEMATHESIS_EXAMPLES:-60}" --seed 20261123 --workers 2 \
  --phases examples,coverage,fuzzing --no-color --suppress-health-check all
