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
  grep -E '^(\||Verifying)' "$OUT" | sed -E 's/^(Verifying.*)$/\n\1/' > "$LOCAL/bench-auth.md"
  cat >> "$LOCAL/bench-auth.md" <<MD

$REQUESTS requests per endpoint and API in each of $ROUNDS rounds, $CLIENTS in flight, medians. Each
request carries the same service token (Ed25519, \`kid\` looked up in the JWKS, \`iss\`, \`aud\`, \`exp\`,
\`nbf\` checked), as a client sends its token with every request while it holds; the API checks it
fully once and then knows it by its SHA-256 (still checking \`exp\`), so the requests measure the
remembered path and the line above both paths on their own. "Off" takes every request as one
principal. Carts and checkouts go through the DynamoDB emulator, which handles one request at a
time, so their rate is the emulator's; sign-ups go to PostgreSQL only, where a token's check
weighs most next to the request's own work. Between rounds the rates move by up to 15% either way
(two cores shared by the client, the API, PostgreSQL and the emulator): a ratio within that is
noise, the verification's own microseconds against each request's machine time (2 cores ÷
requests per second) are the cost.
MD
  "$LOCAL/venv/bin/python" "$ROOT/scripts/bench_report.py" write "$ROOT/BENCHMARKS.md" auth \
    "Authentication's cost: requests per second with tokens verified and with authentication off" \
    "scripts/bench_auth.sh $REQUESTS $CLIENTS $ROUNDS" \
    "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)" "$LOCAL/bench-auth.md"
  log "BENCHMARKS.md: auth updated"
fi
