#!/usr/bin/env bash
# The benchmark suite against the tools a data engineer would otherwise pick (BENCHMARKS.md).
# Not a test: timings are medians of several runs and ratios on the same run, and every output is
# checked equal to the others before any time counts.
#
#   scripts/bench_suite.sh [--rows N] [--runs R] [--smoke]
#     --rows   inventory rows to extract (default 1000000)
#     --runs   runs per tool; the median counts (default 3)
#     --smoke  tiny and quick, on the debug build, results not written (the test command runs it)
#
# Part 1, extract (PostgreSQL → Parquet), the same query for everyone:
#   floor      psql \copy (…) TO '/dev/null' (FORMAT binary)   reading only, nothing written
#   mercado    mercado-task extract (binary COPY → Arrow → Parquet zstd → S3), the inventory's own time
#   connectorx ConnectorX read_sql → Arrow → pyarrow Parquet zstd (local file)
#   pandas     pandas read_sql → to_parquet zstd (local file)
# Peers are pinned in python/bench-requirements.txt and installed into .local/bench-venv.
# Without --smoke the results replace the "extract" section of BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"
ROWS=1000000 RUNS=3 SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --smoke) SMOKE=1; ROWS=2000; RUNS=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
NAME=bench_suite
DAY=2025-03-17
WORK="$LOCAL/bench-suite"
VENV="$LOCAL/bench-venv"
rm -rf "$WORK" && mkdir -p "$WORK"
export DATABASE_URL="${DATABASE_URL%/*}/$NAME" MERCADO_DDB_TABLE=$NAME MERCADO_LAKE_BUCKET=mercado-bench-suite RUST_LOG=warn
ADMIN_URL="${DATABASE_URL%/*}/postgres"

"$ROOT/scripts/services.sh" start
stamp=$(sha256sum "$ROOT/python/bench-requirements.txt" | cut -c1-16)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  log "installing the peers into $VENV (pinned: python/bench-requirements.txt)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/python/bench-requirements.txt" >&2
  echo "$stamp" > "$VENV/.stamp"
fi
if [ "$SMOKE" = 1 ]; then
  BIN="$ROOT/target/debug"
  cargo build --locked -p mercado-tasks -p mercado-api >&2
else
  BIN="$ROOT/target/release"
  log "release build"
  cargo build --release --locked -p mercado-tasks -p mercado-api >&2
fi

log "loading PostgreSQL: $ROWS inventory rows"
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $NAME" -c "CREATE DATABASE $NAME" >/dev/null
"$BIN/mercado-api" migrate >/dev/null
psql "$DATABASE_URL" -q <<SQL
INSERT INTO vendors (vendor_name, region) SELECT 'Vendor ' || g, 'PT' FROM generate_series(1, 1000) g;
INSERT INTO customers (first_name, last_name, email) SELECT 'C' || g, 'Bench', 'c' || g || '@example.com' FROM generate_series(1, 1000) g;
INSERT INTO inventory (vendor_id, category_id, item_name, price, stock)
  SELECT g % 1000 + 1, g % 9 + 1, 'Item number ' || g, 1.00 + (g % 500), g % 100 FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE;
SQL
# Extract's own query for the inventory (its columns come from the raw contract).
QUERY="SELECT id::int8, vendor_id::int8, category_id::int4, item_name::text, price::numeric, stock::int4, updated_at::timestamptz FROM inventory ORDER BY id"

median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 4))' "$@"; }

log "floor: psql \\copy … (FORMAT binary) to /dev/null, $RUNS run(s)"
floor=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  psql "$DATABASE_URL" -qc "\\copy ($QUERY) TO '/dev/null' (FORMAT binary)"
  floor+=("$(python3 -c "print($(date +%s.%N) - $t0)")")
done
FLOOR=$(median "${floor[@]}")

log "mercado: mercado-task extract, $RUNS run(s)"
merc=()
for _ in $(seq "$RUNS"); do
  "$BIN/mercado-task" extract --date "$DAY" > "$WORK/extract.out"
  merc+=("$(tail -n1 "$WORK/extract.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["datasets"]["raw/postgres/inventory"]["seconds"])')")
done
MERCADO=$(median "${merc[@]}")
# Mercado's output: the files its manifest lists.
"$VENV/bin/python" - "$MERCADO_LAKE_BUCKET" "raw/postgres/inventory/dt=$DAY/_manifest.json" "$WORK" <<'PY' > "$WORK/mercado.files"
import json, os, sys, boto3
bucket, key, work = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
for i, f in enumerate(manifest["files"]):
    path = f"{work}/mercado-{i}.parquet"
    s3.download_file(bucket, f["key"], path)
    print(path)
PY
MERCADO_DIGEST=$("$VENV/bin/python" "$ROOT/scripts/bench_extract.py" digest $(cat "$WORK/mercado.files"))

log "peers: ConnectorX and pandas, $RUNS run(s) each"
"$VENV/bin/python" "$ROOT/scripts/bench_extract.py" peers --dsn "$DATABASE_URL" --query "$QUERY" \
  --out "$WORK" --runs "$RUNS" > "$WORK/peers.json"

python3 - "$ROWS" "$RUNS" "$FLOOR" "$MERCADO" "$MERCADO_DIGEST" "$WORK/peers.json" > "$WORK/extract.md" <<'PY'
import json, sys
rows, runs, floor, mercado = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
mercado_digest = json.loads(sys.argv[5])
peers = json.load(open(sys.argv[6]))
digests = {"mercado": mercado_digest, **{k: v["digest"] for k, v in peers.items()}}
if len({json.dumps(d, sort_keys=True) for d in digests.values()}) != 1 or mercado_digest["rows"] != rows:
    sys.exit(f"outputs differ, no timing counts: {digests}")
tools = [("psql \\copy binary to /dev/null (floor, reads only)", floor),
         ("**mercado-task extract** (→ Parquet zstd → S3)", mercado),
         ("ConnectorX 0.4.6 + pyarrow 26 (→ Parquet zstd, local)", peers["connectorx"]["median"]),
         ("pandas 3.1.1 read_sql + to_parquet (→ Parquet zstd, local)", peers["pandas"]["median"])]
print(f"| tool ({rows:,} rows, median of {runs}) | seconds | rows/s | speed ÷ floor |")
print("|---|---|---|---|")
for name, secs in tools:
    print(f"| {name} | {secs:.3f} | {rows / secs:,.0f} | {floor / secs:.2f} |")
print()
print(f"Every output holds the same {rows:,} rows (count and an order-free hash of id, price, item_name: {mercado_digest['rows_hash']}).")
PY
cat "$WORK/extract.md"

if [ "$SMOKE" = 0 ]; then
  python3 - "$ROOT/BENCHMARKS.md" "$WORK/extract.md" "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)" "scripts/bench_suite.sh --rows $ROWS --runs $RUNS" <<'PY'
import sys
path, table_path, machine, command = sys.argv[1:5]
doc = open(path).read()
start, end = "<!-- bench_suite:extract -->", "<!-- /bench_suite:extract -->"
section = (f"{start}\n## Suite, part 1: extract (PostgreSQL → Parquet) against its peers\n\n"
           f"`{command}` on this machine ({machine}), release build, local services.\n\n"
           f"{open(table_path).read().strip()}\n{end}")
if start in doc:
    doc = doc[:doc.index(start)] + section + doc[doc.index(end) + len(end):]
else:
    doc = doc.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(doc)
PY
  log "BENCHMARKS.md updated"
fi
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $NAME" >/dev/null
