#!/usr/bin/env bash
# Creates <repo>/.venv-ws with the `websockets` library (from PyPI), the client
# of the real-Envoy tests in tests/websocket.rs (ws_client.py).
# Idempotent: does nothing when the venv already imports it. Safe to run from
# parallel test processes (flock on <repo>/.venv-ws.lock). Prints the venv's
# python path on success.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TOOLGUARD_WS_VENV:-$ROOT/.venv-ws}"
PY="$VENV/bin/python"

ready() { [ -x "$PY" ] && "$PY" -c 'import websockets.asyncio.client' >/dev/null 2>&1; }

if ! ready; then
  exec 9>"$VENV.lock"
  flock -w 600 9
  if ! ready; then
    echo "setting up $VENV (websockets from PyPI)" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check 'websockets>=13' >&2
    ready || { echo "error: $VENV cannot import websockets" >&2; exit 1; }
  fi
fi
echo "$PY"
