#!/usr/bin/env bash
set -euo pipefail
# API replicas (BENCHMARKS.md): requests per second and p99 latency of two flows through HAProxy over
# 1, 2 and 4 API replicas (scripts/cluster.sh api N), each replica on its own node capped at the
# same CPU share (MERCADO_BENCH_NODE_CPU, default 0.15), the load from wrk (Debian's) on the host, and where the
# machine's time went (CPU seconds of the replicas, of the DynamoDB/S3 emulator, of PostgreSQL).
# Not a test.
#
#   scripts/bench_replicas.sh [REPLICAS] [SECONDS] [CONNECTIONS]   defaults: "1 2 4" 15 64
#   scripts/bench_replicas.sh --smoke                               one replica, 2 s, debug build;
#                                                                   BENCHMARKS.md untouched
# Flows (scripts/bench_replicas.lua):
#   customer  a sign-up (POST /customers/, PostgreSQL) then a read of a customer (GET /customers/{id})
#   cart      a cart replaced (POST /cart/: a read of PostgreSQL, a write to DynamoDB)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"

SMOKE=0
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
REPLICAS="${1:-1 2 4}"
SECONDS_EACH="${2:-15}"
CONNECTIONS="${3:-64}"
PROFILE=release
if [ "$SMOKE" = 1 ]; then REPLICAS=1; SECONDS_EACH=2; CONNECTIONS=8; PROFILE=debug
  # The debug build needs more than a benchmark replica's share to answer its health checks in time.
  MERCADO_BENCH_NODE_CPU=1
fi
OUT="$LOCAL/bench-replicas.jsonl"
: > "$OUT"

"$ROOT/scripts/services.sh" start
local_passwords_into_env
apt_install wrk wrk
log "building the API ($PROFILE)"
if [ "$PROFILE" = release ]; then cargo build --release --locked -p mercado-api --bin mercado-api
else cargo build --locked -p mercado-api --bin mercado-api; fi

