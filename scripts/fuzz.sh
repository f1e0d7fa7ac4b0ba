#!/usr/bin/env bash
# Fuzzes wasmano's readers of untrusted input with the stable-toolchain
# mutation fuzzer (orchestrator/examples/fuzz; not coverage-guided):
#   scripts/fuzz.sh [TARGET...] [--seconds N] [--seed N]
# TARGETs are descriptor, payload, package and reply (default: all four),
# each run for N seconds (default 60) one after another. Seeds come from the
# repository and, when WASMANO_CORPUS names a directory, from that 5GTANGO
# corpus. Crashing inputs are written to target/fuzz-crashes/TARGET/; replay
# one with `target/release/examples/fuzz TARGET --input FILE`. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
require cargo "install Rust with rustup, see https://rustup.rs"

targets=()
seconds=60
options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds)
            [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 64; }
            seconds="$2"
            shift 2
            ;;
        --seed)
            [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 64; }
            options+=("$1" "$2")
            shift 2
            ;;
        descriptor|payload|package|reply)
            targets+=("$1")
            shift
            ;;
        *)
            echo "usage: scripts/fuzz.sh [descriptor|payload|package|reply ...] [--seconds N] [--seed N]" >&2
            exit 64
            ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(descriptor payload package reply)

echo "== building the fuzzer (release)" >&2
cargo build --quiet --release -p wasmano --example fuzz

failed=0
for target in "${targets[@]}"; do
    echo "== fuzzing $target" >&2
    # Exit 2: crashes found, 3: an input timed out; go on with the others.
    target/release/examples/fuzz "$target" --seconds "$seconds" "${options[@]}" || failed=1
done
exit "$failed"
