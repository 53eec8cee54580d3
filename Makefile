# Dangol — the two commands a newcomer needs are `make demo` and `make test`.
# `make install` is idempotent: it only redoes a step whose inputs changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
DANGOL := $(BIN)/dangol
PG_URL ?= postgres://postgres@127.0.0.1:5432/dangol_test
PYTEST_ARGS ?= -n 2

export DJANGO_SETTINGS_MODULE := dangol.settings

.PHONY: install demo serve test test-postgres test-redis lint format openapi messages bench clean help

help:
	@echo "make demo          install, build, load the demo company and serve it on :8000"
	@echo "make test          the whole test suite on SQLite (browser tests included)"
	@echo "make test-postgres the suite on PostgreSQL ($(PG_URL))"
	@echo "make lint          ruff, mypy, migrations check, OpenAPI schema check"
	@echo "make bench         the benchmarks (see docs/performance.md)"

$(VENV)/.stamp-python: pyproject.toml requirements/dev.txt requirements/testdata.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Dangol needs Python >= 3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/testdata.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

src/dangol/web/assets_build/.stamp: node_modules/.stamp $(wildcard scripts/build-assets.mjs)
	npm run --silent build
	@touch $@

var/.stamp-static: src/dangol/web/assets_build/.stamp src/dangol/settings.py $(shell find src/dangol -path '*/static/*' -type f 2>/dev/null)
	@mkdir -p var
	$(DANGOL) collectstatic --noinput -v0
	@touch $@

var/.stamp-messages: $(shell find src/dangol/locale -name '*.po' 2>/dev/null)
	@mkdir -p var
	cd src/dangol && ../../$(DANGOL) compilemessages -v0
	@touch $@

install: $(VENV)/.stamp-python $(if $(wildcard package.json),var/.stamp-static) var/.stamp-messages

demo: install
	DANGOL_INSECURE_COOKIES=1 $(DANGOL) demo

serve: install
	DANGOL_INSECURE_COOKIES=1 $(DANGOL) serve

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	DANGOL_DATABASE_URL=$(PG_URL) $(BIN)/pytest $(PYTEST_ARGS)

test-redis: install
	DANGOL_REDIS_URL=redis://127.0.0.1:6379/0 $(BIN)/pytest -m jobs $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(DANGOL) makemigrations --check --dry-run
	$(DANGOL) openapi | diff -u docs/openapi.json - && echo "OpenAPI schema up to date."

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

openapi: install
	$(DANGOL) openapi --output docs/openapi.json

messages: install
	cd src/dangol && ../../$(DANGOL) makemessages -l ko --no-obsolete -v0

bench: install
	$(DANGOL) bench

clean:
	rm -rf var/.stamp-* src/dangol/web/assets_build $(VENV)/.stamp-python node_modules/.stamp
