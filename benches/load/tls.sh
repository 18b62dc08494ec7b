#!/usr/bin/env bash
# TLS load benchmark (issue 16): cache hits over TLS with keep-alive, and
# new-connection handshakes per second, imgcache vs nginx (proxy_cache +
# ssl) vs HAProxy (cache + ssl crt), all with the same certificate and key
# (ECDSA P-256, made here with openssl), on 127.0.0.1, in one run.
#
#   cargo build --release --bin imgcache --bin imgcache-sample
#   benches/load/tls.sh [--duration S] [--rounds N]      # ~3 min with the defaults
#
# Hits: wrk (64 keep-alive connections, 2 threads, TLS 1.3 as wrk's OpenSSL
# negotiates it), uniform over 1,000 warmed ids, one token; req/s, p99 and
# the proxy's own CPU µs per request (utime+stime of all its processes over
# the run, /proc). Rounds alternate the proxies; medians are printed.
# Handshakes: the same wrk run with a new connection per request
# (Connection: close; wrk resumes no sessions, so each is a full TLS 1.3
# handshake), 64 at a time; then `openssl s_time` for S seconds (-new /
# -reuse: session resumption), one client process, so its conn/s is the
# client's pace; read the server CPU µs per connection there.
# Writes target/bench-tls/results.md; every process started is stopped by
# pid on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMGCACHE_BIN=${IMGCACHE_BIN:-$REPO/target/release/imgcache}
SAMPLE_BIN=${IMGCACHE_SAMPLE_BIN:-$REPO/target/release/imgcache-sample}
OUT=${OUT:-$REPO/target/bench-tls}
DURATION=5
ROUNDS=3
while (($#)); do
    case $1 in
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        *) echo "usage: $0 [--duration S] [--rounds N]" >&2; exit 64 ;;
    esac
done
WORKERS=$(nproc)
TOKEN="alice:project-a:member"
IDS=1000
PIDS=()

die() { echo "tls bench: $*" >&2; exit 1; }
for tool in nginx haproxy wrk openssl curl python3; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install $tool)"
done
[[ -x $IMGCACHE_BIN && -x $SAMPLE_BIN ]] || die "build first: cargo build --release --bin imgcache --bin imgcache-sample"

# On tmpfs when there is one: nginx's cache then never waits for a disk.
WORK=$(mktemp -d "$([[ -w /dev/shm ]] && echo /dev/shm || echo /tmp)/imgcache-bench-tls.XXXXXX")
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One certificate for everyone: a private CA and a P-256 leaf for 127.0.0.1.
make_certs() {
    local d=$WORK/tls
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null
    cat "$d/server.pem" "$d/server.key" >"$d/combined.pem"   # HAProxy's crt
}

wait_tls() {
    local port=$1 i
    for ((i = 0; i < 200; i++)); do
        curl -s -o /dev/null --cacert "$WORK/tls/ca.pem" "https://127.0.0.1:$port/versions" && return 0
        sleep 0.05
    done
    die "nothing answers TLS on port $port"
}

# render TEMPLATE PORT: a peer's config, as run.sh renders it, plus TLS.
render() {
    sed -e "s|@WORKERS@|$WORKERS|g" -e "s|@PORT@|$2|g" -e "s|@UPSTREAM_PORT@|$SAMPLE_PORT|g" \
        -e "s|@TTL_SECONDS@|300|g" -e "s|@DIR@|$3|g" -e "s|@CACHE_DIR@|$3/cache|g" \
        -e "s|@USER_LINE@|$( [[ $(id -u) == 0 ]] && echo 'user root root;' )|g" "$HERE/conf/$1"
}

start_sample() {
    SAMPLE_PORT=$(free_port)
    "$SAMPLE_BIN" --listen "127.0.0.1:$SAMPLE_PORT" --images 10000 >"$WORK/sample.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$SAMPLE_PORT/versions" && return; sleep 0.05; done
    die "the sample did not start"
}

