#!/usr/bin/env bash
set -euo pipefail
# The benchmark suite against the tools a data engineer would otherwise pick (BENCHMARKS.md).
# Not a test: timings are medians of several runs and ratios on the same run, and every output is
# checked equal to the others before any time counts (the suite fails, printing the difference,
# when they are not).
#
#   scripts/bench_suite.sh [--parts 1,2,3,4] [--runs R] [--rows N] [--lines N] [--items N]
#                          [--history-days N] [--scale-lines N,N…] [--smoke]
#     --parts         which parts to run (default 1,2,3,4)
#     --runs          runs per measurement; the median counts (default 3)
#     --rows          part 1: inventory rows to extract (default 1000000)
#     --lines         parts 2 and 3: transaction lines of the day (default 500000)
#     --items         parts 2, 3 and 4b: inventory rows (default 1000000; 100,000 customers)
#     --history-days  part 4a: days of history before the last day (default 30)
#     --scale-lines   part 4b: line counts, e.g. 100000,1000000,5000000 (default 100000,1000000)
# Defaults take about 6 minutes on a 2-core machine (a third of it pandas' to_sql); --smoke 30 s.
#     --smoke         every part tiny and quick, on the debug build, results not written (the test
#                     command runs it; outputs are still checked equal)
#
# Part 1, extract (PostgreSQL → Parquet), the same query for everyone:
#   floor      psql \copy (…) TO '/dev/null' (FORMAT binary)   reading only, nothing written
#   mercado    mercado-task extract (binary COPY → Arrow → Parquet zstd → S3), the inventory's own time
#   connectorx ConnectorX read_sql → Arrow → pyarrow Parquet zstd (local file)
#   pandas     pandas read_sql → to_parquet zstd (local file)
# Part 2, transform: mercado-task clean, enrich, gold against DuckDB SQL, DataFusion SQL (Python
#   bindings) and Polars lazy frames doing the same work on the same raw Parquet files
#   (scripts/bench_transform.py), each stage its own process under GNU time (seconds, peak memory).
#   The day's raw transactions come from synth_raw with 1% of them bad (every quarantine reason a
#   transaction can get) and some carts.
# Part 3, load (gold → PostgreSQL): mercado-task load_redshift into a fresh warehouse database; its
#   floor, psql \copy of the same rows as CSV into plain tables (every table it loads, and fact_sales
#   alone); pandas to_sql of fact_sales (scripts/bench_load.py; one run only: it takes minutes).
# Part 4, scale, Mercado alone: (a) the daily pipeline for history-days + 1 consecutive days, with
#   0.5% of items and customers changing each day: the day after 1, 7 and 30 days of history,
#   timed once all days exist, interleaved;
#   (b) the same day with more and more lines.
# Peers are pinned in python/bench-requirements.txt and installed into .local/bench-venv.
# Without --smoke each part's results replace its section of BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"
PARTS=1,2,3,4 RUNS=3 ROWS=1000000 LINES=500000 ITEMS=1000000 CUSTOMERS=100000
HISTORY_DAYS=30 SCALE_LINES=100000,1000000 SMOKE=0
# Part 4a's daily size: small, the point is how time and memory move with history.
HIST_ITEMS=100000 HIST_CUSTOMERS=20000 HIST_LINES=20000
ARGS="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --parts) PARTS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --lines) LINES="$2"; shift 2 ;;
    --items) ITEMS="$2"; shift 2 ;;
    --history-days) HISTORY_DAYS="$2"; shift 2 ;;
    --scale-lines) SCALE_LINES="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    -h|--help) sed -n '3,/^source/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
if [ "$SMOKE" = 1 ]; then
  RUNS=1 ROWS=2000 LINES=3000 ITEMS=2000 CUSTOMERS=1000 HISTORY_DAYS=3 SCALE_LINES=1000,3000
  HIST_ITEMS=2000 HIST_CUSTOMERS=500 HIST_LINES=1000
fi
# Bad transactions: 1%, or 10% on the smoke run's few lines so that every reason occurs.
BAD_SHARE=0.01
[ "$SMOKE" = 1 ] && BAD_SHARE=0.1
part() { [[ ",$PARTS," == *",$1,"* ]]; }
NAME=bench_suite
DAY=2025-03-17
WORK="$LOCAL/bench-suite"
VENV="$LOCAL/bench-venv"
PY="$VENV/bin/python"
TIMES="$WORK/times.tsv"
rm -rf "$WORK" && mkdir -p "$WORK"
export DATABASE_URL="${DATABASE_URL%/*}/$NAME" MERCADO_DDB_TABLE=$NAME MERCADO_LAKE_BUCKET=mercado-bench-suite RUST_LOG=warn
# The suite's own warehouse: the tasks record their runs there, never in the shared one.
export WAREHOUSE_URL="${DATABASE_URL%/*}/${NAME}_wh"
ADMIN_URL="${DATABASE_URL%/*}/postgres"

