# Shared by scripts/*.sh: checks and installs what the project needs.

# Fails with a message naming what is missing.
require() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "missing: $1 ($2)" >&2
        exit 1
    }
}

# Installs the wasm32-wasip2 target that managers compile to.
ensure_wasm_target() {
    require cargo "install Rust with rustup, see https://rustup.rs"
    require rustup "the wasm32-wasip2 target is installed with rustup, see https://rustup.rs"
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "installing the wasm32-wasip2 target" >&2
        rustup target add wasm32-wasip2
    fi
}

# Builds the example managers (and the hostile test guests) as components.
build_guests() {
    cargo build --quiet --target wasm32-wasip2 --profile guest --target-dir target/guests \
        -p sm-placement -p sm-configure -p sm-state -p sm-vnf-manager -p sm-hostile -p sm-hostile-contract
}
GUESTS=target/guests/wasm32-wasip2/guest
