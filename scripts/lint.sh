#!/usr/bin/env bash
set -euo pipefail
# Every static check, as command 2 runs them (make lint): the linters a team expects, all pinned.
#   Rust    cargo fmt --check; cargo clippy -D warnings; cargo doc with warnings denied
#   shell   shellcheck on every script (following `source`)
#   Python  ruff (ruff.toml: pyflakes, bugbear, pyupgrade, Airflow's AIR rules) and mypy on dags/ and
#           scripts/*.py, against the Airflow venv's packages
#   SQL     sqlfluff parses the warehouse SQL (Redshift and PostgreSQL dialects)
#   images  hadolint on every Dockerfile, dclint on docker-compose.yml
# Linters live in .local/lint-venv (python/lint-requirements.txt), sqlfluff and hadolint in
# .local/venv (python/requirements.txt), dclint in .local/node; each is installed when missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$ROOT"

LINT="$LOCAL/lint-venv"
pinned_venv "$LINT" "the linters (ruff, mypy, shellcheck)" "$ROOT/python/lint-requirements.txt"
"$ROOT/scripts/services.sh" venv
"$ROOT/scripts/airflow.sh" venv

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The authentication benchmark's example builds only with its feature (api/Cargo.toml).
cargo clippy -p mercado-api --features bench-auth-off --examples --locked -- -D warnings
log "cargo doc (warnings denied: broken intra-doc links, bare URLs…)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

log "shellcheck"
mapfile -t shell_scripts < <(git ls-files '*.sh' .ci/run)
"$LINT/bin/shellcheck" -x -P SCRIPTDIR "${shell_scripts[@]}"

log "ruff (ruff.toml) and mypy on dags/, scripts/*.py and python/mercado_iceberg"
"$LINT/bin/ruff" check --quiet .
# One run per folder: each test folder has its own conftest module.
MYPY=("$LINT/bin/mypy" --python-executable "$LOCAL/airflow-venv/bin/python" --ignore-missing-imports
      --no-error-summary)
"${MYPY[@]}" dags/mercado_daily.py dags/tests
"${MYPY[@]}" dags/e2e
"${MYPY[@]}" scripts/*.py scripts/tests
# The Iceberg step against its own venv (pyiceberg, pyarrow), when installed (scripts/iceberg.sh venv).
"$ROOT/scripts/iceberg.sh" venv
"$LINT/bin/mypy" --python-executable "$LOCAL/iceberg-venv/bin/python" --ignore-missing-imports --no-error-summary \
  python/mercado_iceberg

log "sqlfluff: the warehouse SQL and the generated Redshift load parse in their dialects"
SQLFLUFF="$LOCAL/venv/bin/sqlfluff"
for f in sql/warehouse/redshift.sql sql/warehouse/redshift_iceberg.sql sql/warehouse/marts.sql tasks/lake/tests/golden/*.sql; do
  "$SQLFLUFF" parse --dialect redshift "$f" >"$LOCAL/sqlfluff.out" 2>&1 || { cat "$LOCAL/sqlfluff.out" >&2; die "$f does not parse as Redshift SQL"; }
done
for f in sql/warehouse/postgres.sql sql/warehouse/marts.sql; do
  "$SQLFLUFF" parse --dialect postgres "$f" >"$LOCAL/sqlfluff.out" 2>&1 || { cat "$LOCAL/sqlfluff.out" >&2; die "$f does not parse as PostgreSQL"; }
done

log "hadolint (Dockerfiles) and dclint (docker-compose.yml)"
"$LOCAL/venv/bin/hadolint" docker/*.Dockerfile
[ -x "$LOCAL/node/node_modules/.bin/dclint" ] \
  || npm install --silent --no-audit --no-fund --prefix "$LOCAL/node" dclint@3.1.0 >&2
"$LOCAL/node/node_modules/.bin/dclint" docker-compose.yml
log "lint: all clean"