start_imgcache() {
    local port=$1
    IMGCACHE_LOG=warn IMGCACHE_CACHE_TTL=5m \
        IMGCACHE_SERVER_TLS_CERT_FILE="$WORK/tls/server.pem" IMGCACHE_SERVER_TLS_KEY_FILE="$WORK/tls/server.key" \
        "$IMGCACHE_BIN" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$(free_port)" \
        --upstream "http://127.0.0.1:$SAMPLE_PORT" >"$WORK/imgcache.log" 2>&1 &
    PIDS+=($!)
    echo $! >"$WORK/imgcache.pid"
}

start_nginx() {
    local port=$1 dir=$WORK/nginx
    mkdir -p "$dir/cache"
    # The same server block, on TLS: what nginx's docs advise for a busy
    # TLS server (a shared session cache; TLS 1.2 and 1.3).
    render nginx-cache.conf.tmpl "$port" "$dir" | sed -e \
        "s|listen 127.0.0.1:$port backlog=4096 reuseport;|listen 127.0.0.1:$port ssl backlog=4096 reuseport;\n        ssl_certificate $WORK/tls/server.pem;\n        ssl_certificate_key $WORK/tls/server.key;\n        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:SSL:10m;|" \
        >"$dir/nginx.conf"
    nginx -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    PIDS+=($!)
    echo $! >"$WORK/nginx.pid"
}

start_haproxy() {
    local port=$1 dir=$WORK/haproxy
    mkdir -p "$dir"
    render haproxy.cfg.tmpl "$port" "$dir" | sed -e \
        "s|bind 127.0.0.1:$port|bind 127.0.0.1:$port ssl crt $WORK/tls/combined.pem alpn http/1.1 ssl-min-ver TLSv1.2|" \
        >"$dir/haproxy.cfg"
    haproxy -f "$dir/haproxy.cfg" -db >"$dir/log" 2>&1 &
    PIDS+=($!)
    echo $! >"$WORK/haproxy.pid"
}

# cpu_ticks PID: utime+stime of the process and its children threads/processes.
cpu_ticks() {
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
def kids(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out
todo, total = [root], 0
while todo:
    pid = todo.pop()
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
        todo += kids(pid)
    except OSError:
        pass
print(total)
PY
}

# hits NAME PORT [VAR=VALUE...]: one wrk run (with those environment
# variables); prints "req/s p99_ms cpu_us_per_req errors".
hits() {
    local name=$1 port=$2 pid before after out
    shift 2
    pid=$(cat "$WORK/$name.pid")
    before=$(cpu_ticks "$pid")
    out=$(env "$@" wrk -t2 -c64 -d"${DURATION}s" --latency -s "$HERE/workload.lua" \
        "https://127.0.0.1:$port" -- uniform "$IDS" "$TOKEN" 2>&1)
    after=$(cpu_ticks "$pid")
    python3 - "$before" "$after" "$(getconf CLK_TCK)" <<PY
import json, sys
line = [l for l in """$out""".splitlines() if l.startswith("@@RESULT")][0]
r = json.loads(line.split(" ", 1)[1])
errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
secs = r["duration_us"] / 1e6
cpu_us = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) * 1e6
print(f'{r["requests"] / secs:.0f} {r["p99_us"] / 1000:.2f} {cpu_us / max(r["requests"], 1):.1f} {errors}')
PY
}

