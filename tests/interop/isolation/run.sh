#!/usr/bin/env bash
# Isolation harness: one caller misbehaves through imgcache while another
# tenant reads its images through the same proxy; the reader must see no
# error and the proxy must stay ready (attacks.py says what each attack
# sends and what is checked). Each attack gets a fresh proxy, so that one
# attack's aftermath (an open circuit breaker) is not blamed on the next.
#
# Stacks, in order (both: Glance 33 under uWSGI with two file stores, as
# tests/interop/tempest/stack.sh sets it up):
#   plain     Glance without keystonemiddleware (tests/interop/identities.py
#             maps fixed tokens to identities, as tests/interop/run.sh); no
#             Keystone. The proxy with its default config.
#   keystone  a real Keystone and Glance behind keystonemiddleware, as
#             tests/interop/keystone/run.sh. The proxy with its default
#             config, and with [identity] (keystone_url = that Keystone,
#             validation_ttl 2 s) for garbage-tokens.
# The whole run takes some 3-5 minutes on 2 cores (most of it starting the
# services and the attacks' observation windows).
#
# Environment:
#   IMGCACHE_ISOLATION_STACKS   stacks to run (default "plain keystone")
#   IMGCACHE_ISOLATION_ATTACKS  attacks to run (default "anon-ff-5 anon-ff-500 size-min-500 unread-body
#                               garbage-tokens"; garbage-tokens runs on the keystone stack only)
#   IMGCACHE_KEYSTONE_VENV      Keystone venv, shared with keystone/run.sh (default <repo>/target/interop/keystone-venv)
#   IMGCACHE_INTEROP_VENV       Glance venv, shared with tests/interop/run.sh (default <repo>/target/interop/venv)
#   IMGCACHE_BIN                proxy binary (default <repo>/target/release/imgcache)
#   IMGCACHE_INTEROP_PYTHON     interpreter for the venvs (default python3, must be >= 3.11)
set -euo pipefail

STACK_LOG_NAME=isolation
# shellcheck source=/dev/null
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../tempest/stack.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -ra STACKS <<< "${IMGCACHE_ISOLATION_STACKS:-plain keystone}"
read -ra ATTACKS <<< "${IMGCACHE_ISOLATION_ATTACKS:-anon-ff-5 anon-ff-500 size-min-500 unread-body garbage-tokens}"
hide_own_env IMGCACHE_ISOLATION_

ROOT=""  # all stacks' work dirs; WORK is the current stack's

stop_stack() {
    stop_proxy
    stop_uwsgi "$GLANCE_PID" "$GLANCE_WORKERS"
    stop_uwsgi "$KS_PID" "$KS_WORKERS"
    GLANCE_PID="" KS_PID=""
}

isolation_on_exit() {
    local rc=$?
    stop_stack
    if [[ -n $ROOT ]]; then
        if ((rc == 0)); then rm -rf "$ROOT"; else log "kept $ROOT (per stack: Glance, Keystone and per-attack proxy logs)"; fi
    fi
    versions_line || true
    exit "$rc"
}

# run_attack STACK ATTACK: a fresh proxy (with [identity] for
# garbage-tokens), one attack, the proxy's log kept as proxy-ATTACK.log.
run_attack() {
    local stack=$1 attack=$2 share=none rc=0
    [[ $attack == garbage-tokens ]] && share=user
    start_proxy "$share" || return 1
    timeout --kill-after=10 300 "$KS_VENV/bin/python" "$HERE/attacks.py" run --attack "$attack" --stack "$stack" \
        --state "$WORK/seed.json" --proxy "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
        --glance-log "$WORK/glance-requests.log" --validation-ttl "$VALIDATION_TTL" \
        ${KS_PID:+--keystone-log "$WORK/keystone.log"} | tee -a "$ROOT/results.txt" || rc=1
    stop_proxy
    mv "$WORK/proxy-$share.log" "$WORK/proxy-$attack.log"
    return "$rc"
}

# run_stack STACK: the services of STACK in $ROOT/STACK, seeded, then every attack.
run_stack() {
    local stack=$1 attack failed=0
    WORK=$ROOT/$stack
    mkdir -p "$WORK"
    KS_URL="http://127.0.0.1:$KS_PORT/v3"
    case $stack in
        plain)
            GLANCE_FLAVOR=interop
            start_stack_glance
            log "(this Glance's pipeline is flavor interop: identities.py, no keystonemiddleware)"
            "$KS_VENV/bin/python" "$HERE/attacks.py" seed-plain --glance "http://127.0.0.1:$GLANCE_PORT" \
                --state "$WORK/seed.json" >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log" >&2; die "seeding Glance failed"; }
            ;;
        keystone)
            GLANCE_FLAVOR=keystone
            start_keystone
            start_stack_glance
            seed_keystone_and_glance
            ;;
        *) die "unknown stack $stack (IMGCACHE_ISOLATION_STACKS: plain, keystone)" ;;
    esac
    for attack in "${ATTACKS[@]}"; do
        if [[ $attack == garbage-tokens && $stack != keystone ]]; then
            continue  # needs Keystone: the proxy's [identity] validates against it
        fi
        run_attack "$stack" "$attack" || failed=1
    done
    stop_stack
    return "$failed"
}

main() {
    local ports stack failed=0 passed fails
    [[ -x $IMGCACHE_BIN ]] || die "no proxy binary at $IMGCACHE_BIN: build it (cargo build --release --bin imgcache) or set IMGCACHE_BIN"
    ensure_packages
    ensure_venv "$KS_VENV" "$INTEROP/keystone/requirements.txt" .keystone-stamp keystone
    ensure_venv "$GLANCE_VENV" "$INTEROP/requirements.txt" .interop-stamp glance
    trap isolation_on_exit EXIT
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-isolation.XXXXXX")
    touch "$ROOT/results.txt"
    ports=$(free_ports 4)
    read -r KS_PORT GLANCE_PORT PROXY_PORT ADMIN_PORT <<<"$ports"
    for stack in "${STACKS[@]}"; do
        run_stack "$stack" || failed=1
    done
    passed=$(grep -c '^PASS ' "$ROOT/results.txt" || true)
    fails=$(grep -c '^FAIL ' "$ROOT/results.txt" || true)
    echo "isolation: $passed passed, $fails failed"
    ((failed == 0 && fails == 0))
}

main "$@"
