#!/usr/bin/env bash
set -euo pipefail
# Property-based API test: schemathesis generates requests from the served /openapi.json, in four
# phases (the schema's examples, coverage of its boundaries, random fuzzing, and stateful chains
# that follow the document's links: customer → cart → checkout → transaction), and checks that no
# response is a 5xx or breaks the documented schema, status codes or content type, that invalid
# input is refused and that a created resource can be read back.
# Runs the built API on its own database, DynamoDB table and warehouse database (the warehouse DDL
# and marts applied, one vendor's sales in it), on a free port of 127.0.0.1.
# Fails on any failure and on any warning (a schema that disagrees with the API shows up as
# "validation mismatch" or "missing test data"). Prints the test cases of each phase.
# Bounded: MERCADO_SCHEMATHESIS_EXAMPLES examples per operation (default 100; about 40 s on two
# cores); schemathesis itself is stopped after 230 s, the API's start after 30 s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

API_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/mercado-api"
[ -x "$API_BIN" ] || die "build the API first: cargo build -p mercado-api"
SCHEMATHESIS="$LOCAL/venv/bin/schemathesis"
[ -x "$SCHEMATHESIS" ] || die "schemathesis is not installed in $LOCAL/venv"
NAME="schemathesis_$(date +%s)_$$"
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
DB_URL="${DATABASE_URL%/*}/$NAME"
WH_URL="${DATABASE_URL%/*}/${NAME}_wh"
WORK="$LOCAL/schemathesis"
rm -rf "$WORK" && mkdir -p "$WORK"

