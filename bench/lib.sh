# bench/lib.sh: shell functions shared by bench/run and bench/profile (sourced, not run).
#
# The sourcing script sets BENCH_TAG (the log prefix) before sourcing, and then calls, in
# this order: bench_tools (python with botocore, wrk, taskset), bench_oha (only bench/run),
# bench_testkit (when node's oidc-provider is needed), bench_build, bench_workdir PREFIX.
# Afterwards: free_port, start_server, stop_server, start_jwt_issuer, rss_kib, cpu_snap,
# wrk_run, oha_rate, wrk_total_rps. Everything started through start_server or track_pid
# is stopped on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
JOBS=${BENCH_JOBS:-1}
CONNS=${BENCH_CONNECTIONS:-64}
RATE_SKIP=${BENCH_RATE_SKIP:-1}
DURATION=${BENCH_DURATION:-10}
SERVER_CORE=0
LOAD_CORE=1
OHA_VERSION=1.16.0
WARRANT="$ROOT/target/release/warrant"
HELLO="$BENCH/hello/target/release/bench-hello"

say() { printf '[%s] %s\n' "${BENCH_TAG:-bench}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${BENCH_TAG:-bench}" "$*" >&2; exit 2; }

# Python with botocore (signing), wrk (installed with apt when missing and root), taskset.
bench_tools() {
    [ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (server on core $SERVER_CORE, load on core $LOAD_CORE)"
    command -v taskset >/dev/null || die "taskset (util-linux) is required"
    PY="$ROOT/.venv/bin/python"
    [ -x "$PY" ] || PY=python3
    "$PY" -c 'import botocore' 2>/dev/null || die "$PY has no botocore (create the project venv: .venv with boto3)"
    if ! command -v wrk >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            say "installing wrk (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 \
                || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; } \
                || die "cannot install wrk"
        else
            die "wrk is required (apt-get install wrk)"
        fi
    fi
    WRK=$(command -v wrk)
}

# oha for the constant-rate runs: from PATH, else bench/.tools (installed there on first
# use, with its default features: 1.16 does not build with --no-default-features).
bench_oha() {
    OHA=$(command -v oha || true)
    if [ -z "$OHA" ]; then
        OHA="$BENCH/.tools/bin/oha"
        if [ ! -x "$OHA" ]; then
            say "installing oha $OHA_VERSION into bench/.tools (once, several minutes; cargo -j $JOBS)"
            cargo install oha --version "$OHA_VERSION" --locked --root "$BENCH/.tools" -j "$JOBS" >&2
        fi
    fi
}

# The test kit (testkit/oidc-provider.mjs): node, and its packages (npm ci) when missing.
bench_testkit() {
    command -v node >/dev/null || die "node is required for the test kit's oidc-provider ($1)"
    if [ ! -d "$ROOT/testkit/node_modules" ]; then
        say "installing the testkit (npm ci --prefix testkit)"
        npm ci --prefix "$ROOT/testkit" >&2
    fi
}

# jwt_issuer_kind: which issuer start_jwt_issuer starts: BENCH_JWT_ISSUER (testkit or
# python), by default the test kit when its oidc-provider.mjs has the --keys option (and
# node is there), else bench/jwt_issuer.py. Sets JWT_ISSUER_KIND.
jwt_issuer_kind() {
    JWT_ISSUER_KIND=${BENCH_JWT_ISSUER:-}
    if [ -z "$JWT_ISSUER_KIND" ]; then
        if command -v node >/dev/null && grep -q -e "'--keys'" -e '"--keys"' "$ROOT/testkit/oidc-provider.mjs"; then
            JWT_ISSUER_KIND=testkit
        else
            JWT_ISSUER_KIND=python
        fi
    fi
    case $JWT_ISSUER_KIND in
        testkit | python) ;;
        *) die "BENCH_JWT_ISSUER must be testkit or python, not $JWT_ISSUER_KIND" ;;
    esac
}

# start_jwt_issuer: the end users' OIDC issuer of the jwt-* workloads, on loopback, pinned
# like every server: an RSA-2048 and a P-256 key generated into WORK (bench/jwt_issuer.py
# keys), then (JWT_ISSUER_KIND, from jwt_issuer_kind) the test kit's oidc-provider with
# --keys WORK/jwt-keys.json, or bench/jwt_issuer.py serve WORK/jwt-jwks.json. Its ready
# line ({"issuer":...}) is in WORK/jwtiss.out; sets JWT_ISSUER_PID.
start_jwt_issuer() {
    "$PY" "$BENCH/jwt_issuer.py" keys "$WORK"
    if [ "$JWT_ISSUER_KIND" = testkit ]; then
        start_server jwtiss '"issuer"' node "$ROOT/testkit/oidc-provider.mjs" --keys "$WORK/jwt-keys.json"
    else
        start_server jwtiss '"issuer"' "$PY" "$BENCH/jwt_issuer.py" serve "$WORK/jwt-jwks.json"
    fi
    JWT_ISSUER_PID=$SERVER_PID
    echo "$JWT_ISSUER_KIND" >"$WORK/jwt-issuer-kind.txt"
}

