# The few verbs people type. Every target installs what it needs first, into a project
# virtual environment (.venv, made with $(PYTHON); an activated one is used instead), so
# a stock Debian or Ubuntu python3 ("externally managed", PEP 668) works as well as a
# developer's own build.
PYTHON ?= python3
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: install install-dev lock run layout test lint bench bench-peers soak clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "livecart needs Python 3.11 or newer; '$(PYTHON)' is: $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "Run with PYTHON=/path/to/python3.11+ (e.g. make PYTHON=python3.12 run)." >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "'$(PYTHON)' cannot make a virtual environment: its venv module is missing." >&2; \
	  echo "On Debian or Ubuntu: sudo apt-get install python3-venv   (then run make again)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Installs come from the hashed locks in requirements/ (docs/architecture.md, "Dependencies"),
# and only when a lock or pyproject.toml changed since the last install (the stamps).
RUN_STAMP := $(VENV)/.livecart-run.stamp
DEV_STAMP := $(VENV)/.livecart-dev.stamp
PIP_LOCKED = $(PY) -m pip install -q --require-hashes --no-deps -r
PIP_SELF = $(PY) -m pip install -q --no-deps --no-build-isolation -e .

$(RUN_STAMP): requirements/run.lock pyproject.toml | $(PY)
	@echo "installing livecart and its locked dependencies into $(VENV)..."
	$(PIP_LOCKED) requirements/run.lock
	$(PIP_SELF)
	@touch $@

$(DEV_STAMP): requirements/dev.lock pyproject.toml | $(PY)
	@echo "installing livecart and its locked development dependencies into $(VENV)..."
	$(PIP_LOCKED) requirements/dev.lock
	$(PIP_SELF)
	@touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

## Refresh the locks from pyproject.toml's ranges (newest releases within them), then lint and test.
UV_COMPILE = $(BIN)/uv pip compile -q --generate-hashes --universal --python-version 3.11 \
	--index-url https://pypi.org/simple --upgrade
lock: install-dev
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o requirements/dev.lock
	$(UV_COMPILE) pyproject.toml requirements/build.in -c requirements/dev.lock -o requirements/run.lock
	$(MAKE) lint test

## Install and start one node on http://127.0.0.1:8080 (private Redis under ./data).
run: install
	$(BIN)/livecart serve

## The multi-node layout on 127.0.0.1: nginx (deploy/nginx.conf) + 3 nodes x 2 workers +
## Redis, on free ports; prints the URLs, Ctrl-C stops it. TLS=1: deploy/nginx-tls.conf
## with a self-signed certificate. PORT=8080 fixes nginx's port. Needs Debian's nginx.
layout: install
	$(PY) -m livecart.loadtest.layout $(if $(TLS),--tls) $(if $(PORT),--port $(PORT))

## Install everything (Python packages; Debian's chromium, redis-server 7, nginx and Node.js;
## the JavaScript client's locked npm packages) and run the tests: the pure and Redis layers
## under coverage, failing under the floor (pyproject.toml, [tool.coverage.report]), then the
## other layers without it. The two markers' complement leaves no test out.
test: install-dev
	$(PY) scripts/ensure_debian_packages.py
	cd clients/js && npm ci --no-audit --no-fund
	$(PY) -m pytest -q -m "pure or redis" --cov --durations=25
	$(PY) -m pytest -q -m "not pure and not redis" --durations=25

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) scripts/typecheck.py
	cd clients/js && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }
	cd clients/js && node_modules/.bin/tsc --noEmit --strict -p .

## Benchmarks print figures; they are not tests. They live in bench/, which is not installed:
## python -m bench... from the repository's root (docs/performance.md).
bench: install
	for v in 1000 5000 10000; do for w in 1 2; do \
	  $(PY) -m bench --viewers $$v --rate 200 --duration 20 --server-workers $$w; done; done
	$(PY) -m bench --viewers 5000 --rate 500 --duration 20
	$(PY) -m bench --viewers 5000 --rate 500 --duration 20 --server-workers 2
	$(PY) -m bench --viewers 10000 --rate 500 --duration 20 --server-workers 2
	$(PY) -m bench --viewers 20000 --rate 200 --duration 20 --server-workers 2
	$(PY) -m bench --viewers 5000 --rate 0 --duration 5
	$(PY) -m bench --viewers 20000 --rate 0 --duration 5 --server-workers 2
	$(PY) -m bench --scenario join-storm --viewers 5000
	$(PY) -m bench --scenario join-storm --viewers 5000 --server-workers 2
	$(PY) -m bench --scenario reserve --viewers 5000 --rounds 2
	$(PY) -m bench --scenario flash-sale --viewers 5000
	$(PY) -m bench --scenario flash-sale --viewers 5000 --server-workers 2
	$(PY) -m bench --scenario auction --viewers 5000 --bidders 1000
	$(PY) -m bench --scenario auction --viewers 5000 --bidders 1000 --server-workers 2
	$(PY) -m bench.video --viewers 100 --seconds 10
	$(PY) -m bench.video --viewers 500 --seconds 10
	$(PY) -m bench.video --viewers 1000 --seconds 10
	$(PY) -m bench.replay
	$(PY) -m bench.layout_fanout --nodes 3 --workers 2 --viewers 1500 --rate 100 --video-viewers 300
	$(PY) -m bench.soak --nodes 2 --viewers 300 --seconds 60

## Viewers joining and leaving on 2 nodes for 5 minutes: RSS, fds by kind, asyncio tasks and
## Redis connections of each node before, at the peak and after settling (VIEWERS=, SECONDS=).
soak: install
	$(PY) -m bench.soak --nodes 2 --viewers $(or $(VIEWERS),300) --seconds $(or $(SECONDS),300)

## livecart next to python-socketio (a dev dependency) on the same fan-out workload (a few minutes).
bench-peers: install-dev
	$(PY) -m bench.peers --make

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage
