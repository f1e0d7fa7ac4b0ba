#!/usr/bin/env bash
# Builds the Docker image wasmano/legacy-tango-sm:1, in which the legacy
# 5GTANGO manager of tests/legacy/tango_sm.py is the entrypoint, and two
# images made from it the way 5GTANGO's were, each with its manager's kind
# and id built in (the registry only gives a manager broker_host and
# sf_uuid): wasmano/legacy-tango-ssm:1 (tng-ssm-legacy) and
# wasmano/legacy-tango-fsm:1 (tng-fsm-legacy), as examples-sm/legacy names
# them.
#
#   docker run ... wasmano/legacy-tango-sm:1 --type fsm --id <sm_id>
#
# runs `python3 /sm/tango_sm.py --type fsm --id <sm_id>`. Like 5GTANGO's SM
# images, it sets `broker_exchange=son-kernel` in its ENV and leaves
# `broker_host` and `sf_uuid` to whoever starts it (LEGACY-BUS §1, §4).
#
# No registry is needed and nothing is downloaded: the image is a root
# filesystem assembled from this host and loaded with `docker import`.
# It holds
#   - the Python interpreter target/legacy-venv was made from (made by
#     ensure_legacy_python of scripts/common.sh, which this calls), its
#     shared libraries as `ldd` resolves them and the dynamic loader, all at
#     the paths they have on this host (so the interpreter finds its prefix,
#     and its RUNPATH and the loader's default directories still hold), plus
#     an ld.so.cache for those directories made with `ldconfig -r`;
#   - its standard library without tests, IDLE, tkinter, lib2to3, ensurepip,
#     curses, sqlite3, site-packages and __pycache__, with the C extension
#     modules other than the test, terminal, storage and NIS ones, and the
#     shared libraries those need (the whole rest of the standard library is
#     kept, so an import the manager makes only at run time still works);
#   - amqpstorm, pamqp and yaml from the venv (without their tests), and
#     tango_sm.py, in /sm
#     (the script's directory is first on sys.path);
#   - /usr/bin/python3 (a link to the interpreter), /etc/nsswitch.conf, /tmp.
# ELF files are stripped of debug information when `strip` is available.
# Bytecode is compiled at build time (unchecked-hash .pyc files) for the
# modules the manager imports when it starts, so it does not recompile them
# at every start; PYTHONDONTWRITEBYTECODE=1 keeps it from writing others.
#
# The image carries the label wasmano.content-hash: a hash of this script,
# tango_sm.py, the three packages' files and the interpreter (its path,
# version and binary, and libpython's). When the image exists with the same
# hash nothing is rebuilt; otherwise it is rebuilt, checked by running it
# (--help, and the imports a live run needs) under the limits the
# orchestrator sets, and the image it replaces is removed.
#
# Run it as root from anywhere in a checkout (it works from the repository
# root); it needs docker (started by ensure_docker if it does not answer),
# GNU tar, sha256sum and ldd.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/common.sh

IMAGE=wasmano/legacy-tango-sm:1
LABEL=wasmano.content-hash
SM=tests/legacy/tango_sm.py
VENV_PYTHON=target/legacy-venv/bin/python
SCRIPT=tests/legacy/build-image.sh
# The packages tango_sm.py imports from the venv (amqpstorm needs pamqp).
PACKAGES=(amqpstorm pamqp yaml)

# The manager images, each with its kind and id built in (a build FROM the
# local base image needs no registry).
build_manager_images() {
    local kind
    for kind in ssm fsm; do
        printf 'FROM %s\nCMD ["--type", "%s", "--id", "tng-%s-legacy"]\n' "$IMAGE" "$kind" "$kind" |
            docker build -q -t "wasmano/legacy-tango-$kind:1" - >/dev/null
    done
}

require docker "the image is built with docker import"
require tar "the root filesystem is handed to docker import as a tarball"
require sha256sum "the image is labelled with a content hash (coreutils)"
require ldd "the interpreter's shared libraries are found with ldd (libc-bin)"
[ -f "$SM" ] || { echo "missing: $SM" >&2; exit 1; }
ensure_docker
ensure_legacy_python

started=$SECONDS

# What the venv's interpreter says about itself, one "key value" per line.
probe=$("$VENV_PYTHON" - "${PACKAGES[@]}" <<'EOF'
import importlib, os, sys, sysconfig
print('interpreter', os.path.realpath(getattr(sys, '_base_executable', sys.executable)))
print('version', sys.version.replace('\n', ' '))
print('stdlib', sysconfig.get_paths()['stdlib'])
dynload = [p for p in sys.path if os.path.basename(p) == 'lib-dynload']
print('dynload', dynload[0] if dynload else '')
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    print('package', os.path.dirname(os.path.realpath(module.__file__)))
EOF
) || { echo "cannot ask $VENV_PYTHON where its interpreter and packages are" >&2; exit 1; }
field() { sed -n "s/^$1 //p" <<<"$probe"; }
interpreter=$(field interpreter)
stdlib=$(field stdlib)
dynload=$(field dynload)
mapfile -t package_dirs < <(field package)
for path in "$interpreter" "$stdlib" "${package_dirs[@]}"; do
    [ -e "$path" ] || { echo "missing: $path (reported by $VENV_PYTHON)" >&2; exit 1; }
