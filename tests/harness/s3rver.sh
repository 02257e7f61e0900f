#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# s3rver.sh: a throw-away s3rver 3.7.1 (a small S3 server in Node.js, objects
# kept as plain files) for integration tests, on 127.0.0.1 only.
#
#   s3rver.sh start DIR [--bucket NAME]   start it, write DIR/env
#   s3rver.sh stop DIR                    stop it (by its pidfile)
#   s3rver.sh status DIR                  exit 0 if it runs and answers
#
# The kernel picks the port (s3rver is started with -p 0 and reports it), so
# two servers never race for one. Data: DIR/data; log: DIR/log/s3rver.log
# (one line per request); pid: DIR/s3rver.pid.
#
# DIR/env (KEY=VALUE lines, no quoting needed):
#   S3RVER_URL=http://127.0.0.1:PORT   path-style endpoint
#   S3RVER_KEY=S3RVER                  s3rver's only access key
#   S3RVER_SECRET=S3RVER
#   S3RVER_BUCKET=NAME                 only with --bucket
#
# s3rver accepts any SigV4 signature made with key S3RVER (it checks only
# the key id, the header layout and the clock): use radosgw (rgw.sh) to test
# signing. See tests/README.md for its other quirks.
#
# Environment: S3RVER_HARNESS_QUIET=1 (no per-request log lines),
# S3RVER_HARNESS_TIMEOUT (seconds to wait for it to answer, default 30),
# PCACHE_NPM_PREFIX (where scripts/install-deps.sh put s3rver,
# default /opt/pcachefs-test/npm).
set -euo pipefail

PROG=s3rver.sh
NPM_PREFIX=${PCACHE_NPM_PREFIX:-/opt/pcachefs-test/npm}
S3RVER_JS=$NPM_PREFIX/node_modules/s3rver/bin/s3rver.js
S3RVER_VERSION=3.7.1
TIMEOUT=${S3RVER_HARNESS_TIMEOUT:-30}
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
T0=$(date +%s%N)

# shellcheck source=tests/harness/lib.sh
. "$HARNESS_DIR/lib.sh"

# set_paths DIR [create]: DIR must exist unless 'create' is given
set_paths() {
    DIR=$(harness_dir "$@") || exit 1
    PIDFILE=$DIR/s3rver.pid
    LOGFILE=$DIR/log/s3rver.log
    DIE_HINT="log: $LOGFILE"
}

check_deps() {
    command -v node >/dev/null 2>&1 ||
        die "node not found: run scripts/install-deps.sh (as root)"
    grep -q "\"version\": \"$S3RVER_VERSION\"" \
        "$NPM_PREFIX/node_modules/s3rver/package.json" 2>/dev/null ||
        die "s3rver $S3RVER_VERSION not in $NPM_PREFIX: run scripts/install-deps.sh (as root)"
    command -v curl >/dev/null 2>&1 ||
        die "curl not found: run scripts/install-deps.sh (as root)"
    "$PY" -c 'import botocore' 2>/dev/null ||
        die "python3-botocore missing: run scripts/install-deps.sh (as root)"
}

# our_pid: the pid of this DIR's s3rver, if it runs
our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    # still our server, not a recycled pid (and not a zombie)
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/data" || return 1
    echo "$pid"
}

answers() { curl -s -o /dev/null --max-time 2 "$1/"; }

