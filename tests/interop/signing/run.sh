#!/usr/bin/env bash
# AK/SK signing harness: Huawei Cloud's own Python SDK (huaweicloudsdkims
# over huaweicloudsdkcore's Signer) against a fake IMS (upstream.py) that
# verifies every signature with that same Signer: first directly (which
# proves the fake IMS), then the proxy checks through reference_proxy.py, a
# small Python model of the intended behaviour (which proves the proxy
# checks), then the same checks through imgcache holding three of the four
# access keys (one each as sk_file, sk_env and inline sk). check.py says
# what is asserted. The golden vectors (tests/golden/signing/vectors.json)
# are also compared with what the pinned SDK signs (make_vectors.py --check).
#
# Environment:
#   IMGCACHE_SIGNING_VENV      venv to create or reuse (default <repo>/target/interop/signing-venv)
#   IMGCACHE_BIN               proxy binary (default <repo>/target/release/imgcache)
#   IMGCACHE_SIGNING_NO_PROXY  1: only the direct checks (no proxy binary needed)
#   IMGCACHE_SIGNING_PYTHON    interpreter for the venv (default python3, must be >= 3.9)
#   IMGCACHE_SIGNING_BENCH     1: bench.py instead of the checks (hit ratio and upstream GETs of the
#                              SDK through a proxy with and without the key; benches/load/principals.sh)
#   IMGCACHE_SIGNING_BENCH_OUT  file the benchmark's markdown table is also written to
#   IMGCACHE_SIGNING_BENCH_ARGS extra `bench.py run` arguments (e.g. "--runs 2" for a quick try)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
VENV=${IMGCACHE_SIGNING_VENV:-$REPO/target/interop/signing-venv}
IMGCACHE_BIN=${IMGCACHE_BIN:-$REPO/target/release/imgcache}
WITHOUT_PROXY=${IMGCACHE_SIGNING_NO_PROXY:-0}
PYTHON=${IMGCACHE_SIGNING_PYTHON:-python3}
BENCH=${IMGCACHE_SIGNING_BENCH:-0}
BENCH_IMAGES=50     # images upstream.py adds for the benchmark (bench.py --images)

# Every request of this harness goes to loopback: never through an HTTP proxy
# that the environment may name for the package registries.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export NO_PROXY="$no_proxy"
# The harness imports modules from this directory; leave no __pycache__ in the repo.
export PYTHONDONTWRITEBYTECODE=1

WORK=""          # temp dir: credentials, proxy config, logs
UPSTREAM_PID=""
PROXY_PID=""
UPSTREAM_ARGS=()  # the benchmark adds its images

LOG_NAME=signing
# log, die, packages, venvs, ports, wait_http, stop_pid.
# shellcheck source=/dev/null
source "$HERE/../lib.sh"

# --- venv ----------------------------------------------------------------------

versions_line() {
    "$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, platform
names = ["huaweicloudsdkcore", "huaweicloudsdkims", "requests", "urllib3"]
print("signing versions: " + ", ".join([f"{n} {md.version(n)}" for n in names] + [f"python {platform.python_version()}"]))
EOF
}

# --- processes -------------------------------------------------------------------

on_exit() {
    local rc=$?
    [[ -z $PROXY_PID ]] || stop_pid "$PROXY_PID" || log "proxy $PROXY_PID ignored SIGTERM; killed"
    [[ -z $UPSTREAM_PID ]] || stop_pid "$UPSTREAM_PID" || log "upstream $UPSTREAM_PID ignored SIGTERM; killed"
    if [[ -n $WORK ]]; then
        if ((rc == 0)); then rm -rf "$WORK"; else log "kept $WORK (upstream and proxy logs, config) for inspection"; fi
    fi
    [[ -f $VENV/.signing-stamp ]] && { versions_line || true; }
    exit "$rc"
}

# ports_of NAME PID FILE LOG KEY...: the values of KEYs in the JSON line that
# upstream.py and reference_proxy.py print once they listen (port 0 picks).
ports_of() {
    local name=$1 pid=$2 file=$3 logfile=$4 i line=""
    shift 4
    for ((i = 0; i < 300; i++)); do
        line=$(head -n 1 "$file")
        [[ -n $line ]] && break
        kill -0 "$pid" 2>/dev/null || { tail -n 40 "$logfile" >&2; die "$name exited at start (log above)"; }
        sleep 0.1
    done
    [[ -n $line ]] || die "$name printed no ports within 30 s"
    "$VENV/bin/python" -c 'import json, sys; d = json.loads(sys.argv[1]); print(*(d[k] for k in sys.argv[2:]))' \
        "$line" "$@"
}

