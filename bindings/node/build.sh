#!/usr/bin/env bash
# Builds liveagent.wasm next to liveagent.mjs: the session and the simulator for wasm32-unknown-unknown, with a
# plain C ABI (no wasm-bindgen, nothing to install but the Rust target:
# `rustup target add wasm32-unknown-unknown`). Usage: bindings/node/build.sh [--debug]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile=release
flags=(--release)
if [ "${1:-}" = "--debug" ]; then
  profile=debug
  flags=()
fi
cd "$root"
cargo build -p liveagent-wasm --target wasm32-unknown-unknown "${flags[@]}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cp "$target_dir/wasm32-unknown-unknown/$profile/liveagent_wasm.wasm" "$here/liveagent.wasm"
echo "built $here/liveagent.wasm ($(wc -c <"$here/liveagent.wasm") bytes, $profile)"
