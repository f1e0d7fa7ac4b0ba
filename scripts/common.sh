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

# Makes a Docker daemon answer: installs docker.io and busybox-static (the
# Docker tests build their image from its binary) when missing, starts dockerd
# in the background with its log in target/dockerd.log, and waits for it.
ensure_docker() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "missing: ${missing[*]} (install them with apt-get as root)" >&2
            exit 1
        fi
        echo "installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    docker info >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "the Docker daemon does not answer and only root can start dockerd here" >&2
        exit 1
    fi
    local log=target/dockerd.log
    mkdir -p target
    echo "starting dockerd (log: $log)" >&2
    nohup dockerd >"$log" 2>&1 &
    local waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge 60 ]; then
            echo "dockerd did not answer within 60 s; the end of $log:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}