start_upstream() {
    "$VENV/bin/python" "$HERE/fixtures.py" credentials-json >"$WORK/credentials.json"
    "$VENV/bin/python" "$HERE/upstream.py" --credentials "$WORK/credentials.json" "${UPSTREAM_ARGS[@]}" \
        >"$WORK/upstream.ports" 2>"$WORK/upstream.log" &
    UPSTREAM_PID=$!
    read -r UPSTREAM_PORT CONTROL_PORT \
        <<<"$(ports_of upstream.py "$UPSTREAM_PID" "$WORK/upstream.ports" "$WORK/upstream.log" api_port control_port)"
    log "fake IMS (pid $UPSTREAM_PID) on 127.0.0.1:$UPSTREAM_PORT, control on 127.0.0.1:$CONTROL_PORT"
}

# The proxy checks against reference_proxy.py, a small Python model of the
# intended behaviour with the same three keys: proves that check.py --proxy
# passes against a proxy that does the right thing.
run_reference() {
    local pid port admin rc=0
    "$VENV/bin/python" "$HERE/reference_proxy.py" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
        --credentials "$WORK/credentials.json" --only AK-PROJECT-A --only AK-PROJECT-B --only AK-PROJECT-A-INLINE \
        >"$WORK/reference.ports" 2>"$WORK/reference.log" &
    pid=$!
    read -r port admin <<<"$(ports_of reference_proxy.py "$pid" "$WORK/reference.ports" "$WORK/reference.log" port admin_port)"
    run_check --proxy "http://127.0.0.1:$port" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
        --control "http://127.0.0.1:$CONTROL_PORT" --admin "http://127.0.0.1:$admin" --label reference || rc=1
    stop_pid "$pid" || log "pid $pid ignored SIGTERM; killed"
    return "$rc"
}

# The proxy holds three of the four keys, one per way of giving a secret;
# AK-UPSTREAM-ONLY stays unknown to it. sk_env must name an IMGCACHE_*
# variable (imgcache reads no other part of the environment).
# write_proxy_config [unsigned]: `unsigned` (the benchmark's baseline) ends
# the config before [signing].
write_proxy_config() {
    local sk
    "$VENV/bin/python" "$HERE/fixtures.py" sk AK-PROJECT-A >"$WORK/sk-project-a"
    chmod 600 "$WORK/sk-project-a"
    sk=$("$VENV/bin/python" "$HERE/fixtures.py" sk AK-PROJECT-A-INLINE)
    cat >"$WORK/imgcache.toml" <<EOF
[server]
listen = "127.0.0.1:$PROXY_PORT"

[upstream]
url = "http://127.0.0.1:$UPSTREAM_PORT"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
EOF
    [[ ${1:-} != unsigned ]] || return 0
    cat >>"$WORK/imgcache.toml" <<EOF

[signing]
clock_skew = "15m"

[[signing.credentials]]
ak = "AK-PROJECT-A"
sk_file = "$WORK/sk-project-a"

[[signing.credentials]]
ak = "AK-PROJECT-B"
sk_env = "IMGCACHE_SK_PROJECT_B"

[[signing.credentials]]
ak = "AK-PROJECT-A-INLINE"
sk = "$sk"
EOF
}

# The proxy's environment: this harness's own IMGCACHE_* variables hidden
# (imgcache would reject them as unknown config), AK B's secret added.
proxy_env() {
    local var
    PROXY_ENV=()
    for var in $(compgen -e | grep -E '^IMGCACHE_(BIN$|SIGNING_|INTEROP_)' || true); do PROXY_ENV+=(-u "$var"); done
    PROXY_ENV+=(NO_COLOR=1 "IMGCACHE_SK_PROJECT_B=$("$VENV/bin/python" "$HERE/fixtures.py" sk AK-PROJECT-B)")
}

