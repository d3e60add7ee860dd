# Ratecard: the two commands of the README, and a few helpers.
#   make run    set up (virtualenv, install, migrate, demo data) and serve http://127.0.0.1:8000
#               with the background workers (manage.py run_worker) beside the server
#   make test   set up and run the whole test suite (DATABASE_URL picks the database)
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format check-python clean

check-python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "Ratecard needs Python 3.12, found " + sys.version.split()[0]' \
		|| { echo "Python 3.12 is required (set PYTHON=/path/to/python3.12)."; exit 1; }

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@# The workers (and the schedule) run beside the server and stop with it.
	DJANGO_DEBUG=1 $(BIN)/python manage.py run_worker --processes 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis
