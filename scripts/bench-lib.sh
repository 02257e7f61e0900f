# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# bench-lib.sh: helpers for scripts/bench.sh (sourced, not run). Timing,
# size arithmetic, package installs, deterministic data, signed curl
# against the local S3 server, process and mount handling by pid.
#
# Expects from the caller: RUN (run directory), LOGDIR, S3_URL, BUCKET,
# REGION, S3_KEY, S3_SECRET.

# ----------------------------------------------------------------- output
bl_t0=${EPOCHREALTIME/./}
log() {
    local us=$((${EPOCHREALTIME/./} - bl_t0))
    printf '[%4d.%01ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}
die() {
    log "ERROR: $*"
    exit 1
}

# ----------------------------------------------------------------- numbers
now() { printf '%s\n' "$EPOCHREALTIME"; }
# secs START END: elapsed seconds, 3 decimals
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# mbps BYTES SECONDS: MB/s (10^6 bytes), 1 decimal
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / 1e6 / s; else print "0" }'; }
# fmt_num X: a readable number (3 significant digits, no exponent)
fmt_num() {
    awk -v x="$1" 'BEGIN {
        if (x >= 1000) printf "%.0f", x; else if (x >= 100) printf "%.0f", x;
        else if (x >= 10) printf "%.1f", x; else if (x >= 1) printf "%.2f", x;
        else printf "%.3f", x }'
}
# to_bytes SIZE: 512M, 8G, 64K, 1024 -> bytes
to_bytes() {
    local s=${1^^} n m=1
    case $s in
    *K | *KB | *KIB) m=1024 ;;
    *M | *MB | *MIB) m=$((1024 * 1024)) ;;
    *G | *GB | *GIB) m=$((1024 * 1024 * 1024)) ;;
    *T | *TB | *TIB) m=$((1024 * 1024 * 1024 * 1024)) ;;
    esac
    n=${s%%[!0-9]*}
    [ -n "$n" ] || return 1
    echo $((n * m))
}
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
# ge A B: true if A >= B (floating point)
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# ----------------------------------------------------------------- packages
# ensure_debs PKG...: apt-get install whatever is missing, without letting
# maintainer scripts start services.
ensure_debs() {
    local missing=() p made=0 rc=0
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made=1
    fi
    {
        apt-get update -qq -o DPkg::Lock::Timeout=300 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
    } >>"$LOGDIR/apt.log" 2>&1 || rc=$?
    [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || die "apt-get install ${missing[*]} failed (see $LOGDIR/apt.log)"
}

# ----------------------------------------------------------------- data
# prand LABEL BYTES: deterministic pseudo-random bytes (AES-128-CTR
# keystream of a fixed pass phrase) on stdout. openssl dies of SIGPIPE when
# head has enough, hence the || true.
prand() {
    { openssl enc -aes-128-ctr -pass "pass:pcachefs-bench-$1" -nosalt -pbkdf2 \
        </dev/zero 2>/dev/null || true; } | head -c "$2"
}

# ----------------------------------------------------------------- S3 via curl
# curl 7.88's --aws-sigv4 does not send x-amz-content-sha256, which s3rver
# requires: send UNSIGNED-PAYLOAD.
s3curl() {
    curl -sS --aws-sigv4 "aws:amz:${REGION}:s3" --user "${S3_KEY}:${S3_SECRET}" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# s3_head_size KEY: "HTTPCODE SIZE"
s3_head_size() {
    s3curl --max-time 5 -I -o /dev/null \
        -w '%{http_code} %header{content-length}' "$S3_URL/$BUCKET/$1" 2>/dev/null || true
}
s3_delete() { s3curl --max-time 10 -X DELETE -o /dev/null "$S3_URL/$BUCKET/$1" 2>/dev/null || true; }

# s3_put_many DIR PREFIX: upload every file of DIR as PREFIX/NAME, 16
# requests in flight in one curl process.
s3_put_many() {
    local dir=$1 prefix=$2 cfg f
    cfg=$(mktemp "$RUN/curlcfg.XXXXXX")
    for f in "$dir"/*; do
        printf 'upload-file = "%s"\nurl = "%s/%s/%s/%s"\noutput = "/dev/null"\n' \
            "$f" "$S3_URL" "$BUCKET" "$prefix" "${f##*/}"
    done >"$cfg"
    s3curl -f --no-progress-meter -Z --parallel-max 16 -K "$cfg" >/dev/null
    rm -f "$cfg"
}

# s3_count PREFIX: number of keys below PREFIX
s3_count() { "$PCMD" -e "$S3_URL" ls -r "s3://$BUCKET/$1" 2>/dev/null | wc -l; }

# ----------------------------------------------------------------- processes
# alive PID: runs and is not a zombie
alive() {
    local st
    st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
# stop_pid PID [GRACE_S]: TERM, wait, KILL; only the one process
stop_pid() {
    local pid=$1 grace=${2:-5} i
    [ -n "$pid" ] || return 0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
}
# cpu_ticks PID: utime+stime of PID in clock ticks (0 if gone)
cpu_ticks() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo 0
        return
    }
    rest=${stat##*) }
    # fields after "comm)": state is $1, utime is $12, stime $13
    awk '{ print $12 + $13 }' <<<"$rest"
}

# ----------------------------------------------------------------- mounts
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
if command -v fusermount3 >/dev/null 2>&1; then FUSERMOUNT=fusermount3; else FUSERMOUNT=fusermount; fi

# unmount_path MP: fusermount -u (retried for a few seconds), then -z
unmount_path() {
    local mp=$1 i
    is_mounted "$mp" || return 0
    for ((i = 0; i < 20; i++)); do
        $FUSERMOUNT -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null || true
        is_mounted "$mp" || return 0
        sleep 0.25
    done
    log "WARNING: $mp still busy after 5 s, detaching lazily"
    $FUSERMOUNT -u -z "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
}

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# get_ranged N [DIR]: GET $S3_URL/$BUCKET/big/big.bin ($BIG bytes) with N
# parallel ranged requests (each capped at $LIM s), into /dev/null or into
# files in DIR; sets GR_MBS and GR_SECS. Uses $RUN for a scratch file.
get_ranged() {
    local n=$1 dir=${2:-} part=$((BIG / $1)) i t0 tot pids=() f=$RUN/ranged.sizes out
    : >"$f"
    t0=$(now)
    for ((i = 0; i < n; i++)); do
        out=/dev/null
        [ -n "$dir" ] && out=$dir/part$i
        s3curl --max-time "$LIM" -o "$out" -w '%{size_download}\n' \
            -r "$((i * part))-$(((i + 1) * part - 1))" "$S3_URL/$BUCKET/big/big.bin" >>"$f" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    GR_SECS=$(secs "$t0" "$(now)")
    tot=$(awk '{ s += $1 } END { print s + 0 }' "$f")
    rm -f "$f"
    [ "$tot" = "$BIG" ] && GR_MBS=$(mbps "$tot" "$GR_SECS") || GR_MBS=
}