start_proxy() {
    proxy_env
    if ! (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" --config "$WORK/imgcache.toml" --check-config) \
            >"$WORK/check-config.log" 2>&1; then
        echo "FAIL proxy-config: imgcache --check-config refuses $WORK/imgcache.toml: $(tail -n 5 "$WORK/check-config.log" | tr '\n' ' ')" \
            | tee -a "$WORK/results.txt"
        return 1
    fi
    (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" --config "$WORK/imgcache.toml") >"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_http imgcache "$PROXY_PID" "http://127.0.0.1:$ADMIN_PORT/metrics" "$WORK/proxy.log"
    log "imgcache (pid $PROXY_PID) on 127.0.0.1:$PROXY_PORT, admin on 127.0.0.1:$ADMIN_PORT"
}

# run_check ARGS...: one check.py pass.
run_check() {
    timeout --kill-after=10 300 "$VENV/bin/python" "$HERE/check.py" "$@" | tee -a "$WORK/results.txt"
}

# The benchmark: one fake IMS (with BENCH_IMAGES more images), first a proxy
# holding the keys (the checks' config), then one without [signing]; a fresh
# proxy, so an empty cache, for each.
run_bench() {
    local rows=$WORK/bench-rows.jsonl kind label
    for kind in signed unsigned; do
        read -r PROXY_PORT ADMIN_PORT <<<"$(free_ports 2)"
        write_proxy_config "$kind"
        start_proxy || die "imgcache refused the $kind benchmark config (see above)"
        if [[ $kind == signed ]]; then label="with [signing] credentials"; else label="without [signing]"; fi
        # shellcheck disable=SC2086  # the extra arguments are meant to be split
        "$VENV/bin/python" "$HERE/bench.py" run --proxy "http://127.0.0.1:$PROXY_PORT" \
            --admin "http://127.0.0.1:$ADMIN_PORT" --control "http://127.0.0.1:$CONTROL_PORT" \
            --label "$label" --rows "$rows" --images "$BENCH_IMAGES" ${IMGCACHE_SIGNING_BENCH_ARGS:-}
        stop_pid "$PROXY_PID" || log "pid $PROXY_PID ignored SIGTERM; killed"
        PROXY_PID=""
    done
    "$VENV/bin/python" "$HERE/bench.py" table --rows "$rows" \
        ${IMGCACHE_SIGNING_BENCH_OUT:+--out "$IMGCACHE_SIGNING_BENCH_OUT"}
}

main() {
    local failed=0 passed fails out
    [[ $WITHOUT_PROXY == 1 || -x $IMGCACHE_BIN ]] \
        || die "no proxy binary at $IMGCACHE_BIN: build it (cargo build --release), set IMGCACHE_BIN, or set IMGCACHE_SIGNING_NO_PROXY=1"
    ensure_packages
    ensure_venv "$VENV" "$HERE/requirements.txt" .signing-stamp huaweicloudsdkcore 9
    trap on_exit EXIT
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-signing.XXXXXX")
    # Importing Huawei's SDK creates $HOME/.huaweicloud/application_id (an id
    # it sends in the signed User-Agent): keep that out of the user's home.
    mkdir -p "$WORK/home"
    export HOME="$WORK/home"
    touch "$WORK/results.txt"
    if [[ $BENCH == 1 ]]; then
        [[ -x $IMGCACHE_BIN ]] || die "the benchmark needs the proxy binary ($IMGCACHE_BIN)"
        UPSTREAM_ARGS=(--bench-images "$BENCH_IMAGES")
        start_upstream
        run_bench
        return
    fi
    start_upstream
    # The golden vectors must still be what the pinned SDK signs.
    if out=$("$VENV/bin/python" "$HERE/make_vectors.py" --check 2>&1); then
        echo "PASS golden-vectors: $out"
    else
        echo "FAIL golden-vectors: $out"
    fi | tee -a "$WORK/results.txt"
    run_check --direct "http://127.0.0.1:$UPSTREAM_PORT" --control "http://127.0.0.1:$CONTROL_PORT" \
        --label direct || failed=1
    ((failed)) || run_reference || failed=1
    if [[ $WITHOUT_PROXY == 1 ]]; then
        log "IMGCACHE_SIGNING_NO_PROXY=1: the proxy checks are skipped"
    elif ((failed)); then
        log "the direct or reference checks failed: the harness itself is broken, so imgcache's checks would prove nothing; skipped"
    else
        read -r PROXY_PORT ADMIN_PORT <<<"$(free_ports 2)"
        write_proxy_config
        if start_proxy; then
            run_check --proxy "http://127.0.0.1:$PROXY_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
                --control "http://127.0.0.1:$CONTROL_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
                --label imgcache || failed=1
            if ((failed)); then
                log "last lines of the proxy's log:"
                tail -n 15 "$WORK/proxy.log" | sed 's/^/    /'
                log "last signature failures at the fake IMS:"
                { grep -E 'signature check failed|expected canonical' "$WORK/upstream.log" || true; } | tail -n 6 | sed 's/^/    /'
            fi
        else
            failed=1
        fi
    fi
    passed=$(grep -c '^PASS ' "$WORK/results.txt" || true)
    fails=$(grep -c '^FAIL ' "$WORK/results.txt" || true)
    echo "signing: $passed passed, $fails failed"
    ((failed == 0 && fails == 0))
}

main "$@"
