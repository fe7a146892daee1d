#!/usr/bin/env bash
# Every binding's tests, in one command: the Python package (bindings/python/run-tests.sh: a virtualenv,
# maturin develop, mypy, pytest) and the JavaScript package (bindings/node/run-tests.sh: liveagent.wasm for
# wasm32-unknown-unknown, node --test). `cargo test` runs the Rust tests; this runs the rest; CI runs both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
echo "== the Python package (bindings/python/run-tests.sh)"
bash "$here/python/run-tests.sh"
echo "== the JavaScript package (bindings/node/run-tests.sh)"
bash "$here/node/run-tests.sh"
