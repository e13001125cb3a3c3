#!/usr/bin/env bash
# Creates <repo>/.venv-sdk with the official Anthropic and OpenAI Python SDKs
# (from PyPI), for the real-client tests in tests/stream_policing.rs.
# Idempotent: does nothing when the venv already imports both SDKs. Safe to run
# from parallel test processes (flock on <repo>/.venv-sdk.lock).
# Prints the venv's python path on success.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TOOLGUARD_SDK_VENV:-$ROOT/.venv-sdk}"
PY="$VENV/bin/python"

ready() { [ -x "$PY" ] && "$PY" -c 'import anthropic, openai' >/dev/null 2>&1; }

if ! ready; then
  exec 9>"$VENV.lock"
  flock -w 600 9
  if ! ready; then
    echo "setting up $VENV (anthropic, openai from PyPI)" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check anthropic openai >&2
    ready || { echo "error: $VENV cannot import anthropic and openai" >&2; exit 1; }
  fi
fi
echo "$PY"
