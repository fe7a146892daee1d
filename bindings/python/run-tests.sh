#!/usr/bin/env bash
# The Python package's tests: builds the package (a debug build of the extension, `maturin develop`) into a
# virtualenv, type-checks it against its stub (mypy --strict), and runs pytest; the driver tests start the
# simulator's HTTP server (`sim_server`, built here) on 127.0.0.1. CI runs this; so can anyone with cargo and
# python3. The virtualenv lives under target/ (LIVEAGENT_PY_VENV to put it elsewhere).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${LIVEAGENT_PY_VENV:-${CARGO_TARGET_DIR:-$root/target}/python-venv}"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  'maturin>=1.5,<2' 'pytest>=7' 'hypothesis>=6' 'aiohttp>=3.8' 'mypy>=1'

(cd "$root" && cargo build --quiet --example sim_server)

# Debug build: the tests are behaviour, not speed, and it saves about a minute over --release.
(cd "$here" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --quiet)

(cd "$here" && "$venv/bin/python" -m mypy --strict python/liveagent)
(cd "$here" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@")
