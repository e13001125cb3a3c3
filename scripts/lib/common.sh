# Shared by the scripts: repo root, logging, and installing what the scripts need.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# rustup targets are installed on demand so a fresh machine needs only rustup.
ensure_target() {
  local target=$1
  if ! rustup target list --installed | grep -qx "$target"; then
    step "installing Rust target $target"
    rustup target add "$target"
  fi
}

# The module Envoy loads (where cargo builds it: $CARGO_TARGET_DIR if set).
WASM="${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-wasip1/release/toolguard.wasm"
export WASM

# The rate-limit service the tests, demo, soak and bench run counts in Redis:
# Debian's redis-server, installed when missing. Nothing runs as a system
# service: the harness starts a private redis-server per service (a free
# loopback port, nothing saved) and stops it with the service.
ensure_redis() {
  if ! command -v redis-server >/dev/null; then
    step "installing redis-server (the rate-limit service's store)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  fi
  # The Debian package starts a system service where systemd runs; the harness
  # does not use it (its own servers listen on free ports).
}
