#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench.sh: pcachefs side by side with s3fs and rclone, in one run, on one
# local S3 server (s3rver on 127.0.0.1), with the machine's own ceilings
# measured in the same run. Not a timed test: a report for people.
#
#   scripts/bench.sh [options]            (as root; about 4 min on 2 cores)
#
# Options
#   --tests LETTERS     subset of abcdefm (default: all)
#   --quick             small data set and short caps: a smoke run (~1 min)
#   --keep              keep the data (S3 data, caches, tmpfs copies) after
#                       the run; processes are stopped and mounts unmounted
#                       in any case
#   --systems LIST      comma-separated subset of pcachefs,s3fs,rclone
#   --pcachefs-opts O   extra -o options for pcachefs (e.g. max_memory=256M)
#   --build DIR         meson build dir holding pcachefs/pcachefs and
#                       pcachefs/pcmd (default: build/ of this checkout;
#                       built there if missing)
#   --count-requests    log every S3 request (costs s3rver some CPU) and
#                       report requests per test and system
#   --fio-runtime S     cap of test f in seconds (default 30, quick 10)
#   --out FILE          also copy the Markdown report to FILE
#   --dir DIR           where the run directory is made (default /tmp)
#
# Tests (each bounded by a timeout; "cold" = unmount, wipe the system's own
# cache directory, drop the kernel caches, mount again)
#   a   cold sequential read of big/1GiB.bin (dd bs=1M)
#   b   b1: re-read right after a (page cache kept); b2: re-read after
#       drop_caches (from the system's own disk cache); then the content is
#       compared with the source (untimed). b1's note gives the share of
#       the file still in the page cache when b1 started (fincore) and a
#       second re-read.
#   c   1,000 x 64 KiB files read by 16 parallel readers (xargs -P16 cat),
#       c1 cold, c2 warm
#   d   ls -l over 10,000 objects, d1 cold, d2 warm; d3 find, cold
#   e   256 MiB from tmpfs written with cp + sync (e1); time from the start
#       of cp until the S3 API shows the object with its full size (e2,
#       HEAD polled every 0.1 s); md5 read back through the S3 API (e3)
#   f   fio 4 KiB random reads, psync, 4 jobs each on its own quarter of a
#       256 MiB file, capped at --fio-runtime, cold
#   m   peak RSS of the daemon while 16 readers each read one 64 MiB file
#       in parallel, cold (pcachefs: against its max_memory)
# Ceilings: tmpfs read (b1); disk read of the same 1 GiB, cold, the better
# of a copy written just before and s3rver's object file (b2); curl GET of
# the 1 GiB with 8 parallel ranged streams, cold (a), plus warm, 1 stream
# and 8 streams written to files, for reference; upload of the 256 MiB:
# one curl PUT, and a curl multipart upload with 8 parts in parallel (e2 is
# held against the better of the two).
#
# Only the system under test is mounted while a test runs: an idle peer's
# daemon still wakes up for its own timers.
#
# Everything binds to 127.0.0.1. Every process is started here and stopped
# by its pid on exit, every mount is unmounted (fusermount -u, then -z).
# The run directory keeps results.md, results.tsv, logs/ and a chart
# (results.png, from chart.dat by scripts/bench-chart.sh with gnuplot):
# each system's speed relative to the best peer on every test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

TESTS=abcdefm
QUICK=0
KEEP=0
SYSTEMS_ARG=pcachefs,s3fs,rclone
PC_OPTS=
BUILD=$ROOT/build
COUNT_REQ=0
FIO_RUNTIME=
OUT=
BASE=/tmp
while [ $# -gt 0 ]; do
    case $1 in
    --tests) TESTS=$2 && shift 2 ;;
    --quick) QUICK=1 && shift ;;
    --keep) KEEP=1 && shift ;;
    --systems) SYSTEMS_ARG=$2 && shift 2 ;;
    --pcachefs-opts) PC_OPTS=$2 && shift 2 ;;
    --build) BUILD=$(realpath -m "$2") && shift 2 ;;
    --count-requests) COUNT_REQ=1 && shift ;;
    --fio-runtime) FIO_RUNTIME=$2 && shift 2 ;;
    --out) OUT=$(realpath -m "$2") && shift 2 ;;
    --dir) BASE=$2 && shift 2 ;;
    -h | --help)
        sed -n '4,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
done
[[ $TESTS =~ ^[abcdefm]+$ ]] || die "--tests takes letters from abcdefm"
IFS=, read -r -a SYSTEMS <<<"$SYSTEMS_ARG"
for s in "${SYSTEMS[@]}"; do
    case $s in pcachefs | s3fs | rclone) ;; *) die "unknown system $s" ;; esac
done
[ "$(id -u)" = 0 ] || die "run as root (mounts, drop_caches, apt-get)"

# ------------------------------------------------------------- sizes
if [ $QUICK = 1 ]; then
    BIG=$((64 << 20)) FIO_SZ=$((32 << 20)) SMALL_N=200 MANY_N=1000
    W_SZ=$((32 << 20)) PAR_N=16 PAR_SZ=$((8 << 20)) LIM=60
    : "${FIO_RUNTIME:=10}"
else
    BIG=$((1 << 30)) FIO_SZ=$((256 << 20)) SMALL_N=1000 MANY_N=10000
    W_SZ=$((256 << 20)) PAR_N=16 PAR_SZ=$((64 << 20)) LIM=180
    : "${FIO_RUNTIME:=30}"
fi
SMALL_SZ=65536 MANY_SZ=256
BUCKET=bench REGION=us-east-1
PC_CACHE_SIZE=8G
RSS_OVERHEAD=$((64 << 20)) # allowance above max_memory: code, heap, FUSE buffers

# ------------------------------------------------------------- run dirs
mkdir -p "$BASE"
RUN=$(mktemp -d "$BASE/pcachefs-bench.XXXXXX")
SHM=$(mktemp -d /dev/shm/pcachefs-bench.XXXXXX)
LOGDIR=$RUN/logs
mkdir -p "$LOGDIR" "$RUN/mnt" "$RUN/cache"
RESULTS=$RUN/results.md
TSV=$RUN/results.tsv
: >"$TSV"
S3DIR=$RUN/s3
S3_STARTED=0
SAMPLER_PID=
declare -A PID=() MP=() CACHE=()
for s in "${SYSTEMS[@]}"; do
    MP[$s]=$RUN/mnt/$s
    CACHE[$s]=$RUN/cache/$s
