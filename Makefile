# PSE CRM: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_TENANT ?= demo
DEMO_EMAIL  ?= manager@demo.example
DEMO_PASSWORD ?= demo-pass-2026
# The suite's own PostgreSQL database and Redis (db 15) on localhost.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pse_crm
TEST_BROKER_URL   ?= redis://127.0.0.1:6379/15

.PHONY: install demo demo-data run worker beat test lint services browser clean

$(STAMP): requirements.txt package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "PSE CRM needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	npm ci --no-audit --no-fund --silent
	@touch $(STAMP)

install: $(STAMP)

## demo: SQLite and in-process tasks unless DATABASE_URL / CELERY_BROKER_URL are set.
demo: install demo-data
	@echo ""
	@echo "  PSE CRM demo: http://127.0.0.1:8000/"
	@echo "  Log in as $(DEMO_EMAIL) / $(DEMO_PASSWORD) (manager)"
	@echo "  Also: owner@demo.example, staff@demo.example, viewer@demo.example (same password)"
	@echo ""
	$(PY) manage.py runserver 127.0.0.1:8000

demo-data: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py create_tenant --slug $(DEMO_TENANT) --name "Demo Vendor KK"
	$(PY) manage.py create_user --tenant $(DEMO_TENANT) --email owner@demo.example --role owner --password $(DEMO_PASSWORD) --staff
	$(PY) manage.py create_user --tenant $(DEMO_TENANT) --email $(DEMO_EMAIL) --role manager --password $(DEMO_PASSWORD) --staff
	$(PY) manage.py create_user --tenant $(DEMO_TENANT) --email staff@demo.example --role staff --password $(DEMO_PASSWORD)
	$(PY) manage.py create_user --tenant $(DEMO_TENANT) --email viewer@demo.example --role viewer --password $(DEMO_PASSWORD)
	$(PY) manage.py seed_demo --tenant $(DEMO_TENANT)
	$(PY) manage.py recompute_segments --tenant $(DEMO_TENANT)
	$(PY) manage.py seed_enablement_demo --tenant $(DEMO_TENANT)
	$(PY) manage.py backfill_momentum --tenant $(DEMO_TENANT) --weeks 12
	$(PY) manage.py measure_know_how_effect --tenant $(DEMO_TENANT)

run: install
	$(PY) manage.py runserver 127.0.0.1:8000

## Workers and beat (need CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0).
worker: install
	$(VENV)/bin/celery -A pse_crm worker -l info -Q default,segmentation,ingest,notify,salesforce

beat: install
	$(VENV)/bin/celery -A pse_crm beat -l info

services:
	@bash .ci/services.sh

browser:
	@bash .ci/browser.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: install services browser lint
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  $(PY) manage.py makemigrations --check --dry-run --settings=pse_crm.settings.test
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  $(PY) manage.py spectacular --validate --fail-on-warn --settings=pse_crm.settings.test --file /dev/null
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  $(VENV)/bin/pytest --create-db
	@echo "== demo smoke test on SQLite =="
	DATABASE_URL=sqlite:///$(CURDIR)/.venv/smoke.sqlite3 CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  $(VENV)/bin/pytest -m demo -p no:cacheprovider --create-db

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3
