#!/usr/bin/env bash
# Interoperability harness: a real Glance 33 (uWSGI, sqlite, file store,
# no keystone) with imgcache in front of it, driven by the real clients
# (python-glanceclient's `glance` CLI, openstacksdk, python-openstackclient's
# `openstack` CLI, gophercloud from Debian) and by raw HTTP.
# checks.py compares what each client sees through the proxy (PROXY) with
# what Glance itself answers (DIRECT), once per transform mode; the identity
# probes (identity_probes.py) run in each mode and once more against a proxy
# that folds `_` header names (cache.underscore_headers = "fold"); the
# identity header names (header_names.py) are checked once; one more
# passthrough pass reaches the proxy over https (TLS on its listener, a
# private CA made with openssl that the CLI, the SDK and raw HTTP trust).
# The first pass also runs the wire-* checks (wiring.py): each client,
# configured only as README's "Pointing clients at imgcache" says, reads a
# fresh image twice and must hit on the second read; gophercloud's probe
# (gophercloud/main.go) is built here, offline, from Debian's
# golang-go + golang-github-gophercloud-gophercloud-dev (GOPATH mode).
# Once, too: the Kubernetes manifests in deploy/ parse as YAML and keep
# their client wiring (manifests.py).
#
# Environment:
#   IMGCACHE_INTEROP_VENV      venv to create or reuse (default <repo>/target/interop/venv)
#   IMGCACHE_BIN               proxy binary (default <repo>/target/release/imgcache)
#   IMGCACHE_INTEROP_NO_PROXY  1: no proxy, PROXY = DIRECT (cache-only checks are skipped)
#   IMGCACHE_INTEROP_PYTHON    interpreter for the venv (default python3, must be >= 3.11)
#   IMGCACHE_INTEROP_MODES     transform modes to check (default "passthrough strip normalize typed")
#   IMGCACHE_INTEROP_FOLD      0: skip the identity probes against a proxy with underscore_headers = fold
#   IMGCACHE_INTEROP_TLS       0: skip the pass over https
#   IMGCACHE_INTEROP_GO        0: no Go (the gophercloud checks are skipped, nothing is installed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${IMGCACHE_INTEROP_VENV:-$REPO/target/interop/venv}
IMGCACHE_BIN=${IMGCACHE_BIN:-$REPO/target/release/imgcache}
WITHOUT_PROXY=${IMGCACHE_INTEROP_NO_PROXY:-0}
PYTHON=${IMGCACHE_INTEROP_PYTHON:-python3}
read -ra MODES <<< "${IMGCACHE_INTEROP_MODES:-passthrough strip normalize typed}"
FOLD=${IMGCACHE_INTEROP_FOLD:-1}
TLS=${IMGCACHE_INTEROP_TLS:-1}
GO=${IMGCACHE_INTEROP_GO:-1}
GOPHERCLOUD_SRC=/usr/share/gocode/src/github.com/gophercloud/gophercloud
PROXY_SCHEME=http  # https during the TLS pass

# Every request of this harness goes to loopback: never through an HTTP proxy
# that the environment may name for the package registries.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export NO_PROXY="$no_proxy"
# Glance (via uWSGI) and checks.py import modules from this directory; leave no __pycache__ in the repo.
export PYTHONDONTWRITEBYTECODE=1

WORK=""            # temp dir: Glance config, database, store, logs
GLANCE_PID=""      # uWSGI master
GLANCE_WORKERS=""  # its worker pids, killed by pid if the master does not stop cleanly
PROXY_PID=""

LOG_NAME=interop
# log, die, packages, venvs, ports, wait_http, stop_pid.
# shellcheck source=/dev/null
source "$HERE/lib.sh"

# --- installs ----------------------------------------------------------------

