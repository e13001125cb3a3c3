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
