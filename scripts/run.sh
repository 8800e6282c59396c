#!/usr/bin/env bash
# README command 1: the main job on this machine.
#   1. local services (PostgreSQL, moto) and the API on 127.0.0.1
#   2. a day of synthetic traffic (default: yesterday, UTC), with one bad record per kind
#   3. Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1, metadata in PostgreSQL
#   4. mercado_daily for that day, triggered through Airflow's REST API and followed task by task:
#      the tasks of tasks/registry.toml, in order
#   5. the day's KPIs from the warehouse marts, the Airflow UI's address and login, how to call the API
#
#   scripts/run.sh [YYYY-MM-DD]   run for that day (safe to repeat: running services are reused and
#                                 the day's run is cleared and run again)
#   scripts/run.sh stop           stop Airflow, the API and the services
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"

API_PID="$LOCAL/api.pid"
API_LOG="$LOCAL/api.log"
BASE="http://$MERCADO_API_BIND"

api_ready() { curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if [ -f "$API_PID" ] && kill "$(cat "$API_PID")" 2>/dev/null; then log "API stopped"; fi
  rm -f "$API_PID"
  "$ROOT/scripts/airflow.sh" stop
  "$ROOT/scripts/services.sh" stop
  exit 0
fi

"$ROOT/scripts/services.sh" start
log "building (cargo build: API, traffic generator, tasks)"
cargo build --workspace --bins --locked
DAY="${1:-$(date -u -d yesterday +%F)}"

if api_ready; then
  log "API already running at $BASE"
else
  log "starting the API on $MERCADO_API_BIND (log: $API_LOG)"
  nohup "$ROOT/target/debug/mercado-api" > "$API_LOG" 2>&1 &
  echo $! > "$API_PID"
  wait_for API 60 api_ready || { tail -n 30 "$API_LOG" >&2; die "API did not become ready"; }
fi

log "traffic for $DAY"
"$ROOT/target/debug/mercado-traffic" --date "$DAY" --api-url "$BASE" --bad-records | tail -n 1

"$ROOT/scripts/airflow.sh" start >/dev/null
log "mercado_daily for $DAY through Airflow (task logs: Airflow UI, or $LOCAL/airflow/logs)"
"$ROOT/scripts/airflow.sh" python "$ROOT/scripts/airflow_api.py" run --date "$DAY" \
  || die "mercado_daily failed for $DAY (see above; re-run with: scripts/run.sh $DAY)"
log "lake: s3://$MERCADO_LAKE_BUCKET/{raw,cleaned,quarantine,work,gold}/…/dt=$DAY/"

DAY_ID="${DAY//-/}"
echo
echo "KPIs for $DAY (warehouse marts, $WAREHOUSE_URL):"
psql "$WAREHOUSE_URL" -P pager=off -c "
  SELECT s.date, s.gmv, s.orders, s.aov, s.items_sold, s.customers,
         a.open_carts, a.abandonment_rate, r.repeat_rate
  FROM marts.daily_sales s
  JOIN marts.cart_abandonment a USING (date_id)
  LEFT JOIN marts.repeat_customer_rate r USING (date_id)
  WHERE s.date_id = $DAY_ID" \
  -c "SELECT vendor_name, region, gmv, orders FROM marts.vendor_daily_sales WHERE date_id = $DAY_ID ORDER BY gmv DESC LIMIT 5"

echo
"$ROOT/scripts/airflow.sh" login
echo "  the run of $DAY: http://127.0.0.1:${AIRFLOW_PORT:-8080}/dags/mercado_daily/runs/manual__$DAY"
cat <<MSG

Mercado API is up at $BASE   (docs: $BASE/docs, OpenAPI: $BASE/openapi.json)

Try the flow (see README.md, "Calling the API"):
  curl -s -XPOST $BASE/customers/ -d '{"first_name":"Ana","last_name":"Silva","email":"ana@example.com"}'
  curl -s -XPOST $BASE/vendors/ -d '{"vendor_name":"Loja do Porto","region":"PT"}'
  curl -s -XPOST '$BASE/inventory/?vendor_id=1' -d '{"item_name":"Mug","category":3,"price":12.50,"stock":10}'
  curl -s -XPOST $BASE/cart/ -d '{"user_id":1,"cart":[{"item_id":1,"qty":2}]}'
  curl -s -XPOST $BASE/checkout/ -H 'Idempotency-Key: order-1' -d '{"user_id":1}'
  curl -s $BASE/customers/1/transactions

Stop everything with: scripts/run.sh stop
MSG
