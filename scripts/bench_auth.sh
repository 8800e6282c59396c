#!/usr/bin/env bash
set -euo pipefail
# Authentication's cost (BENCHMARKS.md): requests per second of POST /customers/, POST /cart/ and
# POST /checkout/ with every bearer token verified against the same API with authentication off,
# same run, same stores, the same requests (api/examples/auth_overhead.rs: both APIs served by one
# release process, rounds alternating which goes first; medians). The "off" mode exists only in
# this example's build (feature bench-auth-off); no binary of the project has it. Not a test.
#
#   scripts/bench_auth.sh [REQUESTS] [CLIENTS] [ROUNDS]      defaults: 1000 32 3
#   scripts/bench_auth.sh --smoke                             a tiny debug run; BENCHMARKS.md untouched
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"

SMOKE=0
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
REQUESTS="${1:-1000}"
CLIENTS="${2:-32}"
ROUNDS="${3:-3}"
PROFILE=(--release)
if [ "$SMOKE" = 1 ]; then REQUESTS=20; CLIENTS=4; ROUNDS=1; PROFILE=(); fi
OUT="$LOCAL/bench-auth.out"

"$ROOT/scripts/services.sh" start
local_passwords_into_env
log "building the benchmark (api/examples/auth_overhead.rs${PROFILE[*]:+, release})"
cargo build "${PROFILE[@]}" --locked -p mercado-api --features bench-auth-off --example auth_overhead
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$([ "$SMOKE" = 1 ] && echo debug || echo release)/examples/auth_overhead"

log "authentication on and off: $REQUESTS requests per endpoint, $CLIENTS in flight, $ROUNDS rounds"
RUST_LOG=warn "$BIN" --requests "$REQUESTS" --clients "$CLIENTS" --rounds "$ROUNDS" | tee "$OUT"
tail -n1 "$OUT" | python3 -c 'import json, sys; json.load(sys.stdin)' || die "no summary from the benchmark"

if [ "$SMOKE" = 0 ]; then
  grep '^|' "$OUT" > "$LOCAL/bench-auth.md"
  cat >> "$LOCAL/bench-auth.md" <<MD

$REQUESTS requests per endpoint and API in each of $ROUNDS rounds, $CLIENTS in flight, medians. Each
request carries a service token (Ed25519, \`kid\` looked up in the JWKS, \`iss\`, \`aud\`, \`exp\`, \`nbf\`
checked); "off" takes it as read. Carts and checkouts go through the DynamoDB emulator, which handles
one request at a time: their cost is the emulator's, and authentication's share of it is within the
noise; sign-ups go to PostgreSQL only and show what verifying a token costs next to a small write.
MD
  "$LOCAL/venv/bin/python" "$ROOT/scripts/bench_report.py" write "$ROOT/BENCHMARKS.md" auth \
    "Authentication's cost: requests per second with tokens verified and with authentication off" \
    "scripts/bench_auth.sh $REQUESTS $CLIENTS $ROUNDS" \
    "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)" "$LOCAL/bench-auth.md"
  log "BENCHMARKS.md: auth updated"
fi
