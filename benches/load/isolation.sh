#!/usr/bin/env bash
# Failure-isolation load benchmark (issue 20): 20 well-behaved principals
# read images through imgcache, with and without one attacker sending, at
# its best rate, the requests that take Glance-under-uWSGI connections
# down (attacker.lua: an undecodable path without credentials, GET and
# POST with unread bodies that poison the keep-alive, a new garbage token
# per read). Everything on 127.0.0.1, in front of the sample image service.
#
#   benches/load/isolation.sh [--rounds N] [--duration S] [--out FILE] [--diagnose]
#       # ~1.5 min with the defaults (3 rounds of 5 s); writes FILE
#       # (default benches/load/results/isolation.md) and the raw runs and
#       # every process's log under target/bench-isolation/
#   --diagnose: imgcache at IMGCACHE_LOG=info,imgcache::upstream=debug (its
#       access log and its retries, in target/bench-isolation/logs/) and the
#       tenants' wrk counting every non-2xx status (first bodies in
#       tenant-statuses.txt, their access-log lines in tenant-errors.txt):
#       slower, for finding out why a tenant got an error, not for the
#       table (default FILE then target/bench-isolation/isolation-diagnose.md)
#
# Tenants: wrk -t1 -c32 (tenants.lua: Zipf s=1 over the sample's generated
# ids 0..9,999, each request as one of 20 principals
# `tenantK:project-K:member`). Attacker: wrk -t1 -c8 (attacker.lua, ids
# 10,000..19,999, so logs tell them apart), started 0.5 s before the
# tenants and stopped 0.5 s after them. Rounds interleave: baseline
# (tenants alone), attack (tenants + attacker), baseline, attack, ...; the
# table shows medians. Before every run the cache is emptied and each
# principal's 500 most-read ids warmed. Binaries: $IMGCACHE_BIN and
# $IMGCACHE_SAMPLE_BIN (default: the workspace's target/release), copied at
# start. Every process started is stopped by pid on exit, Ctrl-C or failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)
TARGET_DIR=${TARGET_DIR:-$REPO/target}
IMGCACHE_BIN=${IMGCACHE_BIN:-$TARGET_DIR/release/imgcache}
IMGCACHE_SAMPLE_BIN=${IMGCACHE_SAMPLE_BIN:-$TARGET_DIR/release/imgcache-sample}

ROUNDS=3
DURATION=5
OUT=$HERE/results/isolation.md
RAW=$TARGET_DIR/bench-isolation
IMAGES=10000
ZIPF_S=1.0
PRINCIPALS=20
HOT=500             # each principal's most-read ids warmed before every run (69% of Zipf's draws)
WARM_SECONDS=4      # enough for the PRINCIPALS x HOT misses, checked
TENANT_THREADS=1; TENANT_CONNS=32     # the tenants' share of the 2 cores...
ATTACK_THREADS=1; ATTACK_CONNS=8      # ...and the attacker's
ATTACK_TOKEN="attacker:project-x:member"
TTL=5m
LOG_LEVEL=warn
DIAGNOSE=""         # --diagnose: "statuses", passed to tenants.lua
IDLE_WAIT=5         # seconds a run may wait for other processes' CPU use to drop...
IDLE_BUDGET=60      # ...and all runs together at most this long (as run.sh)
IDLE_SPENT=0

COMMAND_LINE="benches/load/isolation.sh$(printf ' %q' "$@")"
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --out) OUT=$2; OUT_GIVEN=1; shift 2 ;;
        --diagnose) DIAGNOSE=statuses; LOG_LEVEL=info,imgcache::upstream=debug; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "isolation.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ -z $DIAGNOSE || -n ${OUT_GIVEN:-} ]] || OUT=$RAW/isolation-diagnose.md
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "isolation.sh: --rounds and --duration take whole numbers >= 1" >&2; exit 64; }

