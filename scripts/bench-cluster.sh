#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-cluster.sh: pcachefs in cluster mode (-o pms=) on one machine:
# s3rver, pmsd, up to three pcpd and one client, all on 127.0.0.1. Not a
# timed test: a report for people.
#
#   scripts/bench-cluster.sh [options]        (as root; ~1.5 min on 2 cores)
#
# Options
#   --build DIR     meson build dir with pcachefs/pcachefs (with cluster
#                   mode), pcpd/pcpd, pmsd/pmsd, pmsd/pcachectl (default:
#                   build/ of this checkout; built there if missing). Use a
#                   build without sanitizers.
#   --quick         256 MiB instead of 1 GiB everywhere (~30 s)
#   --readers N     parallel readers of the warm test (default 4)
#   --client-opts O extra -o options for both client mounts (e.g.
#                   max_memory=2G)
#   --keep          keep the run directory (logs, data); processes are
#                   stopped and mounts unmounted in any case
#   --out FILE      also copy the Markdown report to FILE
#   --dir DIR       where the run directory is made (default /tmp)
#
# Measured
#   warm   aggregate read throughput of one client, N readers (dd bs=1M)
#          over N files of 1 GiB / N in all, with 1, 2 and 3 nodes: a
#          first pass (untimed) fills the nodes, then the client is
#          remounted with no disk cache (cache_size=0) and the kernel
#          caches dropped, so every byte comes from the nodes' memory
#          tiers; ratio against 1 node. The nodes' misses during the timed
#          pass are reported (0 = really warm).
#   cold   one 1 GiB file (dd bs=1M), nodes, client and kernel caches
#          cold: through the cluster (3 nodes), through a standalone
#          mount (pcachefs s3://bench, default options), and the backend
#          ceiling: curl, 8 parallel ranged GETs of the same object;
#          ratios against the ceiling and cluster against standalone.
# The content of the cold reads is compared with the source (untimed).
#
# Every process is started here and stopped by its pid on exit (trap);
# mounts are unmounted (fusermount -u, then -z). A watchdog ends the run
# after 20 minutes whatever happens. Tiers live in /dev/shm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

BUILD=$ROOT/build
QUICK=0
READERS=4
CLIENT_OPTS=
KEEP=0
OUT=
BASE=/tmp
usage() {
    sed -n '4,24p' "$0" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --build) [ $# -ge 2 ] || usage; BUILD=$(realpath -m "$2"); shift 2 ;;
    --quick) QUICK=1; shift ;;
    --readers) [ $# -ge 2 ] || usage; READERS=$2; shift 2 ;;
    --client-opts) [ $# -ge 2 ] || usage; CLIENT_OPTS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --out) [ $# -ge 2 ] || usage; OUT=$(realpath -m "$2"); shift 2 ;;
    --dir) [ $# -ge 2 ] || usage; BASE=$2; shift 2 ;;
    *) usage ;;
    esac
done
[[ $READERS =~ ^[1-9][0-9]?$ ]] || die "--readers: 1..99"
[ "$(id -u)" = 0 ] || die "run as root (mounts, drop_caches)"

if [ $QUICK = 1 ]; then BIG=$((256 << 20)) LIM=60; else BIG=$((1 << 30)) LIM=180; fi
WARM_EACH=$((BIG / READERS / 1048576 * 1048576))
WARM_ALL=$((WARM_EACH * READERS))
BUCKET=bench REGION=us-east-1
CHUNK=8M
TIER=$((2 * BIG / 1048576 + 256))M # per node: the warm set and a third of big, with room
WATCHDOG_S=1200

