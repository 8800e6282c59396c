# Shortcuts for the scripts the README documents.
.PHONY: run test stop services status
run:      ## README command 1: services, API, and how to call it
	scripts/run.sh
test:     ## README command 2: every test (what CI runs)
	scripts/test.sh
stop:     ## stop the API and the services
	scripts/run.sh stop
services: ## start PostgreSQL and moto only
	scripts/services.sh start
status:
	scripts/services.sh status
