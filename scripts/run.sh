#!/usr/bin/env bash
set -euo pipefail
# README command 1: the main job on this machine.
#   1. local services (PostgreSQL, moto) and the API on 127.0.0.1
#   2. a week of synthetic traffic ending on the day (default: yesterday, UTC): a marketplace whose
#      catalogue lives from day to day, each day a scenario (normal, flash sale, promotion, fraud)
#   3. Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1, metadata in PostgreSQL
#   4. mercado_daily for each day of the week in order, triggered through Airflow's REST API and
#      followed task by task (the tasks of tasks/registry.toml)
#   5. each day's wall time (traffic, pipeline), the week's KPIs from the warehouse marts, the fraud
#      rules' precision and recall against the generator's labels, the local path of the last day's
#      HTML report, the Airflow UI's address and login, how to call the API
#
#   scripts/run.sh [YYYY-MM-DD]   the week ending that day (safe to repeat: running services are
#                                 reused, days already generated are not generated again, and each
#                                 day's run is cleared and run again)
#   MERCADO_DAYS=7 MERCADO_SEED=7 the week's length and the generator's seed
#   MERCADO_ORDERS_PER_DAY=150    a day's orders (the marketplace scaled with them): a busy day is
#                                 20000 or 200000; the generator prints its progress, the follower
#                                 each task's time and rows/s
#   MERCADO_RUNNER=local|docker   how Airflow runs each task: `local` (the default) as a process of
#                                 the built binary; `docker` in a container of the tasks image on the
#                                 project's Docker engine, which this script starts, and whose image
#                                 it builds (or rebuilds when the binary changed) first
#   MERCADO_CLUSTER_NODES=N       run the tasks on Airflow's CeleryExecutor, on N worker nodes of
#                                 scripts/cluster.sh (network namespaces, each capped at
#                                 MERCADO_NODE_CPU CPUs); unset (the default): LocalExecutor
#   MERCADO_RUN_TIMEOUT=1800      the bound on one day's run (seconds); a task that fails for good
#                                 ends the command at once with the end of its log
#   MERCADO_RUN_DIR=.local        where the API's pid and log, the generator's state and labels
#                                 (traffic/) and the fetched reports (reports/) live
#   (traffic/ holds the generator's state and labels; remove it to start a new marketplace)
#   scripts/run.sh stop           stop Airflow, the API and the services
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"

RUN_DIR="${MERCADO_RUN_DIR:-$LOCAL}"
mkdir -p "$RUN_DIR"
API_PID="$RUN_DIR/api.pid"
API_LOG="$RUN_DIR/api.log"
RUNNER="${MERCADO_RUNNER:-local}"
BASE="http://$MERCADO_API_BIND"

api_ready() { curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if [ -f "$API_PID" ] && kill "$(cat "$API_PID")" 2>/dev/null; then log "API stopped"; fi
  rm -f "$API_PID"
  "$ROOT/scripts/airflow.sh" stop
  [ -d "$LOCAL/cluster/${MERCADO_CLUSTER_NAME:-mercado}" ] && "$ROOT/scripts/cluster.sh" down
  "$ROOT/scripts/services.sh" stop
  exit 0
fi

case "$RUNNER" in
  local|docker) ;;
  *) die "MERCADO_RUNNER must be local or docker, not '$RUNNER'" ;;