# ------------------------------------------------------------- run dirs
mkdir -p "$BASE"
RUN=$(mktemp -d "$BASE/pcachefs-bench-cluster.XXXXXX")
SHM=$(mktemp -d /dev/shm/pcachefs-bench-cluster.XXXXXX)
LOGDIR=$RUN/logs
mkdir -p "$LOGDIR" "$RUN/mnt" "$RUN/cache"
RESULTS=$RUN/results.md
S3DIR=$RUN/s3
S3_STARTED=0
PMSD_PID=
WATCHDOG_PID=
MOUNT_PID=
MOUNT_MP=
NODE_PID=()
NODE_PORT=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    set +e
    [ -n "$WATCHDOG_PID" ] && kill -TERM "$WATCHDOG_PID" 2>/dev/null
    umount_client
    for p in "${NODE_PID[@]}"; do stop_pid "$p" 15; done
    [ -n "$PMSD_PID" ] && stop_pid "$PMSD_PID"
    [ "$S3_STARTED" = 1 ] && bash "$ROOT/tests/harness/s3rver.sh" stop "$S3DIR" >/dev/null 2>&1
    if awk -v d="$RUN/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        log "WARNING: something is still mounted under $RUN: leaving $RUN and $SHM alone"
    elif [ "$KEEP" = 1 ]; then
        log "kept: $RUN and $SHM (tiers, data)"
    else
        rm -rf "${SHM:?}" "${S3DIR:?}" "${RUN:?}/cache" "${RUN:?}/mnt" "${RUN:?}/nodes"
    fi
    [ -s "$RESULTS" ] && log "results: $RESULTS"
    log "run directory: $RUN"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The watchdog TERMs this script (by pid) once the time is up; the trap
# then stops everything.
(
    trap 'kill -TERM $sp 2>/dev/null; exit 0' TERM
    sleep "$WATCHDOG_S" &
    sp=$!
    wait $sp
    echo "bench-cluster.sh: watchdog: $WATCHDOG_S s are up" >&2
    kill -TERM $$
) </dev/null &
WATCHDOG_PID=$!

