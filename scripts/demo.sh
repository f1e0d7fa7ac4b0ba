#!/usr/bin/env bash
# The main job, on embedded defaults: `wasmano demo` builds the example
# managers, onboards the bundled package and runs its service through
# instantiate, scale out, migrate (state carried), reconfigure, scale in and
# terminate on emulated VIMs, printing every timeline and the final records.
# Installs the wasm32-wasip2 target when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_wasm_target
exec cargo run --quiet -p wasmano -- demo "$@"