stop_server() {
    local pid i
    pid=$(our_pid) || {
        rm -f "$PIDFILE"
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.05
        done
    fi
    rm -f "$PIDFILE"
}

# alive PID: the process exists and is not a zombie
alive() {
    local st
    st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# kill_started PID: stop the server a failed start launched (its pid is
# known even if it had not exec'd node yet)
kill_started() {
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$1" || break
        sleep 0.05
    done
    if alive "$1"; then kill -KILL "$1" 2>/dev/null || true; fi
    rm -f "$PIDFILE"
}

create_bucket() {
    local b=$1 out
    out=$("$PY" "$HARNESS_DIR/s3req.py" --env "$DIR/env" PUT "/$b") ||
        [[ $out == *BucketAlreadyExists* ]] ||
        die "could not create bucket $b: $out"
}

running() {
    local url
    our_pid >/dev/null && [ -s "$DIR/env" ] || return 1
    url=$(sed -n 's/^S3RVER_URL=//p' "$DIR/env")
    [ -n "$url" ] && answers "$url"
}

cmd_start() {
    local bucket='' pid port='' url end args=()
    set_paths "${1:-}" create
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --bucket)
            [ $# -ge 2 ] || usage
            bucket=$2
            shift 2
            ;;
        *) usage ;;
        esac
    done
    check_deps
    if running; then
        log "already running ($(sed -n 's/^S3RVER_URL=//p' "$DIR/env"))"
    else
        stop_server
        rm -f "$DIR/env"
        rm -rf "$DIR/data"
        mkdir -p "$DIR/data" "$DIR/log"
        [ -f "$LOGFILE" ] && mv "$LOGFILE" "$LOGFILE.old"
        [ "${S3RVER_HARNESS_QUIET:-0}" = 1 ] && args+=(--silent)
        # --openssl-legacy-provider: s3rver encrypts ListObjectsV2
        # continuation tokens with DES, which OpenSSL 3 keeps in its legacy
        # provider; without it every truncated V2 listing is a 500.
        # FORCE_COLOR=1: s3rver's request logger drops the first 16
        # characters of each line, which are colour codes only with colours
        # on (read the log with less -R).
        # setsid: keep a Ctrl-C or hangup of the caller's terminal away
        # (it does not fork here: a background job of a script is not a
        # process group leader, so $! is node's pid).
        FORCE_COLOR=1 setsid node --openssl-legacy-provider \
            "$S3RVER_JS" -d "$DIR/data" -a 127.0.0.1 -p 0 "${args[@]}" \
            >"$LOGFILE" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PIDFILE"
        trap 'kill_started $pid' EXIT
        trap 'exit 130' INT TERM
        end=$(($(date +%s) + TIMEOUT))
        # until the child has exec'd node, its cmdline is still bash's
        until our_pid >/dev/null; do
            alive "$pid" || die "s3rver exited at start"
            [ "$(date +%s)" -lt "$end" ] || die "s3rver did not start"
            sleep 0.01
        done
        while :; do
            port=$(sed -n 's/.*S3rver listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
                "$LOGFILE" | head -n1)
            [ -n "$port" ] && break
            alive "$pid" || die "s3rver exited at start"
            [ "$(date +%s)" -lt "$end" ] ||
                die "s3rver did not report its port in $TIMEOUT s"
            sleep 0.05
        done
        url=http://127.0.0.1:$port
        until answers "$url"; do
            alive "$pid" || die "s3rver exited at start"
            [ "$(date +%s)" -lt "$end" ] ||
                die "s3rver does not answer on $url after $TIMEOUT s"
            sleep 0.05
        done
        {
            echo "S3RVER_URL=$url"
            echo "S3RVER_KEY=S3RVER"
            echo "S3RVER_SECRET=S3RVER"
        } >"$DIR/env.tmp"
        mv "$DIR/env.tmp" "$DIR/env"
        log "up on $url, pid $pid"
    fi
    if [ -n "$bucket" ]; then
        create_bucket "$bucket"
        grep -qx "S3RVER_BUCKET=$bucket" "$DIR/env" ||
            echo "S3RVER_BUCKET=$bucket" >>"$DIR/env"
    fi
    trap - EXIT
}

cmd_stop() {
    [ -n "${1:-}" ] || usage
    [ -d "$1" ] || return 0 # nothing ever ran there
    set_paths "$1"
    stop_server
    rm -f "$DIR/env"
}

cmd_status() {
    set_paths "${1:-}"
    local pid
    if pid=$(our_pid); then echo "s3rver: pid $pid"; else echo "s3rver: not running"; fi
    running
}

case ${1:-} in
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
status) shift && cmd_status "$@" ;;
*) usage ;;
esac