esac
NODES="${MERCADO_CLUSTER_NODES:-}"
if [ -n "$NODES" ]; then
  [[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "MERCADO_CLUSTER_NODES must be a positive number of nodes, not '$NODES'"
  # The docker runner's containers would run on the engine's host, outside the nodes' caps.
  [ "$RUNNER" = local ] || die "MERCADO_CLUSTER_NODES runs the tasks on the nodes: use it with MERCADO_RUNNER=local"
  export MERCADO_EXECUTOR=celery
fi
"$ROOT/scripts/services.sh" start
local_passwords_into_env  # the logins' passwords exist now (generated on a fresh machine by start)
# Each component logs in to PostgreSQL as its own least-privilege role (scripts/services.sh): the
# migrator owns the OLTP tables, the API reads and writes their rows, extract only reads them, the
# loader owns the warehouse, vendor analytics and the KPIs read the marts, Airflow its metadata.
MIGRATOR_URL=$(role_url mercado_migrator "$DATABASE_URL")
API_DATABASE_URL=$(role_url mercado_api "$DATABASE_URL")
EXTRACT_DATABASE_URL=$(role_url mercado_extract "$DATABASE_URL")
LOADER_WAREHOUSE_URL=$(role_url mercado_loader "$WAREHOUSE_URL")
ANALYTICS_WAREHOUSE_URL=$(role_url mercado_analytics "$WAREHOUSE_URL")
log "building (cargo build: API, traffic generator, tasks)"
cargo build --workspace --bins --locked
DAY="${1:-$(date -u -d yesterday +%F)}"
if [ "$RUNNER" = docker ]; then
  log "runner: docker (each task in a container of ${MERCADO_TASKS_IMAGE:-mercado-tasks:0.1.0}, the Iceberg step of ${MERCADO_ICEBERG_IMAGE:-mercado-iceberg:0.1.0}, on the project's Docker engine)"
  "$ROOT/scripts/docker.sh" ensure
else
  log "runner: local (each task a process of target/debug/mercado-task; MERCADO_RUNNER=docker for containers)"
fi

# Tokens: the API verifies them with the local JWKS; the signing key beside it (made on first use,
# mode 600, never committed) signs the traffic generator's service token below.
export MERCADO_JWT_SIGNING_KEY_FILE="${MERCADO_JWT_SIGNING_KEY_FILE:-$LOCAL/jwt/signing.pem}"
export MERCADO_JWKS_FILE="${MERCADO_JWKS_FILE:-$LOCAL/jwt/jwks.json}"

if api_ready; then
  log "API already running at $BASE"
else
  log "migrating the OLTP schema as mercado_migrator"
  DATABASE_URL="$MIGRATOR_URL" WAREHOUSE_URL="$ANALYTICS_WAREHOUSE_URL" "$ROOT/target/debug/mercado-api" migrate >> "$API_LOG" 2>&1 \
    || { tail -n 30 "$API_LOG" >&2; die "the migrations failed"; }
  log "starting the API on $MERCADO_API_BIND as mercado_api, marts as mercado_analytics (log: $API_LOG)"
  # The generator sends each day's requests from 127.0.0.1 as fast as the API answers, without
  # retrying a 429: the per-client rate limit is off for this local API unless set.
  DATABASE_URL="$API_DATABASE_URL" WAREHOUSE_URL="$ANALYTICS_WAREHOUSE_URL" MERCADO_MIGRATE=false \
    MERCADO_RATE_LIMIT_PER_SECOND="${MERCADO_RATE_LIMIT_PER_SECOND:-0}" \
    nohup "$ROOT/target/debug/mercado-api" > "$API_LOG" 2>&1 &
  echo $! > "$API_PID"
  wait_for API 60 api_ready || { tail -n 30 "$API_LOG" >&2; die "API did not become ready"; }
fi

# The generator's service token (every scope), passed in the environment, never on a command line.
MERCADO_API_TOKEN="$("$ROOT/target/debug/mercado-api" token --service traffic --ttl 86400)" \
  || die "could not mint the traffic generator's token (mercado-api token)"
export MERCADO_API_TOKEN

DAYS="${MERCADO_DAYS:-7}"
FIRST=$(date -u -d "$DAY - $((DAYS - 1)) days" +%F)
TRAFFIC="$RUN_DIR/traffic"
mkdir -p "$TRAFFIC"
# The tasks Airflow runs: extract reads the OLTP database as mercado_extract; the warehouse tasks
# log in as mercado_loader. (Airflow's own metadata: mercado_airflow, set by airflow.sh.)
export DATABASE_URL="$EXTRACT_DATABASE_URL" WAREHOUSE_URL="$LOADER_WAREHOUSE_URL"
"$ROOT/scripts/airflow.sh" start >/dev/null
if [ -n "$NODES" ]; then
  log "executor: Celery, $NODES worker nodes (scripts/cluster.sh status; each node's log under $LOCAL/cluster/)"
  "$ROOT/scripts/cluster.sh" up "$NODES"
fi
log "a week of marketplace, $FIRST … $DAY: each day's traffic, then mercado_daily for it through Airflow"
# The day's size: MERCADO_ORDERS_PER_DAY orders (default 150), the marketplace scaled with it (the
# default day's 60 customers, 80 items, 8 vendors and 15 open carts per 150 orders).
ORDERS="${MERCADO_ORDERS_PER_DAY:-150}"
[[ "$ORDERS" =~ ^[1-9][0-9]*$ ]] || die "MERCADO_ORDERS_PER_DAY must be a positive whole number, not '$ORDERS'"
CUSTOMERS=$(( ORDERS * 60 / 150 > 60 ? ORDERS * 60 / 150 : 60 ))
ITEMS=$(( ORDERS * 80 / 150 > 80 ? ORDERS * 80 / 150 : 80 ))
VENDORS=$(( ORDERS * 8 / 1500 > 8 ? ORDERS * 8 / 1500 : 8 ))
CARTS=$(( ORDERS * 15 / 150 > 15 ? ORDERS * 15 / 150 : 15 ))
TIMES="$RUN_DIR/wall-times.tsv"   # per day: date, orders, traffic s, pipeline s (printed at the end)
: > "$TIMES"
for ((i = DAYS - 1; i >= 0; i--)); do
  d=$(date -u -d "$DAY - $i days" +%F)
  traffic_started=$(date +%s)
  log "[$((DAYS - i))/$DAYS] traffic for $d: $ORDERS orders, $CUSTOMERS customers, $ITEMS items, $VENDORS vendors, $CARTS open carts"
  "$ROOT/target/debug/mercado-traffic" --date "$d" --api-url "$BASE" --seed "${MERCADO_SEED:-7}" \
    --customers "$CUSTOMERS" --vendors "$VENDORS" --items "$ITEMS" --orders "$ORDERS" --carts "$CARTS" \
    --state "$TRAFFIC/state.json" --labels "$TRAFFIC/labels.jsonl" | tail -n 1
  pipeline_started=$(date +%s)
  log "[$((DAYS - i))/$DAYS] mercado_daily for $d (task logs: Airflow UI, or ${AIRFLOW_HOME:-$LOCAL/airflow}/logs)"
  "$ROOT/scripts/airflow.sh" python "$ROOT/scripts/airflow_api.py" run --date "$d" \
    || die "mercado_daily failed for $d (see above; re-run with: scripts/run.sh $DAY)"
  printf '%s\t%s\t%s\t%s\n' "$d" "$ORDERS" $((pipeline_started - traffic_started)) \
    $(($(date +%s) - pipeline_started)) >> "$TIMES"
done
log "lake: s3://$MERCADO_LAKE_BUCKET/{raw,cleaned,quarantine,work,gold}/…/dt=$FIRST … dt=$DAY/"
log "Iceberg tables (namespaces gold, cleaned; catalog ${MERCADO_ICEBERG_CATALOG:-sql}): s3://$MERCADO_LAKE_BUCKET/iceberg/ (README, \"Iceberg\")"
if [[ "${MERCADO_ICEBERG_CATALOG:-sql}" != none ]]; then
  # Read by engines that are not ours: each gold table through the catalog, by pyiceberg and by
  # DuckDB's Iceberg extension, against the warehouse, row for row.
  verified=$("$ROOT/scripts/iceberg.sh" verify | tail -n 1) \
    || die "the Iceberg tables differ from the warehouse (above); re-run the dates with: scripts/run.sh $DAY"
  VERIFIED="$verified" python3 - <<'PY'
import json, os
verified = json.loads(os.environ["VERIFIED"])
tables = verified["tables"]
rows = sum(t["rows"] for t in tables.values())
print(f"the Iceberg tables, read by pyiceberg and DuckDB, equal the warehouse row for row: "
      f"{len(tables)} gold tables, {rows} rows, each date one commit")
if verified["published_not_loaded"]:
    print(f"  published but not (yet) loaded into the warehouse: {', '.join(verified['published_not_loaded'])}")
PY
fi

# The report task published each day's HTML report to the lake (its own local copy stayed in the
# Airflow worker's folder): fetch the last day's next to the other local state.
REPORT="$RUN_DIR/reports/mercado-report-$DAY.html"
REPORT_KEY="reports/mercado/kpi/dt=$DAY/report.html"
mkdir -p "$RUN_DIR/reports"
"$LOCAL/venv/bin/python" - "$MERCADO_LAKE_BUCKET" "$REPORT_KEY" "$REPORT" <<'PY' \
  || die "could not fetch s3://$MERCADO_LAKE_BUCKET/$REPORT_KEY"
import os, sys, boto3
boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL")).download_file(*sys.argv[1:4])
PY

FIRST_ID="${FIRST//-/}"
DAY_ID="${DAY//-/}"
echo
# The warehouse's address without its credentials.
WAREHOUSE_SHOWN=$(sed -E 's#://[^@/]*@#://#' <<<"$WAREHOUSE_URL")
echo "The week's KPIs (warehouse marts, $WAREHOUSE_SHOWN, read as mercado_analytics):"
pg "$ANALYTICS_WAREHOUSE_URL" -P pager=off -c "
  SELECT s.date, s.gmv, s.orders, s.aov, s.items_sold, s.customers,
         a.open_carts, a.abandonment_rate, r.repeat_rate,
         (SELECT COUNT(DISTINCT f.transaction_id) FROM marts.flagged_transactions f WHERE f.date_id = s.date_id) AS flagged
  FROM marts.daily_sales s
  JOIN marts.cart_abandonment a USING (date_id)
  LEFT JOIN marts.repeat_customer_rate r USING (date_id)
  WHERE s.date_id BETWEEN $FIRST_ID AND $DAY_ID ORDER BY s.date" \
  -c "SELECT vendor_name, region, SUM(gmv) AS gmv, SUM(orders) AS orders FROM marts.vendor_daily_sales
      WHERE date_id BETWEEN $FIRST_ID AND $DAY_ID GROUP BY vendor_name, region ORDER BY gmv DESC LIMIT 5"

echo
echo "Fraud rules against the generator's labels ($TRAFFIC/labels.jsonl), $FIRST … $DAY:"
pg "$ANALYTICS_WAREHOUSE_URL" -tA -c "SELECT DISTINCT transaction_id FROM marts.flagged_transactions
  WHERE date_id BETWEEN $FIRST_ID AND $DAY_ID" > "$TRAFFIC/flagged.txt"
python3 - "$TRAFFIC/labels.jsonl" "$TRAFFIC/flagged.txt" "$FIRST" "$DAY" <<'PY'
import json, sys
labels, flagged_path, first, last = sys.argv[1:5]
days = [json.loads(l) for l in open(labels) if l.strip()]
days = [d for d in days if first <= d["date"] <= last]
fraud = {t for d in days for t in d["fraud_transactions"]}
flagged = {l.strip() for l in open(flagged_path) if l.strip()}
tp = len(fraud & flagged)
precision = tp / len(flagged) if flagged else 0.0
recall = tp / len(fraud) if fraud else 0.0
for d in days:
    print(f"  {d['date']}  {d['scenario']:<10}  {d['orders']:>4} orders  {len(d['fraud_transactions']):>3} fraud")
print(f"  flagged {len(flagged)}, labelled fraud {len(fraud)}, both {tp}: precision {precision:.2f}, recall {recall:.2f}")
PY

echo
echo "Wall time per day (traffic through the API; mercado_daily through Airflow, extract to report):"
awk -F'\t' '{ printf "  %s  %7d orders  traffic %5d s  pipeline %5d s\n", $1, $2, $3, $4; t += $3; p += $4 }
  END { printf "  %d days: traffic %d s, pipeline %d s\n", NR, t, p }' "$TIMES"

echo
echo "KPI report for $DAY (open in a browser): $REPORT"
echo "  published to the lake: s3://$MERCADO_LAKE_BUCKET/$REPORT_KEY"
echo
"$ROOT/scripts/airflow.sh" login
echo "  the run of $DAY: http://127.0.0.1:${AIRFLOW_PORT:-8080}/dags/mercado_daily/runs/manual__$DAY"
cat <<MSG

Mercado API is up at $BASE   (docs: $BASE/docs, OpenAPI: $BASE/openapi.json)

Try the flow (see README.md, "Calling the API" and "Security"; every call but the probes needs a token):
  T=\$(target/debug/mercado-api token --service backoffice)
  alias curl='curl -H @<(echo "Authorization: Bearer \$T")'
  curl -s -XPOST $BASE/customers/ -d '{"first_name":"Ana","last_name":"Silva","email":"ana@example.com"}'
  curl -s -XPOST $BASE/vendors/ -d '{"vendor_name":"Loja do Porto","region":"PT"}'
  curl -s -XPOST '$BASE/inventory/?vendor_id=1' -d '{"item_name":"Mug","category":3,"price":12.50,"stock":10}'
  curl -s -XPOST $BASE/cart/ -d '{"user_id":1,"cart":[{"item_id":1,"qty":2}]}'
  curl -s -XPOST $BASE/checkout/ -H 'Idempotency-Key: order-1' -d '{"user_id":1}'
  curl -s $BASE/customers/1/transactions

Stop everything with: scripts/run.sh stop
MSG