done

# The ELF files whose libraries go into the image: the interpreter, and the
# extension modules, which sit in lib-dynload or directly in the stdlib.
# Prints the absolute paths ldd resolves (the loader too), one per line.
libraries_of() {
    { ldd "$@" 2>/dev/null || true; } | awk '
        $2 == "=>" && $3 ~ /^\// { print $3 }
        $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u
}

# The content hash: everything the image is made from that can change.
interpreter_libs=$(libraries_of "$interpreter")
hash=$(
    {
        sha256sum "$SCRIPT" "$SM"
        for dir in "${package_dirs[@]}"; do
            (cd "$dir" && find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 |
                LC_ALL=C sort -z | xargs -0 sha256sum | sed "s|^|$(basename "$dir") |")
        done
        echo "$interpreter"
        field version
        sha256sum "$interpreter"
        # libpython, when the interpreter links it dynamically.
        { grep libpython <<<"$interpreter_libs" || true; } | xargs -r sha256sum
    } | sha256sum | cut -c1-64
)

current=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
    echo "$IMAGE is up to date (content hash ${hash:0:12}), nothing built" >&2
    build_manager_images
    exit 0
fi
old_id=$(docker image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)
echo "building $IMAGE (content hash ${hash:0:12}) from $interpreter" >&2

