#!/usr/bin/env bash
# Tempest transparency harness: OpenStack's own API tests for the image
# service (tempest.api.image.v2), run serially once against Glance itself
# and then through imgcache, which must not change which tests pass.
#
# The stack is keystone/run.sh's (loaded by stack.sh): a real Keystone and a
# real Glance 33 behind keystonemiddleware, under uWSGI, here with two file
# stores (the second one slow: a copy into it takes IMGCACHE_TEMPEST_SLOW_STORE
# seconds, as into a remote store) and the import methods glance-direct,
# web-download and copy-image.
# Keystone's catalog has one image service whose public endpoint is Glance
# and whose internal endpoint is the proxy (catalog.py); the runs differ
# only in tempest.conf's `[image] endpoint_type`. Tempest makes its own
# projects and users with the admin account (dynamic credentials).
#
# Runs: `direct` (endpoint_type = public), `proxy` (internal; the proxy
# without [identity]), `proxy+identity` (internal; the proxy with [identity]
# keystone_url = that Keystone, as keystone/run.sh writes it). results.py
# compares each proxy run's set of passed tests with the direct run's and
# prints the difference; any difference fails the harness. On 2 cores a
# run takes 2-4 minutes (71 tests pass directly; a test that waits on an
# answer the proxy keeps serving adds build_timeout), the whole harness
# 8-12 minutes with the installs done.
#
# Environment:
#   IMGCACHE_TEMPEST_VENV      Tempest venv to create or reuse (default <repo>/target/interop/tempest-venv)
#   IMGCACHE_KEYSTONE_VENV     Keystone venv, shared with keystone/run.sh (default <repo>/target/interop/keystone-venv)
#   IMGCACHE_INTEROP_VENV      Glance venv, shared with tests/interop/run.sh (default <repo>/target/interop/venv)
#   IMGCACHE_BIN               proxy binary (default <repo>/target/release/imgcache)
#   IMGCACHE_TEMPEST_RUNS      runs, in order, the first the baseline (default "direct proxy proxy+identity")
#   IMGCACHE_TEMPEST_REGEX     tests to run (default '^tempest\.api\.image\.v2')
#   IMGCACHE_TEMPEST_TIMEOUT   seconds one run may take before it is stopped (default 900)
#   IMGCACHE_TEMPEST_SLOW_STORE  seconds the second store (fs2) takes to store an image (default 3; 0: a
#                              plain file store, and whether an import is still running when Tempest first
#                              looks at the image is left to the machine's timing)
#   IMGCACHE_INTEROP_PYTHON    interpreter for the venvs (default python3, must be >= 3.11)
set -euo pipefail

STACK_LOG_NAME=tempest-interop
# shellcheck source=/dev/null
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack.sh"
HERE=$STACK_DIR
TEMPEST_VENV=${IMGCACHE_TEMPEST_VENV:-$REPO/target/interop/tempest-venv}
read -ra RUNS <<< "${IMGCACHE_TEMPEST_RUNS:-direct proxy proxy+identity}"
REGEX=${IMGCACHE_TEMPEST_REGEX:-'^tempest\.api\.image\.v2'}
RUN_TIMEOUT=${IMGCACHE_TEMPEST_TIMEOUT:-900}
FS2_SLOW_SECONDS=${IMGCACHE_TEMPEST_SLOW_STORE:-3}
# Read; the proxy must not see them (it takes every IMGCACHE_* variable as config).
hide_own_env IMGCACHE_TEMPEST_

tempest_version() {
    "$TEMPEST_VENV/bin/python" -c 'import importlib.metadata as m; print("tempest", m.version("tempest"))' 2>/dev/null || true
}

# write_tempest_config INTERFACE FILE DIR: dynamic credentials from
# Keystone's admin; glance only; the image endpoint of INTERFACE.
write_tempest_config() {
    cat >"$2" <<EOF
[DEFAULT]
log_file = $3/tempest.log
use_stderr = false
debug = true

[oslo_concurrency]
lock_path = $3/lock

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
tempest_roles = member

[identity]
uri_v3 = $KS_URL
auth_version = v3
region = RegionOne

[service_available]
glance = true
nova = false
neutron = false
cinder = false
swift = false
horizon = false

[image]
endpoint_type = $1
# Empty: the tests that download an image from the internet skip.
http_image =
# Long enough for any import here (the slow store's seconds and some);
# a test waiting on an answer the proxy keeps serving fails after this.
build_timeout = 30

[image-feature-enabled]
import_image = true
os_glance_reserved = true
# Glance is told not to inspect uploads (stack.sh), so the image list
# tests, which upload bytes that are no disk image, run.
image_format_enforcement = false
EOF
}