done

# mounted_below DIR: is anything under DIR still mounted?
mounted_below() { awk -v d="$1/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/mounts; }

unmount_sys() {
    local s=$1 pid=${PID[$1]:-} i
    unmount_path "${MP[$s]}"
    if [ -n "$pid" ]; then
        # the daemon exits by itself once unmounted; give it time to flush
        for ((i = 0; i < 300; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && log "WARNING: $s (pid $pid) alive 30 s after unmount, stopping it"
        stop_pid "$pid"
    fi
    PID[$s]=
}

cleanup() {
    local rc=$? s
    trap - EXIT INT TERM
    set +e
    [ -n "$SAMPLER_PID" ] && stop_pid "$SAMPLER_PID" 1
    for s in "${SYSTEMS[@]}"; do unmount_sys "$s"; done
    [ $S3_STARTED = 1 ] && bash "$ROOT/tests/harness/s3rver.sh" stop "$S3DIR" >/dev/null 2>&1
    if mounted_below "$RUN"; then
        log "WARNING: something is still mounted under $RUN: leaving $RUN and $SHM alone"
    elif [ $KEEP = 1 ]; then
        log "kept: $RUN (S3 data in s3/, caches in cache/) and $SHM (tmpfs copies)"
    else
        rm -rf "$SHM" "$S3DIR" "$RUN/cache" "$RUN/small.list" "$RUN"/curlcfg.*
        for s in "${SYSTEMS[@]}"; do rmdir "${MP[$s]}" 2>/dev/null; done
        rmdir "$RUN/mnt" 2>/dev/null
    fi
    [ -s "$RESULTS" ] && log "results: $RESULTS"
    log "run directory: $RUN"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------- dependencies
log "run directory $RUN, tmpfs $SHM$([ $QUICK = 1 ] && echo ', --quick')"
PCACHEFS=$BUILD/pcachefs/pcachefs
PCMD=$BUILD/pcachefs/pcmd
harness_deps_ok() {
    command -v node >/dev/null 2>&1 &&
        grep -qs '"version": "3.7.1"' \
            "${PCACHE_NPM_PREFIX:-/opt/pcachefs-test/npm}/node_modules/s3rver/package.json" &&
        /usr/bin/python3 -c 'import botocore' 2>/dev/null
}
if ! harness_deps_ok || [ ! -x "$PCACHEFS" ] || [ ! -x "$PCMD" ]; then
    log "installing build and test dependencies (scripts/install-deps.sh)"
    bash "$ROOT/scripts/install-deps.sh" >>"$LOGDIR/install-deps.log" 2>&1 ||
        die "scripts/install-deps.sh failed (see $LOGDIR/install-deps.log)"
fi
if [ ! -x "$PCACHEFS" ] || [ ! -x "$PCMD" ]; then
    log "building pcachefs in $BUILD"
    [ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >>"$LOGDIR/build.log" 2>&1
    ninja -C "$BUILD" >>"$LOGDIR/build.log" 2>&1 || die "build failed (see $LOGDIR/build.log)"
fi
ensure_debs s3fs rclone fio curl jq openssl fuse3
ensure_debs procps

# Plain http on loopback: no proxies, and no CA bundle (rclone 1.60 refuses
# to start while AWS_CA_BUNDLE is set).
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy AWS_CA_BUNDLE
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ------------------------------------------------------------- S3 server
log "starting s3rver (tests/harness/s3rver.sh)"
S3_STARTED=1
if [ $COUNT_REQ = 1 ]; then
    bash "$ROOT/tests/harness/s3rver.sh" start "$S3DIR" --bucket "$BUCKET" 2>>"$LOGDIR/s3rver-harness.log"
else
    S3RVER_HARNESS_QUIET=1 bash "$ROOT/tests/harness/s3rver.sh" start "$S3DIR" --bucket "$BUCKET" \
        2>>"$LOGDIR/s3rver-harness.log"
fi
S3_URL=$(sed -n 's/^S3RVER_URL=//p' "$S3DIR/env")
S3_KEY=$(sed -n 's/^S3RVER_KEY=//p' "$S3DIR/env")
S3_SECRET=$(sed -n 's/^S3RVER_SECRET=//p' "$S3DIR/env")
S3_PID=$(cat "$S3DIR/s3rver.pid")
S3_LOG=$S3DIR/log/s3rver.log
[[ $S3_URL == http://127.0.0.1:* ]] || die "s3rver is not on 127.0.0.1: $S3_URL"
export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_DEFAULT_REGION=$REGION
log "s3rver on $S3_URL (pid $S3_PID), bucket $BUCKET"

# load average, every 5 s, for the report
(
    while :; do
        printf '%s %s\n' "$(date +%s)" "$(cut -d' ' -f1-3 /proc/loadavg)"
        sleep 5
    done
) >"$RUN/loadavg.log" 2>/dev/null &
SAMPLER_PID=$!
T_START=$(now)

# ------------------------------------------------------------- data set
# Content is deterministic (prand); big.bin and the write source stay in
# tmpfs for the ceilings, the rest is generated, uploaded and dropped.
# need LETTERS: does the --tests selection include one of LETTERS?
need() { [[ $TESTS == *["$1"]* ]]; }

make_data() {
    local t0 n f p pids=() checks=big:1
    t0=$(now)
    log "data: generating and uploading what tests $TESTS read (big $(mib $BIG) MiB," \
        "fio $(mib $FIO_SZ) MiB, $SMALL_N x 64 KiB, $MANY_N x 256 B, $PAR_N x $(mib $PAR_SZ) MiB)"
    # big.bin and the write source serve the ceilings, so always
    prand big "$BIG" >"$SHM/big.bin"
    prand write "$W_SZ" >"$SHM/w.bin"
    W_MD5=$(md5sum <"$SHM/w.bin" | cut -d' ' -f1)
    "$PCMD" -e "$S3_URL" put "$SHM/big.bin" "s3://$BUCKET/big/big.bin" >>"$LOGDIR/data.log"
    if need f; then
        prand fio "$FIO_SZ" >"$SHM/fio.bin"
        "$PCMD" -e "$S3_URL" put "$SHM/fio.bin" "s3://$BUCKET/fio/fio.bin" >>"$LOGDIR/data.log"
        rm -f "$SHM/fio.bin"
        checks+=" fio:1"
    fi
    if need m; then
        mkdir -p "$SHM/par"
        prand par $((PAR_N * PAR_SZ)) | split -a 2 -d -b "$PAR_SZ" - "$SHM/par/p"
        for f in "$SHM"/par/p*; do
            "$PCMD" -e "$S3_URL" put "$f" "s3://$BUCKET/par/${f##*/}" >>"$LOGDIR/data.log" &
            pids+=($!)
            [ ${#pids[@]} -ge 4 ] && { wait "${pids[0]}"; pids=("${pids[@]:1}"); }
        done
        for f in "${pids[@]}"; do wait "$f"; done
        rm -rf "$SHM/par"
        checks+=" par:$PAR_N"
    fi
    if need c; then
        mkdir -p "$SHM/small"
        prand small $((SMALL_N * SMALL_SZ)) | split -a 4 -d -b $SMALL_SZ - "$SHM/small/f"
        s3_put_many "$SHM/small" small
        rm -rf "$SHM/small"
        checks+=" small:$SMALL_N"
    fi
    if need d; then
        mkdir -p "$SHM/many"
        prand many $((MANY_N * MANY_SZ)) | split -a 5 -d -b $MANY_SZ - "$SHM/many/o"
        s3_put_many "$SHM/many" many
        rm -rf "$SHM/many"
        checks+=" many:$MANY_N"
    fi
    for p in $checks; do
        n=$(s3_count "${p%%:*}/")
        [ "$n" = "${p#*:}" ] || die "s3://$BUCKET/${p%%:*}/ has $n objects, expected ${p#*:}"
    done
    DATA_SECS=$(secs "$t0" "$(now)")
    log "data: done in $DATA_SECS s"
}
make_data

# ------------------------------------------------------------- mounts
PC_MAXMEM=$("$PCACHEFS" --help 2>&1 | sed -n 's/^ *max_memory .*(default: \([^)]*\)).*/\1/p' | head -1)
case ",$PC_OPTS," in *,max_memory=*)
    PC_MAXMEM=${PC_OPTS##*max_memory=}
    PC_MAXMEM=${PC_MAXMEM%%,*}
    ;;
esac
PC_MAXMEM_B=$(to_bytes "${PC_MAXMEM:-512M}")

printf '%s:%s\n' "$S3_KEY" "$S3_SECRET" >"$RUN/s3fs.passwd"
chmod 600 "$RUN/s3fs.passwd"
cat >"$RUN/rclone.conf" <<EOF
[bench]
type = s3
provider = Other
access_key_id = $S3_KEY
secret_access_key = $S3_SECRET
endpoint = $S3_URL
region = $REGION
force_path_style = true
no_check_bucket = true
EOF
# mount_args NAME: the daemon's arguments after SOURCE MOUNTPOINT (one
# word each; the run directory has no spaces)
mount_args() {
    case $1 in
    pcachefs) echo "-f -o endpoint=$S3_URL,cache_dir=${CACHE[$1]},cache_size=$PC_CACHE_SIZE${PC_OPTS:+,$PC_OPTS}" ;;
    s3fs) echo "-f -o passwd_file=$RUN/s3fs.passwd,url=$S3_URL,use_path_request_style,endpoint=$REGION,use_cache=${CACHE[$1]},dbglevel=warn" ;;
    rclone) echo "--config $RUN/rclone.conf --vfs-cache-mode full --cache-dir ${CACHE[$1]} --log-file $LOGDIR/rclone.log --log-level NOTICE" ;;
    esac
}

# mount_sys NAME: start the daemon in the foreground under setsid (so $! is
# the daemon), wait until the mount answers
mount_sys() {
    local s=$1 mp=${MP[$1]} i args
    unmount_path "$mp"
    mkdir -p "$mp" "${CACHE[$s]}"
    read -r -a args <<<"$(mount_args "$s")"
    case $s in
    pcachefs) setsid "$PCACHEFS" "s3://$BUCKET" "$mp" "${args[@]}" >>"$LOGDIR/pcachefs.log" 2>&1 </dev/null & ;;
    s3fs) setsid s3fs "$BUCKET" "$mp" "${args[@]}" >>"$LOGDIR/s3fs.log" 2>&1 </dev/null & ;;
    rclone) setsid rclone mount "bench:$BUCKET" "$mp" "${args[@]}" >>"$LOGDIR/rclone.out" 2>&1 </dev/null & ;;
    esac
    PID[$s]=$!
    for ((i = 0; i < 150; i++)); do
        is_mounted "$mp" && break
        alive "${PID[$s]}" || die "$s exited while mounting (see $LOGDIR/$s.log)"
        sleep 0.1
    done
    is_mounted "$mp" || die "$s did not mount within 15 s (see $LOGDIR/$s.log)"
    timeout 30 stat "$mp/." >/dev/null || die "$s mounted but does not answer"
}

# alone NAME: NAME mounted, every other system unmounted, so that no
# other daemon's background work (write-back timers, cache cleaners)
# runs during NAME's test
alone() {
    local o
    for o in "${SYSTEMS[@]}"; do
        [ "$o" != "$1" ] && [ -n "${PID[$o]:-}" ] && unmount_sys "$o"
    done
    [ -n "${PID[$1]:-}" ] || mount_sys "$1"
}

# cold NAME: unmount, wipe its own cache, drop the kernel caches, remount
cold() {
    unmount_sys "$1"
    rm -rf "${CACHE[$1]:?}"
    drop_caches
    mount_sys "$1"
}

for s in "${SYSTEMS[@]}"; do
    mount_sys "$s"
    log "$s mounted at ${MP[$s]} (pid ${PID[$s]})"
done

# ------------------------------------------------------------- recording
CLK_TCK=$(getconf CLK_TCK)
declare -A VAL=() CELL=() NOTE=() CPU=() S3CPU=() REQ=()
M_T0='' M_TICKS='' M_S3TICKS='' M_LINE=''
# m_begin NAME / m_end NAME TEST: daemon and s3rver CPU, S3 requests
m_begin() {
    M_TICKS=$(cpu_ticks "${PID[$1]}")
    M_S3TICKS=$(cpu_ticks "$S3_PID")
    [ $COUNT_REQ = 1 ] && M_LINE=$(wc -l <"$S3_LOG")
    M_T0=$(now)
}
m_end() {
    local s=$1 t=$2 l
    CPU[$s|$t]=$(awk -v a="$M_TICKS" -v b="$(cpu_ticks "${PID[$s]}")" -v h="$CLK_TCK" \
        'BEGIN { printf "%.2f", (b - a) / h }')
    S3CPU[$s|$t]=$(awk -v a="$M_S3TICKS" -v b="$(cpu_ticks "$S3_PID")" -v h="$CLK_TCK" \
        'BEGIN { printf "%.2f", (b - a) / h }')
    if [ $COUNT_REQ = 1 ]; then
        l=$(wc -l <"$S3_LOG")
        REQ[$s|$t]=$(sed -n "$((M_LINE + 1)),${l}p" "$S3_LOG" | sed 's/\x1b\[[0-9;]*m//g' | awk -v b="$BUCKET" '
            $1 == "info:" && $2 ~ /^(GET|HEAD|PUT|POST|DELETE)$/ { m = $2; p = $3
                if (m == "GET" && (p ~ "^/" b "/?(\\?|$)")) m = "LIST"
                else if (m == "PUT" && p ~ /partNumber=/) m = "PART"
                c[m]++ }
            END { s = ""; for (k in c) s = s (s == "" ? "" : ", ") k " " c[k]; print (s == "" ? "none" : s) }')
    fi
}
# rec NAME TEST VALUE TEXT [NOTE]
rec() {
    VAL[$1|$2]=$3
    CELL[$1|$2]=$4
    [ -n "${5:-}" ] && NOTE[$1|$2]=$5
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${CPU[$1|$2]:-}" \
        "${S3CPU[$1|$2]:-}" "${REQ[$1|$2]:-}" >>"$TSV"
    log "  $1 $2: $4${5:+ ($5)}"
}
fail() { # fail NAME TEST TEXT
    VAL[$1|$2]=
    CELL[$1|$2]="FAIL: $3"
    printf '%s\t%s\t\tFAIL: %s\n' "$1" "$2" "$3" >>"$TSV"
    log "  $1 $2: FAIL: $3"
}

# ------------------------------------------------------------- ceilings
declare -A CEIL=() CEILTXT=()
CEIL_ORDER=()
crec() { # crec KEY MB/S TEXT
    CEIL[$1]=$2
    CEILTXT[$1]=$3
    CEIL_ORDER+=("$1")
    printf 'ceiling\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"
    log "  ceiling $1: $2 MB/s ($3)"
}
# timed_dd FILE: sets DD_BYTES, DD_SECS
timed_dd() {
    local t0 out
    t0=$(now)
    out=$(timeout "$LIM" dd if="$1" of=/dev/null bs=1M 2>&1) || true
    DD_SECS=$(secs "$t0" "$(now)")
    DD_BYTES=$(grep -oE '^[0-9]+ bytes' <<<"$out" | cut -d' ' -f1 || true)
}
# put_multipart KEY N: upload the write source as N parts in parallel;
# sets MP_MBS
put_multipart() {
    local key=$1 n=$2 part=$((W_SZ / $2)) i t0 uid xml=$SHM/complete.xml pids=()
    mkdir -p "$SHM/parts"
    split -a 2 -d -b "$part" "$SHM/w.bin" "$SHM/parts/p"
    t0=$(now)
    uid=$(s3curl --max-time 30 -X POST "$S3_URL/$BUCKET/$key?uploads" |
        sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p')
    MP_MBS=
    [ -n "$uid" ] || return 0
    for ((i = 0; i < n; i++)); do
        s3curl --max-time "$LIM" -T "$SHM/parts/p$(printf %02d $i)" -o /dev/null \
            -w '%header{etag}\n' "$S3_URL/$BUCKET/$key?partNumber=$((i + 1))&uploadId=$uid" \
            >"$SHM/parts/etag$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    {
        echo '<CompleteMultipartUpload>'
        for ((i = 0; i < n; i++)); do
            printf '<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>\n' $((i + 1)) \
                "$(tr -d '\r\n' <"$SHM/parts/etag$i")"
        done
        echo '</CompleteMultipartUpload>'
    } >"$xml"
    s3curl --max-time "$LIM" -X POST --data-binary "@$xml" -o /dev/null \
        "$S3_URL/$BUCKET/$key?uploadId=$uid" || true
    MP_SECS=$(secs "$t0" "$(now)")
    rm -rf "$SHM/parts" "$xml"
    [ "$(s3_head_size "$key")" = "200 $W_SZ" ] && MP_MBS=$(mbps "$W_SZ" "$MP_SECS")
    s3_delete "$key"
}

ceilings() {
    local obj t0 code
    log "ceilings"
    timed_dd "$SHM/big.bin" # warm-up pass
    timed_dd "$SHM/big.bin"
    crec tmpfs "$(mbps "$DD_BYTES" "$DD_SECS")" "tmpfs read, dd bs=1M, $(mib $BIG) MiB (2nd pass)"
    # The first read of pages the kernel holds on its inactive list moves
    # each one to the active list; with 4 KiB pages (tmpfs, FUSE) that is
    # a large part of the cost. b1 is such a first re-read.
    cp "$SHM/big.bin" "$SHM/big-copy.bin"
    timed_dd "$SHM/big-copy.bin"
    rm -f "$SHM/big-copy.bin"
    crec tmpfs1st "$(mbps "$DD_BYTES" "$DD_SECS")" "tmpfs read, first pass over a copy just written (not a target; compare with b1)"
    # The disk is virtual (the host caches it): how fast the same bytes
    # read back varies with when they were written. Read two copies cold:
    # one written just now, next to the caches, and s3rver's object file
    # (written at data set time); the b2 ceiling is the faster of the two.
    local dev
    dev=$(df --output=fstype,source "$RUN/cache" | tail -1 | xargs)
    cp "$SHM/big.bin" "$RUN/cache/disk-ceiling.bin"
    drop_caches
    timed_dd "$RUN/cache/disk-ceiling.bin"
    crec disknew "$(mbps "$DD_BYTES" "$DD_SECS")" "disk read ($dev), cold, of a copy written just before, dd bs=1M"
    timed_dd "$RUN/cache/disk-ceiling.bin"
    crec diskwarm "$(mbps "$DD_BYTES" "$DD_SECS")" "same file again, from the page cache (not a target; compare with b1)"
    rm -f "$RUN/cache/disk-ceiling.bin"
    obj=$(find "$S3DIR/data/$BUCKET" -path '*big/big.bin._S3rver_object' | head -1)
    if [ -n "$obj" ]; then
        drop_caches
        timed_dd "$obj"
        crec diskold "$(mbps "$DD_BYTES" "$DD_SECS")" "disk read ($dev), cold, of s3rver's object file (written at data set time)"
    fi
    CEIL[disk]=$(awk -v a="${CEIL[disknew]:-0}" -v b="${CEIL[diskold]:-0}" 'BEGIN { print (a > b ? a : b) }')
    drop_caches
    get_ranged 8
    crec get8cold "$GR_MBS" "curl GET, 8 parallel ranged streams, cold (server page cache dropped)"
    get_ranged 8
    crec get8warm "$GR_MBS" "curl GET, 8 parallel ranged streams, warm"
    get_ranged 1
    crec get1warm "$GR_MBS" "curl GET, 1 stream, warm"
    mkdir -p "$RUN/cache/get8file"
    drop_caches
    get_ranged 8 "$RUN/cache/get8file"
    rm -rf "$RUN/cache/get8file"
    crec get8file "$GR_MBS" "curl GET, 8 ranged streams, cold, each written to a file on the cache disk (not a target: what a caching client also pays)"
    t0=$(now)
    code=$(s3curl --max-time "$LIM" -T "$SHM/w.bin" -o /dev/null -w '%{http_code}' \
        "$S3_URL/$BUCKET/_ceiling/put.bin" || true)
    if [ "$code" = 200 ] && [ "$(s3_head_size _ceiling/put.bin)" = "200 $W_SZ" ]; then
        crec put1 "$(mbps "$W_SZ" "$(secs "$t0" "$(now)")")" "curl PUT $(mib $W_SZ) MiB, 1 request, until HEAD shows it"
    else
        crec put1 "" "curl PUT failed (HTTP $code)"
    fi
    s3_delete _ceiling/put.bin
    put_multipart _ceiling/mp.bin 8
    crec put8 "$MP_MBS" "curl multipart upload of $(mib $W_SZ) MiB, 8 parts in parallel (create + parts + complete)"
    # the upload ceiling is the better of the two ways
    UP_CEIL=$(awk -v a="${CEIL[put1]:-0}" -v b="${CEIL[put8]:-0}" 'BEGIN { print (a > b ? a : b) }')
}

# ------------------------------------------------------------- tests
# seq_read NAME TEST: dd the big file through the mount
seq_read() {
    local s=$1 t=$2
    m_begin "$s"
    timed_dd "${MP[$s]}/big/big.bin"
    m_end "$s" "$t"
    if [ "${DD_BYTES:-0}" = "$BIG" ]; then
        rec "$s" "$t" "$(mbps "$BIG" "$DD_SECS")" "$(mbps "$BIG" "$DD_SECS") MB/s"
    else
        fail "$s" "$t" "read ${DD_BYTES:-0} of $BIG bytes in $DD_SECS s"
    fi
}

test_ab() {
    local s=$1
    cold "$s"
    seq_read "$s" a
    # This VM's host drops page cache it sees as idle within seconds
    # (DAMON pageout): how much of the file b1 found cached.
    local res
    res=$(fincore -n -b -o RES "${MP[$s]}/big/big.bin" 2>/dev/null || echo 0)
    seq_read "$s" b1
    timed_dd "${MP[$s]}/big/big.bin"
    [ "${DD_BYTES:-0}" = "$BIG" ] &&
        NOTE[$s|b1]="$((res * 100 / BIG))% of the file in the page cache before b1; second re-read $(mbps "$BIG" "$DD_SECS") MB/s"
    drop_caches
    seq_read "$s" b2
    if [ "$s" = pcachefs ]; then
        # The bytes b2 read, as they lie on the disk: the chunk files.
        local t0 n
        n=$(find "${CACHE[$s]}" -path '*/??/??/*' -type f -printf '%s\n' |
            awk '{ n += $1 } END { print n + 0 }')
        drop_caches
        t0=$(now)
        find "${CACHE[$s]}" -path '*/??/??/*' -type f -print0 |
            timeout "$LIM" xargs -0 cat >/dev/null || true
        crec diskchunks "$(mbps "$n" "$(secs "$t0" "$(now)")")" "disk read, cold, of pcachefs's own chunk files after b2 (cat; not a target: the bytes b2 read, as stored)"
    fi
    if ! timeout "$LIM" cmp -s "${MP[$s]}/big/big.bin" "$SHM/big.bin"; then
        NOTE[$s|a]="CONTENT MISMATCH: the file read through the mount differs from the source"
        log "  $s: ${NOTE[$s|a]}"
    fi
}

test_c() {
    local s=$1 list=$RUN/small.list n rc t pass
    for ((n = 0; n < SMALL_N; n++)); do printf '%s/small/f%04d\n' "${MP[$s]}" "$n"; done >"$list"
    cold "$s"
    for pass in c1 c2; do
        rc=0
        m_begin "$s"
        n=$(timeout "$LIM" xargs -P16 -n10 cat <"$list" 2>>"$LOGDIR/c-$s.err" | wc -c) || rc=$?
        t=$(secs "$M_T0" "$(now)")
        m_end "$s" $pass
        if [ "$n" = $((SMALL_N * SMALL_SZ)) ]; then
            rec "$s" $pass "$t" "$t s ($(awk -v n="$SMALL_N" -v t="$t" 'BEGIN { printf "%.0f", n / t }') files/s)"
        else
            fail "$s" $pass "rc=$rc, $n of $((SMALL_N * SMALL_SZ)) bytes"
        fi
    done
}

test_d() {
    local s=$1 n rc t pass
    cold "$s"
    for pass in d1 d2; do
        rc=0
        m_begin "$s"
        n=$(timeout "$LIM" ls -l "${MP[$s]}/many" 2>>"$LOGDIR/d-$s.err" | wc -l) || rc=$?
        t=$(secs "$M_T0" "$(now)")
        m_end "$s" $pass
        if [ "$n" = $((MANY_N + 1)) ]; then
            rec "$s" $pass "$t" "$t s"
        else
            fail "$s" $pass "rc=$rc, $n lines of $((MANY_N + 1))"
        fi
    done
    cold "$s"
    rc=0
    m_begin "$s"
    n=$(timeout "$LIM" find "${MP[$s]}/many" -type f 2>>"$LOGDIR/d-$s.err" | wc -l) || rc=$?
    t=$(secs "$M_T0" "$(now)")
    m_end "$s" d3
    if [ "$n" = "$MANY_N" ]; then
        rec "$s" d3 "$t" "$t s"
    else
        fail "$s" d3 "rc=$rc, $n entries of $MANY_N"
    fi
}

test_e() {
    local s=$1 key rc=0 t0 t1 t2 t3 code md5
    key=wtest-$s.bin
    m_begin "$s"
    t0=$M_T0
    timeout "$LIM" cp "$SHM/w.bin" "${MP[$s]}/$key" 2>>"$LOGDIR/e-$s.err" || rc=$?
    t1=$(now)
    timeout "$LIM" sync || true
    t2=$(now)
    if [ $rc != 0 ]; then
        m_end "$s" e1
        fail "$s" e1 "cp exited $rc (see $LOGDIR/e-$s.err)"
    else
        while :; do
            code=$(s3_head_size "$key")
            t3=$(now)
            [ "$code" = "200 $W_SZ" ] && break
            ge "$(secs "$t0" "$t3")" "$LIM" && break
            sleep 0.1
        done
        m_end "$s" e2
        CPU[$s|e1]=${CPU[$s|e2]}
        S3CPU[$s|e1]=${S3CPU[$s|e2]}
        REQ[$s|e1]=${REQ[$s|e2]:-}
        rec "$s" e1 "$(mbps "$W_SZ" "$(secs "$t0" "$t2")")" \
            "$(mbps "$W_SZ" "$(secs "$t0" "$t2")") MB/s (cp $(secs "$t0" "$t1") s + sync $(secs "$t1" "$t2") s)"
        if [ "$code" = "200 $W_SZ" ]; then
            rec "$s" e2 "$(secs "$t0" "$t3")" \
                "$(secs "$t0" "$t3") s ($(mbps "$W_SZ" "$(secs "$t0" "$t3")") MB/s; +$(secs "$t2" "$t3") s after sync)"
            md5=$(s3curl --max-time "$LIM" "$S3_URL/$BUCKET/$key" | md5sum | cut -d' ' -f1)
            if [ "$md5" = "$W_MD5" ]; then rec "$s" e3 1 "ok (md5 matches)"; else fail "$s" e3 "md5 $md5, expected $W_MD5"; fi
        else
            fail "$s" e2 "not visible after $LIM s (last HEAD: $code)"
        fi
    fi
    timeout 60 rm -f "${MP[$s]}/$key" 2>/dev/null || true
    s3_delete "$key"
}

test_f() {
    local s=$1 j=$RUN/fio-$1.json rc=0
    cold "$s"
    m_begin "$s"
    timeout $((FIO_RUNTIME + 60)) fio --name=randread --filename="${MP[$s]}/fio/fio.bin" --readonly \
        --rw=randread --bs=4k --ioengine=psync --numjobs=4 --size=$((FIO_SZ / 4)) \
        --offset_increment=$((FIO_SZ / 4)) --runtime="$FIO_RUNTIME" --group_reporting \
        --output-format=json --output="$j" >"$LOGDIR/fio-$s.log" 2>&1 || rc=$?
    m_end "$s" f
    if [ $rc = 0 ] && [ -s "$j" ]; then
        rec "$s" f "$(jq -r '.jobs[0].read.iops | floor' "$j")" "$(jq -r --argjson w "$FIO_SZ" '.jobs[0].read as $r |
            "\($r.iops | floor) IOPS, p99 \($r.clat_ns.percentile["99.000000"] / 1e6 * 100 | floor / 100) ms, \($r.io_bytes * 100 / $w | floor)% of file in \($r.runtime / 1000) s"' "$j")"
    else
        fail "$s" f "fio exited $rc (see $LOGDIR/fio-$s.log)"
    fi
}

# vm_kb PID FIELD: VmRSS / VmHWM of PID in KiB, or Threads
vm_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

test_m() {
    local s=$1 pid i peak=0 r hwm pids=() ok=1 t any thr=0 n
    cold "$s"
    pid=${PID[$s]}
    m_begin "$s"
    for ((i = 0; i < PAR_N; i++)); do
        timeout "$LIM" dd if="${MP[$s]}/par/p$(printf %02d $i)" of=/dev/null bs=1M 2>"$RUN/m-$s-$i.dd" &
        pids+=($!)
    done
    while :; do
        r=$(vm_kb "$pid" VmRSS)
        [ "${r:-0}" -gt "$peak" ] && peak=$r
        n=$(vm_kb "$pid" Threads)
        [ "${n:-0}" -gt "$thr" ] && thr=$n
        any=0
        for i in "${pids[@]}"; do alive "$i" && any=1 && break; done
        [ $any = 1 ] || break
        sleep 0.1
    done
    for i in "${pids[@]}"; do wait "$i" || ok=0; done
    t=$(secs "$M_T0" "$(now)")
    m_end "$s" m
    hwm=$(vm_kb "$pid" VmHWM)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    for ((i = 0; i < PAR_N; i++)); do
        grep -q "^$PAR_SZ bytes" "$RUN/m-$s-$i.dd" || ok=0
    done
    rm -f "$RUN/m-$s-"*.dd
    if [ $ok = 1 ]; then
        rec "$s" m "$(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }')" \
            "$(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }') MiB ($PAR_N readers, $(mbps $((PAR_N * PAR_SZ)) "$t") MB/s in all; $thr threads)"
    else
        fail "$s" m "a reader failed or timed out (peak RSS $((peak / 1024)) MiB)"
    fi
}

ceilings
# One test at a time across the systems, so that each comparison is made
# within a short stretch of time on a shared, noisy machine.
for letter in a c d e f m; do
    case $letter in a) need ab || continue ;; *) need $letter || continue ;; esac
    log "test $letter"
    for s in "${SYSTEMS[@]}"; do
        alone "$s"
        case $letter in
        a) test_ab "$s" ;;
        c) test_c "$s" ;;
        d) test_d "$s" ;;
        e) test_e "$s" ;;
        f) test_f "$s" ;;
        m) test_m "$s" ;;
        esac
    done