# handshakes NAME PORT MODE(-new|-reuse): connections/s from openssl s_time,
# and the server's CPU µs per connection.
handshakes() {
    local name=$1 port=$2 mode=$3 pid before after out
    pid=$(cat "$WORK/$name.pid")
    before=$(cpu_ticks "$pid")
    out=$(openssl s_time -connect "127.0.0.1:$port" "$mode" -time "$DURATION" -CAfile "$WORK/tls/ca.pem" 2>&1 || true)
    after=$(cpu_ticks "$pid")
    python3 - "$before" "$after" "$(getconf CLK_TCK)" <<PY
import re, sys
m = re.search(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec", """$out""")
conns = int(m.group(1)) if m else 0
cpu_us = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) * 1e6
print(f"{conns / $DURATION:.0f} {cpu_us / max(conns, 1):.0f}")
PY
}

warm() {
    wrk -t2 -c16 -d2s -s "$HERE/workload.lua" "https://127.0.0.1:$1" -- uniform "$IDS" "$TOKEN" >/dev/null 2>&1
}

make_certs
start_sample
declare -A PORT
PORT[imgcache]=$(free_port); start_imgcache "${PORT[imgcache]}"
PORT[nginx]=$(free_port); start_nginx "${PORT[nginx]}"
PORT[haproxy]=$(free_port); start_haproxy "${PORT[haproxy]}"
for name in imgcache nginx haproxy; do wait_tls "${PORT[$name]}"; warm "${PORT[$name]}"; done

RAW=$OUT/raw.txt
: >"$RAW"
for ((round = 1; round <= ROUNDS; round++)); do
    for name in imgcache nginx haproxy; do
        echo "hits $name $(hits "$name" "${PORT[$name]}")" | tee -a "$RAW"
    done
done
# A new connection (a full TLS 1.3 handshake: wrk resumes no sessions) for
# every hit, 64 at a time: handshakes/s with the server, not one client,
# setting the pace.
for name in imgcache nginx haproxy; do
    echo "close $name $(hits "$name" "${PORT[$name]}" WORKLOAD_CONNECTION_CLOSE=1)" | tee -a "$RAW"
done
for mode in -new -reuse; do
    for name in imgcache nginx haproxy; do
        echo "handshakes$mode $name $(handshakes "$name" "${PORT[$name]}" "$mode")" | tee -a "$RAW"
    done
done

python3 - "$RAW" "$OUT/results.md" "$(git -C "$REPO" rev-parse --short HEAD)" "$DURATION" "$ROUNDS" <<'PY'
import statistics, sys
raw, out, rev, duration, rounds = sys.argv[1:]
hits, shakes, close = {}, {}, {}
for line in open(raw):
    kind, name, *vals = line.split()
    table = {"hits": hits, "close": close}.get(kind, shakes)
    table.setdefault((kind, name), []).append([float(v) for v in vals])
med = lambda rows, i: statistics.median(r[i] for r in rows)
lines = [f"# TLS benchmark ({rev}, {rounds} rounds of {duration} s, medians)", "",
         "| hits over TLS, keep-alive | req/s | p99 ms | CPU µs/req | errors |", "|---|---:|---:|---:|---:|"]
for (_, name), rows in hits.items():
    lines.append(f"| {name} | {med(rows,0):,.0f} | {med(rows,1):.2f} | {med(rows,2):.1f} | {sum(r[3] for r in rows):.0f} |")
best = max(med(rows, 0) for (_, n), rows in hits.items() if n != "imgcache")
ours = med(hits[("hits", "imgcache")], 0)
lines += ["", f"imgcache / faster peer: **{ours / best:.2f}x** req/s (target 1.15x)", "",
          "| a new TLS 1.3 connection per hit (wrk, 64 at a time, Connection: close) | handshakes/s | p99 ms | CPU µs/conn | errors |",
          "|---|---:|---:|---:|---:|"]
for (_, name), rows in close.items():
    lines.append(f"| {name} | {rows[0][0]:,.0f} | {rows[0][1]:.2f} | {rows[0][2]:.1f} | {rows[0][3]:.0f} |")
lines += ["", "| new connections (openssl s_time, one client) | conn/s | server CPU µs/conn |", "|---|---:|---:|"]
for (kind, name), rows in shakes.items():
    what = "full TLS 1.3 handshake" if kind.endswith("-new") else "resumed session"
    lines.append(f"| {name}, {what} | {rows[0][0]:,.0f} | {rows[0][1]:,.0f} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
