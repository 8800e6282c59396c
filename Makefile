# Shortcuts for the scripts the README documents. `make` or `make help` lists them.
.DEFAULT_GOAL := help
.PHONY: help run test lint bench stop services status

help:     ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  make %-9s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
run:      ## README command 1: services, API, a week of traffic, the DAG through Airflow, KPIs
	scripts/run.sh
test:     ## README command 2: every test (what CI runs)
	scripts/test.sh
lint:     ## every static check: rustfmt, clippy, cargo doc, shellcheck, ruff, mypy, sqlfluff, hadolint
	scripts/lint.sh
bench:    ## the benchmark suite against DuckDB, Polars, DataFusion (writes BENCHMARKS.md)
	scripts/bench_suite.sh
stop:     ## stop Airflow, the API and the services
	scripts/run.sh stop
services: ## start PostgreSQL and moto only
	scripts/services.sh start
status:   ## whether PostgreSQL and moto run
	scripts/services.sh status
