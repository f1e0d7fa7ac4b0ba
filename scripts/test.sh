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
ensure_wasm_target

echo "== rustfmt" >&2
cargo fmt --all --check
echo "== clippy (native)" >&2
cargo clippy --quiet --workspace --all-targets -- -D warnings
echo "== clippy (guests, wasm32-wasip2)" >&2
cargo clippy --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests \
    -p sm-sdk -p sm-placement -p sm-configure -p sm-state -p sm-vnf-manager -p sm-task -p sm-scale \
    -p sm-hostile -p sm-hostile-contract \
    -- -D warnings
echo "== tests" >&2
ensure_docker
ensure_rabbitmq
ensure_legacy_python
ensure_componentize_py
cargo test --workspace
echo "== schemathesis" >&2
bash scripts/schemathesis.sh
echo "== docs" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --workspace --no-deps
