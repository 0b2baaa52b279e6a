# One virtual environment, .venv/, for the demo, the tests and the production tools.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for make test's second pass (tests marked `postgres`).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/storefront

.PHONY: demo serve test bench lint format clean

$(BIN)/django-admin: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/django-admin
	mkdir -p var
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py seed_demo
	@echo "The store: http://127.0.0.1:8000/  (Ctrl-C stops it)"
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:8000

# The production shape: gunicorn, Celery workers and one beat (Procfile, run by honcho)
# against DATABASE_URL and CELERY_BROKER_URL, DEBUG off. Settings come from the
# environment or .env (see .env.example).
serve: $(BIN)/django-admin
	@$(BIN)/python -c "import storefront.settings as s, sys; \
	  sys.exit(0 if s.DATABASES['default']['ENGINE'].endswith('postgresql') and not s.CELERY_TASK_ALWAYS_EAGER \
	  else 'make serve needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (see .env.example)')"
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

# Pass 1: every test on the embedded default (SQLite, tasks in-process), browser included.
# Pass 2: the suite again on PostgreSQL, the production database, with the tests that
# need its row locks (marked `postgres`).
test: $(BIN)/django-admin
	$(BIN)/pytest -m "not postgres"
	DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest -m "not browser"

# Figures and ratios, measured side by side in one run, on PostgreSQL (docs/performance.md).
bench: $(BIN)/django-admin
	@command -v wrk >/dev/null || { echo "make bench loads pages with wrk: apt-get install -y wrk"; exit 1; }
	DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m bench

lint: $(BIN)/django-admin
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/django-admin
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