cleanup() {
  [ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
  pg "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$NAME\"" >/dev/null 2>&1 || true
  pg "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"${NAME}_wh\"" >/dev/null 2>&1 || true
}
trap cleanup EXIT
pg "$DATABASE_URL" -qc "CREATE DATABASE \"$NAME\"" >&2
pg "$DATABASE_URL" -qc "CREATE DATABASE \"${NAME}_wh\"" >&2

# The warehouse GET /vendors/{id}/sales reads: the DDL and marts as the pipeline applies them, and
# vendor 1 (the document's example) with sales on the examples' days, so that operation answers
# 200, 404 and 422 rather than 503.
pg "$WH_URL" -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/warehouse/postgres.sql" -f "$ROOT/sql/warehouse/marts.sql" >&2
pg "$WH_URL" -q -v ON_ERROR_STOP=1 >&2 <<'SQL'
INSERT INTO core.dim_date VALUES (20250317, '2025-03-17', 2025, 1, 3, 17, 1, false);
INSERT INTO core.dim_vendor VALUES (1, 'Loja do Porto', 'PT', '2025-01-01T00:00:00Z');
INSERT INTO core.dim_inventory VALUES (1, 1, 3, 'Mug', 12.50, '2025-01-01', NULL, true);
INSERT INTO core.fact_sales VALUES
  ('0190a0a0-0000-7000-8000-000000000000', 1, 1, 1, 1, 3, 20250317, 12.50, 3, 37.50, 3, '2025-03-17T10:00:00Z');
SQL

# Rate limit off: every request comes from 127.0.0.1 as fast as the API answers, and a 429 is
# not what this run tests (api/tests/limits.rs does).
# Tokens: a signing key and JWKS of this run's own; schemathesis sends a service token with every
# scope (from the environment, through its config file: never on a command line).
export MERCADO_JWT_SIGNING_KEY_FILE="$WORK/jwt/signing.pem" MERCADO_JWKS_FILE="$WORK/jwt/jwks.json"
MERCADO_API_TOKEN="$("$API_BIN" token --service schemathesis --ttl 3600)" || die "cannot mint a token"
export MERCADO_API_TOKEN
# curl reads the header from a file (mode 600), not from its arguments.
(umask 077 && printf 'Authorization: Bearer %s\n' "$MERCADO_API_TOKEN" > "$WORK/auth.header")
DATABASE_URL="$DB_URL" WAREHOUSE_URL="$WH_URL" MERCADO_DDB_TABLE="$NAME" MERCADO_API_BIND="127.0.0.1:$PORT" RUST_LOG=warn \
  MERCADO_RATE_LIMIT_PER_SECOND=0 "$API_BIN" > "$WORK/api.log" 2>&1 &
API_PID=$!
wait_for "API for schemathesis" 30 curl -fsS "$BASE/readyz" \
  || { cat "$WORK/api.log" >&2; die "API did not start"; }

# Seed what the document's examples name (customer, vendor and item 1; user 1's checkout with
# Idempotency-Key order-1), so the examples phase and small generated ids reach real rows.
seed() {
  curl -fsS -o /dev/null -XPOST "$BASE$1" -H 'content-type: application/json' -H @"$WORK/auth.header" "${@:3}" -d "$2" \
    || die "seeding $1 failed"
}
seed /customers '{"first_name":"Ana","last_name":"Silva","email":"ana@example.com"}'
seed /vendors '{"vendor_name":"Loja do Porto","region":"PT"}'
seed '/inventory?vendor_id=1' '{"item_name":"Mug","category":3,"price":12.5,"stock":10}'
seed /cart '{"user_id":1,"cart":[{"item_id":1,"qty":3}]}'
seed /checkout '{"user_id":1,"number_of_installments":3}' -H 'Idempotency-Key: order-1'
seed /cart '{"user_id":1,"cart":[{"item_id":1,"qty":1}]}'

# Every warning fails the run (and the output is searched for them below as well).
cat > "$WORK/schemathesis.toml" <<'EOF'
[warnings]
fail-on = [
  "missing_auth", "missing_test_data", "base_url_mismatch", "validation_mismatch",
  "missing_deserializer", "unsupported_regex", "method_not_allowed", "unresolvable_reference",
  "rate_limited", "dictionary_mismatch", "unmatched_filter", "constants_extraction", "timeout_units",
]

# Every operation but the probes needs a bearer token: the service token minted above.
[auth.openapi.bearerAuth]
bearer = "${MERCADO_API_TOKEN}"

# Stateful chains follow the document's links only: links inferred from names send, say, a new
# vendor's id as a cart line's vendor_id, which the API rightly refuses.
[phases.stateful.inference]
algorithms = ["location-headers"]

# Values captured from earlier responses pair a cart line's item with an unrelated vendor every
# time (vendor_id is checked against the item's vendor), so carts are fuzzed from the schema alone.
[[operations]]
include-operation-id = "replaceCart"
phases.fuzzing.extra-data-sources.responses = false
EOF

log "schemathesis against $BASE/openapi.json"
started=$SECONDS
status=0
# From $WORK, so schemathesis' cache (.schemathesis/) stays out of the repository. One worker:
# with two, Hypothesis' lambda descriptions hit a CPython 3.11 AST race ("AST constructor
# recursion depth mismatch") now and then, and the run is fast enough without.
(
  cd "$WORK"
  timeout 230 "$SCHEMATHESIS" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,negative_data_rejection,use_after_free,ensure_resource_availability,ignored_auth \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "${MERCADO_SCHEMATHESIS_EXAMPLES:-100}" --seed 20261123 --workers 1 \
    --suppress-health-check all --generation-database none --no-color \
    --report ndjson --report-ndjson-path "$WORK/events.ndjson"
) 2>&1 | tee "$WORK/output.txt" || status=$?
log "schemathesis finished in $((SECONDS - started)) s (exit $status)"

# Test cases per phase, from the run's event stream.
log "test cases per phase:"
"$LOCAL/venv/bin/python" - "$WORK/events.ndjson" <<'EOF' >&2 || true
import json, sys, collections
cases = collections.Counter()
for line in open(sys.argv[1]):
    event = json.loads(line)
    for kind, body in event.items():
        if kind == "ScenarioFinished" and isinstance(body, dict):
            phase = body.get("phase") or "?"
            recorder = body.get("recorder") or {}
            cases[phase] += len(recorder.get("cases") or {})
for phase in ("examples", "coverage", "fuzzing", "stateful"):
    name = next((p for p in cases if p.lower().startswith(phase)), None)
    print(f"  {phase}: {cases.get(name, 0) if name else 0} test cases")
EOF

if grep -qiE 'validation mismatch|missing test data|mostly rejected|rejected generated data|WARNINGS ==' "$WORK/output.txt"; then
  die "schemathesis reported warnings (see above)"
fi
[ "$status" -eq 0 ] || die "schemathesis failed (exit $status)"
log "schemathesis passed (script: $SECONDS s)"
