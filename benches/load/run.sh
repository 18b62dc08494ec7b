#!/usr/bin/env bash
# Side-by-side load benchmark: imgcache vs nginx proxy_cache, Varnish and
# HAProxy's cache, plus a "ceiling" (nginx answering from memory), all in
# front of the sample image service, on 127.0.0.1 only. See README.md.
#
#   benches/load/run.sh [--quick] [--rss-100k] [--out DIR] [--rounds N]
#                       [--duration SECONDS] [--proxies "imgcache nginx ..."]
#                       [--workloads "uniform zipf mixed"]
#                       [--phases load,cold,file|none] [--idle-wait SECONDS]
#                       [--perf] [--generator wrk|h2load|both]
#
# --generator: the load generator of the load phase. wrk (the default)
# drives workload.lua; h2load (Debian's nghttp2-client, which this
# benchmark did not write) reads a URI file per workload built from the
# same ids (h2load.py); both: every run twice, wrk then h2load, each
# recorded in runs.jsonl with its "generator", and the report shows them
# side by side.
#
# Binaries: $IMGCACHE_BIN and $IMGCACHE_SAMPLE_BIN (default: imgcache and
# imgcache-sample in the workspace's target/release, whichever package
# builds them; $IMGCACHE_REV names the revision of a given IMGCACHE_BIN).
# They are copied once at start, so a rebuild during the run does not
# change what later rounds measure.
# Every process this script starts is stopped by pid when it exits (also on
# failure or Ctrl-C); their logs are copied to OUT/logs/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# The workspace's target directory (CARGO_TARGET_DIR, a workspace moved
# elsewhere...) as cargo itself reports it; <repo>/target without cargo.
cargo_metadata() { (cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null); }
TARGET_DIR=$(cargo_metadata | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)
TARGET_DIR=${TARGET_DIR:-$REPO/target}
# A binary given by $IMGCACHE_BIN may come from another tree: its revision
# is then only known from $IMGCACHE_REV (results.md says which).
if [ -n "${IMGCACHE_BIN:-}" ]; then
    REV_NOTE=${IMGCACHE_REV:+$IMGCACHE_REV (IMGCACHE_REV)}
    REV_NOTE=${REV_NOTE:-unknown: binary given by IMGCACHE_BIN}
fi
IMGCACHE_BIN=${IMGCACHE_BIN:-$TARGET_DIR/release/imgcache}
IMGCACHE_SAMPLE_BIN=${IMGCACHE_SAMPLE_BIN:-$TARGET_DIR/release/imgcache-sample}

# ------------------------------------------------------------ settings
MODE=full
# Several short rounds rather than a few long ones: on a shared, noisy
# machine a median over 4 interleaved rounds is steadier than one over 3.
ROUNDS=4            # full load rounds; every proxy runs once per workload per round
DURATION=6          # seconds per wrk run
CONNS=64            # wrk connections
THREADS=2           # wrk threads: one per core
COLD_REPS=3         # cold-herd measurements per proxy
COLD_CLIENTS=200
COLD_LATENCY_MS=200
FILE_REPS=3         # 1 GiB downloads per proxy
FILE_SIZE=$((1 << 30))
FILE_ID=00000000-0000-4000-9000-000000000001   # the 1 GiB image run.sh creates
PROXIES="imgcache nginx varnish haproxy ceiling"
WORKLOADS="uniform zipf mixed"
PHASES="load,cold,file"
RSS_100K=0
PERF=0              # --perf: perf profile of imgcache during its first uniform run
GENERATOR=wrk       # --generator wrk|h2load|both
H2LOAD_LINES=131072 # lines (requests) of each h2load URI file; every client walks it in order
OUT=$REPO/target/bench-load
IMAGES=10000        # the images the hit workloads read (warmed): ids 0..IMAGES-1
HOT=1000            # the uniform (and mixed) workload's hot set: ids 0..HOT-1
ZIPF_S=1.0          # Zipf exponent of the second workload, over all IMAGES ids
# Mixed workload: every MISS_EVERY-th request (per wrk thread) reads an id
# never read before, from MISS_BASE.. (the sample generates those too; no
# warm-up or other workload reads them). 0x4000: the ceiling tells a miss
# id from a hit id by its hex digits (conf/nginx-ceiling.conf.tmpl).
# MISS_IDS is set from the run length below: enough fresh ids for 250k
# req/s, so a miss stays a miss for the whole run (caches restart empty
# every round, so each round can use the same ids again).
MISS_EVERY=50       # 2% misses
MISS_BASE=16384
MISS_IDS=""
# Worker processes / threads of every proxy: one per core, as each one's
# docs advise for throughput (imgcache's default runtime does the same).
WORKERS=$(nproc)
TOKEN="bench:project-a:member"
OTHER_TOKEN="other:project-b:member"            # a second caller (key check)
TTL=5m
TTL_SECONDS=300
IDLE_WAIT=5         # seconds a run may wait for other processes' CPU use to drop...
IDLE_BUDGET=60      # ...and all runs together at most this long (keeps the run bounded)
IDLE_SPENT=0

usage() {
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

# As typed (for results.md), before the options are consumed.
COMMAND_LINE="benches/load/run.sh$(printf ' %q' "$@")"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) MODE=quick; ROUNDS=1; DURATION=4; COLD_REPS=1; FILE_REPS=1; IDLE_WAIT=0; IDLE_BUDGET=0 ;;
        --idle-wait) IDLE_WAIT=$2; shift ;;
        --rss-100k) RSS_100K=1 ;;
        --perf) PERF=1 ;;
        --out) OUT=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --proxies) PROXIES=$2; shift ;;
        --workloads) WORKLOADS=$2; shift ;;
        --phases) PHASES=$2; shift ;;
        --generator) GENERATOR=$2; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage 64 ;;
    esac
    shift
done
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac
for w in $WORKLOADS; do
    case "$w" in uniform|zipf|mixed) ;; *) echo "run.sh: unknown workload $w" >&2; exit 64 ;; esac