# ------------------------------------------------------------- binaries
PCACHEFS=$BUILD/pcachefs/pcachefs
PCPD=$BUILD/pcpd/pcpd
PMSD=$BUILD/pmsd/pmsd
CTL=$BUILD/pmsd/pcachectl
if [ ! -x "$PCACHEFS" ] || [ ! -x "$PCPD" ] || [ ! -x "$PMSD" ] || [ ! -x "$CTL" ]; then
    log "building in $BUILD"
    [ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >>"$LOGDIR/build.log" 2>&1
    ninja -C "$BUILD" >>"$LOGDIR/build.log" 2>&1 || die "build failed (see $LOGDIR/build.log)"
fi
"$PCACHEFS" --help 2>&1 | grep -q 'pms' || die "$PCACHEFS has no cluster mode (-o pms=)"
if ldd "$PCACHEFS" 2>/dev/null | grep -q libasan; then
    log "WARNING: $PCACHEFS is built with ASan: figures will be low"
fi
for t in curl openssl dd fusermount3 setsid; do
    command -v $t >/dev/null || die "$t missing (scripts/install-deps.sh)"
done
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy AWS_CA_BUNDLE
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------- s3rver
log "run directory $RUN, tmpfs $SHM$([ $QUICK = 1 ] && echo ', --quick')"
S3_STARTED=1
S3RVER_HARNESS_QUIET=1 bash "$ROOT/tests/harness/s3rver.sh" start "$S3DIR" --bucket "$BUCKET" \
    2>>"$LOGDIR/s3rver-harness.log" || die "s3rver did not start (see $LOGDIR/s3rver-harness.log)"
S3_URL=$(sed -n 's/^S3RVER_URL=//p' "$S3DIR/env")
S3_KEY=$(sed -n 's/^S3RVER_KEY=//p' "$S3DIR/env")
S3_SECRET=$(sed -n 's/^S3RVER_SECRET=//p' "$S3DIR/env")
log "s3rver on $S3_URL"

# ------------------------------------------------------------- data
# put_gen LABEL BYTES KEY: deterministic data, through tmpfs, into the bucket
put_gen() {
    prand "$1" "$2" >"$SHM/$1"
    s3curl -f --max-time "$LIM" -T "$SHM/$1" -o /dev/null "$S3_URL/$BUCKET/$3" ||
        die "upload of $3 failed"
}
log "data: big/big.bin ($(mib $BIG) MiB), warm/w0..w$((READERS - 1)) ($(mib $WARM_EACH) MiB each)"
put_gen big.bin "$BIG" big/big.bin # kept in tmpfs for the content check
for ((i = 0; i < READERS; i++)); do
    put_gen "w$i" "$WARM_EACH" "warm/w$i"
    rm -f "$SHM/w$i"
done

# ------------------------------------------------------------- pmsd
PMS=127.0.0.1:$(free_port)
"$PMSD" --listen "$PMS" --state-dir "$RUN/pmsd" \
    -o heartbeat_interval=1s,heartbeat_expiry=5s,log_level=warn \
    >>"$LOGDIR/pmsd.log" 2>&1 </dev/null &
PMSD_PID=$!
for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null "http://$PMS/v1/status" && break
    alive "$PMSD_PID" || die "pmsd exited (see $LOGDIR/pmsd.log)"
    sleep 0.1
done
ctl() { PCACHE_PMS=$PMS PCACHE_CREDFILE=$RUN/pmsd/admin.cred "$CTL" "$@"; }
# new_key USER FILE: a key of USER into FILE (ACCESS:SECRET, 0600)
new_key() {
    (umask 077 && ctl key create "$1" |
        awk '$1 == "access_key" { a = $2 } $1 == "secret_key" { s = $2 }
             END { if (a == "" || s == "") exit 1; print a ":" s }' >"$2") ||
        die "pcachectl key create $1 failed"
}
{
    ctl policy add nodes --allow 'node:*'
    ctl user add node --policy nodes
    ctl policy add readers --allow 'read,list:pb/*'
    ctl user add reader --policy readers
    ctl backend add s3 --endpoint "$S3_URL" --bucket "$BUCKET" --path-style \
        --access-key "$S3_KEY" --secret-key "$S3_SECRET"
    ctl pbucket add pb --chunk-size "$CHUNK" --route "=s3"
} >>"$LOGDIR/pcachectl.log" 2>&1 || die "pmsd setup failed (see $LOGDIR/pcachectl.log)"
new_key node "$RUN/node.cred"
new_key reader "$RUN/reader.cred"
log "pmsd on $PMS (pid $PMSD_PID)"

live_nodes() { ctl --json node list 2>/dev/null | grep -c '"id"' || true; }

# start_node I: pcpd n<I> on a free port, tier in tmpfs
start_node() {
    local i=$1 port conf
    port=$(free_port)
    conf=$RUN/n$i.conf
    mkdir -p "$RUN/nodes" "$SHM/n$i"
    cat >"$conf" <<CONF
listen = 127.0.0.1:$port
node_id = n$i
pms_credfile = $RUN/node.cred
log_level = warn
CONF
    "$PCPD" --config "$conf" --pms "$PMS" --tier "mem:$SHM/n$i:$TIER" \
        >>"$LOGDIR/n$i.log" 2>&1 </dev/null &
    NODE_PID[i]=$!
    NODE_PORT[i]=$port
    for ((j = 0; j < 100; j++)); do
        [ "$(live_nodes)" -gt "$i" ] && return 0
        alive "${NODE_PID[i]}" || die "pcpd n$i exited (see $LOGDIR/n$i.log)"
        sleep 0.1
    done
    die "pcpd n$i did not register with pmsd in 10 s (see $LOGDIR/n$i.log)"
}

# node_sum METRIC: the metric summed over its labels and the running nodes
node_sum() {
    local i s=0 v
    for i in "${!NODE_PORT[@]}"; do
        v=$(curl -s --max-time 5 "http://127.0.0.1:${NODE_PORT[i]}/metrics" |
            awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f", s }')
        s=$(awk -v a="$s" -v b="${v:-0}" 'BEGIN { printf "%.0f", a + b }')
    done
    echo "$s"
}

# ------------------------------------------------------------- the client
# mount_client cluster|standalone OPTS
mount_client() {
    local kind=$1 opts=$2 i
    [ -n "$CLIENT_OPTS" ] && opts=${opts:+$opts,}$CLIENT_OPTS
    MOUNT_MP=$RUN/mnt/$kind
    mkdir -p "$MOUNT_MP" "$RUN/cache/$kind"
    if [ "$kind" = cluster ]; then
        env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY setsid "$PCACHEFS" pb "$MOUNT_MP" -f \
            -o "pms=$PMS,credfile=$RUN/reader.cred,cache_dir=$RUN/cache/$kind${opts:+,$opts}" \
            >>"$LOGDIR/pcachefs-$kind.log" 2>&1 </dev/null &
    else
        AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET setsid "$PCACHEFS" \
            "s3://$BUCKET" "$MOUNT_MP" -f \
            -o "endpoint=$S3_URL,chunk_size=$CHUNK,cache_dir=$RUN/cache/$kind${opts:+,$opts}" \
            >>"$LOGDIR/pcachefs-$kind.log" 2>&1 </dev/null &
    fi
    MOUNT_PID=$!
    for ((i = 0; i < 150; i++)); do
        is_mounted "$MOUNT_MP" && break
        alive "$MOUNT_PID" || die "pcachefs ($kind) exited while mounting (see $LOGDIR/pcachefs-$kind.log)"
        sleep 0.1
    done
    is_mounted "$MOUNT_MP" || die "pcachefs ($kind) did not mount in 15 s"
    timeout 30 stat "$MOUNT_MP/." >/dev/null || die "pcachefs ($kind) mounted but does not answer"
}
umount_client() {
    local i
    [ -n "$MOUNT_MP" ] && unmount_path "$MOUNT_MP"
    if [ -n "$MOUNT_PID" ]; then
        for ((i = 0; i < 300; i++)); do
            alive "$MOUNT_PID" || break
            sleep 0.1
        done
        stop_pid "$MOUNT_PID"
    fi
    MOUNT_PID=
    MOUNT_MP=
}

# read_all FILE...: every file with its own dd in parallel; sets RD_SECS
# and RD_BYTES (bytes dd copied, all files)
read_all() {
    local f t0 pids=() out=$RUN/dd.out p
    : >"$out"
    t0=$(now)
    for f in "$@"; do
        { timeout "$LIM" dd if="$f" of=/dev/null bs=1M 2>&1 | grep -oE '^[0-9]+ bytes' | cut -d' ' -f1 >>"$out"; } &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    RD_SECS=$(secs "$t0" "$(now)")
    RD_BYTES=$(awk '{ s += $1 } END { print s + 0 }' "$out")
}

declare -A MBS=() NOTE=()

# ------------------------------------------------------------- cold
# The cold tests come first: big.bin has been read by nobody yet.
log "cold: backend ceiling (curl, 8 parallel ranged GETs)"
drop_caches
get_ranged 8
[ -n "$GR_MBS" ] || die "ceiling: the ranged GETs did not get all $BIG bytes"
MBS[ceiling]=$GR_MBS
log "  ${MBS[ceiling]} MB/s"

# cold_read KIND: dd big.bin through a fresh mount, then compare it
cold_read() {
    local kind=$1
    drop_caches
    mount_client "$kind" ""
    read_all "$MOUNT_MP/big/big.bin"
    if [ "$RD_BYTES" = "$BIG" ]; then
        MBS[cold_$kind]=$(mbps "$BIG" "$RD_SECS")
        log "  ${MBS[cold_$kind]} MB/s ($RD_SECS s)"
        if ! timeout "$LIM" cmp -s "$MOUNT_MP/big/big.bin" "$SHM/big.bin"; then
            NOTE[cold_$kind]="CONTENT MISMATCH"
            log "  $kind: CONTENT MISMATCH"
        fi
    else
        MBS[cold_$kind]=
        NOTE[cold_$kind]="FAILED: read $RD_BYTES of $BIG bytes in $RD_SECS s"
        log "  ${NOTE[cold_$kind]}"
    fi
    umount_client
}
log "cold: standalone pcachefs s3://$BUCKET"
cold_read standalone
rm -rf "$RUN/cache/standalone"

log "starting 3 nodes"
for i in 0 1 2; do start_node "$i"; done
log "cold: cluster, 3 nodes"
cold_read cluster
rm -rf "$RUN/cache/cluster"

# ------------------------------------------------------------- warm
# Nodes are stopped and started again for 1, 2, 3 (their tiers emptied):
# with k nodes, placement spreads the warm set over those k.
stop_nodes() {
    local i
    for i in "${!NODE_PID[@]}"; do stop_pid "${NODE_PID[i]}" 15; done
    NODE_PID=()
    NODE_PORT=()
    rm -rf "${SHM:?}"/n[0-9]*
    for ((i = 0; i < 100; i++)); do
        [ "$(live_nodes)" = 0 ] && return 0
        sleep 0.1
    done
    die "nodes still listed by pmsd 10 s after they stopped"
}
WARM_FILES=()
for ((i = 0; i < READERS; i++)); do WARM_FILES+=("warm/w$i"); done
for k in 1 2 3; do
    stop_nodes
    for ((i = 0; i < k; i++)); do start_node "$i"; done
    log "warm: $k node(s), $READERS readers over $(mib $WARM_ALL) MiB"
    mount_client cluster cache_size=0
    read_all "${WARM_FILES[@]/#/$MOUNT_MP/}"
    log "  fill pass: $(mbps "$RD_BYTES" "$RD_SECS") MB/s ($RD_BYTES bytes)"
    umount_client
    drop_caches
    miss0=$(node_sum pcpd_chunk_misses_total)
    hits0=$(node_sum pcpd_chunk_hits_total)
    sent0=$(node_sum pcpd_tier_bytes_served_total)
    mount_client cluster cache_size=0
    read_all "${WARM_FILES[@]/#/$MOUNT_MP/}"
    umount_client
    misses=$(($(node_sum pcpd_chunk_misses_total) - miss0))
    hits=$(($(node_sum pcpd_chunk_hits_total) - hits0))
    sent=$(($(node_sum pcpd_tier_bytes_served_total) - sent0))
    if [ "$RD_BYTES" = "$WARM_ALL" ]; then
        MBS[warm$k]=$(mbps "$WARM_ALL" "$RD_SECS")
        NOTE[warm$k]="node requests: $hits hits, $misses misses; nodes sent $(mib "$sent") MiB"
        log "  ${MBS[warm$k]} MB/s ($RD_SECS s; ${NOTE[warm$k]})"
    else
        MBS[warm$k]=
        NOTE[warm$k]="FAILED: read $RD_BYTES of $WARM_ALL bytes in $RD_SECS s"
        log "  ${NOTE[warm$k]}"
    fi
done
stop_nodes

# ------------------------------------------------------------- report
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
{
    echo "# pcachefs cluster mode: one client, s3rver, pmsd, 1-3 pcpd on one machine"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, build $BUILD, chunk size $CHUNK${CLIENT_OPTS:+, client options $CLIENT_OPTS}."
    echo
    echo "| measurement | MB/s | ratio | notes |"
    echo "|---|---:|---:|---|"
    for k in 1 2 3; do
        echo "| warm, $k node(s), $READERS readers, $(mib $WARM_ALL) MiB | ${MBS[warm$k]:-FAIL} | $(x "${MBS[warm$k]:-0}" "${MBS[warm1]:-0}") x 1 node | ${NOTE[warm$k]:-} |"
    done
    echo "| cold $(mib $BIG) MiB, backend ceiling (curl, 8 ranged GETs) | ${MBS[ceiling]} | 1.00 | |"
    echo "| cold $(mib $BIG) MiB, standalone (pcachefs s3://) | ${MBS[cold_standalone]:-FAIL} | $(x "${MBS[cold_standalone]:-0}" "${MBS[ceiling]}") x ceiling | ${NOTE[cold_standalone]:-} |"
    echo "| cold $(mib $BIG) MiB, cluster (3 nodes) | ${MBS[cold_cluster]:-FAIL} | $(x "${MBS[cold_cluster]:-0}" "${MBS[ceiling]}") x ceiling, $(x "${MBS[cold_cluster]:-0}" "${MBS[cold_standalone]:-0}") x standalone | ${NOTE[cold_cluster]:-} |"
    echo
    echo "Warm: a fill pass, then a fresh mount with cache_size=0 and the kernel"
    echo "caches dropped; every byte comes from the nodes (tiers in /dev/shm)."
    echo "Cold: kernel caches dropped, fresh client cache, nodes never saw the file."
    echo "All processes share the machine's cores: client, nodes, s3rver, dd."
} >"$RESULTS"
# The chart: MB/s of each measurement (bench-chart.sh, gnuplot).
{
    echo "measurement MB/s"
    for k in 1 2 3; do echo "warm_${k}_nodes ${MBS[warm$k]:--}"; done
    echo "cold_ceiling ${MBS[ceiling]:--}"
    echo "cold_standalone ${MBS[cold_standalone]:--}"
    echo "cold_cluster ${MBS[cold_cluster]:--}"
} >"$RUN/chart.dat"
if bash "$ROOT/scripts/bench-chart.sh" "$RUN/chart.dat" "$RUN/results.png" \
    "pcachefs cluster mode: read throughput, one client" "MB/s" >/dev/null 2>&1; then
    printf '\nChart: %s\n' "$RUN/results.png" >>"$RESULTS"
fi
echo
cat "$RESULTS"
[ -n "$OUT" ] && cp "$RESULTS" "$OUT"
[ -n "$OUT" ] && [ -s "$RUN/results.png" ] && cp "$RUN/results.png" "${OUT%.*}.png"
exit 0
