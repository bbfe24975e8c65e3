#!/usr/bin/env bash
# `make run` from the current checkout answers GET /healthz with 200 within 300 s (the
# first run installs into .venv), then is stopped with everything it started.
set -euo pipefail
PYTHON=${PYTHON:-python3}
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$(mktemp)
LIVECART_PORT=$PORT setsid make run >"$LOG" 2>&1 &
PID=$!
stop() { kill -TERM -- "-$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 600); do
  if "$PYTHON" - "$PORT" <<'PY' 2>/dev/null; then
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2) as r:
    assert r.status == 200 and json.load(r)["ok"] is True
PY
    echo "make run: /healthz answered on port $PORT"
    exit 0
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "make run exited before answering /healthz:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.5
done
echo "make run did not answer /healthz within 300 s:" >&2; tail -50 "$LOG" >&2; exit 1
