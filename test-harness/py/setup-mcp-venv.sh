#!/usr/bin/env bash
# Creates <repo>/.venv-mcp with the official MCP Python SDK (`mcp` from PyPI),
# for the real-client tests in tests/mcp.rs (mcp_server.py, mcp_client.py).
# Idempotent: does nothing when the venv already imports the SDK's streamable
# HTTP client and its server (MCPServer, or FastMCP before mcp 2). Safe to run
# from parallel test processes (flock on <repo>/.venv-mcp.lock). Prints the
# venv's python path on success. TOOLGUARD_MCP_VENV picks another venv (e.g.
# one holding 'mcp<2': the scripts and tests handle both major versions).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TOOLGUARD_MCP_VENV:-$ROOT/.venv-mcp}"
PY="$VENV/bin/python"

# mcp 2.x has MCPServer, 1.x FastMCP; the test scripts take either.
ready() {
  [ -x "$PY" ] && "$PY" -c '
import mcp.client.streamable_http, uvicorn
try:
    import mcp.server.mcpserver
except ImportError:
    import mcp.server.fastmcp
' >/dev/null 2>&1
}

if ! ready; then
  exec 9>"$VENV.lock"
  flock -w 600 9
  if ! ready; then
    echo "setting up $VENV (mcp from PyPI)" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check mcp >&2
    ready || { echo "error: $VENV cannot import the MCP SDK" >&2; exit 1; }
  fi
fi
echo "$PY"
