#!/usr/bin/env bash
# Principals benchmark: cache hit ratio and upstream requests when every
# call brings a new credential, with and without the feature that keys the
# cache on who is calling instead of on the credential string.
#
#   - signed clients: Huawei's own SDK (huaweicloudsdkims), every call signed
#     anew with AK/SK, through imgcache with and without [signing]
#     credentials (tests/interop/signing/bench.py; fake IMS upstream);
#   - token churn: a real Keystone 30 + keystonemiddleware + Glance 33, new
#     Keystone tokens per run and per call, through imgcache with and without
#     [identity] (tests/interop/keystone/bench.py).
#
# Target (the issue): hit ratio >= 0.95 for 20 runs x 50 images x 2 reads
# with a new token or signature per call. Not a timed test: the harnesses
# print what they measured and this script collects it.
#
#   benches/load/principals.sh [--out FILE]   # ~25 min; default benches/load/results/principals.md
#
# Both harnesses build or reuse their venvs (PyPI), start everything on
# 127.0.0.1 and stop what they started by pid; the proxy binary is
# $IMGCACHE_BIN (default <repo>/target/release/imgcache), used as it is.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=$HERE/results/principals.md
COMMAND="benches/load/principals.sh${*:+ $*}"

while (($#)); do
    case $1 in
        --out) OUT=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "principals.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

IMGCACHE_BIN=${IMGCACHE_BIN:-$REPO/target/release/imgcache}
[[ -x $IMGCACHE_BIN ]] || { echo "principals.sh: no proxy binary at $IMGCACHE_BIN (cargo build --release)" >&2; exit 1; }
export IMGCACHE_BIN

log() { echo "[$(date +%T)] $*" >&2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/imgcache-principals.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# run_harness NAME SCRIPT VAR: SCRIPT with VAR=1 (its benchmark mode),
# its table into $TMP/NAME.md, its log into $TMP/NAME.log; the seconds it
# took into $TMP/NAME.seconds.
run_harness() {
    local name=$1 script=$2 var=$3 started=$SECONDS
    log "$name: $script (log: $TMP/$name.log)"
    if ! env "$var=1" "${var}_OUT=$TMP/$name.md" "$REPO/$script" >"$TMP/$name.log" 2>&1; then
        tail -n 30 "$TMP/$name.log" >&2
        log "$name: $script failed (log above)"
        trap - EXIT  # keep the logs
        exit 1
    fi
    echo $((SECONDS - started)) >"$TMP/$name.seconds"
    log "$name: done in $(cat "$TMP/$name.seconds") s"
}

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Nothing here pins CPUs: other work on the machine shows in the wall times.
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
run_harness signing tests/interop/signing/run.sh IMGCACHE_SIGNING_BENCH
run_harness keystone tests/interop/keystone/run.sh IMGCACHE_KEYSTONE_BENCH

REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$REPO" diff --quiet HEAD -- src crates Cargo.toml Cargo.lock 2>/dev/null; then
    REV="$REV + uncommitted changes"
fi
mkdir -p "$(dirname "$OUT")"
{
    echo "# imgcache principals benchmark"
    echo
    echo "$STARTED; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); everything on 127.0.0.1, one client reading after the other; load average at start $LOAD_AT_START, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "Command: \`$COMMAND\`; imgcache $REV, binary $IMGCACHE_BIN ($(date -u -r "$IMGCACHE_BIN" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$IMGCACHE_BIN" | cut -c1-12)). Harness wall time: signing $(cat "$TMP/signing.seconds") s, Keystone $(cat "$TMP/keystone.seconds") s (venvs reused; includes starting Keystone and Glance and creating the images and tokens)."
    echo
    echo "Target (the issue): hit ratio ≥ 0.95 for 20 runs × 50 images × 2 reads with a new token or signature per call."
    echo
    cat "$TMP/signing.md"
    echo
    cat "$TMP/keystone.md"
} >"$OUT"
log "wrote $OUT"
