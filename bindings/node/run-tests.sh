#!/usr/bin/env bash
# The JavaScript package's tests: builds liveagent.wasm (wasm32-unknown-unknown) and the simulator's HTTP
# server (liveagent-sim-server), then runs `node --test test/` (a whole chat on the in-wasm simulator, the same chat through the
# fetch driver against sim_server on 127.0.0.1, snapshots across the language boundary, bad input, the
# README's code). This node run is the test that the session really runs on wasm32-unknown-unknown.
#
# Where the Rust target or Node cannot be had (rustup offline, no node), it says so loudly and exits 0: only
# these steps are skipped, never the rest of CI. LIVEAGENT_NODE_REQUIRED=1 makes that a failure instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

skip() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!!! SKIPPED: the JavaScript/WebAssembly tests: $1" >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  if [ "${LIVEAGENT_NODE_REQUIRED:-0}" = 1 ]; then exit 1; fi
  exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || skip "node $node_major is older than 20"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown || skip "rustup target add wasm32-unknown-unknown failed"
fi

"$here/build.sh"
(cd "$root" && cargo build --quiet -p liveagent-sim-server)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
LIVEAGENT_SIM_SERVER="$target_dir/debug/liveagent-sim-server" node --test "$here/test/"
