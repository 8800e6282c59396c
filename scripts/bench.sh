#!/usr/bin/env bash
# Lake benchmark (BENCHMARKS.md): release binaries against the local services.
#   scripts/bench.sh [ITEMS] [LINES]      defaults: 1000000 inventory rows, 1000000 transaction lines
# Reports extract rows/s from PostgreSQL next to psql's \copy of the same query on the same run,
# clean+enrich+gold rows/s, and each task's peak memory. Uses its own database, table and bucket.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"
ITEMS="${1:-1000000}"
LINES="${2:-1000000}"
CUSTOMERS=100000
DAY=2025-03-17
NAME=bench
export DATABASE_URL="${DATABASE_URL%/*}/$NAME" MERCADO_DDB_TABLE=$NAME MERCADO_LAKE_BUCKET=mercado-bench RUST_LOG=warn
export WAREHOUSE_URL="${DATABASE_URL%/*}/${NAME}_wh"
ADMIN_URL="${DATABASE_URL%/*}/postgres"

"$ROOT/scripts/services.sh" start
[ -x /usr/bin/time ] || { log "installing GNU time"; apt-get install -y -qq time >&2; }
log "release build"
cargo build --release --locked --bins --example synth_raw -p mercado-lake -p mercado-api -p mercado-tasks

log "loading PostgreSQL: $ITEMS items, $CUSTOMERS customers, 1000 vendors"
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $NAME" -c "CREATE DATABASE $NAME" \
  -c "DROP DATABASE IF EXISTS ${NAME}_wh" -c "CREATE DATABASE ${NAME}_wh" >/dev/null
target/release/mercado-api migrate >/dev/null
psql "$DATABASE_URL" -q <<SQL
INSERT INTO vendors (vendor_name, region) SELECT 'Vendor ' || g, 'PT' FROM generate_series(1, 1000) g;
INSERT INTO customers (first_name, last_name, email) SELECT 'C' || g, 'Bench', 'c' || g || '@example.com' FROM generate_series(1, $CUSTOMERS) g;
INSERT INTO inventory (vendor_id, category_id, item_name, price, stock)
  SELECT g % 1000 + 1, g % 9 + 1, 'Item number ' || g, 1.00 + (g % 500), g % 100 FROM generate_series(1, $ITEMS) g;
VACUUM ANALYZE;
SQL

# run NAME CMD...: wall seconds and peak RSS (MiB) of one command, into $SECS and $RSS.
run() {
  local name="$1"; shift
  local t0; t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$LOCAL/bench.rss" "$@" > "$LOCAL/bench.$name.out"
  SECS=$(python3 -c "print(round($(date +%s.%N) - $t0, 3))")
  RSS=$(( $(cat "$LOCAL/bench.rss") / 1024 ))
}

SELECT="SELECT id, vendor_id, category_id, item_name, price, stock, updated_at FROM inventory ORDER BY id"
run psql_text psql "$DATABASE_URL" -qc "\\copy ($SELECT) TO '/dev/null'"
PSQL_TEXT=$SECS
run psql_binary psql "$DATABASE_URL" -qc "\\copy ($SELECT) TO '/dev/null' (FORMAT binary)"
PSQL_BINARY=$SECS
run extract target/release/mercado-task extract --date $DAY
EXTRACT_RSS=$RSS
INV_SECS=$(tail -n1 "$LOCAL/bench.extract.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["datasets"]["raw/postgres/inventory"]["seconds"])')
log "synthesising $LINES raw transaction lines"
target/release/examples/synth_raw --date $DAY --lines "$LINES" --customers $CUSTOMERS --items "$ITEMS" > "$LOCAL/bench.synth.out"
cat "$LOCAL/bench.synth.out"

total=0
for task in clean enrich gold; do
  run $task target/release/mercado-task $task --date $DAY
  eval "${task^^}_SECS=$SECS; ${task^^}_RSS=$RSS"
  total=$(python3 -c "print($total + $SECS)")
done

run load_redshift target/release/mercado-task load_redshift --date $DAY
LOAD_SECS=$SECS; LOAD_RSS=$RSS
LOAD_COPY_SECS=$(tail -n1 "$LOCAL/bench.load_redshift.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["datasets"]["core.fact_sales"]["seconds"])')
FACT_ROWS=$(psql "$WAREHOUSE_URL" -tAc "SELECT COUNT(*) FROM core.fact_sales")
psql "$WAREHOUSE_URL" -qc "\\copy (SELECT * FROM core.fact_sales) TO '$LOCAL/bench.fact.csv' CSV" \
  -c "DROP TABLE IF EXISTS staging.bench_csv" -c "CREATE TABLE staging.bench_csv (LIKE core.fact_sales)"
run psql_csv psql "$WAREHOUSE_URL" -qc "\\copy staging.bench_csv FROM '$LOCAL/bench.fact.csv' CSV"
PSQL_CSV=$SECS
psql "$WAREHOUSE_URL" -qc "DROP TABLE staging.bench_csv"

rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }
echo
echo "| items | lines | extract inventory rows/s | psql \\copy text rows/s | psql \\copy binary rows/s | extract / psql text | clean+enrich+gold lines/s | peak MiB extract / clean / enrich / gold |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $ITEMS | $LINES | $(rate "$ITEMS" "$INV_SECS") | $(rate "$ITEMS" "$PSQL_TEXT") | $(rate "$ITEMS" "$PSQL_BINARY") | $(python3 -c "print(f'{$PSQL_TEXT / $INV_SECS:.2f}')") | $(rate "$LINES" "$total") | $EXTRACT_RSS / $CLEAN_RSS / $ENRICH_RSS / $GOLD_RSS |"
echo
echo "| fact rows | load_redshift COPY into staging rows/s | psql \\copy FROM CSV rows/s | ratio | whole load_redshift s (incl. 1M-row dims, merges) | peak MiB |"
echo "|---|---|---|---|---|---|"
echo "| $FACT_ROWS | $(rate "$FACT_ROWS" "$LOAD_COPY_SECS") | $(rate "$FACT_ROWS" "$PSQL_CSV") | $(python3 -c "print(f'{$PSQL_CSV / $LOAD_COPY_SECS:.2f}')") | $LOAD_SECS | $LOAD_RSS |"
echo
echo "seconds: extract(inventory) $INV_SECS, psql text $PSQL_TEXT, psql binary $PSQL_BINARY, clean $CLEAN_SECS, enrich $ENRICH_SECS, gold $GOLD_SECS"
