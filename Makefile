.PHONY: run test lint cluster cluster-stop
run:  ## Install, migrate, seed demo data and serve on http://127.0.0.1:8000/
	bin/run
test:  ## Lint and run the whole test suite against local PostgreSQL and Redis
	bin/test
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
cluster:  ## The production topology on loopback: nginx, WEB_PROCESSES web processes, a worker per queue, beat
	bin/cluster
cluster-stop:  ## Stop the cluster that `make cluster` runs
	bin/cluster stop