# A running server is used as it is (durable or not); only a stopped one is started, fast.
MERCADO_PG_DURABLE=0 "$ROOT/scripts/services.sh" start
apt_install /usr/bin/time time
pinned_venv "$VENV" "the benchmark peers" "$ROOT/python/bench-requirements.txt"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$SMOKE" = 1 ]; then
  BIN="$TARGET/debug"
  cargo build --locked --bins --example synth_raw -p mercado-tasks -p mercado-api -p mercado-lake >&2
else
  BIN="$TARGET/release"
  log "release build"
  cargo build --release --locked --bins --example synth_raw -p mercado-tasks -p mercado-api -p mercado-lake >&2
fi
TASK="$BIN/mercado-task"
pg "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${NAME}_wh" -c "CREATE DATABASE ${NAME}_wh" >/dev/null
pg "$WAREHOUSE_URL" -q -f "$ROOT/sql/warehouse/postgres.sql" >/dev/null

# measure KEY CMD…: one run of CMD under GNU time; appends "KEY seconds peak_MiB" to $TIMES and
# leaves CMD's stdout (a task's summary JSON) in $WORK/KEY.out.
measure() {
  local key="$1"; shift
  local t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$WORK/rss" "$@" > "$WORK/$key.out"
  echo "$key $(awk "BEGIN {printf \"%.4f\", $EPOCHREALTIME - $t0}") $(( $(cat "$WORK/rss") / 1024 ))" >> "$TIMES"
}
# note KEY SECONDS: a time taken from a task's own summary (no peak memory of its own).
note() { echo "$1 $2 0" >> "$TIMES"; }
# summary_seconds FILE DATASET: a dataset's seconds in a task's summary.
summary_seconds() {
  tail -n1 "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['datasets'][sys.argv[1]]['seconds'])" "$2"
}