done
# 2% of 250k req/s for DURATION s, at least 20,000 ids.
MISS_IDS=$((DURATION * 250000 / MISS_EVERY))
[ "$MISS_IDS" -ge 20000 ] || MISS_IDS=20000
case "$GENERATOR" in
    wrk) GENERATORS="wrk" ;;
    h2load) GENERATORS="h2load" ;;
    both) GENERATORS="wrk h2load" ;;
    *) echo "run.sh: unknown generator $GENERATOR (wrk, h2load or both)" >&2; exit 64 ;;
esac
# h2load's mixed file: one fresh id every MISS_EVERY lines, each used once,
# from H2LOAD_MISS_BASE on: after wrk's MISS_IDS, so that with --generator
# both an h2load run's "misses" are not ids wrk's mixed run of the same
# round has just cached (they are >= 0x4000 too: the ceiling passes them
# through).
H2LOAD_MISS_BASE=$((MISS_BASE + MISS_IDS))
H2LOAD_MISS_IDS=$((H2LOAD_LINES / MISS_EVERY))
[ "$IMAGES" -le "$MISS_BASE" ] || { echo "run.sh: IMAGES ($IMAGES) must not exceed MISS_BASE ($MISS_BASE)" >&2; exit 64; }

# ------------------------------------------------------------ helpers
STARTED_AT=$(date +%s)
log() { echo "[$(date +%T)] $*" >&2; }
warn() { log "WARNING: $*"; echo "$*" >>"$OUT/warnings.txt"; }
die() { log "ERROR: $*"; exit 1; }
has_phase() { case ",$PHASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
is_proxy() { case " $PROXIES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# The caching proxies among those selected (the ceiling is not a cache).
caches() { local p; for p in $PROXIES; do [ "$p" = ceiling ] || echo "$p"; done; }
image_id() { printf '00000000-0000-4000-8000-%012x' "$1"; }
# is_busy SHARE: more than a quarter of the machine's CPU in use.
is_busy() { awk -v b="$1" 'BEGIN { exit !(b > 0.25) }'; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d'"$1"')'; }

# Installs nginx, varnish, haproxy, wrk (and h2load if used) when missing (root: apt-get;
# otherwise say how).
ensure_tools() {
    local missing=() tool pkg
    export PATH=$PATH:/usr/sbin:/sbin
    # command:package; varnishd compiles its VCL with the C compiler.
    local tools="nginx:nginx varnishd:varnish haproxy:haproxy wrk:wrk curl:curl python3:python3 cc:gcc"
    case " $GENERATORS " in *" h2load "*) tools+=" h2load:nghttp2-client" ;; esac
    for tool in $tools; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]} with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # Debian starts the packaged services; this benchmark runs its own.
        for pkg in nginx varnish haproxy; do
            case " ${missing[*]} " in *" $pkg "*) systemctl disable --now "$pkg" >/dev/null 2>&1 || true ;; esac
        done
    else
        die "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}"
    fi
}