done
T_END=$(now)
stop_pid "$SAMPLER_PID" 1
SAMPLER_PID=

# ------------------------------------------------------------- report
ROWS=(a b1 b2 c1 c2 d1 d2 d3 e1 e2 e3 f m)
declare -A LABEL=(
    [a]="a. cold sequential read, $(mib $BIG) MiB"
    [b1]="b1. re-read, page cache kept"
    [b2]="b2. re-read after drop_caches (own disk cache)"
    [c1]="c1. $SMALL_N x 64 KiB, 16 readers, cold"
    [c2]="c2. same, warm"
    [d1]="d1. ls -l, $MANY_N files, cold"
    [d2]="d2. ls -l, $MANY_N files, warm"
    [d3]="d3. find, $MANY_N files, cold"
    [e1]="e1. write $(mib $W_SZ) MiB: cp + sync"
    [e2]="e2. write: visible in S3 (from cp start)"
    [e3]="e3. write: content via S3 API"
    [f]="f. fio 4 KiB randread, 4 jobs, cold, cap ${FIO_RUNTIME} s"
    [m]="m. peak RSS, $PAR_N parallel readers of $(mib $PAR_SZ) MiB"
)
# higher is better for these; lower for the rest
declare -A HIGHER=([a]=1 [b1]=1 [b2]=1 [e1]=1 [f]=1)
# ceiling key, and the pcachefs value turned into MB/s for it
declare -A CEILKEY=([a]=get8cold [b1]=tmpfs [b2]=disk [e2]=up)
declare -A T_PEER=([c1]=3 [c2]=3 [d1]=3 [e2]=1 [f]=2)
declare -A T_CEIL=([a]=0.8 [b1]=0.8 [b2]=0.9 [e2]=0.8)
CEIL[up]=$UP_CEIL