versions_line() {
    "$VENV/bin/python" - "$("$VENV/bin/uwsgi" --version)" "$@" <<'EOF'
import importlib.metadata as md, platform, sys
names = ["glance", "python-glanceclient", "openstacksdk", "python-openstackclient"]
parts = [f"{n} {md.version(n)}" for n in names]
parts += [f"uwsgi {sys.argv[1]}", f"python {platform.python_version()}"] + sys.argv[2:]
print("interop versions: " + ", ".join(parts))
EOF
}

# go_versions: Go's and Debian's gophercloud's versions, one a line (none without Go).
go_versions() {
    [[ $GO == 1 ]] && command -v go >/dev/null || return 0
    go version | awk '{print $3}'
    echo "gophercloud $(dpkg-query -W -f '${Version}' golang-github-gophercloud-gophercloud-dev 2>/dev/null || echo '?') (Debian)"
}

# ensure_go: Debian's Go and gophercloud, installed (as root) when missing.
ensure_go() {
    local missing=()
    command -v go >/dev/null || missing+=(golang-go)
    [[ -d $GOPHERCLOUD_SRC ]] || missing+=(golang-github-gophercloud-gophercloud-dev)
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "missing Debian packages ${missing[*]} (the gophercloud checks); install them (needs root) or set IMGCACHE_INTEROP_GO=0"
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed: Debian's package mirror is unreachable"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
}

# build_gophercloud_probe: gophercloud/main.go against Debian's gophercloud,
# offline: GOPATH mode (GO111MODULE=off) with /usr/share/gocode as GOPATH,
# GOPROXY=off, so nothing is fetched. Sets IMGCACHE_INTEROP_GOPHERCLOUD for
# checks.py; a failed build is a FAIL line (the wire-gophercloud-* checks
# then fail too, for want of the probe).
build_gophercloud_probe() {
    local out=$WORK/gophercloud-probe
    export IMGCACHE_INTEROP_GOPHERCLOUD=$out
    if (cd "$HERE/gophercloud" && GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
            GOCACHE="$WORK/gocache" go build -o "$out" .) >"$WORK/go-build.log" 2>&1; then
        log "gophercloud probe built ($(go_versions | paste -sd ' '))"
    else
        echo "FAIL [go] gophercloud-build: $(tail -n 5 "$WORK/go-build.log" | tr '\n' ' ')" | tee -a "$WORK/results.txt"
    fi
}

# --- processes ---------------------------------------------------------------

stop_proxy() {
    [[ -n $PROXY_PID ]] || return 0
    stop_pid "$PROXY_PID" || log "proxy $PROXY_PID ignored SIGTERM; killed"
    PROXY_PID=""
}

# uWSGI's master stops its workers on SIGTERM (--die-on-term); only if the
# master had to be killed are the workers it leaves behind killed by pid.
stop_glance() {
    [[ -n $GLANCE_PID ]] || return 0
    if ! stop_pid "$GLANCE_PID"; then
        local pid
        for pid in $GLANCE_WORKERS; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    GLANCE_PID=""
}

on_exit() {
    local rc=$?
    stop_proxy
    stop_glance
    if [[ -n $WORK ]]; then
        if ((rc == 0)); then rm -rf "$WORK"; else log "kept $WORK (Glance and proxy logs) for inspection"; fi
    fi
    if [[ -f $VENV/.interop-stamp ]]; then
        local extra=()
        mapfile -t extra < <(go_versions)
        versions_line "${extra[@]}" || true
    fi
    exit "$rc"
}

# --- Glance --------------------------------------------------------------------

