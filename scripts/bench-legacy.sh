#!/usr/bin/env bash
# The benchmark of WebAssembly managers against legacy 5GTANGO managers on
# the bus (orchestrator/benches/legacy.rs), release build. Installs and
# starts what it needs: the wasm32-wasip2 target, RabbitMQ with its
# management plugin, the Python venv, Docker and the legacy manager images.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_wasm_target
ensure_rabbitmq
ensure_legacy_python
ensure_docker
bash tests/legacy/build-image.sh
exec cargo bench --quiet -p wasmano --bench legacy
