#!/usr/bin/env bash
# Keystone interop harness: a real Keystone (uWSGI, sqlite, fernet tokens)
# and a real Glance 33 behind the real keystonemiddleware auth_token filter
# (paste flavor `keystone`), with imgcache in front of Glance and its
# [identity] section pointing at that Keystone. check.py (in this directory)
# first runs against Glance itself (--direct: proves the harness), then
# through the proxy (--proxy): new tokens of one user + project + roles share
# cache entries, another project's token never gets them, a revoked token
# stops hitting within validation_ttl, a garbage token gets 401.
#
# Environment:
#   IMGCACHE_KEYSTONE_VENV      Keystone venv to create or reuse (default <repo>/target/interop/keystone-venv)
#   IMGCACHE_INTEROP_VENV       Glance venv, shared with tests/interop/run.sh (default <repo>/target/interop/venv)
#   IMGCACHE_BIN                proxy binary (default <repo>/target/release/imgcache)
#   IMGCACHE_KEYSTONE_NO_PROXY  1: only the --direct checks (no proxy needed)
#   IMGCACHE_KEYSTONE_SHARE_PROJECT  0: skip the second proxy run with identity.share = "project"
#   IMGCACHE_INTEROP_PYTHON     interpreter for the venvs (default python3, must be >= 3.11)
#   IMGCACHE_KEYSTONE_BENCH     1: after seeding, bench.py instead of the checks (token churn through
#                               a proxy with and without [identity]; benches/load/principals.sh)
#   IMGCACHE_KEYSTONE_BENCH_OUT  file the benchmark's markdown table is also written to
#   IMGCACHE_KEYSTONE_BENCH_ARGS extra `bench.py prepare` arguments (e.g. "--runs 2 --fresh-token pair")
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEROP=$(cd "$HERE/.." && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
KS_VENV=${IMGCACHE_KEYSTONE_VENV:-$REPO/target/interop/keystone-venv}
GLANCE_VENV=${IMGCACHE_INTEROP_VENV:-$REPO/target/interop/venv}
IMGCACHE_BIN=${IMGCACHE_BIN:-$REPO/target/release/imgcache}
WITHOUT_PROXY=${IMGCACHE_KEYSTONE_NO_PROXY:-0}
SHARE_PROJECT=${IMGCACHE_KEYSTONE_SHARE_PROJECT:-1}
PYTHON=${IMGCACHE_INTEROP_PYTHON:-python3}
BENCH=${IMGCACHE_KEYSTONE_BENCH:-0}

ADMIN_PASSWORD=interop-admin-pw
GLANCE_PASSWORD=glance-pw   # check.py PASSWORDS["glance"]
VALIDATION_TTL=2            # seconds: [identity] validation_ttl of the proxy, and check.py's wait

export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export NO_PROXY="$no_proxy"
export PYTHONDONTWRITEBYTECODE=1

WORK=""
KS_PID="" KS_WORKERS=""
GLANCE_PID="" GLANCE_WORKERS=""
PROXY_PID=""

LOG_NAME=keystone-interop
# log, die, packages, venvs, ports, wait_http, stop_pid.
# shellcheck source=/dev/null
source "$INTEROP/lib.sh"

# --- installs ----------------------------------------------------------------

versions_line() {
    local ks glance
    ks=$("$KS_VENV/bin/python" -c 'import importlib.metadata as m; print("keystone", m.version("keystone"))' 2>/dev/null || true)
    glance=$("$GLANCE_VENV/bin/python" -c '
import importlib.metadata as m
print(", ".join(f"{n} {m.version(n)}" for n in ("glance", "keystonemiddleware")))' 2>/dev/null || true)
    log "versions: $ks, $glance, uwsgi $("$KS_VENV/bin/uwsgi" --version 2>/dev/null || true), $("$PYTHON" -V 2>&1)"
}

# --- processes ---------------------------------------------------------------

# stop_uwsgi MASTER WORKERS: the master stops its workers (--die-on-term);
# only if it had to be killed are its workers killed, by pid.
stop_uwsgi() {
    local master=$1 workers=$2 pid
    [[ -n $master ]] || return 0
    if ! stop_pid "$master"; then
        for pid in $workers; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
}

stop_proxy() {
    [[ -n $PROXY_PID ]] || return 0
    stop_pid "$PROXY_PID" || log "proxy $PROXY_PID ignored SIGTERM; killed"
    PROXY_PID=""
}

on_exit() {
    local rc=$?
    stop_proxy
    stop_uwsgi "$GLANCE_PID" "$GLANCE_WORKERS"
    stop_uwsgi "$KS_PID" "$KS_WORKERS"
    if [[ -n $WORK ]]; then
        if ((rc == 0)); then rm -rf "$WORK"; else log "kept $WORK (Keystone, Glance and proxy logs) for inspection"; fi
    fi
    versions_line || true
    exit "$rc"
}

# uwsgi_common: flags both services share (see tests/interop/run.sh):
# --lazy-apps (the apps start threads at load time), --buffer-size (real
# tokens overflow uWSGI's 4 KiB header buffer), Connection: close (uWSGI's
# http-socket closes after every response without saying so).
UWSGI_COMMON=(--master --lazy-apps --need-app --die-on-term --no-orphans
    --buffer-size 65535 --add-header 'Connection: close')

# --- Keystone ------------------------------------------------------------------

KS_URL=""  # the v3 root

start_keystone() {
    local etc=$WORK/keystone started=$SECONDS
    mkdir -p "$etc/fernet-keys" "$etc/credential-keys"
    chmod 700 "$etc/fernet-keys" "$etc/credential-keys"
    # bcrypt at 4 rounds: every check issues tokens by password, and the
    # default 12 rounds cost ~0.3 s of CPU per token on a small machine.
    cat >"$etc/keystone.conf" <<EOF
[DEFAULT]
debug = false

[database]
connection = sqlite:///$WORK/keystone.sqlite

[token]
provider = fernet
expiration = 3600

[fernet_tokens]
key_repository = $etc/fernet-keys

[fernet_receipts]
key_repository = $etc/fernet-keys

[credential]
key_repository = $etc/credential-keys

[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = 4
EOF
    local manage=("$KS_VENV/bin/keystone-manage" --config-file "$etc/keystone.conf")
    {
        "${manage[@]}" db_sync &&
        "${manage[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
        "${manage[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" &&
        "${manage[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
            --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
            --bootstrap-region-id RegionOne \
            --bootstrap-admin-url "$KS_URL" --bootstrap-internal-url "$KS_URL" --bootstrap-public-url "$KS_URL"
    } >"$WORK/keystone-manage.log" 2>&1 || { tail -n 30 "$WORK/keystone-manage.log" >&2; die "keystone-manage failed"; }
    log "keystone-manage db_sync, fernet_setup, credential_setup, bootstrap: $((SECONDS - started)) s"
    started=$SECONDS
    OS_KEYSTONE_CONFIG_DIR=$etc "$KS_VENV/bin/uwsgi" \
        --http-socket "127.0.0.1:$KS_PORT" \
        --module keystone.wsgi.api:application \
        --processes 2 --threads 2 "${UWSGI_COMMON[@]}" \
        --logto "$WORK/keystone.log" &
    KS_PID=$!
    wait_http Keystone "$KS_PID" "$KS_URL" "$WORK/keystone.log"
    KS_WORKERS=$(cat /proc/"$KS_PID"/task/*/children 2>/dev/null || true)
    log "Keystone (uWSGI master $KS_PID) at $KS_URL, answering after $((SECONDS - started)) s"
}

# --- Glance (behind keystonemiddleware) ------------------------------------------

# As tests/interop/run.sh's write_glance_config (sqlite, one `fs` backend,
# the reserved staging and tasks stores), but with Glance's stock `keystone`
# paste flavor: versionnegotiation, keystonemiddleware's auth_token filter
# (delay_auth_decision, as Glance ships it), the context filter, the API.
# token_cache_time = -1: keystonemiddleware would otherwise trust a token it
# validated for 300 s, and a revoked token would go on being served by
# Glance itself.
write_glance_config() {
    local etc=$WORK/glance-etc
    mkdir -p "$etc" "$WORK/images" "$WORK/staging" "$WORK/tasks"
    cat >"$etc/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = fs:file
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
flavor = keystone

[keystone_authtoken]
www_authenticate_uri = $KS_URL
auth_url = $KS_URL
auth_type = password
username = glance
password = $GLANCE_PASSWORD
user_domain_id = default
project_name = service
project_domain_id = default
token_cache_time = -1
http_connect_timeout = 5
http_request_max_retries = 1
EOF
    cat >"$etc/glance-api-paste.ini" <<'EOF'
[pipeline:glance-api-keystone]
pipeline = versionnegotiation authtoken context rootapp

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true

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
    local started=$SECONDS
    write_glance_config
    "$GLANCE_VENV/bin/glance-manage" --config-file "$WORK/glance-etc/glance-api.conf" db_sync \
        >"$WORK/glance-db_sync.log" 2>&1 || { tail -n 30 "$WORK/glance-db_sync.log" >&2; die "glance-manage db_sync failed"; }
    # --req-logger/--log-format: one "METHOD URI STATUS" line per request in
    # glance-requests.log, which check.py counts to see what reached Glance.
    OS_GLANCE_CONFIG_DIR=$WORK/glance-etc "$GLANCE_VENV/bin/uwsgi" \
        --http-socket "127.0.0.1:$GLANCE_PORT" \
        --module glance.wsgi.api:application \
        --processes 2 --threads 4 "${UWSGI_COMMON[@]}" \
        --req-logger "file:$WORK/glance-requests.log" --log-format '%(method) %(uri) %(status)' \
        --logto "$WORK/glance.log" &
    GLANCE_PID=$!
    wait_http Glance "$GLANCE_PID" "http://127.0.0.1:$GLANCE_PORT/versions" "$WORK/glance.log"
    GLANCE_WORKERS=$(cat /proc/"$GLANCE_PID"/task/*/children 2>/dev/null || true)
    log "Glance + keystonemiddleware (uWSGI master $GLANCE_PID) on 127.0.0.1:$GLANCE_PORT, answering after $((SECONDS - started)) s"
}

# --- proxy -------------------------------------------------------------------------

# write_proxy_config SHARE FILE; SHARE `none` (the benchmark's baseline):
# the same config without [identity].
write_proxy_config() {
    cat >"$2" <<EOF
[server]
listen = "127.0.0.1:$PROXY_PORT"

[upstream]
url = "http://127.0.0.1:$GLANCE_PORT"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"
EOF
    [[ $1 != none ]] || return 0
    cat >>"$2" <<EOF

[identity]
keystone_url = "$KS_URL"
validation_ttl = "${VALIDATION_TTL}s"
timeout = "2s"
share = "$1"
EOF
}

# The proxy takes every IMGCACHE_* variable as config and rejects unknown
# ones: this harness's own variables are hidden from it.
proxy_env() {
    local var
    PROXY_ENV=()
    for var in $(compgen -e | grep -E '^IMGCACHE_(BIN$|CONFIG$|INTEROP_|KEYSTONE_)'); do PROXY_ENV+=(-u "$var"); done
    PROXY_ENV+=(NO_COLOR=1)
}

# start_proxy SHARE: 0 when the proxy runs with share = SHARE; 1 (and a FAIL
# line) when it refuses that config.
start_proxy() {
    local share=$1 conf=$WORK/imgcache-$1.toml
    write_proxy_config "$share" "$conf"
    proxy_env
    if ! (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" --config "$conf" --check-config) \
            >"$WORK/check-config-$share.log" 2>&1; then
        echo "FAIL [proxy share=$share] proxy-start: imgcache --check-config refuses the [identity] config: $(tail -n 5 "$WORK/check-config-$share.log" | tr '\n' ' ')" \
            | tee -a "$WORK/results.txt"
        return 1
    fi
    (cd "$REPO" && exec env "${PROXY_ENV[@]}" "$IMGCACHE_BIN" --config "$conf") >"$WORK/proxy-$share.log" 2>&1 &
    PROXY_PID=$!
    wait_http "imgcache (share=$share)" "$PROXY_PID" "http://127.0.0.1:$PROXY_PORT/versions" "$WORK/proxy-$share.log"
    log "imgcache (share=$share, pid $PROXY_PID) on 127.0.0.1:$PROXY_PORT, admin 127.0.0.1:$ADMIN_PORT"
}

# run_checks ARGS...: one pass of check.py; its lines are collected in results.txt.
run_checks() {
    timeout --kill-after=10 600 "$KS_VENV/bin/python" "$HERE/check.py" run \
        --state "$WORK/seed.json" --request-log "$WORK/glance-requests.log" \
        --glance "http://127.0.0.1:$GLANCE_PORT" --validation-ttl "$VALIDATION_TTL" "$@" \
        | tee -a "$WORK/results.txt"
}

# The benchmark: images and tokens first, then the same workloads through
# the checks' proxy (share = "user") and through one without [identity].
run_bench() {
    local share label
    # shellcheck disable=SC2086  # the extra arguments are meant to be split
    "$KS_VENV/bin/python" "$HERE/bench.py" prepare --state "$WORK/seed.json" \
        --glance "http://127.0.0.1:$GLANCE_PORT" --out "$WORK/bench.json" ${IMGCACHE_KEYSTONE_BENCH_ARGS:-}
    for share in user none; do
        start_proxy "$share" || die "imgcache refused the benchmark config (share=$share)"
        if [[ $share == user ]]; then label="with [identity]"; else label="without [identity]"; fi
        "$KS_VENV/bin/python" "$HERE/bench.py" run --bench "$WORK/bench.json" --state "$WORK/seed.json" \
            --proxy "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
            --glance "http://127.0.0.1:$GLANCE_PORT" --request-log "$WORK/glance-requests.log" \
            --label "$label" --rows "$WORK/bench-rows.jsonl"
        stop_proxy
    done
    "$KS_VENV/bin/python" "$HERE/bench.py" table --bench "$WORK/bench.json" --rows "$WORK/bench-rows.jsonl" \
        --validation-ttl "$VALIDATION_TTL" ${IMGCACHE_KEYSTONE_BENCH_OUT:+--out "$IMGCACHE_KEYSTONE_BENCH_OUT"}
}

main() {
    local failed=0 ports passed fails skipped proxy_rc
    [[ $WITHOUT_PROXY == 1 || -x $IMGCACHE_BIN ]] \
        || die "no proxy binary at $IMGCACHE_BIN: build it (cargo build --release), set IMGCACHE_BIN, or set IMGCACHE_KEYSTONE_NO_PROXY=1"
    ensure_packages
    ensure_venv "$KS_VENV" "$HERE/requirements.txt" .keystone-stamp keystone
    ensure_venv "$GLANCE_VENV" "$INTEROP/requirements.txt" .interop-stamp glance
    trap on_exit EXIT
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-keystone.XXXXXX")
    touch "$WORK/results.txt"
    ports=$(free_ports 4)
    read -r KS_PORT GLANCE_PORT PROXY_PORT ADMIN_PORT <<<"$ports"
    KS_URL="http://127.0.0.1:$KS_PORT/v3"
    start_keystone
    start_glance
    "$KS_VENV/bin/python" "$HERE/check.py" seed --keystone "$KS_URL" \
        --glance "http://127.0.0.1:$GLANCE_PORT" --admin-password "$ADMIN_PASSWORD" --state "$WORK/seed.json" \
        >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log" >&2; die "seeding Keystone and Glance failed"; }
    log "seeded: users alice, carol (proj-a), bob (proj-b), glance (service); 4 private images of proj-a, 1 public"
    if [[ $BENCH == 1 ]]; then
        [[ -x $IMGCACHE_BIN ]] || die "the benchmark needs the proxy binary ($IMGCACHE_BIN)"
        run_bench
        return
    fi

    run_checks --direct --target "http://127.0.0.1:$GLANCE_PORT" || failed=1

    if [[ $WITHOUT_PROXY == 1 ]]; then
        log "IMGCACHE_KEYSTONE_NO_PROXY=1: the proxy checks are skipped"
    else
        if start_proxy user; then
            run_checks --proxy --target "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
                --share user --label "proxy share=user" || proxy_rc=1
            if [[ ${proxy_rc:-0} != 0 ]]; then
                failed=1
                log "last lines of the proxy's log (share=user):"
                tail -n 15 "$WORK/proxy-user.log" | sed 's/^/    /'
            fi
            stop_proxy
        else
            failed=1
        fi
        if [[ $SHARE_PROJECT == 1 ]]; then
            # A fresh proxy: carol (alice's project, same roles) fills nothing
            # alice did; then alice's first read fills, and carol's hits it.
            if start_proxy project; then
                run_checks --proxy --target "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$ADMIN_PORT" \
                    --share project --label "proxy share=project" \
                    --only new-tokens-share,same-project-other-user,other-project-404 || failed=1
                stop_proxy
            else
                failed=1
            fi
        fi
    fi
    passed=$(grep -c '^PASS ' "$WORK/results.txt" || true)
    fails=$(grep -c '^FAIL ' "$WORK/results.txt" || true)
    skipped=$(grep -c '^SKIP ' "$WORK/results.txt" || true)
    echo "keystone-interop: $passed passed, $fails failed, $skipped skipped"
    ((failed == 0 && fails == 0))
}

# Sourced (tests/interop/tempest/stack.sh reuses the functions above): no run.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
