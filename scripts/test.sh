#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh: THE test command. Installs what is missing, builds with ASan and
# UBSan, checks the C formatting, starts the S3 servers the integration tests
# use (s3rver and a one-node Ceph radosgw, both on 127.0.0.1), runs every
# test suite and stops the servers again, whatever happens.
#
#   scripts/test.sh [--suite NAME]... [--no-servers] [--keep]
#
#   --suite NAME   run only this meson test suite (repeatable): unit, ...
#   --no-servers   start no S3 server; runs the unit suite unless --suite
#                  says otherwise
#   --keep         keep the temporary directory (server data and logs,
#                  PCACHE_TEST_TMP) and say where it is
#
# Environment: PCACHE_TEST_BUILD (build directory, default build-test).
# The last line is "test.sh: N passed, M failed"; the exit status is 0 only
# if the build, the format check and every test passed (skips are not
# failures). See tests/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${PCACHE_TEST_BUILD:-build-test}
# shellcheck disable=SC2054 # the commas belong to one option's value
MESON_OPTS=(-Db_sanitize=address,undefined -Dwerror=true -Db_lundef=false)
HARNESS=$ROOT/tests/harness

SUITES=()
SERVERS=1
KEEP=0
TMP=
STARTED=()
PASSED=0
FAILED=0
SKIPPED=0
SUMMARY_DONE=0
MESON_PID=

log() { printf 'test.sh: %s\n' "$*" >&2; }
usage() {
    sed -n '9,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --suite)
        [ $# -ge 2 ] || usage
        SUITES+=("$2")
        shift 2
        ;;
    --suite=*)
        SUITES+=("${1#--suite=}")
        shift
        ;;
    --no-servers)
        SERVERS=0
        shift
        ;;
    --keep)
        KEEP=1
        shift
        ;;
    -h | --help) usage ;;
    *)
        log "unknown argument: $1"
        usage
        ;;
    esac
done
if [ $SERVERS = 0 ] && [ ${#SUITES[@]} -eq 0 ]; then
    SUITES=(unit)
fi

# shellcheck disable=SC2317 # called from the EXIT trap
summary() {
    [ "$SUMMARY_DONE" = 1 ] && return 0
    SUMMARY_DONE=1
    printf 'test.sh: %d passed, %d failed\n' "$PASSED" "$FAILED"
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    local rc=$? s i
    trap - EXIT INT TERM
    set +e
    if [ -n "$MESON_PID" ] && kill -0 "$MESON_PID" 2>/dev/null; then
        # meson test stops its running tests on TERM
        kill -TERM "$MESON_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$MESON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$MESON_PID" 2>/dev/null
        wait "$MESON_PID" 2>/dev/null
    fi
    for s in "${STARTED[@]}"; do
        if ! "$HARNESS/$s.sh" status "$TMP/$s" >/dev/null 2>&1; then
            log "warning: $s was no longer running/answering at the end (crashed?); logs: $TMP/$s/log"
            rc=1
        fi
        "$HARNESS/$s.sh" stop "$TMP/$s" || log "warning: stopping $s failed"
    done
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        if [ "$KEEP" = 1 ]; then
            log "kept $TMP"
        else
            if [ "$rc" != 0 ] && [ ${#STARTED[@]} -gt 0 ] &&
                [ -d "$BUILD/meson-logs" ]; then
                # keep the server logs of a failed run next to meson's
                rm -rf "$BUILD/meson-logs/servers"
                mkdir -p "$BUILD/meson-logs/servers"
                for s in "${STARTED[@]}"; do
                    cp -r "$TMP/$s/log" "$BUILD/meson-logs/servers/$s" 2>/dev/null
                done
                log "server logs copied to $BUILD/meson-logs/servers/"
            fi
            rm -rf "$TMP"
        fi
    fi
    summary
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

fail() {
    log "FAILED: $*"
    exit 1
}

# --- dependencies --------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    if [ $SERVERS = 1 ]; then
        bash scripts/install-deps.sh || fail "scripts/install-deps.sh"
    else
        bash scripts/install-deps.sh --runtime || fail "scripts/install-deps.sh"
    fi
else
    log "not root: not running scripts/install-deps.sh (run it as root if something is missing)"
fi

# --- build ---------------------------------------------------------------
if [ -f "$BUILD/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$BUILD" "${MESON_OPTS[@]}" ||
        fail "meson setup --reconfigure $BUILD"
else
    meson setup "$BUILD" "${MESON_OPTS[@]}" || fail "meson setup $BUILD"
fi
ninja -C "$BUILD" || fail "build (ninja -C $BUILD)"
FORMAT_OK=1
if ! ninja -C "$BUILD" clang-format-check; then
    FORMAT_OK=0
    log "FAILED: clang-format-check (fix with: ninja -C $BUILD clang-format)"
fi

# --- servers -------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcachefs-test.XXXXXX")
export PCACHE_TEST_TMP=$TMP/tests
export PCACHE_TEST_HARNESS=$HARNESS
mkdir -p "$PCACHE_TEST_TMP"

# export_env FILE: export its KEY=VALUE lines (without any shell evaluation)
export_env() {
    local k v
    while IFS='=' read -r k v; do
        [[ $k =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        export "$k=$v"
    done <"$1"
}

if [ $SERVERS = 1 ]; then
    t0=$(date +%s%N)
    STARTED=(s3rver rgw)
    "$HARNESS/s3rver.sh" start "$TMP/s3rver" >"$TMP/s3rver.start.log" 2>&1 &
    p_s3rver=$!
    "$HARNESS/rgw.sh" start "$TMP/rgw" >"$TMP/rgw.start.log" 2>&1 &
    p_rgw=$!
    ok=1
    wait $p_s3rver || ok=0
    wait $p_rgw || ok=0
    cat "$TMP/s3rver.start.log" "$TMP/rgw.start.log" >&2
    [ $ok = 1 ] || fail "starting the S3 servers (see above)"
    export_env "$TMP/s3rver/env"
    export_env "$TMP/rgw/env"
    log "servers up in $((($(date +%s%N) - t0) / 1000000)) ms: s3rver $S3RVER_URL, radosgw $RGW_URL"
fi

# --- tests ---------------------------------------------------------------
SUITE_ARGS=()
for s in "${SUITES[@]}"; do SUITE_ARGS+=(--suite "$s"); done
rm -f "$BUILD/meson-logs/testlog.json"
rc=0
# in the background so that a TERM/INT reaches our trap at once (bash would
# wait for a foreground child first); the trap stops meson by its pid
meson test -C "$BUILD" --print-errorlogs --num-processes 2 \
    "${SUITE_ARGS[@]}" &
MESON_PID=$!
wait "$MESON_PID" || rc=$?
MESON_PID=

if [ -f "$BUILD/meson-logs/testlog.json" ]; then
    read -r PASSED FAILED SKIPPED < <(/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" <<'EOF'
import json, sys
ok = bad = skip = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT
            bad += 1
print(ok, bad, skip)
EOF
    )
    [ "$SKIPPED" = 0 ] || log "$SKIPPED skipped"
elif [ $rc != 0 ]; then
    log "meson test failed before running any test (exit $rc)"
fi
if [ $((PASSED + FAILED + SKIPPED)) = 0 ]; then
    log "FAILED: no test ran (suites: ${SUITES[*]:-all})"
    rc=1
fi
[ $FORMAT_OK = 1 ] || rc=1
[ "$FAILED" = 0 ] || rc=1
exit $rc