# warrant and the baseline in release (skipped with BENCH_SKIP_BUILD=1).
bench_build() {
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        say "building warrant and bench/hello (release, -j $JOBS)"
        (cd "$ROOT" && cargo build --release -p warrant -j "$JOBS" >&2)
        (cd "$BENCH/hello" && cargo build --release -j "$JOBS" >&2)
    fi
    [ -x "$WARRANT" ] || die "no $WARRANT"
    [ -x "$HELLO" ] || die "no $HELLO"
}

# bench_workdir PREFIX: a fresh temp dir WORK, and the exit trap that stops everything
# this script started and removes WORK (kept with BENCH_KEEP=1 or on a harness error,
# i.e. any exit status but 0 and 1).
PIDS=()
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 2' INT TERM
}
bench_cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
        say "logs and raw results kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
track_pid() { PIDS+=("$1"); }

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME READY_TEXT CMD... : start CMD pinned to the server core, wait for
# READY_TEXT on its stdout (NAME.out in WORK), set SERVER_PID.
start_server() {
    local name=$1 ready=$2 i
    shift 2
    taskset -c "$SERVER_CORE" "$@" >"$WORK/$name.out" 2>>"$WORK/$name.err" &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    for i in $(seq 1 1000); do
        grep -qF "$ready" "$WORK/$name.out" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "$name exited at start-up"; }
        sleep 0.01
    done
    die "$name did not print its ready line within 10 s"
}

stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Per-core CPU counters, to tell afterwards how busy each core was during a run.
cpu_snap() { grep -E '^cpu[0-9]+ ' /proc/stat >"$WORK/$1.stat"; }

# wrk_run NAME URL LUA SECONDS [SCRIPT ARGS...]: keep-alive (wrk always is), CONNS
# connections, one thread, pinned to the load core; the script gets SCRIPT ARGS (wrk's
# `-- args`); the JSON line of the script's done() goes to NAME.json.
wrk_run() {
    local name=$1 url=$2 lua=$3 secs=$4
    shift 4
    cpu_snap "$name.before"
    taskset -c "$LOAD_CORE" "$WRK" -t1 -c "$CONNS" -d "${secs}s" -s "$lua" "$url" -- "$@" >"$WORK/$name.txt"
    cpu_snap "$name.after"
    grep '^{' "$WORK/$name.txt" | tail -1 >"$WORK/$name.json"
    [ -s "$WORK/$name.json" ] || die "wrk run $name printed no result (see $WORK/$name.txt)"
}

# wrk_total_rps NAME...: total req/s of the wrk runs NAME... (requests over time).
wrk_total_rps() {
    "$PY" - "$WORK" "$@" <<'PYEOF'
import json, sys
req = dur = 0
for name in sys.argv[2:]:
    d = json.load(open(f"{sys.argv[1]}/{name}.json"))
    req += d["requests"]
    dur += d["duration_us"]
print(req / dur * 1e6)
PYEOF
}

# oha_rate NAME RATE [oha args...]: RATE req/s for RATE_SKIP + DURATION s, keep-alive
# (oha's default), CONNS connections, pinned to the load core, latency-corrected. oha's
# own summary (the whole run) goes to NAME.json; the steady-state figures, without the
# first RATE_SKIP s in which oha opens its connections while its schedule already runs,
# to NAME.steady.json (from oha's per-request database, deleted afterwards).
oha_rate() {
    local name=$1 rate=$2
    shift 2
    cpu_snap "$name.before"
    taskset -c "$LOAD_CORE" "$OHA" --no-tui --output-format json -c "$CONNS" \
        -z "$((RATE_SKIP + DURATION))s" -q "$rate" --latency-correction \
        --db-url "$WORK/$name.db" "$@" >"$WORK/$name.json" 2>>"$WORK/oha.err"
    cpu_snap "$name.after"
    "$PY" "$BENCH/latency.py" "$WORK/$name.db" "$RATE_SKIP" "$DURATION" >"$WORK/$name.steady.json"
    rm -f "$WORK/$name.db"
}
