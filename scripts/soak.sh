#!/usr/bin/env bash
# The host's soak (not a CI step): 10,000 invocations mixing every hostile
# behaviour with good calls on a few threads, in release. Prints a table per
# behaviour and the resident memory; exits non-zero when a call ends
# otherwise than expected or the memory does not return to its baseline.
# Installs the wasm32-wasip2 target when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_wasm_target
exec cargo bench -p wasmano-host --bench soak "$@"