NAME="bench_replicas_$$"
export MERCADO_CLUSTER_NAME="br$$"
export MERCADO_BIN_DIR="$ROOT/target/$PROFILE"
# 0.15 CPU each: four replicas (0.6 CPU) fit on 2 cores beside PostgreSQL, HAProxy, the bridges and
# wrk, so the replicas' caps bind before the machine does (at 0.4, one replica already filled it).
export MERCADO_NODE_CPU="${MERCADO_BENCH_NODE_CPU:-0.15}"
MERCADO_API_BIND="127.0.0.1:$(free_port)"
export MERCADO_API_BIND
export MERCADO_DDB_TABLE="$NAME"
export MERCADO_RATE_LIMIT_PER_SECOND=0 RUST_LOG=warn
# Each replica's PostgreSQL pool large enough that its CPU cap, not its pool, bounds it (4 × 48
# connections stay under the local server's 300); MERCADO_BENCH_POOL_SIZE changes it.
export MERCADO_DB_POOL_SIZE="${MERCADO_BENCH_POOL_SIZE:-48}"
export MERCADO_JWT_SIGNING_KEY_FILE="$LOCAL/bench-replicas/signing.pem" MERCADO_JWKS_FILE="$LOCAL/bench-replicas/jwks.json"
ADMIN_URL="$DATABASE_URL"
export DATABASE_URL="${ADMIN_URL%/*}/$NAME"
pg "${ADMIN_URL%/*}/postgres" -qc "CREATE DATABASE $NAME" >/dev/null
cleanup() {
  "$ROOT/scripts/cluster.sh" down >/dev/null 2>&1 || true
  pg "${ADMIN_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS $NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$MERCADO_BIN_DIR/mercado-api" migrate >/dev/null
MERCADO_API_TOKEN="$("$MERCADO_BIN_DIR/mercado-api" token --service bench --ttl 7200)"
export MERCADO_API_TOKEN

# The catalogue the flows use: customers 1..CUSTOMERS, items 1..ITEMS of one vendor.
"$ROOT/scripts/cluster.sh" api 1
export BENCH_CUSTOMERS=200 BENCH_ITEMS=40
python3 - "http://$MERCADO_API_BIND" <<'PY'
import json, os, sys, urllib.request
base, token = sys.argv[1], os.environ["MERCADO_API_TOKEN"]
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
vendor = post("/vendors/", {"vendor_name": "Bench shop", "region": "PT"})
for i in range(int(os.environ["BENCH_ITEMS"])):
    post(f"/inventory/?vendor_id={vendor['id']}", {"item_name": f"Item {i}", "category": 1, "price": "9.90", "stock": 1000000})
for i in range(int(os.environ["BENCH_CUSTOMERS"])):
    post("/customers/", {"first_name": "Bench", "last_name": f"Seed {i}", "email": f"seed{i}@example.com"})
PY

moto_pid=$(cat "$LOCAL/moto.pid")
pg_pid=$(head -n1 "$LOCAL/pg/data/postmaster.pid")
# CPU seconds of a process and its children so far (/proc: utime + stime + children's).
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"; }
# Every PostgreSQL backend is the postmaster's child, counted when it exits; the live ones too.
pg_cpu() {
  local total=0 p
  total=$(cpu_of "$pg_pid")
  for p in $(pgrep -P "$pg_pid"); do total=$(awk -v a="$total" -v b="$(cpu_of "$p" 2>/dev/null || echo 0)" 'BEGIN { print a + b }'); done
  echo "$total"
}
replicas_cpu() {
  local k total=0
  for k in $(seq 1 "$1"); do
    total=$(awk -v a="$total" -v b="$(cat "/sys/fs/cgroup/cpuacct/mercado/$MERCADO_CLUSTER_NAME-api$k/cpuacct.usage")" 'BEGIN { print a + b / 1e9 }')
  done
  echo "$total"
}

for n in $REPLICAS; do
  "$ROOT/scripts/cluster.sh" api "$n"
  for flow in customer cart; do
    log "$flow flow through HAProxy over $n replica(s) (${MERCADO_NODE_CPU} CPU each): $CONNECTIONS connections, ${SECONDS_EACH} s"
    # Warm-up, not counted: the replicas' connection pools filled, HAProxy's connections open.
    BENCH_FLOW="$flow" BENCH_RUN="0$n$RANDOM" wrk -t2 -c"$CONNECTIONS" -d2s --timeout 10s \
      -s "$ROOT/scripts/bench_replicas.lua" "http://$MERCADO_API_BIND" > /dev/null
    m0=$(cpu_of "$moto_pid"); p0=$(pg_cpu); r0=$(replicas_cpu "$n")
    BENCH_FLOW="$flow" BENCH_RUN="$n$RANDOM" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s \
      -s "$ROOT/scripts/bench_replicas.lua" "http://$MERCADO_API_BIND" > "$LOCAL/bench-replicas.wrk"
    m1=$(cpu_of "$moto_pid"); p1=$(pg_cpu); r1=$(replicas_cpu "$n")
    tail -n1 "$LOCAL/bench-replicas.wrk" | python3 -c '
import json, sys
r = json.load(sys.stdin)
n, flow, m0, m1, p0, p1, r0, r1 = sys.argv[1:9]
r.update(replicas=int(n), flow=flow, emulator_cpu_s=round(float(m1) - float(m0), 1),
         postgres_cpu_s=round(float(p1) - float(p0), 1), replicas_cpu_s=round(float(r1) - float(r0), 1))
print(json.dumps(r))' "$n" "$flow" "$m0" "$m1" "$p0" "$p1" "$r0" "$r1" | tee -a "$OUT"
  done
done

python3 - "$OUT" > "$LOCAL/bench-replicas.md" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| flow | replicas | requests/s | ÷ one replica | p50 ms | p99 ms | errors | CPU s: replicas / PostgreSQL / emulator |")
print("|---|---|---|---|---|---|---|---|")
for flow in ("customer", "cart"):
    one = next(r for r in runs if r["flow"] == flow and r["replicas"] == min(x["replicas"] for x in runs))
    for r in (r for r in runs if r["flow"] == flow):
        print(f"| {flow} | {r['replicas']} | {r['rps']:.0f} | {r['rps'] / one['rps']:.2f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['errors']} | {r['replicas_cpu_s']} / {r['postgres_cpu_s']} / {r['emulator_cpu_s']} |")
PY
cat "$LOCAL/bench-replicas.md"
python3 -c 'import json, sys; rs = [json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if rs and all(r["requests"] > 0 and r["errors"] == 0 for r in rs) else 1)' "$OUT" \
  || die "a flow was not answered, or answered errors (above; the replicas' logs: $LOCAL/cluster/$MERCADO_CLUSTER_NAME/api*/api.log)"

if [ "$SMOKE" = 0 ]; then
  cat >> "$LOCAL/bench-replicas.md" <<MD

Each replica is \`mercado-api\` (release, a pool of $MERCADO_DB_POOL_SIZE PostgreSQL connections) on a node of its own, capped at ${MERCADO_NODE_CPU} CPU by its cgroup; HAProxy,
wrk (2 threads, $CONNECTIONS connections, ${SECONDS_EACH} s per row, keep-alive), PostgreSQL and the emulator share the
rest of the machine's $(nproc) cores. The customer flow alternates a sign-up (an INSERT) and a read by id,
PostgreSQL only; the cart flow replaces a customer's cart (PostgreSQL reads the items, DynamoDB on the
emulator stores the cart). Rates are counted in PostgreSQL's \`rate_limits\` only when a limit is on (off here).
The CPU columns are the replicas' cgroups, PostgreSQL's processes and the emulator's process over the
row's seconds; the rest of the machine went to wrk, HAProxy and the socat bridges that carry each
node's traffic. The emulator serves one request at a time (about 0.65 of a core is its ceiling).
MD
  "$LOCAL/venv/bin/python" "$ROOT/scripts/bench_report.py" write "$ROOT/BENCHMARKS.md" replicas \
    "API replicas behind HAProxy: requests per second and p99 by replica count" \
    "scripts/bench_replicas.sh \"$REPLICAS\" $SECONDS_EACH $CONNECTIONS" \
    "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)" "$LOCAL/bench-replicas.md"
  log "BENCHMARKS.md: replicas updated"
fi
