# shellcheck shell=bash
# Shared shell helpers for scripts/*.sh. Source it; don't run it. Each script also sets strict
# mode itself (set -euo pipefail on its second line), so it reads as strict on its own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"

# Local settings: .env when present, else the example file. Variables already in the environment win.
load_env() {
  local file="$ROOT/.env"
  [ -f "$file" ] || file="$ROOT/.env.example"
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"
    if [ -z "${!key+x}" ]; then export "$key=${line#*=}"; fi
  done < "$file"
  local_passwords_into_env
}

# --- Logins of the local PostgreSQL cluster ----------------------------------------------------
# Each login role's password is generated once by scripts/services.sh into .local/secrets/pg/ROLE
# (mode 600, never committed). The URLs of .env name a user and no password; the scripts put the
# generated one in, in their own environment only (never in a process's arguments).
PG_SECRETS="$LOCAL/secrets/pg"
# The Celery broker's (Redis) password per cluster, made by scripts/cluster.sh (mode 600).
# shellcheck disable=SC2034  # used by airflow.sh and cluster.sh, which source this file
REDIS_SECRETS="$LOCAL/secrets/redis"

# url_with_password URL PASSWORD: URL with its password replaced (or added).
url_with_password() {
  local url="$1" scheme="${1%%://*}" rest="${1#*://}"
  [[ "$rest" == *@* ]] || { printf '%s\n' "$url"; return; }
  local userinfo="${rest%%@*}"
  printf '%s://%s:%s@%s\n' "$scheme" "${userinfo%%:*}" "$2" "${rest#*@}"
}

# role_url ROLE URL: URL logged in as ROLE, with ROLE's generated password.
role_url() {
  local role="$1" url="$2" scheme rest
  [ -r "$PG_SECRETS/$role" ] || die "no password for PostgreSQL role $role (scripts/services.sh start makes it)"
  scheme="${url%%://*}"; rest="${url#*://}"; rest="${rest#*@}"
  url_with_password "$scheme://$role@$rest" "$(< "$PG_SECRETS/$role")"
}

# local_passwords_into_env: DATABASE_URL, WAREHOUSE_URL, AIRFLOW_DATABASE_URL and ICEBERG_CATALOG_URL, when they name the
# local cluster's port and a user without a password, get that user's generated password.
local_passwords_into_env() {
  local var url rest userinfo
  for var in DATABASE_URL WAREHOUSE_URL AIRFLOW_DATABASE_URL ICEBERG_CATALOG_URL; do
    url="${!var:-}"
    [[ "$url" == postgres*://*@127.0.0.1:"${MERCADO_PG_PORT:-}"/* ]] || continue
    rest="${url#*://}"; userinfo="${rest%%@*}"
    [[ "$userinfo" != *:* && -r "$PG_SECRETS/$userinfo" ]] || continue
    export "$var=$(url_with_password "$url" "$(< "$PG_SECRETS/$userinfo")")"
  done
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local name="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  log "$name is up"
}

# url_password URL / url_without_password URL: a postgres:// URL's password, and the URL without it.
url_password() {
  local userinfo="${1#*://}"; userinfo="${userinfo%%@*}"
  if [[ "$1" == *@* && "$userinfo" == *:* ]]; then printf '%s\n' "${userinfo#*:}"; else printf '\n'; fi
}
url_without_password() { sed -E 's#://([^:@/]*):[^@/]*@#://\1@#' <<<"$1"; }

# pg URL ARGS...: psql on a postgres:// URL without putting its password in the process arguments
# (anyone on the machine can read those with ps): the password goes in PGPASSWORD, the URL without it.
pg() {
  local url="$1"; shift
  PGPASSWORD="$(url_password "$url")" psql "$(url_without_password "$url")" "$@"
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# apt_install CMD PACKAGE...: install Debian packages unless CMD is already on the machine.
apt_install() {
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  log "installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "$@" >&2; }; then
    die "could not install $*"
  fi
}

# pinned_venv DIR WHAT REQUIREMENTS [CONSTRAINTS]: a Python venv in DIR with exactly the pinned
# requirements (and constraints), reinstalled only when those files change (their digest is kept
# in DIR/.mercado-requirements). WHAT names it in the log line.
pinned_venv() {
  local dir="$1" what="$2" req="$3" cons="${4:-}"
  local stamp="$dir/.mercado-requirements" want
  want=$(cat "$req" ${cons:+"$cons"} | sha256sum | cut -c1-16)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  log "installing $what into $dir (pinned: ${req#"$ROOT"/}${cons:+, ${cons#"$ROOT"/}})"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" ${cons:+-c "$cons"} >&2 \
    || die "pip could not install $req"
  echo "$want" > "$stamp"
}
