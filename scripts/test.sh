#!/usr/bin/env bash
# The whole test suite: formatting, lints (native and wasm32), every test,
# schemathesis against a real server (scripts/schemathesis.sh, which installs
# it with pip into its own venv) and the docs. Installs the wasm32-wasip2
# target when it is missing, Docker (started in the background) for the
# tests that run containers, and RabbitMQ with its management plugin (started
# detached) and a Python venv (target/legacy-venv) for the tests that run
# legacy 5GTANGO managers, and componentize-py (target/componentize-py-venv)
# for the Python manager tests.
# Set WASMANO_CORPUS to a 5GTANGO corpus directory to also check it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
# Each phase says how long the run has taken so far (CI's budget is 45 min).
phase() { printf '== %s (at %dm%02ds)\n' "$1" $((SECONDS / 60)) $((SECONDS % 60)) >&2; }
ensure_wasm_target

phase "rustfmt"
cargo fmt --all --check
phase "clippy (native)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
phase "clippy (guests, wasm32-wasip2)"
cargo clippy --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests \
    -p sm-sdk -p sm-placement -p sm-configure -p sm-state -p sm-vnf-manager -p sm-task -p sm-scale \
    -p sm-hostile -p sm-hostile-contract \
    -- -D warnings
phase "tests"
ensure_docker
ensure_rabbitmq
ensure_legacy_python
ensure_componentize_py
cargo test --workspace
phase "schemathesis"
bash scripts/schemathesis.sh
phase "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --workspace --no-deps
phase "done"