# Glance config: sqlite, one `fs` backend (multi-store, as Glance 33 expects),
# the reserved staging and tasks stores, and a paste pipeline without
# keystone. Default policies (enforce_new_defaults) already let a project
# member create and update its images and the admin role publicize them.
write_glance_config() {
    local etc=$WORK/etc
    mkdir -p "$etc" "$WORK/images" "$WORK/staging" "$WORK/tasks"
    cat >"$etc/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = fs:file
# anonymous callers get 401 (this is Glance's default; stated for the reader)
allow_anonymous_access = false

[database]
connection = sqlite:///$WORK/glance.sqlite

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $WORK/images

[os_glance_staging_store]
filesystem_store_datadir = $WORK/staging

[os_glance_tasks_store]
filesystem_store_datadir = $WORK/tasks

[paste_deploy]
config_file = $etc/glance-api-paste.ini
flavor = interop
EOF
    # The `context` filter builds the request context from the trusted
    # X-Identity-Status / X-User-Id / X-Project-Id / X-Roles headers, as
    # behind keystonemiddleware. `tokenidentity` (identities.py) stands in for
    # keystonemiddleware itself, so token-only clients (CLI, SDK) work.
    # versionnegotiation makes /v2.N/ aliases of /v2/, as in Glance's stock pipeline.
    cat >"$etc/glance-api-paste.ini" <<'EOF'
[pipeline:glance-api-interop]
pipeline = versionnegotiation tokenidentity context rootapp

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:tokenidentity]
paste.filter_factory = identities:filter_factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
EOF
}