PEERS=()
for s in "${SYSTEMS[@]}"; do [ "$s" = pcachefs ] || PEERS+=("$s"); done
has_pc=0
[[ " ${SYSTEMS[*]} " == *" pcachefs "* ]] && has_pc=1

# best_peer ROW: prints "VALUE NAME" of the better peer, or nothing
best_peer() {
    local r=$1 s v best='' name=''
    for s in "${PEERS[@]}"; do
        v=${VAL[$s|$r]:-}
        [ -n "$v" ] || continue
        if [ -z "$best" ] ||
            { [ -n "${HIGHER[$r]:-}" ] && ge "$v" "$best"; } ||
            { [ -z "${HIGHER[$r]:-}" ] && ge "$best" "$v"; }; then
            best=$v name=$s
        fi
    done
    [ -n "$best" ] && echo "$best $name"
    return 0
}

x() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "" }'; }

report() {
    local r s bp bpv bpn pc vs_peer vs_ceil target verdict ok pcm loads cols
    loads=$(awk '{ n++; s += $2; if ($2 > mx) mx = $2; if (n == 1 || $2 < mn) mn = $2 }
        END { if (n) printf "1-min load average during the run: min %.2f, mean %.2f, max %.2f (%d samples)", mn, s / n, mx, n }' \
        "$RUN/loadavg.log")
    echo "## pcachefs benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ)$([ $QUICK = 1 ] && echo ', --quick: small data, not comparable'))"
    echo
    echo "Run directory $RUN. Tests took $(secs "$T_START" "$T_END") s (data set $DATA_SECS s)" \
        "on $(nproc) cores; $loads."
    echo "Ratios: \"x best peer\" is how many times better pcachefs is than the better of the peers" \
        "(speed ratio, or time ratio for times); \"x ceiling\" is pcachefs's throughput over the ceiling's."
    echo
    cols="| test |"
    for s in "${SYSTEMS[@]}"; do cols+=" $s |"; done
    echo "$cols x best peer | x ceiling | target | met |"
    cols="|---|"
    for s in "${SYSTEMS[@]}"; do cols+="---|"; done
    echo "$cols---|---|---|---|"
    for r in "${ROWS[@]}"; do
        local any=0
        for s in "${SYSTEMS[@]}"; do [ -n "${CELL[$s|$r]:-}" ] && any=1; done
        [ $any = 1 ] || continue
        printf '| %s |' "${LABEL[$r]}"
        for s in "${SYSTEMS[@]}"; do printf ' %s |' "${CELL[$s|$r]:--}"; done
        vs_peer='' vs_ceil='' target='' verdict=''
        pc=${VAL[pcachefs|$r]:-}
        bp=$(best_peer "$r")
        bpv=${bp%% *} bpn=${bp#* }
        if [ $has_pc = 1 ] && [ -n "$pc" ] && [ -n "$bp" ] && [ "$r" != e3 ] && [ "$r" != m ]; then
            if [ -n "${HIGHER[$r]:-}" ]; then vs_peer=$(x "$pc" "$bpv"); else vs_peer=$(x "$bpv" "$pc"); fi
            vs_peer="${vs_peer}x ($bpn)"
        fi
        if [ $has_pc = 1 ] && [ -n "$pc" ] && [ -n "${CEILKEY[$r]:-}" ] && [ -n "${CEIL[${CEILKEY[$r]}]:-}" ]; then
            if [ "$r" = e2 ]; then
                vs_ceil=$(x "$(mbps "$W_SZ" "$pc")" "${CEIL[up]}")
                vs_ceil="${vs_ceil}x (${CEIL[up]} MB/s; $(x "$(mbps "$W_SZ" "$pc")" "${CEIL[put8]:-0}")x of multipart ${CEIL[put8]:-} MB/s)"
            else
                vs_ceil=$(x "$pc" "${CEIL[${CEILKEY[$r]}]}")
                vs_ceil="${vs_ceil}x (${CEIL[${CEILKEY[$r]}]} MB/s)"
            fi
        fi
        ok=
        if [ -n "${T_PEER[$r]:-}" ]; then
            target="≥ ${T_PEER[$r]}x best peer"
            if [ -n "$pc" ] && [ -n "$bp" ]; then
                ge "${vs_peer%%x*}" "${T_PEER[$r]}" && ok+=y || ok+=n
            elif [ -z "$pc" ]; then ok+=n; fi # no peer measured: not judged
        fi
        if [ -n "${T_CEIL[$r]:-}" ]; then
            target="${target:+$target, }≥ ${T_CEIL[$r]}x ceiling"
            if [ -n "$vs_ceil" ]; then
                ge "${vs_ceil%%x*}" "${T_CEIL[$r]}" && ok+=y || ok+=n
            else ok+=n; fi
        fi
        if [ "$r" = e3 ]; then
            target="md5 matches"
            [ "${VAL[pcachefs|e3]:-}" = 1 ] && ok=y || ok=n
        fi
        if [ "$r" = m ]; then
            target="≤ max_memory $(mib "$PC_MAXMEM_B") MiB (+$(mib $RSS_OVERHEAD) MiB)"
            pcm=${VAL[pcachefs|m]:-}
            if [ -n "$pcm" ]; then
                vs_ceil="$(x "$((pcm << 20))" "$PC_MAXMEM_B")x max_memory"
                ge "$(((PC_MAXMEM_B + RSS_OVERHEAD) >> 20))" "$pcm" && ok=y || ok=n
            else ok=n; fi
        fi
        if [ $has_pc = 0 ] || [ -z "$ok" ]; then verdict=
        elif [[ $ok == *n* ]]; then verdict=NO
        else verdict=yes; fi
        [ -n "$target" ] || target="-"
        printf ' %s | %s | %s | %s |\n' "${vs_peer:--}" "${vs_ceil:--}" "$target" "${verdict:--}"
    done
    echo
    for r in "${!NOTE[@]}"; do echo "- note ${r/|/ }: ${NOTE[$r]}"; done
    echo
    echo "### Ceilings (same run)"
    echo
    echo "| ceiling | MB/s |"
    echo "|---|---|"
    for r in "${CEIL_ORDER[@]}"; do echo "| ${CEILTXT[$r]} | ${CEIL[$r]:-FAIL} |"; done
    echo "| disk ceiling used for b2 (better of the two cold disk reads) | ${CEIL[disk]} |"
    echo "| upload ceiling used for e2 (better of the two uploads) | ${CEIL[up]} |"
    echo
    echo "### CPU seconds used during each test (daemon / s3rver)"
    echo
    cols="| test |"
    for s in "${SYSTEMS[@]}"; do cols+=" $s |"; done
    echo "$cols"
    cols="|---|"
    for s in "${SYSTEMS[@]}"; do cols+="---|"; done
    echo "$cols"
    for r in a b1 b2 c1 c2 d1 d2 d3 e2 f m; do
        [ -n "${CPU[${SYSTEMS[0]}|$r]:-}" ] || continue
        printf '| %s |' "$r"
        for s in "${SYSTEMS[@]}"; do printf ' %s / %s |' "${CPU[$s|$r]:--}" "${S3CPU[$s|$r]:--}"; done
        echo
    done
    if [ $COUNT_REQ = 1 ]; then
        echo
        echo "### S3 requests during each test"
        echo
        cols="| test |"
        for s in "${SYSTEMS[@]}"; do cols+=" $s |"; done
        echo "$cols"
        cols="|---|"
        for s in "${SYSTEMS[@]}"; do cols+="---|"; done
        echo "$cols"
        for r in a b1 b2 c1 c2 d1 d2 d3 e2 f m; do
            [ -n "${REQ[${SYSTEMS[0]}|$r]:-}" ] || continue
            printf '| %s |' "$r"
            for s in "${SYSTEMS[@]}"; do printf ' %s |' "${REQ[$s|$r]:--}"; done
            echo
        done
    fi
    echo
    echo "### Setup"
    echo
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
        "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
    echo "- s3rver 3.7.1 (tests/harness/s3rver.sh) on $S3_URL, node $(node --version)$([ $COUNT_REQ = 1 ] && echo ', request log on')"
    for s in "${SYSTEMS[@]}"; do
        case $s in
        pcachefs) echo "- $("$PCACHEFS" --version 2>&1 | head -1): \`pcachefs s3://$BUCKET MNT $(mount_args pcachefs)\`" ;;
        s3fs) echo "- $(s3fs --version 2>&1 | head -1 | sed 's/ (commit.*//'): \`s3fs $BUCKET MNT $(mount_args s3fs)\`" ;;
        rclone) echo "- $(rclone version 2>/dev/null | head -1): \`rclone mount bench:$BUCKET MNT $(mount_args rclone)\` (s3 remote, provider Other, path style)" ;;
        esac
    done
    echo "- $(fio --version), $(curl --version | head -1 | cut -d' ' -f1-2), fuse3 $(dpkg-query -W -f='${Version}' fuse3)"
    echo "- cold = unmount, wipe the system's cache dir, sync + drop_caches (this also empties s3rver's" \
        "page cache), mount again"
}
# chart_data: each system's speed relative to the best peer on every test
# that has one (higher is better; times are inverted), for bench-chart.sh.
chart_data() {
    local r s v bp bpv
    printf 'test'
    for s in "${SYSTEMS[@]}"; do printf ' %s' "$s"; done
    echo
    for r in a b1 b2 c1 c2 d1 d2 d3 e1 e2 f; do
        bp=$(best_peer "$r")
        bpv=${bp%% *}
        [ -n "$bp" ] || continue
        printf '%s' "$r"
        for s in "${SYSTEMS[@]}"; do
            v=${VAL[$s|$r]:-}
            if [ -z "$v" ] || ! ge "$v" 0.000001; then printf ' -'
            elif [ -n "${HIGHER[$r]:-}" ]; then printf ' %s' "$(x "$v" "$bpv")"
            else printf ' %s' "$(x "$bpv" "$v")"; fi
        done
        echo
    done
}
report >"$RESULTS"
chart_data >"$RUN/chart.dat"
if bash "$ROOT/scripts/bench-chart.sh" "$RUN/chart.dat" "$RUN/results.png" \
    "pcachefs benchmark: speed relative to the best peer (1 = best peer)" \
    "x best peer (higher is better)" >>"$LOGDIR/chart.log" 2>&1; then
    printf '\nChart: %s (data %s)\n' "$RUN/results.png" "$RUN/chart.dat" >>"$RESULTS"
fi
[ -n "$OUT" ] && cp "$RESULTS" "$OUT"
[ -n "$OUT" ] && [ -s "$RUN/results.png" ] && cp "$RUN/results.png" "${OUT%.*}.png"
cat "$RESULTS"