# The cargo command that builds both binaries, wherever they live in the
# workspace (imgcache-sample moved from the imgcache package to its own
# crate): `-p PACKAGE --bin NAME` per binary, from cargo metadata.
build_hint() {
    local args
    args=$(cargo_metadata | python3 -c '
import json, sys
d = json.load(sys.stdin)
found = {}
for p in d["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"] and t["name"] in ("imgcache", "imgcache-sample"):
            found[t["name"]] = p["name"]
print(" ".join(f"-p {found[b]} --bin {b}" for b in ("imgcache", "imgcache-sample") if b in found))
' 2>/dev/null || true)
    echo "cargo build --release ${args:---bin imgcache --bin imgcache-sample}"
}

# A free TCP port on 127.0.0.1 (the kernel's choice; bound and released).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- processes: every pid started is remembered and stopped on exit.
declare -a PIDS=()
declare -A PID_OF=() PORT_OF=() STOPPED=()

# start_bg NAME DIR CMD...: runs CMD in DIR, output appended to DIR/NAME.log.
start_bg() {
    local name=$1 dir=$2
    shift 2
    (cd "$dir" && exec "$@") >>"$dir/$name.log" 2>&1 &
    PIDS+=("$!")
    PID_OF[$name]=$!
}

# Stops one started process and its descendants (nginx/Varnish workers):
# TERM, up to 5 s, then KILL. Only pids this script started (or their
# children) are ever signalled.
stop_pid() {
    local pid=$1 kids i
    # Never signal a pid twice: once stopped it may belong to someone else.
    [ -n "${STOPPED[$pid]:-}" ] && return 0
    STOPPED[$pid]=1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kids=$(python3 "$HERE/procmem.py" --tree "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in $kids; do
        [ "$i" = "$pid" ] || kill -KILL "$i" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [ ${#PIDS[@]} -gt 0 ]; then
        log "stopping ${#PIDS[@]} started process(es)"
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
            stop_pid "${PIDS[$i]}"
        done
    fi
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        mkdir -p "$OUT/logs"
        for i in "$WORK"/*/*.log; do
            [ -f "$i" ] && cp "$i" "$OUT/logs/$(basename "$(dirname "$i")")-$(basename "$i")" 2>/dev/null || true
        done
        rm -rf "$WORK"
    fi
    [ -n "${NGINX_CACHE_DIR:-}" ] && rm -rf "$NGINX_CACHE_DIR"
    [ -n "${BIN_COPY:-}" ] && rm -rf "$BIN_COPY"
    log "done in $(($(date +%s) - STARTED_AT)) s (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http NAME URL: until URL answers at all (any status), at most 20 s.
wait_http() {
    local name=$1 url=$2 i
    for i in $(seq 200); do
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            tail -20 "$WORK/$name/$name.log" >&2 || true
            die "$name exited during start-up"
        fi
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" != 000 ] && return 0
        sleep 0.1
    done
    die "$name did not answer on $url within 20 s"
}

# render TEMPLATE OUT KEY=VALUE...: replaces @KEY@ in TEMPLATE.
render() {
    local tmpl=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$tmpl" >"$out"
}

# ------------------------------------------------------------ upstream
sample_stats() { curl -sf "$SAMPLE_URL/_sample/stats"; }
sample_reset() { curl -sf -X POST "$SAMPLE_URL/_sample/reset" >/dev/null; }
# The sample's request counter, without a Python start: stats is
# {"total": N, ...}.
sample_total() {
    local stats
    stats=$(sample_stats)
    [[ $stats =~ \"total\":\ *([0-9]+) ]] || die "no total in the sample's stats: $stats"
    echo "${BASH_REMATCH[1]}"
}
sample_latency() { curl -sf -X POST "$SAMPLE_URL/_sample/latency?ms=$1" >/dev/null; }

# start_sample NAME IMAGES: the sample image service; sets SAMPLE_URL.
start_sample() {
    local name=$1 images=$2 i line=""
    mkdir -p "$WORK/$name"
    start_bg "$name" "$WORK/$name" "$IMGCACHE_SAMPLE_BIN" --listen 127.0.0.1:0 --images "$images"
    for i in $(seq 300); do
        line=$(head -1 "$WORK/$name/$name.log" 2>/dev/null || true)
        case "$line" in "listening on "*) break ;; esac
        kill -0 "${PID_OF[$name]}" 2>/dev/null || die "$name exited: $(cat "$WORK/$name/$name.log")"
        sleep 0.1
    done
    SAMPLE_URL=${line#listening on }
    case "$SAMPLE_URL" in http://127.0.0.1:*) ;; *) die "$name did not print its address: $line" ;; esac
    PORT_OF[$name]=${SAMPLE_URL##*:}
    log "$name: $SAMPLE_URL ($images generated images), pid ${PID_OF[$name]}"
}

# ------------------------------------------------------------ proxies
# Each proxy gets its own temp dir and port; all point at the sample.
NGINX_USER_LINE=""
[ "$(id -u)" = 0 ] && NGINX_USER_LINE="user root root;"   # workers must write the cache dir

# start_imgcache NAME [LOG]: imgcache with its log filter at LOG (warn:
# no access lines, as every peer runs with its access log off; info: the
# default as shipped, one access line per request, to its log file).
start_imgcache() {
    local name=${1:-imgcache} level=${2:-warn} dir port admin
    dir=$WORK/$name; mkdir -p "$dir"
    # A restarted proxy keeps its ports.
    port=${PORT_OF[$name]:-$(free_port)}; admin=${PORT_OF[$name-admin]:-$(free_port)}
    # Run in its own dir, so no config/imgcache.toml is picked up: defaults
    # plus the env overrides the issue asks for (TTL 5m, log level).
    start_bg "$name" "$dir" env IMGCACHE_LOG="$level" IMGCACHE_CACHE_TTL=$TTL \
        "$IMGCACHE_BIN" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --upstream "$SAMPLE_URL"
    PORT_OF[$name]=$port
    PORT_OF[$name-admin]=$admin
    wait_http "$name" "http://127.0.0.1:$port/"
}

start_nginx() {
    local dir=$WORK/nginx port cache
    mkdir -p "$dir"
    port=${PORT_OF[nginx]:-$(free_port)}
    # tmpfs for the cache files when there is one (see the template). A
    # restart starts with an empty cache, as the other proxies do.
    if [ -z "${NGINX_CACHE_DIR:-}" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then NGINX_CACHE_DIR=$(mktemp -d /dev/shm/imgcache-bench-nginx.XXXXXX); else NGINX_CACHE_DIR=$dir/cache; fi
    fi
    cache=$NGINX_CACHE_DIR
    rm -rf "${cache:?}"/*
    render "$HERE/conf/nginx-cache.conf.tmpl" "$dir/nginx.conf" \
        "USER_LINE=$NGINX_USER_LINE" "WORKERS=$WORKERS" "DIR=$dir" "CACHE_DIR=$cache" "PORT=$port" \
        "UPSTREAM_PORT=${PORT_OF[sample]}" "TTL_SECONDS=$TTL_SECONDS"
    nginx -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" || die "nginx config invalid"
    start_bg nginx "$dir" nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf"
    PORT_OF[nginx]=$port
    wait_http nginx "http://127.0.0.1:$port/"
}

start_ceiling() {
    local dir=$WORK/ceiling port
    mkdir -p "$dir"
    port=$(free_port)
    # The body of a real image-details response, answered from memory.
    curl -sf -H "X-Auth-Token: $TOKEN" "$SAMPLE_URL/v2/images/$(image_id 0)" -o "$dir/body.json"
    python3 - "$dir/body.json" "$dir/body.conf" <<'EOF'
import sys
body = open(sys.argv[1]).read()
assert "$" not in body, "nginx would read $ in the body as a variable"
escaped = body.replace("\\", "\\\\").replace("'", "\\'")
open(sys.argv[2], "w").write(f"return 200 '{escaped}';\n")
EOF
    render "$HERE/conf/nginx-ceiling.conf.tmpl" "$dir/nginx.conf" \
        "USER_LINE=$NGINX_USER_LINE" "WORKERS=$WORKERS" "DIR=$dir" "PORT=$port" \
        "UPSTREAM_PORT=${PORT_OF[sample]}"
    nginx -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" || die "ceiling nginx config invalid"
    start_bg ceiling "$dir" nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf"
    PORT_OF[ceiling]=$port
    wait_http ceiling "http://127.0.0.1:$port/"
    cmp -s "$dir/body.json" <(curl -s "http://127.0.0.1:$port/v2/images/$(image_id 1)") \
        || warn "ceiling body differs from the sample's"
    # The mixed workload's miss ids pass through to the sample (nothing
    # stored): the last one, which a run only reaches if it wraps.
    local id n
    id=$(image_id $((MISS_BASE + MISS_IDS - 1)))
    sample_reset
    cmp -s <(curl -s -H "X-Auth-Token: $TOKEN" "http://127.0.0.1:$port/v2/images/$id") \
        <(curl -s -H "X-Auth-Token: $TOKEN" "$SAMPLE_URL/v2/images/$id") \
        || warn "ceiling: a miss id's body differs from the sample's"
    n=$(sample_total)
    [ "$n" = 2 ] || warn "ceiling: a miss id made $((n - 1)) upstream request(s) through the ceiling (want 1)"
}

start_varnish() {
    local dir=$WORK/varnish port
    mkdir -p "$dir"
    port=${PORT_OF[varnish]:-$(free_port)}
    render "$HERE/conf/varnish.vcl.tmpl" "$dir/default.vcl" \
        "UPSTREAM_PORT=${PORT_OF[sample]}" "TTL_SECONDS=$TTL_SECONDS"
    # -F: foreground (run.sh owns the manager's pid); -j none: no jail user,
    # so the temp dir works as is; -T none: no management port; one thread
    # pool per core (Varnish's default is 2: the same here) and malloc
    # storage large enough for every entry. Varnish logs every request to
    # its shared-memory log (VSL) whatever the settings; nothing reads it
    # here (no varnishncsa), so no access log is written.
    start_bg varnish "$dir" varnishd -F -j none -T none -n "$dir/vsm" \
        -a "127.0.0.1:$port" -f "$dir/default.vcl" -s malloc,512m \
        -p thread_pools="$WORKERS"
    PORT_OF[varnish]=$port
    wait_http varnish "http://127.0.0.1:$port/"
}

start_haproxy() {
    local dir=$WORK/haproxy port
    mkdir -p "$dir"
    port=${PORT_OF[haproxy]:-$(free_port)}
    render "$HERE/conf/haproxy.cfg.tmpl" "$dir/haproxy.cfg" \
        "WORKERS=$WORKERS" "PORT=$port" "UPSTREAM_PORT=${PORT_OF[sample]}" "TTL_SECONDS=$TTL_SECONDS"
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy config invalid"
    start_bg haproxy "$dir" haproxy -db -f "$dir/haproxy.cfg"
    PORT_OF[haproxy]=$port
    wait_http haproxy "http://127.0.0.1:$port/"
}

proxy_url() { echo "http://127.0.0.1:${PORT_OF[$1]}"; }
mem_of() { python3 "$HERE/procmem.py" "${PID_OF[$1]}"; }
# cpu_of NAME...: the CPU seconds each started process tree has used.
cpu_of() {
    local name pids=()
    for name in "$@"; do pids+=("${PID_OF[$name]}"); done
    python3 "$HERE/procmem.py" --cpu "${pids[@]}"
}

# The cache-status header of the second of two identical reads.
cache_header() {
    local url=$1 token=$2
    curl -s -o /dev/null -H "X-Auth-Token: $token" "$url" || true
    curl -s -o /dev/null -D - -H "X-Auth-Token: $token" "$url" \
        | tr -d '\r' | grep -i -E '^(cache-status|x-cache-status):' | head -1 || true
}

# Checks that a proxy caches, per token, and returns the upstream's bytes:
# the 2nd read says "hit"; a second caller's read of the same image goes
# upstream (1 request); the body equals the sample's.
verify_proxy() {
    local p=$1 id url header n
    id=$(image_id 1)
    url="$(proxy_url "$p")/v2/images/$id"
    header=$(cache_header "$url" "$TOKEN")
    log "$p: second read -> ${header:-<no cache-status header>}"
    [[ "${header,,}" == *hit* ]] || warn "$p: the second read of one image was not a cache hit ($header)"
    sample_reset
    curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" "$url"
    curl -s -o /dev/null -H "X-Auth-Token: $OTHER_TOKEN" "$url"
    n=$(sample_total)
    [ "$n" = 1 ] || warn "$p: cached read + another token's read made $n upstream requests (want 1: keyed per token)"
    cmp -s <(curl -s -H "X-Auth-Token: $TOKEN" "$url") <(curl -s -H "X-Auth-Token: $TOKEN" "$SAMPLE_URL/v2/images/$id") \
        || warn "$p: the cached body differs from the sample's"
}

start_proxy() {
    case "$1" in
        imgcache) start_imgcache imgcache ;;
        imgcache-log) start_imgcache imgcache-log info ;;
        nginx) start_nginx ;;
        varnish) start_varnish ;;
        haproxy) start_haproxy ;;
        ceiling) start_ceiling ;;
        *) die "unknown proxy $1" ;;
    esac
}

start_all() {
    # The hit workloads' ids, then the mixed workload's fresh ones (wrk's,
    # then h2load's).
    start_sample sample $((MISS_BASE + MISS_IDS + H2LOAD_MISS_IDS))
    local p
    for p in $PROXIES; do
        start_proxy "$p"
        log "$p: $(proxy_url "$p"), pid ${PID_OF[$p]}"
    done
    for p in $(caches); do verify_proxy "$p"; done
}

# Every cache restarted empty (same port): each round fills its entries
# anew, so none of them reaches the 5 m TTL during the round (re-reading
# a cached entry does not make it younger), and RSS is measured with the
# same 10,000 entries every round.
restart_caches() {
    local p
    for p in $(caches); do
        stop_pid "${PID_OF[$p]}"
        start_proxy "$p"
    done
}

# ------------------------------------------------------------ phases
# warm ROUND PROXY: fills a cache with every image the hit workloads read
# (ids 0..IMAGES-1, not the mixed workload's fresh ones), so their runs
# are cache hits. Every read of the warm-up is a miss: the proxy's CPU time
# over it per read is its CPU cost of a miss at warm.py's pace (8 connections, far from
# saturating); a second pass over the same ids, all hits, gives a hit's cost
# at that same pace, so the difference is what a miss adds. Both go to
# warm.jsonl; steadier than any difference of two loaded runs. The second
# pass also checks that every entry was stored (no upstream request).
warm() {
    local round=$1 p=$2 result again c0 c1 c2 upstream
    c0=$(cpu_of "$p")
    result=$(python3 "$HERE/warm.py" --url "$(proxy_url "$p")" --count "$IMAGES" --token "$TOKEN" --conns 8) \
        || warn "$p: warm-up had non-200 answers: $result"
    c1=$(cpu_of "$p")
    sample_reset
    again=$(python3 "$HERE/warm.py" --url "$(proxy_url "$p")" --count "$IMAGES" --token "$TOKEN" --conns 8) \
        || warn "$p: re-reading the warmed ids had non-200 answers: $again"
    c2=$(cpu_of "$p")
    upstream=$(sample_total)
    [ "$upstream" -le 10 ] || warn "$p: re-reading the $IMAGES warmed ids made $upstream upstream requests: not all stored?"
    log "  warmed $p: $result"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
c0, c1, c2 = (float(v) for v in sys.argv[4:7])
n = max(r["requests"], 1)
r.update(proxy=sys.argv[2], round=int(sys.argv[3]), cpu_us_per_miss=(c1 - c0) * 1e6 / n,
         cpu_us_per_slow_hit=(c2 - c1) * 1e6 / n, reread_upstream=int(sys.argv[7]))
print(json.dumps(r))' "$result" "$p" "$round" "$c0" "$c1" "$c2" "$upstream" >>"$OUT/warm.jsonl"
}

# imgcache's hit-path counters from its /metrics, as JSON:
# {"responses": fresh hits answered on the hit path, "exchanges": requests
# hyper answered on a connection the hit path then took back, "handoffs":
# connections handed to hyper for good}. {} when they cannot be read (a
# build with other names): the checks below then say so and skip.
hit_path_counters() {
    curl -sf "http://127.0.0.1:${PORT_OF[imgcache-admin]}/metrics" 2>/dev/null | python3 -c '
import json, re, sys
out = {}
for line in sys.stdin:
    m = re.match(r"imgcache_hit_path_(responses|exchanges|handoffs)(?:_total)? (\d+(?:\.\d+)?)$", line.strip())
    if m:
        out[m.group(1)] = int(float(m.group(2)))
print(json.dumps(out))' || echo '{}'
}

# run_h2load WORKLOAD PROXY: one h2load run against PROXY, its output in
# $WORK/h2load.out. Started in the background and remembered in PIDS, so
# that an interrupted run stops it by pid as everything else.
run_h2load() {
    local workload=$1 p=$2 pid rc=0
    h2load --h1 -c "$CONNS" -t "$THREADS" -D "$DURATION" -i "$WORK/h2load/uris-$workload.txt" \
        -B "$(proxy_url "$p")" -H "X-Auth-Token: $TOKEN" >"$WORK/h2load.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    STOPPED[$pid]=1
    [ "$rc" = 0 ] || { cat "$WORK/h2load.out" >&2; die "h2load failed against $p (exit $rc)"; }
}

# make_uri_files: h2load's URI file per workload (h2load.py), once.
make_uri_files() {
    local fresh
    mkdir -p "$WORK/h2load"
    fresh=$(python3 "$HERE/h2load.py" uris "$WORK/h2load" --hot "$HOT" --images "$IMAGES" \
        --zipf-s "$ZIPF_S" --every "$MISS_EVERY" --miss-base "$H2LOAD_MISS_BASE" --lines "$H2LOAD_LINES")
    [ "$fresh" = "$H2LOAD_MISS_IDS" ] || die "h2load.py wrote $fresh fresh ids, want $H2LOAD_MISS_IDS"
    log "h2load URI files: $H2LOAD_LINES lines per workload, mixed with $fresh fresh ids from $H2LOAD_MISS_BASE"
}

# measure ROUND WORKLOAD PROXY [GENERATOR]: one wrk (default) or h2load
# run; appends a line to runs.jsonl.
measure() {
    local round=$1 workload=$2 p=$3 gen=${4:-wrk} args out result upstream mem busy cpu_before
    local sample_cpu_before sample_cpu_after hp_before='{}' hp_after='{}'
    # Warnings name h2load's runs; wrk's read as they always have.
    local tag=""
    [ "$gen" = wrk ] || tag=" ($gen)"
    case "$workload" in
        uniform) args=(uniform "$HOT" "$TOKEN") ;;
        zipf) args=(zipf "$IMAGES" "$ZIPF_S" "$TOKEN") ;;
        mixed) args=(mixed "$HOT" "$TOKEN" "$MISS_BASE" "$MISS_IDS" "$THREADS" "$MISS_EVERY") ;;
    esac
    # Something else busy on this shared machine (a build, say) skews the
    # run: wait up to IDLE_WAIT s for it to calm down, else note it.
    local waited=0
    busy=$(python3 "$HERE/procmem.py" --cpu-busy 0.5)
    while [ "$waited" -lt "$IDLE_WAIT" ] && [ "$IDLE_SPENT" -lt "$IDLE_BUDGET" ] && is_busy "$busy"; do
        busy=$(python3 "$HERE/procmem.py" --cpu-busy 1)
        waited=$((waited + 1))
        IDLE_SPENT=$((IDLE_SPENT + 1))
    done
    if is_busy "$busy"; then
        warn "machine busy before $p $workload round $round$tag: $(awk -v b="$busy" 'BEGIN { printf "%d", b * 100 + 0.5 }')% CPU used by other processes"
    fi
    sample_reset
    if [ "$p" = imgcache ]; then hp_before=$(hit_path_counters); fi
    read -r cpu_before sample_cpu_before < <(cpu_of "$p" sample)
    local perf_pid=""
    if [ "$PERF" = 1 ] && [ "$gen" = wrk ] && [ "$p" = imgcache ] && [ "$workload" = uniform ] && [ "$round" = 1 ]; then
        # Sampled flat profile (release builds keep symbols, not frame pointers).
        perf record -q -F 499 -p "${PID_OF[imgcache]}" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
    fi
    if [ "$gen" = h2load ]; then
        run_h2load "$workload" "$p"
        result=$(python3 "$HERE/h2load.py" parse "$WORK/h2load.out") || die "cannot read h2load's output"
    else
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$HERE/workload.lua" \
            "$(proxy_url "$p")" -- "${args[@]}" 2>&1) || { echo "$out" >&2; die "wrk failed against $p"; }
    fi
    mem=$(mem_of "$p")
    upstream=$(sample_total)
    sample_cpu_after=$(cpu_of sample)
    if [ "$p" = imgcache ]; then hp_after=$(hit_path_counters); fi
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" 2>/dev/null || true
        STOPPED[$perf_pid]=1
        perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -60 >"$OUT/perf-imgcache.txt" || true
        log "  perf profile of imgcache: $OUT/perf-imgcache.txt"
    fi
    if [ "$gen" = wrk ]; then
        result=$(grep '^@@RESULT ' <<<"$out" | sed 's/^@@RESULT //') || die "no result from wrk: $out"
    fi
    python3 - "$round" "$workload" "$p" "$upstream" "$result" "$mem" "$busy" "$cpu_before" \
        "$sample_cpu_before" "$sample_cpu_after" "$hp_before" "$hp_after" "$OUT/runs.jsonl" "$gen" >"$WORK/last-run" <<'EOF'
import json, sys
(round_, workload, proxy, upstream, result, mem, busy, cpu_before,
 sample_before, sample_after, hp_before, hp_after, runs, gen) = sys.argv[1:]
r = json.loads(result)
r.update(json.loads(mem))
r.update(generator=gen, round=int(round_), workload=workload, proxy=proxy, upstream=int(upstream),
         busy_before=float(busy))
# Requests completed / the generator's own measured duration, for both
# (h2load's printed req/s, which counts successes only, is kept as h2load_rps).
r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
# The proxy's CPU time per request over the run (its processes only; the
# upstream's, which serves the mixed workload's misses, is kept apart).
r["cpu_us_per_req"] = (r["cpu_s"] - float(cpu_before)) * 1e6 / max(r["requests"], 1)
r["upstream_cpu_us_per_req"] = (float(sample_after) - float(sample_before)) * 1e6 / max(r["requests"], 1)
if gen == "wrk":
    r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
else:
    # h2load.py counted the errors (every request without a 2xx). Its
    # clients all walk the same URI file, so a mixed "miss" id is read by
    # several clients: the true misses are the upstream requests.
    r["miss_ratio"] = int(upstream) / max(r["requests"], 1)
hb, ha = json.loads(hp_before), json.loads(hp_after)
if ha:
    r["hit_path"] = {k: ha[k] - hb.get(k, 0) for k in ha}
with open(runs, "a") as f:
    f.write(json.dumps(r) + "\n")
# For run.sh's checks: one line of fields (no more Python starts).
print(r["requests"], r["errors"], r.get("sent_misses", 0), r.get("miss_wraps", 0))
ms = lambda us: us / 1000
extra = ""
if workload == "mixed":
    if gen == "wrk":
        extra = f"  misses sent {r['sent_misses']}"
    else:
        extra = f"  real miss ratio {r['miss_ratio'] * 100:.2f}%"
if "hit_path" in r:
    hp = r["hit_path"]
    extra += (f"  hit path: {hp.get('responses', '?')} hits, {hp.get('exchanges', '?')} exchanges,"
              f" {hp.get('handoffs', '?')} handoffs")
if gen == "wrk":
    lat = (f"p50 {ms(r['p50_us']):6.2f}  p99 {ms(r['p99_us']):6.2f}  p99.9 {ms(r['p999_us']):6.2f} ms")
else:
    lat = f"mean {ms(r['mean_us']):6.2f}  sd {ms(r['sd_us']):6.2f}  max {ms(r['max_us']):6.2f} ms (h2load)"
print(f"  round {r['round']} {workload:7} {proxy:8} {r['rps']:>9,.0f} req/s  {lat}  errors {r['errors']}"
      f"  upstream {r['upstream']}  cpu {r['cpu_us_per_req']:.1f} us/req  rss {r['rss_kb'] / 1024:.1f} MiB{extra}",
      file=sys.stderr)
EOF
    local last requests errors misses wraps
    last=$(tail -1 "$OUT/runs.jsonl")
    read -r requests errors misses wraps <"$WORK/last-run"
    [ "$errors" = 0 ] || warn "$p had $errors errors in $workload round $round$tag"
    if [ "$workload" = mixed ] && [ "$gen" = h2load ]; then
        # Not checked against the misses "sent": with h2load every client
        # reads every fresh id of the file it reaches, so the upstream
        # count (in runs.jsonl, miss_ratio) is the measure, not a check.
        :
    elif [ "$workload" = mixed ]; then
        # Every miss id is new to every cache (and the ceiling passes misses
        # through): one upstream request per miss sent, give or take the
        # few in flight when wrk stopped.
        [ "$wraps" = 0 ] || warn "$p mixed round $round: wrk ran out of fresh ids ($wraps wraps; raise MISS_IDS): some misses were hits"
        if [ "$upstream" -lt $((misses - CONNS)) ] || [ "$upstream" -gt $((misses + CONNS)) ]; then
            warn "$p mixed round $round: $upstream upstream requests for $misses misses sent"
        fi
    elif [ "$p" != ceiling ]; then
        # After warm-up every id is cached: ~0 upstream requests expected.
        if [ "$workload" = uniform ] && [ "$upstream" -gt 10 ]; then
            warn "$p made $upstream upstream requests in measured uniform round $round$tag after warm-up: not caching?"
        elif [ "$upstream" -gt $((requests / 1000 + 10)) ]; then
            warn "$p made $upstream upstream requests in measured $workload round $round$tag ($requests requests)"
        fi
    fi
    if [ "$p" = imgcache ]; then check_hit_path "$workload" "$round" "$last" "$tag"; fi
}

# check_hit_path WORKLOAD ROUND RUN_JSON [TAG]: imgcache's keep-alive connections
# stay on its hit path whatever they asked before. Hits only: the hit path
# answers (nearly) every request. Mixed: every miss is one exchange (hyper
# answers it and the hit path takes the connection back) and the hit path
# answers the hits. In both: no connection handed to hyper for good.
check_hit_path() {
    local workload=$1 round=$2 run=$3 verdict
    # TAG: " (h2load)" in h2load's warnings.
    verdict=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
hp = r.get("hit_path")
if not hp:
    print("no imgcache_hit_path_* counters in /metrics: hit path not checked"); sys.exit()
# h2load mixed: how many requests were misses is only known on the proxy
# side (clients share the miss ids), so its exchanges are taken as the
# misses and only the rest is checked.
unknown = r.get("generator") == "h2load" and r["workload"] == "mixed"
misses = hp.get("exchanges", 0) if unknown else r.get("sent_misses", 0)
hits = r["requests"] - misses
bad = []
if hp.get("handoffs", 0) > 0:
    bad.append(f"{hp['handoffs']} connection(s) handed to hyper for good")
if not unknown and "exchanges" in hp and abs(hp["exchanges"] - misses) > 64:
    bad.append(f"{hp['exchanges']} exchanges for {misses} misses sent")
if hp.get("responses", 0) < 0.95 * hits:
    bad.append(f"the hit path answered {hp.get('responses', 0)} of ~{hits} hits")
print("; ".join(bad))' "$run")
    [ -z "$verdict" ] || warn "imgcache $workload round $round${4:-}: $verdict"
}

run_load() {
    local round p w g order i n
    read -r -a order <<<"$PROXIES"
    n=${#order[@]}
    for round in $(seq "$ROUNDS"); do
        # Rotate the order each round, so no proxy always runs first/last.
        local rotated=()
        for ((i = 0; i < n; i++)); do rotated+=("${order[$(((i + round - 1) % n))]}"); done
        log "round $round/$ROUNDS: ${rotated[*]}"
        restart_caches
        # Fill every cache right before the round's runs: its entries are
        # then far younger than the 5 m TTL for the whole round.
        for p in "${rotated[@]}"; do [ "$p" = ceiling ] || warm "$round" "$p"; done
        # Per workload, each generator's runs back to back (a per-round
        # ratio compares runs of one generator close in time).
        for w in $WORKLOADS; do
            for g in $GENERATORS; do
                for p in "${rotated[@]}"; do
                    sleep 1   # let the previous run's sockets and CPU settle
                    measure "$round" "$w" "$p" "$g"
                done
            done
        done
    done
}

# 200 clients ask one cold image at once, upstream answering in 200 ms.
# Cold: a tail id no workload has asked yet (this phase runs before the
# load phase) with a token never used before, so no cache can have it.
run_cold() {
    local rep p k=0 id token result upstream
    sample_latency "$COLD_LATENCY_MS"
    for rep in $(seq "$COLD_REPS"); do
        for p in $(caches); do
            k=$((k + 1))
            id=$(image_id $((IMAGES - k)))
            token="cold$k:project-a:member"
            sample_reset
            result=$(python3 "$HERE/cold_herd.py" --url "$(proxy_url "$p")/v2/images/$id" \
                --token "$token" -n "$COLD_CLIENTS")
            sleep 0.2
            upstream=$(sample_total)
            log "  cold herd $p #$rep: upstream $upstream, $result"
            python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(proxy=sys.argv[2], rep=int(sys.argv[3]), upstream=int(sys.argv[4])); print(json.dumps(r))' \
                "$result" "$p" "$rep" "$upstream" >>"$OUT/cold.jsonl"
        done
    done
    sample_latency 0
}

# One 1 GiB download direct and through every proxy. The sample's
# generated images have size 0, so run.sh creates one and uploads 1 GiB
# into it (kept only as a size: downloads stream the sample's pattern).
run_file() {
    local rep p size result pids
    if ! curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" "$SAMPLE_URL/v2/images/$FILE_ID"; then
        log "creating a $((FILE_SIZE >> 20)) MiB image in the sample ($FILE_ID)"
        curl -sf -o /dev/null -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"id\": \"$FILE_ID\", \"name\": \"bench-1g\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" \
            "$SAMPLE_URL/v2/images" || die "cannot create the file image"
        head -c "$FILE_SIZE" /dev/zero | curl -sf -o /dev/null -X PUT -T - \
            -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
            "$SAMPLE_URL/v2/images/$FILE_ID/file" || die "cannot upload the file"
    fi
    size=$(curl -sf -H "X-Auth-Token: $TOKEN" "$SAMPLE_URL/v2/images/$FILE_ID" | json_get '["size"]')
    [ "$size" = "$FILE_SIZE" ] || die "file image has size $size, not $FILE_SIZE"
    for rep in $(seq "$FILE_REPS"); do
        for p in direct $(caches); do
            if [ "$p" = direct ]; then
                result=$(python3 "$HERE/passthru.py" --url "$SAMPLE_URL/v2/images/$FILE_ID/file" \
                    --token "$TOKEN" --size "$FILE_SIZE" --pid "${PID_OF[sample]}")
            else
                result=$(python3 "$HERE/passthru.py" --url "$(proxy_url "$p")/v2/images/$FILE_ID/file" \
                    --token "$TOKEN" --size "$FILE_SIZE" --pid "${PID_OF[$p]}")
            fi
            log "  1 GiB via $p #$rep: $result"
            grep -q '"ok": true' <<<"$result" || warn "1 GiB download via $p failed or was corrupt: $result"
            python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(proxy=sys.argv[2], rep=int(sys.argv[3])); print(json.dumps(r))' \
                "$result" "$p" "$rep" >>"$OUT/file.jsonl"
        done
    done
}

# imgcache's memory with 100,000 cached entries: its own sample with
# 100,000 images and a fresh imgcache; every id read once.
run_rss100k() {
    local saved_url=${SAMPLE_URL:-} before after result upstream stats
    start_sample sample100k 100000
    start_imgcache imgcache100k
    # One request first, so "before" includes the runtime, the upstream
    # pool and the client connection set-up, not just an idle process.
    curl -s -o /dev/null -H "X-Auth-Token: $TOKEN" "$(proxy_url imgcache100k)/v2/schemas/image" || true
    sleep 0.5
    before=$(mem_of imgcache100k | json_get '["rss_kb"]')
    sample_reset
    result=$(python3 "$HERE/warm.py" --url "$(proxy_url imgcache100k)" --count 100000 --token "$TOKEN" --conns 8) \
        || warn "100k warm-up had non-200 answers: $result"
    sleep 1
    after=$(mem_of imgcache100k | json_get '["rss_kb"]')
    upstream=$(sample_total)
    stats=$(curl -sf "http://127.0.0.1:${PORT_OF[imgcache100k-admin]}/cache/stats" 2>/dev/null || echo null)
    log "  100k: rss $before -> $after KiB; $result; upstream $upstream; /cache/stats: $stats"
    python3 -c '
import json, sys
w = json.loads(sys.argv[1])
try:
    stats = json.loads(sys.argv[5])
except ValueError:
    stats = None
print(json.dumps({"entries": w["ok"], "body_bytes": w["body_bytes"], "seconds": w["seconds"],
                  "rss_before_kb": int(sys.argv[2]), "rss_after_kb": int(sys.argv[3]),
                  "upstream": int(sys.argv[4]), "cache_stats": stats}))' \
        "$result" "$before" "$after" "$upstream" "$stats" >"$OUT/rss100k.json"
    stop_pid "${PID_OF[imgcache100k]}"
    stop_pid "${PID_OF[sample100k]}"
    SAMPLE_URL=$saved_url
}

write_meta() {
    python3 - "$OUT/meta.json" "$COMMAND_LINE" <<EOF
import json, sys
json.dump({
    "started": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "mode": "$MODE", "rounds": $ROUNDS, "duration": $DURATION,
    "connections": $CONNS, "threads": $THREADS, "proxies": "$PROXIES",
    "workloads": "$WORKLOADS", "workers": $WORKERS,
    "images": $IMAGES, "hot": $HOT, "zipf_s": $ZIPF_S,
    "miss_every": $MISS_EVERY, "miss_base": $MISS_BASE, "miss_ids": $MISS_IDS,
    "generators": "$GENERATORS",
    "h2load_lines": $H2LOAD_LINES, "h2load_miss_base": $H2LOAD_MISS_BASE, "h2load_miss_ids": $H2LOAD_MISS_IDS,
    "command": sys.argv[2],
    "machine": "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')",
    "imgcache_rev": "${REV_NOTE:-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$( [ -z "$(git -C "$REPO" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null | head -1)" ] || echo ' + uncommitted changes')}",
    "imgcache_bin": "$BUILT_FROM",
    "versions": {
        "nginx": "$(nginx -v 2>&1 | sed 's/.*: //')",
        "varnish": "$(varnishd -V 2>&1 | head -1)",
        "haproxy": "$(haproxy -v | head -1)",
        "wrk": "$(wrk -v 2>&1 | head -1 | cut -c1-40)",
        "h2load": "$(h2load --version 2>/dev/null | head -1 || echo none)",
    },
}, open(sys.argv[1], "w"), indent=1)
EOF
}

# ------------------------------------------------------------ main
main() {
    ensure_tools
    [ -x "$IMGCACHE_BIN" ] && [ -x "$IMGCACHE_SAMPLE_BIN" ] || die "missing $( [ -x "$IMGCACHE_BIN" ] || echo "$IMGCACHE_BIN ")$( [ -x "$IMGCACHE_SAMPLE_BIN" ] || echo "$IMGCACHE_SAMPLE_BIN ")- build first: $(build_hint) (or set IMGCACHE_BIN / IMGCACHE_SAMPLE_BIN)"
    mkdir -p "$OUT"
    rm -f "$OUT"/{runs.jsonl,warm.jsonl,cold.jsonl,file.jsonl,rss100k.json,warnings.txt,results.md,chart.svg,summary.json}
    rm -rf "$OUT/logs"
    # Scratch space on tmpfs when there is one.
    WORK=$(mktemp -d "$([ -w /dev/shm ] && echo /dev/shm || echo /tmp)/imgcache-bench.XXXXXX")
    # The binaries as they are now: other work may rebuild target/ while
    # this runs, and every round must measure the same build. Under OUT (a
    # build directory: executable), removed on exit.
    BIN_COPY=$OUT/bin
    rm -rf "$BIN_COPY" && mkdir -p "$BIN_COPY"
    cp "$IMGCACHE_BIN" "$BIN_COPY/imgcache"
    cp "$IMGCACHE_SAMPLE_BIN" "$BIN_COPY/imgcache-sample"
    BUILT_FROM="$IMGCACHE_BIN ($(date -u -r "$IMGCACHE_BIN" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$IMGCACHE_BIN" | cut -c1-12))"
    IMGCACHE_BIN=$BIN_COPY/imgcache
    IMGCACHE_SAMPLE_BIN=$BIN_COPY/imgcache-sample
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
    write_meta
    log "mode $MODE: $ROUNDS round(s) x ${DURATION}s, ${GENERATORS// / and } -t$THREADS -c$CONNS; output $OUT"
    log "NOTE: the load generator and the proxy under test share the machine's $(nproc) cores (unavoidable here)"
    if has_phase load || has_phase cold || has_phase file; then
        start_all
        # cold first: it needs ids that no earlier phase has requested.
        if has_phase cold; then log "phase: cold herd"; run_cold; fi
        if has_phase load; then
            case " $GENERATORS " in *" h2load "*) make_uri_files ;; esac
            log "phase: load"; run_load
        fi
        if has_phase file; then log "phase: 1 GiB pass-through"; run_file; fi
    fi
    if [ "$RSS_100K" = 1 ]; then log "phase: imgcache RSS with 100,000 entries"; run_rss100k; fi
    python3 "$HERE/report.py" "$OUT"
    log "wrote $OUT/results.md and $OUT/chart.svg"
}

main
