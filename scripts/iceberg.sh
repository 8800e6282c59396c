#!/usr/bin/env bash
set -euo pipefail
# The lake's Apache Iceberg tables (python/mercado_iceberg): a pinned pyiceberg in
# .local/iceberg-venv, the catalog in the local PostgreSQL (database of ICEBERG_CATALOG_URL, made and
# owned by mercado_iceberg when scripts/services.sh starts), the tables' files under
# s3://$MERCADO_LAKE_BUCKET/iceberg/.
#
#   scripts/iceberg.sh commit --date D          publish D's gold and cleaned partitions: one commit
#                                               per table, replacing D (a re-run replaces)
#   scripts/iceberg.sh expire [--older-than-days N]        drop old snapshots (default 7 days)
#   scripts/iceberg.sh remove-orphans [--older-than-hours H]  delete files no metadata refers to
#   scripts/iceberg.sh compact --date D         rewrite D's partitions as few files
#   scripts/iceberg.sh verify                   every gold table, read by pyiceberg and DuckDB, equals
#                                               the warehouse (WAREHOUSE_URL) row for row
#   scripts/iceberg.sh venv                     only install or update the venv
#   scripts/iceberg.sh pytest|python …          the venv's pytest or python with the same settings
#
# Every command's flags: scripts/iceberg.sh <command> --help. The last stdout line is a JSON summary.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env

VENV="$LOCAL/iceberg-venv"
venv() { pinned_venv "$VENV" "pyiceberg and the engines that read the tables" "$ROOT/python/iceberg-requirements.txt"; }
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"

case "${1:-}" in
  venv) venv ;;
  pytest|python) venv; cmd="$1"; shift; exec "$VENV/bin/$cmd" "$@" ;;
  ""|-h|--help) venv; exec "$VENV/bin/python" -m mercado_iceberg --help ;;
  *) venv; exec "$VENV/bin/python" -m mercado_iceberg "$@" ;;
esac
