#!/usr/bin/env bash
set -euo pipefail
# Checkout throughput by DynamoDB table size (BENCHMARKS.md): the release API on the local
# emulator with 1k, 10k and 100k items already in its table, next to moto's own server (the
# peer: what the emulator costs without scripts/moto_server.py's changes) on the same run.
#
#   scripts/bench_checkout.sh [SIZES] [CHECKOUTS] [CLIENTS]    defaults: "1000 10000 100000" 400 32
#
# Each size gets a fresh emulator process, table and database; the unpatched peer runs only up to
# 10,000 items and fewer checkouts (it needs seconds per checkout beyond that). Not a test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"
SIZES="${1:-1000 10000 100000}"
CHECKOUTS="${2:-400}"
CLIENTS="${3:-32}"
VENV="$LOCAL/venv"
OUT="$LOCAL/bench-checkout.jsonl"

"$ROOT/scripts/services.sh" start
log "release build of the API"
cargo build --release --locked -p mercado-api --bin mercado-api
: > "$OUT"

# The API verifies bearer tokens: the local key and JWKS; the benchmark's service token (every
# scope) goes to bench_checkout.py in the environment.
export MERCADO_JWT_SIGNING_KEY_FILE="${MERCADO_JWT_SIGNING_KEY_FILE:-$LOCAL/jwt/signing.pem}"
export MERCADO_JWKS_FILE="${MERCADO_JWKS_FILE:-$LOCAL/jwt/jwks.json}"
MERCADO_API_TOKEN="$(target/release/mercado-api token --service bench --ttl 86400)" || die "cannot mint a token"
export MERCADO_API_TOKEN

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# one LABEL EMULATOR_CMD SIZE CHECKOUTS: a fresh emulator, table, database and API; one measurement.
one() {
  local label="$1" emulator="$2" size="$3" checkouts="$4"
  local mport aport name db
  mport=$(free_port); aport=$(free_port)
  name="bench_checkout_${label}_${size}"
  db="${DATABASE_URL%/*}/$name"
  pg "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  # shellcheck disable=SC2086
  $emulator --host 127.0.0.1 --port "$mport" >"$LOCAL/bench-moto.log" 2>&1 &
  local moto=$!; pids+=("$moto")
  wait_for "emulator ($label)" 60 curl -fsS "http://127.0.0.1:$mport/moto-api/" || die "emulator did not start"
  DATABASE_URL="$db" AWS_ENDPOINT_URL="http://127.0.0.1:$mport" MERCADO_DDB_TABLE="$name" \
    MERCADO_API_BIND="127.0.0.1:$aport" MERCADO_RATE_LIMIT_PER_SECOND=0 RUST_LOG=warn target/release/mercado-api >"$LOCAL/bench-api.log" 2>&1 &
  local api=$!; pids+=("$api")
  wait_for "API" 60 curl -fsS "http://127.0.0.1:$aport/readyz" || { tail "$LOCAL/bench-api.log" >&2; die "API did not start"; }
  AWS_ENDPOINT_URL="http://127.0.0.1:$mport" "$VENV/bin/python" scripts/bench_checkout.py \
    --api "http://127.0.0.1:$aport" --endpoint "http://127.0.0.1:$mport" --table "$name" \
    --items "$size" --checkouts "$checkouts" --clients "$CLIENTS" --label "$label" | tail -n1 | tee -a "$OUT"
  kill "$api" "$moto" 2>/dev/null || true
  wait "$api" "$moto" 2>/dev/null || true
  pg "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS $name" >/dev/null
}

for size in $SIZES; do
  one mercado "$VENV/bin/python scripts/moto_server.py" "$size" "$CHECKOUTS"
  if [ "$size" -le 10000 ]; then
    one moto "$VENV/bin/moto_server" "$size" $((CHECKOUTS / 4))
  fi
done

python3 - "$OUT" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in runs if r["label"] == "mercado"), None)
print("\n| emulator | items in table | checkouts | clients | checkouts/s | p50 ms | p95 ms | errors | ÷ mercado at the smallest size |")
print("|---|---|---|---|---|---|---|---|---|")
for r in runs:
    ratio = r["checkouts_per_s"] / base["checkouts_per_s"] if base and base["checkouts_per_s"] else 0
    name = "scripts/moto_server.py" if r["label"] == "mercado" else "moto_server 5.2.5 (unpatched)"
    print(f"| {name} | {r['items_in_table']:,} | {r['checkouts']} | {r['clients']} | {r['checkouts_per_s']} | "
          f"{r['latency_ms_p50']} | {r['latency_ms_p95']} | {r['errors']} | {ratio:.2f} |")
PY