# load_pg DB ITEMS CUSTOMERS: a fresh OLTP database with 1000 vendors, the customers and the items
# synth_raw refers to (vendor = item % 1000 + 1, price = 1.00 + item % 500).
load_pg() {
  log "loading PostgreSQL ($1): $2 items, $3 customers, 1000 vendors"
  pg "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  DATABASE_URL="${DATABASE_URL%/*}/$1" "$BIN/mercado-api" migrate >/dev/null
  pg "${DATABASE_URL%/*}/$1" -q <<SQL
-- A marketplace that existed before the benchmark's dates (extract takes what existed by a date's end).
INSERT INTO vendors (vendor_name, region, joined_at) SELECT 'Vendor ' || g, 'PT', '2020-01-01Z' FROM generate_series(1, 1000) g;
INSERT INTO customers (first_name, last_name, email, joined_at) SELECT 'C' || g, 'Bench', 'c' || g || '@example.com', '2020-01-01Z' FROM generate_series(1, $3) g;
INSERT INTO inventory (vendor_id, category_id, item_name, price, stock, created_at)
  SELECT g % 1000 + 1, g % 9 + 1, 'Item number ' || g, 1.00 + (g % 500), g % 100, '2020-01-01Z' FROM generate_series(1, $2) g;
VACUUM ANALYZE;
SQL
}

# synth D LINES ITEMS CUSTOMERS: the day's raw transactions (1% bad) and carts, replacing extract's.
synth() {
  "$BIN/examples/synth_raw" --date "$1" --lines "$2" --items "$3" --customers "$4" \
    --bad-share "$BAD_SHARE" --carts $(( $2 / 20 + 10 )) > "$WORK/synth.out"
}

# pipeline PREFIX D: clean, enrich and gold of day D, each measured as PREFIX.<task>.
pipeline() {
  local task
  for task in clean enrich gold; do measure "$1.$task" "$TASK" "$task" --date "$2"; done
}

# section PART TITLE MARKDOWN: print the part's table; without --smoke, write it into BENCHMARKS.md.
section() {
  cat "$3"
  echo
  [ "$SMOKE" = 1 ] && return
  "$PY" "$ROOT/scripts/bench_report.py" write "$ROOT/BENCHMARKS.md" "$1" "$2" \
    "scripts/bench_suite.sh${ARGS:+ $ARGS}" "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)" "$3"
  log "BENCHMARKS.md: $1 updated"
}

RAW_SETS="raw/postgres/categories raw/postgres/vendors raw/postgres/customers raw/postgres/inventory raw/dynamodb/transactions raw/dynamodb/carts"

# ---- part 1: extract --------------------------------------------------------------------------
if part 1; then
  load_pg "$NAME" "$ROWS" 1000
  # Extract's own query for the inventory (its columns come from the raw contract).
  QUERY="SELECT id::int8, vendor_id::int8, category_id::int4, item_name::text, price::numeric, stock::int4, updated_at::timestamptz FROM inventory ORDER BY id"
  log "part 1: psql \\copy (floor) and mercado-task extract, $RUNS run(s) each"
  for _ in $(seq "$RUNS"); do
    PGPASSWORD="$(url_password "$DATABASE_URL")" \
      measure extract.floor psql "$(url_without_password "$DATABASE_URL")" -qc "\\copy ($QUERY) TO '/dev/null' (FORMAT binary)"
    measure extract.task "$TASK" extract --date "$DAY" --refresh
    note extract.mercado "$(summary_seconds "$WORK/extract.task.out" raw/postgres/inventory)"
  done
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$WORK/extract" raw/postgres/inventory
  DIGEST=$("$PY" "$ROOT/scripts/bench_extract.py" digest "$WORK"/extract/inventory/*.parquet)
  log "part 1: ConnectorX and pandas, $RUNS run(s) each"
  "$PY" "$ROOT/scripts/bench_extract.py" peers --dsn "$DATABASE_URL" --query "$QUERY" \
    --out "$WORK" --runs "$RUNS" > "$WORK/peers.json"
  python3 - "$ROWS" "$DIGEST" "$WORK/peers.json" "$TIMES" <<'PY'
import json, sys
rows, digest, peers, times = int(sys.argv[1]), json.loads(sys.argv[2]), json.load(open(sys.argv[3])), sys.argv[4]
digests = {"mercado": digest, **{k: v["digest"] for k, v in peers.items()}}
if len({json.dumps(d, sort_keys=True) for d in digests.values()}) != 1 or digest["rows"] != rows:
    sys.exit(f"outputs differ, no timing counts: {digests}")
with open(times, "a") as f:
    for name, peer in peers.items():
        f.writelines(f"extract.{name} {s} 0\n" for s in peer["seconds"])
PY
  "$PY" "$ROOT/scripts/bench_report.py" extract "$TIMES" rows="$ROWS" runs="$RUNS" digest="$DIGEST" > "$WORK/extract.md"
  section extract "Suite, part 1: extract (PostgreSQL → Parquet) against its peers" "$WORK/extract.md"
fi

# ---- the day of parts 2 and 3 -----------------------------------------------------------------
DAY_READY=0
prepare_day() {
  [ "$DAY_READY" = 1 ] && return
  load_pg "$NAME" "$ITEMS" "$CUSTOMERS"
  "$TASK" extract --date "$DAY" --refresh > /dev/null
  synth "$DAY" "$LINES" "$ITEMS" "$CUSTOMERS"
  log "the day: $(cat "$WORK/synth.out")"
  DAY_READY=1
}

# ---- part 2: transform ------------------------------------------------------------------------
if part 2; then
  prepare_day
  T="$WORK/transform"
  # shellcheck disable=SC2086  # RAW_SETS is a list of dataset names, split into arguments on purpose
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$T/raw" $RAW_SETS
  # run_all RUN: every tool's three stages once, tools interleaved so drifts hit them alike.
  run_all() {
    pipeline "transform$1.mercado" "$DAY"
    local tool stage
    for tool in duckdb datafusion polars; do
      for stage in clean enrich gold; do
        measure "transform$1.$tool.$stage" "$PY" "$ROOT/scripts/bench_transform.py" stage \
          --tool "$tool" --stage "$stage" --raw "$T/raw" --out "$T/$tool" --date "$DAY"
      done
    done
  }
  log "part 2: a first run of each tool, whose outputs must agree"
  run_all _check
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$T/mercado/clean" \
    cleaned/postgres/{categories,vendors,customers,inventory} cleaned/dynamodb/{transaction_lines,cart_lines}
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$T/mercado/quarantine" \
    quarantine/postgres/{categories,vendors,customers,inventory} quarantine/dynamodb/{transactions,carts}
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$T/mercado/enrich" work/mercado/sales_lines
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$T/mercado/gold" \
    gold/mercado/{dim_category,dim_vendor,dim_customer,dim_inventory,dim_date,fact_sales,fact_cart_snapshot}
  "$PY" "$ROOT/scripts/bench_transform.py" compare --raw "$T/raw" \
    mercado="$T/mercado" duckdb="$T/duckdb" datafusion="$T/datafusion" polars="$T/polars" > "$WORK/checked.json"
  log "part 2: outputs agree; $RUNS timed run(s) of each"
  for r in $(seq "$RUNS"); do run_all ""; done
  "$PY" "$ROOT/scripts/bench_report.py" transform "$TIMES" lines="$LINES" items="$ITEMS" customers="$CUSTOMERS" \
    runs="$RUNS" bad_share="$BAD_SHARE" checked="$(cat "$WORK/checked.json")" > "$WORK/transform.md"
  section transform "Suite, part 2: clean + enrich + gold against DuckDB, DataFusion and Polars" "$WORK/transform.md"
fi

# ---- part 3: load -----------------------------------------------------------------------------
if part 3; then
  prepare_day
  L="$WORK/load"
  mkdir -p "$L"
  part 2 || pipeline load_prep "$DAY"
  "$PY" "$ROOT/scripts/bench_lake.py" fetch "$MERCADO_LAKE_BUCKET" "$DAY" "$L" gold/mercado/fact_sales
  DATE_ID=${DAY//-/}
  # rows_and_total TABLE [WHERE]: "rows Σtotal_price" of a table of the warehouse.
  rows_and_total() { pg "$WAREHOUSE_URL" -tAF' ' -c "SELECT count(*), coalesce(sum(total_price), 0) FROM $1 ${2:-}"; }
  log "part 3: load_redshift, psql \\copy CSV, pandas to_sql; $RUNS run(s) each, a fresh warehouse per run"
  for r in $(seq "$RUNS"); do
    pg "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${NAME}_wh" -c "CREATE DATABASE ${NAME}_wh" >/dev/null
    measure load.mercado "$TASK" load_redshift --date "$DAY"
    note load.mercado_copy "$(summary_seconds "$WORK/load.mercado.out" core.fact_sales)"
    want=$(rows_and_total core.fact_sales "WHERE date_id = $DATE_ID")
    # A reload of the same date into the warehouse that now holds it: staging and merges.
    measure load.mercado_reload "$TASK" load_redshift --date "$DAY"
    [ "$(rows_and_total core.fact_sales "WHERE date_id = $DATE_ID")" = "$want" ] \
      || die "part 3: the reload changed core.fact_sales: no timing counts"
    [ -f "$L/fact.csv" ] || pg "$WAREHOUSE_URL" -qc "\\copy (SELECT * FROM core.fact_sales WHERE date_id = $DATE_ID) TO '$L/fact.csv' CSV"
    pg "$WAREHOUSE_URL" -q -c "CREATE TABLE staging.bench_floor (LIKE core.fact_sales)" \
      -c "CREATE TABLE staging.bench_pandas (LIKE core.fact_sales)"
    PGPASSWORD="$(url_password "$WAREHOUSE_URL")" \
      measure load.floor_fact psql "$(url_without_password "$WAREHOUSE_URL")" -qc "\\copy staging.bench_floor FROM '$L/fact.csv' CSV"
    # The task's floor: every table it loaded (the `core.*` datasets of its summary), as CSV of what
    # the fresh warehouse holds after it, `\copy`d by one psql into plain tables of the same shape
    # (no index, no key, no merge).
    read -ra loaded <<< "$(tail -n1 "$WORK/load.mercado.out" | python3 -c \
      "import json, sys; print(' '.join(k[5:] for k in json.load(sys.stdin)['datasets'] if k.startswith('core.')))")"
    [ "${#loaded[@]}" -gt 0 ] || die "part 3: load_redshift's summary names no core table"
    copies=()
    for table in "${loaded[@]}"; do
      [ -f "$L/$table.csv" ] || pg "$WAREHOUSE_URL" -qc "\\copy core.$table TO '$L/$table.csv' CSV"
      pg "$WAREHOUSE_URL" -qc "CREATE TABLE staging.floor_$table (LIKE core.$table)"
      copies+=(-c "\\copy staging.floor_$table FROM '$L/$table.csv' CSV")
    done
    PGPASSWORD="$(url_password "$WAREHOUSE_URL")" \
      measure load.floor psql "$(url_without_password "$WAREHOUSE_URL")" -q "${copies[@]}"
    for table in "${loaded[@]}"; do
      [ "$(pg "$WAREHOUSE_URL" -tAc "SELECT count(*) FROM staging.floor_$table")" = "$(pg "$WAREHOUSE_URL" -tAc "SELECT count(*) FROM core.$table")" ] \
        || die "part 3: staging.floor_$table and core.$table differ in rows: no timing counts"
    done
    # pandas takes minutes for a million rows: one run, its spread cannot move the ratio much.
    tables=staging.bench_floor
    if [ "$r" = 1 ]; then
      measure load.pandas "$PY" "$ROOT/scripts/bench_load.py" pandas --dsn "$WAREHOUSE_URL" --table staging.bench_pandas "$L"/fact_sales/*.parquet
      tables="$tables staging.bench_pandas"
    fi
    for table in $tables; do
      got=$(rows_and_total "$table")
      [ "$got" = "$want" ] || die "part 3: $table holds $got (rows Σtotal_price), core.fact_sales $want: no timing counts"
    done
  done
  read -r FACT_ROWS FACT_TOTAL <<< "$want"
  "$PY" "$ROOT/scripts/bench_report.py" load "$TIMES" rows="$FACT_ROWS" runs="$RUNS" total="$FACT_TOTAL" > "$WORK/load.md"
  section load "Suite, part 3: load (gold → PostgreSQL) against psql and pandas" "$WORK/load.md"
fi

# ---- part 4: scale ----------------------------------------------------------------------------
if part 4; then
  # (a) history: its own database and bucket, emptied first, so day 1 really has no history.
  H_DB=${NAME}_history
  load_pg "$H_DB" "$HIST_ITEMS" "$HIST_CUSTOMERS"
  (
    export DATABASE_URL="${DATABASE_URL%/*}/$H_DB" MERCADO_LAKE_BUCKET=mercado-bench-suite-history
    "$PY" "$ROOT/scripts/bench_lake.py" clear "$MERCADO_LAKE_BUCKET"
    marks=$(printf '%s\n' 1 7 30 "$HISTORY_DAYS" | sort -nu | tr '\n' ' ')
    log "part 4a: $((HISTORY_DAYS + 1)) days of the daily pipeline ($HIST_LINES lines a day)"
    for h in $(seq 0 "$HISTORY_DAYS"); do
      d=$(date -u -d "2025-02-01 + $h days" +%F)
      # 0.5% of items change price, 0.5% of customers change name: SCD2 history grows each day.
      pg "$DATABASE_URL" -q -c "UPDATE inventory SET price = price + 1, updated_at = now() WHERE id % 200 = $h % 200" \
        -c "UPDATE customers SET last_name = 'Bench ' || $h, updated_at = now() WHERE id % 200 = ($h + 100) % 200"
      "$TASK" extract --date "$d" > /dev/null
      synth "$d" "$HIST_LINES" "$HIST_ITEMS" "$HIST_CUSTOMERS"
      pipeline history_day "$d"
    done
    # The marked days again, interleaved, once every day exists: each re-run of a day reads what
    # it read the first time (its own and the day before's partitions), while the bucket's size
    # (moto lists by scanning every key) and the machine's drift are the same for all of them.
    log "part 4a: the days after 1, 7 and $HISTORY_DAYS days of history, $RUNS run(s) each, interleaved"
    for _ in $(seq "$RUNS"); do
      for h in $marks; do
        if [ "$h" -le "$HISTORY_DAYS" ]; then
          pipeline "history.$h" "$(date -u -d "2025-02-01 + $h days" +%F)"
        fi
      done
    done
    "$PY" "$ROOT/scripts/bench_lake.py" clear "$MERCADO_LAKE_BUCKET"
  )
  pg "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $H_DB" >/dev/null
  "$PY" "$ROOT/scripts/bench_report.py" history "$TIMES" days="$HISTORY_DAYS" items="$HIST_ITEMS" \
    customers="$HIST_CUSTOMERS" lines="$HIST_LINES" runs="$RUNS" > "$WORK/history.md"
  section history "Suite, part 4a: a day after 1, 7 and 30 days of history" "$WORK/history.md"

  # (b) lines: the day of parts 2 and 3 with more and more lines.
  prepare_day
  for n in ${SCALE_LINES//,/ }; do
    log "part 4b: $n lines, $RUNS run(s)"
    synth "$DAY" "$n" "$ITEMS" "$CUSTOMERS"
    for _ in $(seq "$RUNS"); do pipeline "lines.$n" "$DAY"; done
  done
  "$PY" "$ROOT/scripts/bench_report.py" lines "$TIMES" sizes="$SCALE_LINES" items="$ITEMS" customers="$CUSTOMERS" \
    runs="$RUNS" > "$WORK/lines.md"
  section lines "Suite, part 4b: more lines in a day" "$WORK/lines.md"
fi
pg "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $NAME" -c "DROP DATABASE IF EXISTS ${NAME}_wh" >/dev/null
