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

# Installs the Debian packages named (none: nothing to do) with apt-get,
# which only root may run; anyone else is told what is missing.
apt_install() {
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing: $* (install them with apt-get as root)" >&2
        exit 1
    fi
    echo "installing $*" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Makes a Docker daemon answer: installs docker.io and busybox-static (the
# Docker tests build their image from its binary) when missing, starts dockerd
# in the background with its log in target/dockerd.log, and waits for it.
ensure_docker() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    apt_install ${missing[@]+"${missing[@]}"}
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

# Makes a RabbitMQ broker with its management plugin answer on 127.0.0.1
# (AMQP 5672, management API 15672, guest/guest) for the legacy 5GTANGO
# manager tests: installs rabbitmq-server (and curl, to ask the API) when
# missing, enables rabbitmq_management, starts the broker detached when it
# does not answer, and waits for it and for the management API.
ensure_rabbitmq() {
    local api=http://127.0.0.1:15672/api/overview
    if command -v curl >/dev/null 2>&1 && curl -fsS -o /dev/null -u guest:guest "$api" 2>/dev/null; then
        return 0
    fi
    local missing=()
    command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    apt_install ${missing[@]+"${missing[@]}"}
    curl -fsS -o /dev/null -u guest:guest "$api" 2>/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "RabbitMQ's management API does not answer at $api and only root can start rabbitmq-server here" >&2
        exit 1
    fi
    if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
        # Running without the management plugin: enable it on the live node.
        if ! rabbitmq-plugins -q enable rabbitmq_management >/dev/null; then
            echo "cannot enable the RabbitMQ plugin rabbitmq_management on the running broker" >&2
            exit 1
        fi
    else
        if ! rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null; then
            echo "cannot enable the RabbitMQ plugin rabbitmq_management (rabbitmq-plugins enable --offline)" >&2
            exit 1
        fi
        echo "starting rabbitmq-server (log: /var/log/rabbitmq/)" >&2
        if ! rabbitmq-server -detached; then
            echo "rabbitmq-server -detached failed; see /var/log/rabbitmq/" >&2
            exit 1
        fi
    fi
    # await_startup fails at once while the node is not registered yet.
    local waited=0
    until rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1; do
        if [ "$waited" -ge 60 ]; then
            echo "RabbitMQ did not start within 60 s; see /var/log/rabbitmq/" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    waited=0
    until curl -fsS -o /dev/null -u guest:guest "$api" 2>/dev/null; do
        if [ "$waited" -ge 60 ]; then
            echo "RabbitMQ runs but its management API did not answer at $api within 60 s" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# Makes VENV a fresh Python venv holding the pip requirements that follow
# it; fails naming what could not be done, leaving no half-made venv.
install_venv() {
    local venv=$1
    shift
    echo "installing $* into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv"; then
        echo "cannot create a Python venv at $venv (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; then
        rm -rf "$venv"
        echo "cannot install $* with pip into $venv" >&2
        exit 1
    fi
}

# Makes target/legacy-venv (relative to the repository root) a Python venv
# with what the legacy 5GTANGO manager of tests/legacy/tango_sm.py needs, the
# versions 5GTANGO's managers ran with: amqpstorm 2.10.8 on pamqp 2, PyYAML
# 5.3.1 (6 rejects their yaml.load without a Loader). pip takes its CA
# bundle from PIP_CERT when that is set.
ensure_legacy_python() {
    local venv=target/legacy-venv
    local check="import amqpstorm, pamqp, yaml
assert amqpstorm.__version__ == '2.10.8' and pamqp.__version__.startswith('2.') and yaml.__version__ == '5.3.1'"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
        return 0
    fi
    require python3 "the legacy 5GTANGO manager tests run it in a venv at $venv"
    install_venv "$venv" "amqpstorm==2.10.8" "pamqp<3" "PyYAML==5.3.1"
}

# The componentize-py release Python managers are built with (pinned: the
# bindings it generates are what the Python SDK's export adapters call).
COMPONENTIZE_PY_VERSION=0.25.1

# Makes target/componentize-py-venv (relative to the repository root) a
# Python venv with componentize-py, which builds the Python example manager
# into a component for the tests and the invocation benchmark.
ensure_componentize_py() {
    local venv=target/componentize-py-venv
    if [ -x "$venv/bin/componentize-py" ] && "$venv/bin/componentize-py" --version 2>/dev/null | grep -qF "$COMPONENTIZE_PY_VERSION"; then
        return 0
    fi
    require python3 "Python managers are built by componentize-py, installed in a venv at $venv"
    install_venv "$venv" "componentize-py==$COMPONENTIZE_PY_VERSION"
}
