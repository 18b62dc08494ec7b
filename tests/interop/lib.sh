# Shared by the interop harnesses (tests/interop/run.sh, keystone/run.sh,
# signing/run.sh), which source it: messages, Debian packages, venvs,
# loopback ports, waiting for servers and stopping them by pid.
#
# The sourcing script sets LOG_NAME (the message prefix), PYTHON (the
# interpreter venvs are made with) and REPO (the repository root).

log() { printf '%s: %s\n' "$LOG_NAME" "$*"; }
die() { printf '%s: ERROR: %s\n' "$LOG_NAME" "$*" >&2; exit 1; }

# missing_packages [build]: the Debian packages a run needs and lacks.
# curl waits for servers to answer. To build a venv, pip may compile uWSGI
# (gcc + the interpreter's headers; PCRE is optional: uWSGI builds without
# it and nothing here needs uWSGI internal routing).
missing_packages() {
    local include
    command -v curl >/dev/null || echo curl
    [[ ${1:-} == build ]] || return 0
    command -v gcc >/dev/null || echo gcc
    include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [[ -f $include/Python.h ]] || echo python3-dev
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || echo python3-venv
}

# ensure_packages [build]: apt-get runs only if something is missing.
ensure_packages() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "missing Debian packages ${missing[*]}; install them (needs root)"
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed: Debian's package mirror is unreachable; nothing was tested"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed; nothing was tested"
}

# ensure_venv VENV REQUIREMENTS STAMP_NAME PROBE_PACKAGE [MIN_MINOR]: create
# VENV from REQUIREMENTS unless its stamp (requirements hash + interpreter)
# matches; a venv without a matching stamp (changed pins, interrupted
# install) is rebuilt from scratch. Python must be >= 3.MIN_MINOR (11).
# PROBE_PACKAGE tells "PyPI unreachable" from a broken install.
ensure_venv() {
    local venv=$1 reqs=$2 stamp_name=$3 probe=$4 min_minor=${5:-11} stamp pip_log started
    "$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, $min_minor))" \
        || die "$("$PYTHON" -V 2>&1) is too old: this run needs Python >= 3.$min_minor"
    stamp=$({ sha256sum "$reqs" | cut -d' ' -f1; "$PYTHON" -V; } | tr '\n' ' ')
    if [[ -f $venv/$stamp_name && $(cat "$venv/$stamp_name") == "$stamp" ]]; then
        log "reusing venv $venv"
        return 0
    fi
    if [[ -e $venv ]]; then
        # Only ever delete something that is a venv (the path may come from the environment).
        [[ -f $venv/pyvenv.cfg ]] || die "$venv exists and is not a venv; refusing to replace it"
        rm -rf "$venv"
    fi
    ensure_packages build
    log "creating venv $venv from ${reqs#"$REPO"/}"
    started=$SECONDS
    mkdir -p "$(dirname "$venv")"
    "$PYTHON" -m venv "$venv"
    pip_log=$(mktemp)
    if ! "$venv/bin/pip" install --disable-pip-version-check --no-input -r "$reqs" >"$pip_log" 2>&1; then
        tail -n 25 "$pip_log" >&2
        if ! "$venv/bin/pip" index versions "$probe" >/dev/null 2>&1; then
            die "cannot reach PyPI (pip cannot even list $probe's versions). Nothing was tested; rerun where PyPI is reachable."
        fi
        die "pip install -r ${reqs#"$REPO"/} failed (log above) although PyPI answers; nothing was tested"
    fi
    rm -f "$pip_log"
    echo "$stamp" >"$venv/$stamp_name"
    log "venv $venv ready in $((SECONDS - started)) s"
}

# free_ports N: N distinct free loopback ports; all sockets are held open
# while the kernel picks, so the picks cannot collide with each other.
free_ports() {
    "$PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# wait_http NAME PID URL LOG: until URL gives any HTTP answer (60 s); fail
# early if PID died. An https URL is checked against IMGCACHE_INTEROP_CA.
wait_http() {
    local name=$1 pid=$2 url=$3 logfile=$4 i
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$logfile" >&2
            die "$name exited before answering on $url (log above: $logfile)"
        fi
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${IMGCACHE_INTEROP_CA:+--cacert "$IMGCACHE_INTEROP_CA"} "$url" || true) != 000 ]] && return 0
        sleep 0.1
    done
    tail -n 40 "$logfile" >&2
    die "$name did not answer on $url within 60 s"
}

# stop_pid PID: SIGTERM, up to 10 s grace, then SIGKILL. Returns 1 if it had to kill.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}