stage=$(mktemp -d "${TMPDIR:-/tmp}/legacy-tango-sm.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root"

# The standard library (and lib-dynload when it lies outside it), at its path.
excludes=(
    --exclude=__pycache__ --exclude='*.pyc'
    --exclude=test --exclude=tests --exclude=idle_test
    --exclude=idlelib --exclude=tkinter --exclude=turtledemo --exclude=turtle.py
    --exclude=ensurepip --exclude=lib2to3 --exclude=pydoc_data --exclude=venv
    --exclude=site-packages --exclude=dist-packages --exclude='config-*'
    --exclude='_test*.so' --exclude='_ctypes_test*.so' --exclude='xxlimited*.so'
    --exclude='_xxtestfuzz*.so' --exclude='_tkinter*.so'
    # Terminal, storage and NIS modules a network daemon has no use for;
    # they would bring ncurses, readline, sqlite, libtirpc and Kerberos.
    --exclude=curses --exclude=sqlite3 --exclude='_curses*.so' --exclude='readline*.so'
    --exclude='_sqlite3*.so' --exclude='_dbm*.so' --exclude='_gdbm*.so' --exclude='nis.*.so'
    --exclude='spwd*.so' --exclude='ossaudiodev*.so'
)
sources=("${stdlib#/}")
case "$dynload" in
    "" | "$stdlib"/*) ;;
    *) sources+=("${dynload#/}") ;;
esac
tar -C / -cf - "${excludes[@]}" "${sources[@]}" | tar -C "$root" -xf -

# The interpreter, and the libraries of the interpreter and of every
# extension module kept. A module whose libraries this host lacks is
# dropped: it could not be imported here either.
mkdir -p "$root$(dirname "$interpreter")"
cp -L "$interpreter" "$root$interpreter"
mapfile -t modules < <(find "$root" -name '*.so' -type f | sed "s|^$root||")
for module in "${modules[@]}"; do
    if ldd "$module" 2>/dev/null | grep -q 'not found'; then
        echo "leaving out $module: $(ldd "$module" | awk '/not found/ { print $1 }' | xargs) not found on this host" >&2
        rm "$root$module"
    fi
done
mapfile -t modules < <(find "$root" -name '*.so' -type f | sed "s|^$root||")
mapfile -t libraries < <({ echo "$interpreter_libs"; libraries_of "${modules[@]}"; } | sort -u)
# Libraries glibc loads with dlopen, which ldd does not show, found next to
# libc or else through the host's loader cache: libgcc_s, to unwind a thread
# that exits while the interpreter shuts down (without it the process dies
# with "libgcc_s.so.1 must be installed for pthread_exit to work", seen with
# Debian's python3.11), and the NSS modules that resolve host names (inside
# libc since glibc 2.34; stubs or absent there).
libc=$(printf '%s\n' "${libraries[@]}" | grep -m1 '/libc\.so\.6$' || true)
if [ -n "$libc" ]; then
    for soname in libgcc_s.so.1 libnss_files.so.2 libnss_dns.so.2; do
        found=$(dirname "$libc")/$soname
        if [ ! -e "$found" ]; then
            found=$({ ldconfig -p 2>/dev/null || true; } | awk -v n="$soname" '$1 == n { print $NF; exit }')
        fi
        if [ -n "$found" ] && [ -e "$found" ]; then
            libraries+=("$found")
        elif [ "$soname" = libgcc_s.so.1 ]; then
            echo "missing: libgcc_s.so.1 (glibc loads it when a thread exits; on Debian: apt-get install libgcc-s1)" >&2
            exit 1
        fi
    done
fi
for library in "${libraries[@]}"; do
    mkdir -p "$root$(dirname "$library")"
    cp -L "$library" "$root$library"
done
if [ ! -e "$root/usr/bin/python3" ]; then
    mkdir -p "$root/usr/bin"
    ln -s "$interpreter" "$root/usr/bin/python3"
fi

# Strip debug information from copies only (libpython alone shrinks from
# ~23 to ~6 MB when built by pyenv); without strip the image is just bigger.
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug "$root$interpreter" "${libraries[@]/#/$root}" "${modules[@]/#/$root}" 2>/dev/null ||
        echo "strip failed on some files; they are kept as they are" >&2
else
    echo "strip not found (binutils): the image keeps debug information" >&2
fi

# A loader cache for the libraries' directories, for hosts where ldd found
# some through /etc/ld.so.cache outside the loader's default directories.
mkdir -p "$root/etc"
printf '%s\n' "${libraries[@]}" | xargs -n1 dirname | sort -u >"$root/etc/ld.so.conf"
if command -v ldconfig >/dev/null 2>&1; then
    ldconfig -X -r "$root" 2>/dev/null || echo "ldconfig -r failed; the image has no ld.so.cache" >&2
fi
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"

# The manager and its packages.
mkdir -p "$root/sm"
cp "$SM" "$root/sm/tango_sm.py"
for dir in "${package_dirs[@]}"; do
    tar -C "$(dirname "$dir")" -cf - --exclude=__pycache__ --exclude='*.pyc' --exclude=tests \
        "$(basename "$dir")" |
        tar -C "$root/sm" -xf -
done

# Bytecode for what the manager imports at start (and on connecting: the
# idna codec), compiled by the same interpreter into the root filesystem.
# unchecked-hash .pyc files do not depend on the files' times.
"$VENV_PYTHON" - "$root" "$stdlib" <<'EOF' || { echo "cannot compile the manager's modules" >&2; exit 1; }
import importlib.util, os, py_compile, sys
root, stdlib = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(root, 'sm'))
import tango_sm  # noqa: F401  (its imports, not its main)
import encodings.idna, json  # noqa: F401, E401
for module in list(sys.modules.values()):
    source = getattr(module, '__file__', None) or ''
    if not source.endswith('.py'):
        continue
    if source.startswith(stdlib + os.sep):
        source = root + source
    if not source.startswith(root + os.sep) or not os.path.exists(source):
        continue
    py_compile.compile(source, cfile=importlib.util.cache_from_source(source),
                       dfile=source[len(root):], doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
EOF

tar -C "$root" --sort=name --owner=0 --group=0 --numeric-owner -cf - . |
    docker import \
        --change 'ENTRYPOINT ["/usr/bin/python3", "/sm/tango_sm.py"]' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1 broker_exchange=son-kernel' \
        --change "LABEL $LABEL=$hash" \
        --message "built by $SCRIPT" \
        - "$IMAGE" >/dev/null

# Check it runs under the orchestrator's limits. A broken image is removed
# (its label would make the next run skip it) and the one it replaced, if
# any, gets the tag back (its label makes the next run rebuild).
limits=(--rm --network none --cap-drop ALL --security-opt no-new-privileges
    --memory 512m --pids-limit 256)
check='import sys; sys.path.insert(0, "/sm"); import tango_sm, encodings.idna, json, ssl, unicodedata, ctypes
"localhost".encode("idna"); ctypes.CDLL("libgcc_s.so.1")'
if ! out=$(docker run "${limits[@]}" "$IMAGE" --help 2>&1) ||
    ! out=$(docker run "${limits[@]}" --entrypoint /usr/bin/python3 "$IMAGE" -c "$check" 2>&1); then
    docker rmi "$IMAGE" >/dev/null 2>&1 || true
    if [ -n "$old_id" ] && docker tag "$old_id" "$IMAGE" 2>/dev/null; then
        echo "the image built does not run; it was removed and the previous $IMAGE restored. Its output:" >&2
    else
        echo "the image $IMAGE does not run; it was removed. Its output:" >&2
    fi
    echo "$out" >&2
    exit 1
fi

if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{ .Id }}' "$IMAGE")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || echo "the previous image $old_id is still in use; left in place" >&2
fi
size=$(docker image inspect --format '{{ .Size }}' "$IMAGE")
echo "built $IMAGE (content hash ${hash:0:12}, $((size / 1024 / 1024)) MiB) in $((SECONDS - started)) s" >&2
build_manager_images
