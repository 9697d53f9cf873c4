# Taskly's two entry points for a new machine: `make serve` and `make test`.
# Both install what they need first (a virtualenv from the hashed lock file, npm packages from
# package-lock.json, the web app's build in clients/web/dist) and do nothing more on later runs
# unless a lock file or the web app's sources changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
WEB_DIR := clients/web
WEB_STAMP := $(WEB_DIR)/dist/.built
WEB_SOURCES := $(wildcard $(WEB_DIR)/src/*) $(WEB_DIR)/build.mjs
PACKAGES := crdt_model storage sync_server git_bridge clients

.PHONY: serve test check lint pytest bench bench-sync lock install clean

serve: $(PY_STAMP) $(WEB_STAMP)
	$(BIN)/taskly serve

test: $(PY_STAMP) $(NODE_STAMP) $(WEB_STAMP) lint test-web pytest

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .  # packages (strict on crdt_model and storage), tests and bench

pytest: $(PY_STAMP) $(NODE_STAMP) $(WEB_STAMP)
	$(BIN)/pytest

# The web app's own unit tests (node's test runner; the rank port is checked against Python).
.PHONY: test-web
test-web: $(PY_STAMP) $(NODE_STAMP)
	npm run --silent test:web

bench: $(PY_STAMP)
	$(BIN)/python bench/storage_bench.py

bench-sync: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python bench/sync_bench.py

.PHONY: bench-api
bench-api: $(PY_STAMP) $(NODE_STAMP)  # REST API: materialization lag, reads on 100,000 cards (< 10 min)
	$(BIN)/python bench/api_bench.py

install: $(PY_STAMP) $(NODE_STAMP) $(WEB_STAMP)

$(PY_STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Taskly needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The browser app, served by `taskly serve` at / (rebuilt when a source or node_modules changes).
$(WEB_STAMP): $(NODE_STAMP) $(WEB_SOURCES)
	npm run --silent build
	@touch $@

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock: $(PY_STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --quiet --output-file requirements.lock

clean:
	rm -rf $(VENV) node_modules $(WEB_DIR)/dist
