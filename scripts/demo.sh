#!/usr/bin/env bash
# The main job, on embedded defaults: builds the example managers to
# components and runs each on a bundled 5GTANGO payload through the sandbox
# harness, then shows the sandbox stopping a hostile manager.
# Installs the wasm32-wasip2 target when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_wasm_target

echo "== building the example managers and wasmano" >&2
build_guests
cargo build --quiet -p wasmano
wasmano=target/debug/wasmano
payloads=examples-sm/payloads/tng-sdk-sm

step() { printf '\n== %s\n' "$*" >&2; }

step "inspect the placement manager"
$wasmano sm inspect $GUESTS/sm_placement.wasm
step "placement SSM on the tng-sdk-sm placement payload"
$wasmano sm test --module $GUESTS/sm_placement.wasm --event placement --payload $payloads/ssm/placement_event.yml
step "configure SSM on the tng-sdk-sm configure envelope (event read from ssm_type)"
$wasmano sm test --module $GUESTS/sm_configure.wasm --payload $payloads/ssm/configure_event.yml
step "state SSM on the tng-sdk-sm state payload"
$wasmano sm test --module $GUESTS/sm_state.wasm --event state --payload $payloads/ssm/state_event.yml
step "FSM start, then state extract, on the tng-sdk-sm payloads"
$wasmano sm test --module $GUESTS/sm_vnf_manager.wasm --event start --payload $payloads/fsm/start_event.yml
$wasmano sm test --module $GUESTS/sm_vnf_manager.wasm --event state --payload $payloads/fsm/state_event_extract.yml \
    --option state_entries=sessions=3
step "a manager that loops forever is stopped at its 50 ms deadline (exit code 2 expected)"
status=0
$wasmano sm test --module $GUESTS/sm_hostile.wasm --event state --payload $payloads/ssm/state_event.yml \
    --option behaviour=loop --timeout-ms 50 || status=$?
if [ "$status" -ne 2 ]; then
    echo "expected exit code 2 (sandbox fault), got $status" >&2
    exit 1
fi
step "done"