# run_tempest LABEL: one serial run; results in $WORK/tempest-LABEL/results.json.
run_tempest() {
    local label=$1 dir=$WORK/tempest-$1 interface=internal started=$SECONDS rc=0
    [[ $label == direct ]] && interface=public
    mkdir -p "$dir/lock"
    write_tempest_config "$interface" "$dir/tempest.conf" "$dir"
    log "tempest run [$label]: image endpoint_type = $interface, regex $REGEX"
    (cd "$dir" && exec timeout --kill-after=10 "$RUN_TIMEOUT" "$TEMPEST_VENV/bin/tempest" run \
        --config-file "$dir/tempest.conf" --serial --regex "$REGEX" --exclude-list "$HERE/exclude.txt") \
        >"$dir/run.log" 2>&1 || rc=$?
    ((rc != 124 && rc != 137)) || log "tempest run [$label] stopped after ${RUN_TIMEOUT} s"
    if ! (cd "$dir" && "$TEMPEST_VENV/bin/stestr" last --subunit >"$dir/results.subunit") 2>"$dir/stestr-last.log"; then
        tail -n 30 "$dir/run.log" >&2
        die "tempest run [$label] recorded no results (its output above: $dir/run.log)"
    fi
    log "tempest run [$label] in $((SECONDS - started)) s: $("$TEMPEST_VENV/bin/python" "$HERE/results.py" \
        collect "$dir/results.subunit" "$dir/results.json")"
}

# start_run_proxy LABEL: the proxy a run needs (none for direct).
start_run_proxy() {
    case $1 in
        direct) ;;
        proxy) start_proxy none ;;
        proxy+identity) start_proxy user ;;
        *) die "unknown run $1 (IMGCACHE_TEMPEST_RUNS: direct, proxy, proxy+identity)" ;;
    esac
}

main() {
    local ports label specs=() needs_proxy=0 rc=0
    [[ " ${RUNS[*]} " == *" proxy"* ]] && needs_proxy=1
    [[ $needs_proxy == 0 || -x $IMGCACHE_BIN ]] \
        || die "no proxy binary at $IMGCACHE_BIN: build it (cargo build --release --bin imgcache), set IMGCACHE_BIN, or set IMGCACHE_TEMPEST_RUNS=direct"
    ensure_packages
    ensure_venv "$KS_VENV" "$INTEROP/keystone/requirements.txt" .keystone-stamp keystone
    ensure_venv "$GLANCE_VENV" "$INTEROP/requirements.txt" .interop-stamp glance
    ensure_venv "$TEMPEST_VENV" "$HERE/requirements.txt" .tempest-stamp tempest
    trap on_exit EXIT
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-tempest.XXXXXX")
    ports=$(free_ports 4)
    read -r KS_PORT GLANCE_PORT PROXY_PORT ADMIN_PORT <<<"$ports"
    KS_URL="http://127.0.0.1:$KS_PORT/v3"
    start_keystone
    start_stack_glance
    load_glance_metadefs
    seed_keystone_and_glance
    "$KS_VENV/bin/python" "$HERE/catalog.py" --keystone "$KS_URL" --admin-password "$ADMIN_PASSWORD" \
        --public "http://127.0.0.1:$GLANCE_PORT" --internal "http://127.0.0.1:$PROXY_PORT" \
        || die "registering the image service in Keystone's catalog failed"
    for label in "${RUNS[@]}"; do
        start_run_proxy "$label"
        run_tempest "$label"
        stop_proxy
        specs+=("$label=$WORK/tempest-$label/results.json")
    done
    log "$(tempest_version); results and logs per run in $WORK/tempest-<run>/ (kept if this fails)"
    "$TEMPEST_VENV/bin/python" "$HERE/results.py" compare "${specs[@]}" || rc=1
    return "$rc"
}

main "$@"
