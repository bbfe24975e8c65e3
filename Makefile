# The few verbs people type. Every target installs what it needs first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install install-dev run layout test lint bench bench-peers soak clean

install:
	$(PIP) install -q -e .

install-dev:
	$(PIP) install -q -e ".[dev]"

## Install and start one node on http://127.0.0.1:8080 (private Redis under ./data).
run: install
	livecart serve

## The multi-node layout on 127.0.0.1: nginx (deploy/nginx.conf) + 3 nodes x 2 workers +
## Redis, on free ports; prints the URLs, Ctrl-C stops it. TLS=1: deploy/nginx-tls.conf
## with a self-signed certificate. PORT=8080 fixes nginx's port. Needs Debian's nginx.
layout: install
	$(PYTHON) -m livecart.loadtest.layout $(if $(TLS),--tls) $(if $(PORT),--port $(PORT))

## Install everything (Python packages; Debian's chromium, redis-server 7 and nginx) and run the tests.
test: install-dev
	$(PYTHON) scripts/ensure_chromium.py
	$(PYTHON) -m pytest -q

lint: install-dev
	ruff check .
	ruff format --check .
	mypy

## Benchmarks print figures; they are not tests.
bench: install
	livecart bench --viewers 2000 --rate 200 --duration 20
	livecart bench --viewers 5000 --rate 200 --duration 20
	livecart bench --scenario reserve --viewers 5000 --rounds 2
	livecart bench --scenario flash-sale --viewers 5000
	livecart bench --scenario flash-sale --viewers 5000 --server-workers 2
	$(PYTHON) -m livecart.streamer.bench_video --viewers 100 --seconds 10
	$(PYTHON) -m livecart.streamer.bench_video --viewers 500 --seconds 10
	$(PYTHON) -m livecart.streamer.bench_video --viewers 1000 --seconds 10
	$(PYTHON) -m livecart.loadtest.layoutbench --nodes 3 --workers 2 --viewers 1500 --rate 100 --video-viewers 300
	livecart soak --nodes 2 --viewers 300 --seconds 60

## Viewers joining and leaving on 2 nodes for 5 minutes: RSS, fds by kind, asyncio tasks and
## Redis connections of each node before, at the peak and after settling (VIEWERS=, SECONDS=).
soak: install
	livecart soak --nodes 2 --viewers $(or $(VIEWERS),300) --seconds $(or $(SECONDS),300)

## livecart next to python-socketio (a dev dependency) on the same fan-out workload (a few minutes).
bench-peers: install-dev
	livecart bench-peers --make

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache
