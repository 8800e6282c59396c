#!/usr/bin/env bash
set -euo pipefail
# `docker compose` for docker-compose.yml with its secrets: generated once into .local/compose.env
# (mode 600, never committed: the PostgreSQL password, Airflow's JWT secret and session key) and
# handed to compose as its --env-file, so the compose file holds no secret.
#
#   scripts/compose.sh up -d | down | logs … | config   any docker compose command
#   scripts/compose.sh secrets                          only generate the file (if missing)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECRETS="$LOCAL/compose.env"

secrets() {
  [ -f "$SECRETS" ] && return 0
  (umask 077; python3 - "$SECRETS" <<'PY'
import secrets, sys
with open(sys.argv[1], "w") as f:
    f.write(f"MERCADO_PG_PASSWORD={secrets.token_urlsafe(24)}\n")
    f.write(f"AIRFLOW_JWT_SECRET={secrets.token_urlsafe(32)}\n")
    f.write(f"AIRFLOW_SECRET_KEY={secrets.token_urlsafe(32)}\n")
PY
  )
  log "generated the compose secrets into $SECRETS"
}

case "${1:-}" in
  ""|-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" ;;
  secrets) secrets ;;
  *) secrets; cd "$ROOT"; exec docker compose --env-file "$SECRETS" "$@" ;;
esac