start_glance() {
    write_glance_config
    "$VENV/bin/glance-manage" --config-file "$WORK/etc/glance-api.conf" db_sync \
        >"$WORK/db_sync.log" 2>&1 || { tail -n 30 "$WORK/db_sync.log" >&2; die "glance-manage db_sync failed"; }
    # --lazy-apps: each worker loads Glance itself (Glance starts threads at
    #   load time, which would not survive uWSGI's fork).
    # --http-chunked-input: glanceclient uploads image data chunked, in 1 MiB
    #   parts, and uWSGI refuses parts of its --chunked-input-limit (1 MiB by
    #   default) or more ("unable to receive chunked part", a 500): raise it.
    # --buffer-size: real keystone tokens overflow uWSGI's 4 KiB header buffer.
    # --req-logger/--log-format: one "METHOD URI STATUS" line per request in
    #   requests.log, which checks.py counts to see what reached Glance.
    # --add-header: uWSGI's http-socket closes the connection after every
    #   response but does not say so; clients that keep connections alive
    #   (glanceclient's requests session) then reuse dead ones. devstack adds
    #   the same header to every uWSGI-served OpenStack API for this reason.
    OS_GLANCE_CONFIG_DIR=$WORK/etc "$VENV/bin/uwsgi" \
        --http-socket "127.0.0.1:$GLANCE_PORT" \
        --module glance.wsgi.api:application \
        --pythonpath "$HERE" \
        --master --processes 2 --threads 4 --lazy-apps \
        --need-app --die-on-term --no-orphans \
        --http-chunked-input --chunked-input-limit 8388608 --buffer-size 65535 --add-header 'Connection: close' \
        --req-logger "file:$WORK/requests.log" --log-format '%(method) %(uri) %(status)' \
        --logto "$WORK/glance.log" &
    GLANCE_PID=$!
    wait_http Glance "$GLANCE_PID" "http://127.0.0.1:$GLANCE_PORT/versions" "$WORK/glance.log"
    GLANCE_WORKERS=$(cat /proc/"$GLANCE_PID"/task/*/children 2>/dev/null || true)
    log "Glance (uWSGI master $GLANCE_PID) on 127.0.0.1:$GLANCE_PORT"
}

# --- proxy and checks ----------------------------------------------------------

# proxy_env [VAR=VALUE...]: the environment the proxy runs with. imgcache
# takes every IMGCACHE_* variable as config and rejects unknown ones, so
# this harness's own IMGCACHE_BIN / IMGCACHE_INTEROP_* are hidden from it.
proxy_env() {
    local var
    PROXY_ENV=()
    for var in $(compgen -e | grep -E '^IMGCACHE_(BIN$|INTEROP_)'); do PROXY_ENV+=(-u "$var"); done
    PROXY_ENV+=(NO_COLOR=1 "$@")
}

# start_proxy MODE [LABEL VAR=VALUE...]: the proxy in transform MODE, with
# extra config variables; its log is proxy-LABEL.log (LABEL defaults to MODE).
start_proxy() {
    local mode=$1 label=${2:-$1}
    shift $(($# > 1 ? 2 : 1))
    proxy_env IMGCACHE_TRANSFORM_MODE="$mode" "$@"
    # Started from the repo root, as a developer would run target/release/imgcache.
    (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" \
        --listen "127.0.0.1:$PROXY_PORT" \
        --upstream "http://127.0.0.1:$GLANCE_PORT" \
        --admin-listen "127.0.0.1:$ADMIN_PORT") >"$WORK/proxy-$label.log" 2>&1 &
    PROXY_PID=$!
    wait_http "imgcache ($label)" "$PROXY_PID" "$PROXY_SCHEME://127.0.0.1:$PROXY_PORT/versions" "$WORK/proxy-$label.log"
    log "imgcache ($label, pid $PROXY_PID) on 127.0.0.1:$PROXY_PORT"
}

# config_accepted VAR=VALUE...: whether the proxy takes this config (a
# binary without cache.underscore_headers rejects the variable with 64).
config_accepted() {
    proxy_env "$@"
    (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" --check-config \
        --listen "127.0.0.1:$PROXY_PORT" \
        --upstream "http://127.0.0.1:$GLANCE_PORT" \
        --admin-listen "127.0.0.1:$ADMIN_PORT") >"$WORK/check-config.log" 2>&1
}

# run_checks MODE PROXY_URL [checks.py run options]: one pass of checks.py;
# its PASS/FAIL/SKIP lines are also collected in results.txt for the totals.
# A pass takes under a minute (the identity probes: some 4,000 requests);
# the timeout bounds one whose proxy hangs on every request (each request
# would otherwise wait out its own 30 s timeout).
run_checks() {
    local mode=$1 proxy=$2
    shift 2
    timeout --kill-after=10 600 "$VENV/bin/python" "$HERE/checks.py" run --mode "$mode" "$@" \
        --direct "http://127.0.0.1:$GLANCE_PORT" --proxy "$proxy" \
        --state "$WORK/seed.json" --request-log "$WORK/requests.log" \
        | tee -a "$WORK/results.txt"
}

# The identity probes once more, against a proxy that folds `_` header names
# into their `-` spelling as WSGI does (cache.underscore_headers = "fold").
run_fold_probes() {
    local label=passthrough+fold var=IMGCACHE_CACHE_UNDERSCORE_HEADERS=fold rc=0
    if ! config_accepted "$var"; then
        echo "FAIL [$label] proxy-start: the proxy refuses $var: $(tail -n 3 "$WORK/check-config.log" | tr '\n' ' ')" \
            | tee -a "$WORK/results.txt"
        return 1
    fi
    start_proxy passthrough "$label" "$var"
    run_checks passthrough "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
        --underscores fold --label "$label" --only identity-probes-security,identity-probes-forwarding || rc=1
    if ((rc != 0)); then
        log "last lines of the proxy's log ($label):"
        tail -n 15 "$WORK/proxy-$label.log" | sed 's/^/    /'
    fi
    stop_proxy
    return "$rc"
}

# make_tls_files: a private CA and a certificate for 127.0.0.1 it signs
# (P-256, two days), in $WORK/tls; nothing of it outlives the run.
make_tls_files() {
    local dir=$WORK/tls
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=imgcache interop CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>"$dir/openssl.log" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>>"$dir/openssl.log" &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>>"$dir/openssl.log"
}

# The passthrough checks once more with the proxy on https (server.tls_*):
# glanceclient (--os-cacert), openstacksdk (cacert) and raw HTTP trust
# only the private CA; Glance behind it stays plain HTTP.
run_tls_pass() {
    local label=passthrough+tls dir=$WORK/tls rc=0
    if ! make_tls_files; then
        echo "FAIL [$label] tls-files: openssl could not make the certificates: $(tail -n 3 "$dir/openssl.log" | tr '\n' ' ')" \
            | tee -a "$WORK/results.txt"
        return 1
    fi
    export IMGCACHE_INTEROP_CA=$dir/ca.pem
    PROXY_SCHEME=https
    start_proxy passthrough "$label" \
        IMGCACHE_SERVER_TLS_CERT_FILE="$dir/server.pem" IMGCACHE_SERVER_TLS_KEY_FILE="$dir/server.key"
    run_checks passthrough "https://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
        --label "$label" || rc=1
    if ((rc != 0)); then
        log "last lines of the proxy's log ($label):"
        tail -n 15 "$WORK/proxy-$label.log" | sed 's/^/    /'
    fi
    stop_proxy
    PROXY_SCHEME=http
    unset IMGCACHE_INTEROP_CA
    return "$rc"
}

main() {
    local failed=0 mode ports passed fails skipped first_pass=""
    [[ $WITHOUT_PROXY == 1 || -x $IMGCACHE_BIN ]] \
        || die "no proxy binary at $IMGCACHE_BIN: build it (cargo build --release), set IMGCACHE_BIN, or set IMGCACHE_INTEROP_NO_PROXY=1"
    ensure_packages
    [[ $GO == 1 ]] && ensure_go
    ensure_venv "$VENV" "$HERE/requirements.txt" .interop-stamp glance
    trap on_exit EXIT
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-interop.XXXXXX")
    touch "$WORK/results.txt"
    "$VENV/bin/python" "$HERE/manifests.py" "$REPO/deploy/kubernetes" | tee -a "$WORK/results.txt" || failed=1
    if [[ $GO == 1 ]]; then
        build_gophercloud_probe
    else
        log "IMGCACHE_INTEROP_GO=0: the gophercloud checks are skipped"
    fi
    ports=$(free_ports 3)
    read -r GLANCE_PORT PROXY_PORT ADMIN_PORT <<<"$ports"
    start_glance
    "$VENV/bin/python" "$HERE/checks.py" seed \
        --direct "http://127.0.0.1:$GLANCE_PORT" --state "$WORK/seed.json"
    if [[ $WITHOUT_PROXY == 1 ]]; then
        log "IMGCACHE_INTEROP_NO_PROXY=1: PROXY is Glance itself; checks that need the cache are skipped"
        run_checks passthrough "http://127.0.0.1:$GLANCE_PORT" --no-proxy || failed=1
        "$VENV/bin/python" "$HERE/checks.py" header-names --label no-proxy | tee -a "$WORK/results.txt" || failed=1
    else
        first_pass=1
        for mode in "${MODES[@]}"; do
            start_proxy "$mode"
            if [[ $mode == "${MODES[0]}" ]]; then
                # Once: the proxy's identity headers against what the installed
                # keystonemiddleware, oslo.context and Glance read.
                "$VENV/bin/python" "$HERE/checks.py" header-names --admin "http://127.0.0.1:$ADMIN_PORT" \
                    | tee -a "$WORK/results.txt" || failed=1
            fi
            # The first pass also runs every client as README says to wire it (wire-* checks).
            if ! run_checks "$mode" "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
                    ${first_pass:+--clients}; then
                failed=1
                log "last lines of the proxy's log ($mode):"
                tail -n 15 "$WORK/proxy-$mode.log" | sed 's/^/    /'
            fi
            stop_proxy
            first_pass=""
        done
        if [[ $FOLD == 1 ]]; then
            run_fold_probes || failed=1
        fi
        if [[ $TLS == 1 ]]; then
            run_tls_pass || failed=1
        fi
    fi
    passed=$(grep -c '^PASS ' "$WORK/results.txt" || true)
    fails=$(grep -c '^FAIL ' "$WORK/results.txt" || true)
    skipped=$(grep -c '^SKIP ' "$WORK/results.txt" || true)
    echo "interop: $passed passed, $fails failed, $skipped skipped"
    ((failed == 0 && fails == 0))
}

main "$@"