STARTED_AT=$(date +%s)
log() { echo "[$(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in wrk curl python3; do command -v "$tool" >/dev/null || die "needs $tool (apt-get install $tool)"; done
[[ -x $IMGCACHE_BIN && -x $IMGCACHE_SAMPLE_BIN ]] \
    || die "build first: cargo build --release -p imgcache --bin imgcache -p glance-sample --bin imgcache-sample"

# ------------------------------------------------------------ processes
# Every pid started is remembered and stopped on exit (run.sh's stop_pid,
# shortened: TERM, up to 5 s, KILL; descendants of a wrk wrapper too).
PIDS=()
declare -A STOPPED=()
stop_pid() {
    local pid=$1 kids i
    [[ -n ${STOPPED[$pid]:-} ]] && return 0
    STOPPED[$pid]=1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kids=$(python3 "$HERE/procmem.py" --tree "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in $kids; do [[ $i == "$pid" ]] || kill -KILL "$i" 2>/dev/null || true; done
}
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
    if [[ -n ${WORK:-} && -d $WORK ]]; then
        mkdir -p "$RAW/logs"
        cp "$WORK"/*.log "$RAW/logs/" 2>/dev/null || true
        rm -rf "$WORK"
    fi
    log "done in $(($(date +%s) - STARTED_AT)) s (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
image_id() { printf '00000000-0000-4000-8000-%012x' "$1"; }

start_sample() {
    local line="" i
    # Ids 0..IMAGES-1 for the tenants, IMAGES..2*IMAGES-1 for the attacker.
    "$BIN/imgcache-sample" --listen 127.0.0.1:0 --images $((2 * IMAGES)) >"$WORK/sample.log" 2>&1 &
    PIDS+=($!); SAMPLE_PID=$!
    for i in $(seq 300); do
        line=$(head -1 "$WORK/sample.log" 2>/dev/null || true)
        [[ $line == "listening on "* ]] && break
        kill -0 "$SAMPLE_PID" 2>/dev/null || die "the sample exited: $(cat "$WORK/sample.log")"
        sleep 0.1
    done
    SAMPLE_URL=${line#listening on }
    [[ $SAMPLE_URL == http://127.0.0.1:* ]] || die "the sample did not print its address: $line"
}

# Defaults plus the issue's overrides, run in its own dir so that no
# config/imgcache.toml is picked up.
start_imgcache() {
    local i
    PORT=$(free_port); ADMIN_PORT=$(free_port)
    (cd "$WORK" && exec env IMGCACHE_LOG=$LOG_LEVEL IMGCACHE_CACHE_TTL=$TTL "$BIN/imgcache" \
        --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --upstream "$SAMPLE_URL") \
        >"$WORK/imgcache.log" 2>&1 &
    PIDS+=($!); IMGCACHE_PID=$!
    for i in $(seq 200); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz" || true) == 200 ]] && return 0
        kill -0 "$IMGCACHE_PID" 2>/dev/null || die "imgcache exited: $(tail -20 "$WORK/imgcache.log")"
        sleep 0.1
    done
    die "imgcache not ready within 20 s"
}

# ------------------------------------------------------------ probes
metrics() { curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics"; }
# The counters the report quotes, as JSON: {"name{labels}": value}.
isolation_metrics() {
    metrics | python3 -c '
import json, re, sys
want = ("imgcache_circuit_breaker_state", "imgcache_upstream_retries_total", "imgcache_upstream_requests_total")
out = {}
for line in sys.stdin:
    m = re.match(r"(\w+)(\{[^}]*\})? (\S+)$", line.strip())
    if m and m.group(1) in want:
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
print(json.dumps(out))'
}
# imgcache's upstream requests so far, every status class.
upstream_total() {
    metrics | awk '/^imgcache_upstream_requests_total[{ ]/ { n += $NF } END { printf "%d\n", n }'
}
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz" || true; }
# The sample's request total and uWSGI drops (not its per-path counts).
sample_stats() {
    curl -sf "$SAMPLE_URL/_sample/stats" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"total": d["total"], "dropped": d["dropped"]}))'
}
# busy and total jiffies of the whole machine, from /proc/stat.
machine_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }

# status URL-PATH CURL-ARGS...: what imgcache answers one request.
status() {
    local path=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --path-as-is -m 10 "$@" "http://127.0.0.1:$PORT$path" || true
}

# What each of the attacker's requests gets through imgcache, once each
# (before the warm-up, which also clears any connection they poisoned).
probe_attack() {
    local id body='{"padding": "x"}'
    id=$(image_id $((IMAGES + 7)))   # the attacker's range
    ATTACK_ANSWERS=$(printf '%s; ' \
        "GET /v2/images/%ff, no token: $(status /v2/images/%ff)" \
        "GET /v2/images/{id} with a body: $(status "/v2/images/$id" -H "X-Auth-Token: $ATTACK_TOKEN" -H 'Content-Type: application/json' -X GET --data-binary "$body")" \
        "POST /v2/no-such-path with a body: $(status /v2/no-such-path -H "X-Auth-Token: $ATTACK_TOKEN" -H 'Content-Type: application/json' --data-binary "$body")" \
        "GET /v2/images/{id}, garbage token: $(status "/v2/images/$id" -H "X-Auth-Token: garbage-$RANDOM$RANDOM")")
    ATTACK_ANSWERS=${ATTACK_ANSWERS%; }
    log "the attacker's requests through imgcache answer: $ATTACK_ANSWERS"
    local tenant
    tenant=$(status "/v2/images/$(image_id 0)" -H "X-Auth-Token: tenant1:project-1:member")
    [[ $tenant == 200 ]] || die "a tenant's read answered $tenant, not 200"
}

# ------------------------------------------------------------ runs
# run_wrk NAME LUA THREADS CONNS SECONDS ARGS...: one wrk run in the
# background (pid appended to PIDS); its output in $WORK/NAME.out, its CPU
# time (user sys, from the wrapper shell's `times`) in $WORK/NAME.times.
run_wrk() {
    local name=$1 lua=$2 threads=$3 conns=$4 secs=$5
    shift 5
    (
        wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s -s "$HERE/$lua" \
            "http://127.0.0.1:$PORT" -- "$@" >"$WORK/$name.out" 2>&1 || echo "wrk exit $?" >>"$WORK/$name.out"
        times >"$WORK/$name.times"   # 2nd line: its children's (wrk's) user and system time
    ) &
    PIDS+=($!)
    LAST_PID=$!
}
tenants() { run_wrk "$1" tenants.lua "$TENANT_THREADS" "$TENANT_CONNS" "$2" zipf "$IMAGES" "$ZIPF_S" "$PRINCIPALS" $DIAGNOSE; }

# Every run starts from the same cache: emptied (admin `DELETE /cache`),
# then each principal's HOT most-read ids read once. Without this each run
# would meet fewer of the Zipf tail's misses than the one before (the TTL
# is 5 min), and attack runs, always second in a round, would read a
# warmer cache than their baselines.
reset_cache() {
    local walked
    curl -sf -X DELETE "http://127.0.0.1:$ADMIN_PORT/cache" >/dev/null || die "DELETE /cache failed"
    run_wrk warm tenants.lua "$TENANT_THREADS" "$TENANT_CONNS" "$WARM_SECONDS" \
        warm "$IMAGES" "$HOT" "$PRINCIPALS" "$TENANT_THREADS"
    wait "$LAST_PID" || true
    STOPPED[$LAST_PID]=1
    walked=$(sed -n 's/^@@RESULT .*"warm_walked": \([0-9]*\).*/\1/p' "$WORK/warm.out")
    [[ ${walked:-0} -ge $((PRINCIPALS * HOT)) ]] \
        || die "warming walked ${walked:-0} of $((PRINCIPALS * HOT)) (principal, id) pairs in ${WARM_SECONDS}s: raise WARM_SECONDS"
}

# measure ROUND KIND(baseline|attack): one tenants run, with the attacker
# running around it for an attack; appends one line to runs.jsonl.
measure() {
    local round=$1 kind=$2 attacker_pid="" tenants_pid cpu0 cpu1 m0 m1 u0 u1 mid_state="" mid_ready=""
    local busy waited=0
    # Something else busy on this shared machine (a build) skews the run:
    # wait a little for it to calm down, else the run is marked busy.
    busy=$(python3 "$HERE/procmem.py" --cpu-busy 0.5)
    while ((waited < IDLE_WAIT && IDLE_SPENT < IDLE_BUDGET)) && awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }'; do
        busy=$(python3 "$HERE/procmem.py" --cpu-busy 1)
        waited=$((waited + 1)); IDLE_SPENT=$((IDLE_SPENT + 1))
    done
    if [[ $kind == attack ]]; then
        run_wrk attacker attacker.lua "$ATTACK_THREADS" "$ATTACK_CONNS" $((DURATION + 1)) "$IMAGES" "$IMAGES" "$ATTACK_TOKEN"
        attacker_pid=$LAST_PID
        sleep 0.5
    fi
    read -r cpu0 < <(python3 "$HERE/procmem.py" --cpu "$IMGCACHE_PID" "$SAMPLE_PID" | tr ' ' ,)
    m0=$(machine_jiffies | tr ' ' ,)
    u0=$(upstream_total)
    tenants tenants "$DURATION"
    tenants_pid=$LAST_PID
    # Mid-run: is the breaker closed and the proxy ready while attacked?
    sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
    mid_state=$(isolation_metrics | python3 -c 'import json,sys; print(int(json.load(sys.stdin).get("imgcache_circuit_breaker_state", -1)))' || echo -1)
    mid_ready=$(readyz)
    wait "$tenants_pid" || true
    STOPPED[$tenants_pid]=1
    m1=$(machine_jiffies | tr ' ' ,)
    u1=$(upstream_total)
    read -r cpu1 < <(python3 "$HERE/procmem.py" --cpu "$IMGCACHE_PID" "$SAMPLE_PID" | tr ' ' ,)
    if [[ -n $attacker_pid ]]; then
        wait "$attacker_pid" || true
        STOPPED[$attacker_pid]=1
    fi
    python3 - "$round" "$kind" "$cpu0" "$cpu1" "$m0" "$m1" "$mid_state" "$mid_ready" "$(getconf CLK_TCK)" \
        "$WORK" "$RAW/runs.jsonl" "$((u1 - u0))" "$busy" <<'EOF'
import json, sys
round_, kind, cpu0, cpu1, m0, m1, mid_state, mid_ready, hz, work, runs, upstream, busy = sys.argv[1:]
hz = int(hz)
def result(name):
    text = open(f"{work}/{name}.out").read()
    lines = [l for l in text.splitlines() if l.startswith("@@RESULT ")]
    if not lines:
        sys.exit(f"no result from wrk ({name}): {text}")
    r = json.loads(lines[0].split(" ", 1)[1])
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs
    r["socket_errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    # `times`: "XmY.YYYs XmY.YYYs" (user, system) of the wrapper's children: wrk.
    def seconds(t):
        m, s = t.rstrip("s").split("m")
        return int(m) * 60 + float(s)
    user, system = open(f"{work}/{name}.times").read().splitlines()[1].split()
    r["cpu_s"] = seconds(user) + seconds(system)
    r["cpu_share"] = r["cpu_s"] / secs
    return r
t = result("tenants")
(i0, s0), (i1, s1) = ([float(v) for v in c.split(",")] for c in (cpu0, cpu1))
(b0, a0), (b1, a1) = ([int(v) for v in m.split(",")] for m in (m0, m1))
wall = t["duration_us"] / 1e6
run = {
    "round": int(round_), "kind": kind, "tenants": t,
    "imgcache_cpu_share": (i1 - i0) / wall, "sample_cpu_share": (s1 - s0) / wall,
    # The machine's busy share over the same window, in cores.
    "machine_busy_cores": (b1 - b0) / hz / wall,
    "cores": (a1 - a0) / hz / wall,
    "mid_breaker_state": int(mid_state), "mid_readyz": mid_ready,
    # imgcache's upstream requests over the tenants' run (an attack run's
    # include the attacker's).
    "upstream_requests": int(upstream),
    # Share of the machine busy just before the run (nothing of ours running).
    "busy_before": float(busy),
}
if kind == "attack":
    run["attacker"] = result("attacker")
with open(runs, "a") as f:
    f.write(json.dumps(run) + "\n")
errors = t["err_status"] + t["socket_errors"]
line = (f"  round {round_} {kind:8} tenants {t['rps']:>8,.0f} req/s  p50 {t['p50_us'] / 1000:.2f}"
        f"  p99 {t['p99_us'] / 1000:.2f} ms  errors {errors} (status>=400 {t['err_status']}, socket {t['socket_errors']})")
if t.get("statuses"):
    line += f" non-2xx {t['statuses']}"
if kind == "attack":
    a = run["attacker"]
    line += f"  | attacker {a['rps']:,.0f} req/s, {a['err_status']} status>=400, {a['socket_errors']} socket errors"
line += f"  | breaker mid-run {mid_state}, /readyz {mid_ready}  | machine {float(busy):.0%} busy before"
print(line, file=sys.stderr)
EOF
    if [[ -n $DIAGNOSE ]]; then
        sed -n "s/^@@STATUS /round $round $kind: /p" "$WORK/tenants.out" >>"$RAW/tenant-statuses.txt"
    fi
    rm -f "$WORK"/tenants.out "$WORK"/attacker.out "$WORK"/*.times
}

# ------------------------------------------------------------ main
mkdir -p "$RAW" "$(dirname "$OUT")"
rm -rf "$RAW/logs" "$RAW/runs.jsonl" "$RAW/meta.json" "$RAW/tenant-statuses.txt" "$RAW/tenant-errors.txt"
WORK=$(mktemp -d "$([[ -w /dev/shm ]] && echo /dev/shm || echo /tmp)/imgcache-isolation.XXXXXX")
# The binaries as they are now: a rebuild during the run changes nothing.
BIN=$WORK/bin
mkdir -p "$BIN"
cp "$IMGCACHE_BIN" "$BIN/imgcache"
cp "$IMGCACHE_SAMPLE_BIN" "$BIN/imgcache-sample"
BUILT_FROM="$IMGCACHE_BIN ($(date -u -r "$IMGCACHE_BIN" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$IMGCACHE_BIN" | cut -c1-12))"
REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$REPO" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null | head -1) ]] || REV="$REV + uncommitted changes"
ulimit -n 65536 2>/dev/null || true
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

start_sample
start_imgcache
log "sample $SAMPLE_URL (pid $SAMPLE_PID), imgcache 127.0.0.1:$PORT admin :$ADMIN_PORT (pid $IMGCACHE_PID)"
probe_attack
# One unmeasured tenants run first: the first baseline is then not also
# imgcache's first load (connection pools, allocator).
log "warm-up: tenants for ${DURATION}s"
tenants warmup "$DURATION"
wait "$LAST_PID" || true
STOPPED[$LAST_PID]=1
grep -h '^@@RESULT' "$WORK/warmup.out" | sed 's/^@@RESULT /warm-up /' >"$RAW/warmup.txt" || true
sleep 1
METRICS_BEFORE=$(isolation_metrics)
SAMPLE_BEFORE=$(sample_stats)
for round in $(seq "$ROUNDS"); do
    for kind in baseline attack; do
        reset_cache
        sleep 1   # let the warm-up's sockets and CPU settle
        measure "$round" "$kind"
    done
done
sleep 1
METRICS_AFTER=$(isolation_metrics)
READY_AFTER=$(curl -s "http://127.0.0.1:$ADMIN_PORT/readyz" || true)
READY_CODE=$(readyz)
SAMPLE_AFTER=$(sample_stats)
printf '%s\n' "$METRICS_AFTER" >"$RAW/metrics-after.json"
# --diagnose: imgcache's access-log lines of the tenants' failed requests
# (their ids are below IMAGES), and how many dead pooled connections it
# retried (debug lines of imgcache::upstream).
if [[ -n $DIAGNOSE ]]; then
    python3 - "$WORK/imgcache.log" "$IMAGES" >"$RAW/tenant-errors.txt" <<'EOF'
import re, sys
images, errors, retried = int(sys.argv[2]), [], 0
for line in open(sys.argv[1], errors="replace"):
    if "pooled upstream connection was dead" in line:
        retried += 1
    m = re.search(r'path="/v2/images/[0-9a-f-]{24}([0-9a-f]{12})" status=(\d+)', line)
    # status=0: the client left before the answer (wrk stopping), no error.
    if m and int(m.group(1), 16) < images and not 200 <= int(m.group(2)) < 300 and m.group(2) != "0":
        errors.append(line.rstrip())
print(f"{len(errors)} tenant requests answered non-2xx; {retried} dead pooled connections retried")
print("\n".join(errors))
EOF
    log "tenants' failures in imgcache's access log: $RAW/tenant-errors.txt ($(head -1 "$RAW/tenant-errors.txt"))"
fi

cat >"$RAW/meta.json" <<EOF
{"command": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$COMMAND_LINE"),
 "started": "$STARTED", "rev": "$REV", "binary": "$BUILT_FROM",
 "machine": "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')",
 "load_at_start": "$LOAD_AT_START", "load_at_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "rounds": $ROUNDS, "duration": $DURATION, "images": $IMAGES, "zipf_s": $ZIPF_S,
 "principals": $PRINCIPALS, "hot": $HOT, "tenant_threads": $TENANT_THREADS, "tenant_conns": $TENANT_CONNS,
 "attack_threads": $ATTACK_THREADS, "attack_conns": $ATTACK_CONNS,
 "attack_answers": "$ATTACK_ANSWERS", "diagnose": $([[ -n $DIAGNOSE ]] && echo true || echo false),
 "metrics_before": $METRICS_BEFORE, "metrics_after": $METRICS_AFTER,
 "readyz_after": {"code": "$READY_CODE", "body": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$READY_AFTER")},
 "sample_before": $SAMPLE_BEFORE, "sample_after": $SAMPLE_AFTER}
EOF
python3 "$HERE/isolation_report.py" "$RAW/runs.jsonl" "$RAW/meta.json" "$OUT"
log "wrote $OUT (raw runs and logs: $RAW)"
