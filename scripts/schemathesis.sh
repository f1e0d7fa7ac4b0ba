#!/usr/bin/env bash
# Schemathesis against a real `wasmano serve`: no input may get a 5xx, and
# every answer must be as /openapi.json documents it.
#
# Installs schemathesis (pinned) into a venv under
# ${XDG_CACHE_HOME:-~/.cache}/wasmano/schemathesis-venv when it is missing,
# builds the `wasmano` binary and the example managers, starts the server
# on 127.0.0.1 (a free port) over a fresh temporary data directory, seeds it
# (scripts/schemathesis/seed.py: a project, an operator token, the example
# package, two NS instances, one instantiated) and runs schemathesis against
# its /openapi.json with the bootstrap admin token, checking
# not_a_server_error and the conformance of every answer (status, headers,
# media type, schema) with at most SCHEMATHESIS_EXAMPLES (default 100) cases
# per operation and phase. Left out: the event stream (it never ends) and
# creating subscriptions (the server would call the generated callback
# URIs). Exits non-zero on any failure; the server's log is printed then.
# SCHEMATHESIS_SEED reruns a run whose seed schemathesis printed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

SCHEMATHESIS_VERSION=4.32.5
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/wasmano/schemathesis-venv"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-100}"
GUESTS=(sm-placement sm-configure sm-state sm-vnf-manager)

install_schemathesis() {
    if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
        return 0
    fi
    require python3 "schemathesis runs on Python 3.9 or newer"
    install_venv "$VENV" "schemathesis==$SCHEMATHESIS_VERSION"
}

install_schemathesis
ensure_wasm_target
echo "== building wasmano and the example managers" >&2
# The `wasmano` the tests run: `cargo test --workspace` resolves features
# over every member and dev-dependency, so right after it this builds
# nothing, where `cargo build --bin wasmano` would rebuild about a hundred
# crates with fewer features (6-7 minutes of a cold CI run).
wasmano_bin="$(cargo test --quiet --workspace --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if (message.get("reason") == "compiler-artifact" and message["target"]["name"] == "wasmano"
            and message["target"]["kind"] == ["bin"] and not message["profile"]["test"]):
        print(message["executable"])
')"
if [ -z "$wasmano_bin" ]; then
    echo "cargo test --no-run built no wasmano binary" >&2
    exit 1
fi
packages=()
for guest in "${GUESTS[@]}"; do packages+=(-p "$guest"); done
cargo build --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests "${packages[@]}"

work="$(mktemp -d)"
server=""
stop_server() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server" || true
    fi
    server=""
}
trap 'stop_server; rm -rf "$work"' EXIT

# The seed subscribes a callback on loopback, which needs --callback-allow.
"$wasmano_bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
    --bootstrap-token-file "$work/token" --callback-allow 127.0.0.1 >"$work/stdout" 2>"$work/server.log" &
server=$!
base=""
for _ in $(seq 600); do
    base="$(sed -n 's/^wasmano serving \([^ ]*\).*/\1/p' "$work/stdout")"
    [ -n "$base" ] && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "wasmano serve exited before serving:" >&2
        tail -n 20 "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "wasmano serve did not serve within 60 s" >&2
    exit 1
fi
echo "== seeding $base" >&2
"$VENV/bin/python" scripts/schemathesis/seed.py "$base" "$work/token" \
    target/guests/wasm32-wasip2/guest "$PWD" "$work/schemathesis.toml"

echo "== schemathesis $SCHEMATHESIS_VERSION against $base/openapi.json" >&2
seed=()
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then seed=(--seed "$SCHEMATHESIS_SEED"); fi
status=0
(
    hooks="$PWD/scripts/schemathesis/hooks.py"
    cd "$work"
    SCHEMATHESIS_HOOKS="$hooks" \
        "$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
        --header "Authorization: Bearer $(cat "$work/token")" \
        --checks not_a_server_error,status_code_conformance,response_headers_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$EXAMPLES" \
        --exclude-path /wasmano/v1/events \
        --exclude-operation-id create_subscription \
        --request-timeout 30 \
        --generation-database none \
        --no-color \
        "${seed[@]}"
) || status=$?
if ! kill -0 "$server" 2>/dev/null; then
    echo "the server died during the run; the end of its log:" >&2
    tail -n 40 "$work/server.log" >&2
    exit 1
fi
stop_server
if [ "$status" -ne 0 ]; then
    echo "schemathesis failed ($status); the server's errors:" >&2
    grep -iE "error|panic" "$work/server.log" | tail -n 40 >&2 || true
    exit "$status"
fi
