#!/usr/bin/env bash
# A service whose managers are of both kinds (examples-sm/legacy): its
# placement SSM is the example WebAssembly module, its task/configure SSM and
# its FSM are legacy 5GTANGO managers driven over RabbitMQ. `wasmano demo`
# runs it through every workflow on emulated VIMs, each legacy manager
# started per instance (its vhost, its registration) and removed with it.
#
# With --docker the legacy managers run as their images (built locally by
# tests/legacy/build-image.sh); without, as the Python program those images
# hold (tests/legacy/tango_sm.py), through the process launcher.
# Installs what it needs: the wasm32-wasip2 target, RabbitMQ with its
# management plugin, the Python venv, and Docker with --docker.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_wasm_target
ensure_rabbitmq
ensure_legacy_python

images=false
if [ "${1:-}" = "--docker" ]; then
    images=true
    shift
fi

cargo build --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests -p sm-placement
module=target/guests/wasm32-wasip2/guest/sm_placement.wasm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The NSD pins the module by digest: pin the one just built.
digest=$(sha256sum "$module" | cut -d' ' -f1)
sed "s/0\{64\}/$digest/" examples-sm/legacy/nsd.yml >"$work/nsd.yml"

legacy=()
if $images; then
    ensure_docker
    bash tests/legacy/build-image.sh
else
    python=target/legacy-venv/bin/python
    legacy=(--legacy "tng-ssm-legacy=exec $python tests/legacy/tango_sm.py --type ssm --id tng-ssm-legacy"
        --legacy "tng-fsm-legacy=exec $python tests/legacy/tango_sm.py --type fsm --id tng-fsm-legacy")
fi
cargo run --quiet -p wasmano -- demo --data-dir "$work/data" --nsd "$work/nsd.yml" \
    --vnfd examples-sm/legacy/vnfd.yml --manager "placement=$module" ${legacy[@]+"${legacy[@]}"} "$@"
