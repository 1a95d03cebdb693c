# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUEUES := default,provisioning,notifications,webhooks

.PHONY: run test lint migrate demo venv clean schemathesis

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.2"

# Reinstall only when the requirements change.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

## Web server on http://127.0.0.1:8000 + a Celery worker on every queue + beat, embedded broker.
run: demo
	$(BIN)/python scripts/run_embedded.py --queues $(QUEUES)

## The whole suite on the embedded defaults (SQLite, eager Celery, filesystem broker).
test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

## schemathesis against a live server with the demo data, as .ci/run does (SQLite in a temporary
## directory; DATABASE_URL=postgres://.../throwaway for PostgreSQL). See tests/api/run_schemathesis.sh.
schemathesis: venv
	bash tests/api/run_schemathesis.sh

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf var/test-broker var/test-media test-artifacts
