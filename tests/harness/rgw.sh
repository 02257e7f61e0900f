#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rgw.sh: a throw-away single-node Ceph cluster serving S3 through radosgw,
# for integration tests. Everything lives under DIR and listens on 127.0.0.1
# only; nothing is read from or written to /etc/ceph or /var/lib/ceph.
#
#   rgw.sh start DIR [--bucket NAME]   start mon + osd + radosgw, write DIR/env
#   rgw.sh stop DIR                    stop the three daemons (pidfiles only)
#   rgw.sh status DIR                  exit 0 if the cluster runs and answers
#
# The cluster: one ceph-mon (msgr2 only), one ceph-osd on memstore (RAM; the
# data dies with the daemon), one radosgw (beast frontend), no ceph-mgr, cephx
# off between the daemons (S3 requests are still fully authenticated by
# radosgw: SigV4/SigV2, payload hashes, clock skew). Ports are picked at start
# from below the kernel's ephemeral range and checked free.
#
# DIR/env (KEY=VALUE lines, no quoting needed, values have no spaces):
#   RGW_URL=http://127.0.0.1:PORT   path-style S3 endpoint
#   RGW_KEY=... RGW_SECRET=...      an S3 user's keys; the secret always
#                                   contains '/' and '+'
#   RGW_VHOST_DOMAIN=localhost      virtual-hosted style also works as
#                                   http://BUCKET.localhost:PORT/
#   RGW_BUCKET=NAME                 only with --bucket
# Logs: DIR/log/ (mon.a.log, osd.0.log, client.rgw.a.log, ...).
#
# start on a DIR whose cluster is already running and answering changes
# nothing and exits 0; a half-dead cluster there is stopped and
# replaced by a fresh one. A start that fails stops whatever it started.
#
# Environment: RGW_HARNESS_MEM_MB (memstore capacity, default 4096),
# RGW_HARNESS_TIMEOUT (seconds to wait for each step, default 60).
set -euo pipefail

PROG=rgw.sh
MEM_MB=${RGW_HARNESS_MEM_MB:-4096}
STEP_TIMEOUT=${RGW_HARNESS_TIMEOUT:-60}
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
DAEMONS=(client.rgw.a osd.0 mon.a) # stop order
T0=$(date +%s%N)

# shellcheck source=tests/harness/lib.sh
. "$HARNESS_DIR/lib.sh"

# set_paths DIR [create]: DIR must exist unless 'create' is given
set_paths() {
    DIR=$(harness_dir "$@") || exit 1
    CONF=$DIR/ceph.conf
    RUNDIR=$DIR/run
    LOGDIR=$DIR/log
    DIE_HINT="logs: $LOGDIR"
}

check_deps() {
    local c missing=()
    for c in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool \
        ceph-authtool ss curl; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    "$PY" -c 'import botocore' 2>/dev/null || missing+=(python3-botocore)
    [ ${#missing[@]} -eq 0 ] ||
        die "missing ${missing[*]}: run scripts/install-deps.sh (as root)"
}

ceph_() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }

# pid_of NAME: the pid of this cluster's daemon NAME, if it runs.
pid_of() {
    local pf=$RUNDIR/$1.pid pid
    [ -s "$pf" ] || return 1
    pid=$(<"$pf")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    # the pid must still be our daemon, not a recycled pid
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 1
    echo "$pid"
}

# stop_all: TERM every daemon of this cluster, KILL what is left after a
# short grace period (the data is disposable; radosgw alone would take ~5 s
# to shut down cleanly), then wait until all are gone.
stop_all() {
    local d pid pids=() i
    for d in "${DAEMONS[@]}"; do
        pid=$(pid_of "$d") && pids+=("$pid") && kill -TERM "$pid" 2>/dev/null
    done
    for ((i = 0; i < 30 && ${#pids[@]} > 0; i++)); do
        alive "${pids[@]}" || break
        sleep 0.05
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 200 && ${#pids[@]} > 0; i++)); do
        alive "${pids[@]}" || break
        sleep 0.05
    done
    alive "${pids[@]}" && log "warning: some of pids ${pids[*]} still run"
    for d in "${DAEMONS[@]}"; do rm -f "$RUNDIR/$d.pid"; done
    return 0
}

# alive PID...: true if any of the PIDs still exists (and is not a zombie)
alive() {
    local pid st
    for pid in "$@"; do
        st=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
        [ -n "$st" ] && [ "$st" != Z ] && return 0
    done
    return 1
}

rgw_answers() {
    curl -s -o /dev/null --max-time 2 "$1/" 2>/dev/null
}

# Ports: used = every local TCP port in any state.
used_ports() {
    ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -un
}

# pick_ports: sets MON_PORT, RGW_PORT, MS_MIN, MS_MAX (a block of 18
# consecutive free ports below the ephemeral range).
pick_ports() {
    local lo=10000 hi eph try base p ok used
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range || eph=32768
    hi=$((eph - 20))
    [ "$hi" -gt $((lo + 1000)) ] || hi=30000
    used=" $(used_ports | tr '\n' ' ') "
    for ((try = 0; try < 100; try++)); do
        base=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
        ok=1
        for ((p = base; p < base + 18; p++)); do
            [[ $used == *" $p "* ]] && {
                ok=0
                break
            }
        done
        [ $ok = 1 ] || continue
        MON_PORT=$base
        RGW_PORT=$((base + 1))
        MS_MIN=$((base + 2))
        MS_MAX=$((base + 17))
        return 0
    done
    die "found no 18 free consecutive TCP ports in $lo-$hi"
}

write_conf() {
    local fsid=$1 asok=$RUNDIR/client.rgw.a.asok
    # unix socket paths are limited to 107 bytes
    [ ${#asok} -lt 100 ] || asok=
    cat >"$CONF" <<EOF
# written by tests/harness/rgw.sh; a throw-away test cluster under $DIR
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = $MS_MIN
ms bind port max = $MS_MAX
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $RUNDIR
pid file = $RUNDIR/\$name.pid
log file = $LOGDIR/\$name.log
crash dir = $DIR/crash
log to stderr = false
err to stderr = false
log to journald = false
log to syslog = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
mon osd full ratio = 0.97
mon osd backfillfull ratio = 0.96
mon osd nearfull ratio = 0.95

[mon]
mon data = $DIR/\$name
admin socket = $RUNDIR/\$name.asok
# every pool create is a Paxos round, batched each propose interval (1 s by
# default); radosgw's first start creates several pools
paxos propose interval = 0.05
paxos min wait = 0.01
mon osd report timeout = 60

[osd]
osd data = $DIR/\$name
admin socket = $RUNDIR/\$name.asok
osd objectstore = memstore
memstore device bytes = $((MEM_MB * 1024 * 1024))
osd op num shards = 2
osd op num threads per shard = 2
osd max object size = 1073741824
osd crush update on start = true

[client.rgw.a]
admin socket = $asok
# radosgw defaults to ms_mon_client_mode=secure, which needs cephx
ms mon client mode = crc secure
client mount timeout = $STEP_TIMEOUT
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw.a
rgw dns name = localhost
rgw thread pool size = 32
rgw enable usage log = false
rgw enable ops log = false
debug rgw = 1
EOF
}

# wait_for DESC SECONDS COMMAND...: poll COMMAND every 0.1 s
wait_for() {
    local desc=$1 secs=$2 end
    shift 2
    end=$(($(date +%s) + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || die "$desc: gave up after $secs s"
        sleep 0.1
    done
}

mon_up() { pid_of mon.a >/dev/null && ceph_ mon stat; }

rgw_up() {
    pid_of client.rgw.a >/dev/null ||
        die "radosgw exited, see $LOGDIR/client.rgw.a.log"
    rgw_answers "$RGW_URL"
}

make_keys() {
    local r
    r=$(head -c 48 /dev/urandom | base64 -w0)
    # access key: 20 upper-case letters and digits, like AWS's
    RGW_KEY=PCT$(printf '%s' "$r" | tr -dc 'A-Z0-9' | head -c 17)
    while [ ${#RGW_KEY} -lt 20 ]; do RGW_KEY+=7; done
    # secret: 40 characters of base64 with '/' and '+' always in it
    r=$(head -c 27 /dev/urandom | base64 -w0)
    RGW_SECRET="${r:0:12}/${r:12:12}+${r:24:14}"
}

create_bucket() {
    local b=$1 out
    out=$("$PY" "$HARNESS_DIR/s3req.py" --env "$DIR/env" PUT "/$b") ||
        [[ $out == *BucketAlreadyOwnedByYou* ]] ||
        die "could not create bucket $b: $out"
}

do_start() {
    local bucket=$1 fsid uuid id pid
    pick_ports
    RGW_URL=http://127.0.0.1:$RGW_PORT
    mkdir -p "$RUNDIR" "$LOGDIR" "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw.a" \
        "$DIR/crash"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    log "ports: mon $MON_PORT, rgw $RGW_PORT, messenger $MS_MIN-$MS_MAX"

    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. \
        --cap mon 'allow *' >"$LOGDIR/mkfs.out" 2>&1 ||
        die "ceph-authtool failed, see $LOGDIR/mkfs.out"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" \
        "$DIR/monmap" >>"$LOGDIR/mkfs.out" 2>&1 ||
        die "monmaptool failed, see $LOGDIR/mkfs.out"
    ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" \
        --keyring "$DIR/keyring" >>"$LOGDIR/mkfs.out" 2>&1 ||
        die "ceph-mon --mkfs failed, see $LOGDIR/mkfs.out and mon.a.log"
    ceph-mon -c "$CONF" -i a >>"$LOGDIR/daemons.out" 2>&1 ||
        die "ceph-mon did not start, see $LOGDIR/daemons.out and mon.a.log"
    wait_for "mon.a not answering (see $LOGDIR/mon.a.log)" "$STEP_TIMEOUT" \
        mon_up
    log "mon.a up, pid $(pid_of mon.a)"

    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(ceph_ osd new "$uuid" 2>>"$LOGDIR/mkfs.out") ||
        die "'ceph osd new' failed, see $LOGDIR/mkfs.out"
    [ "$id" = 0 ] || die "expected osd id 0, got '$id'"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" \
        >>"$LOGDIR/mkfs.out" 2>&1 ||
        die "ceph-osd --mkfs failed, see $LOGDIR/mkfs.out and osd.0.log"
    ceph-osd -c "$CONF" -i 0 >>"$LOGDIR/daemons.out" 2>&1 ||
        die "ceph-osd did not start, see $LOGDIR/daemons.out and osd.0.log"
    pid=$(pid_of osd.0) || die "ceph-osd wrote no pidfile, see $LOGDIR/osd.0.log"
    log "osd.0 started, pid $pid"

    # radosgw waits for the osd by itself (it blocks creating its pools)
    radosgw -c "$CONF" -n client.rgw.a >>"$LOGDIR/daemons.out" 2>&1 ||
        die "radosgw did not start, see $LOGDIR/daemons.out and client.rgw.a.log"
    wait_for "radosgw pidfile missing (see $LOGDIR/client.rgw.a.log)" 10 \
        pid_of client.rgw.a
    wait_for "radosgw not answering on $RGW_URL (see $LOGDIR/client.rgw.a.log)" \
        "$STEP_TIMEOUT" rgw_up
    log "radosgw up on $RGW_URL, pid $(pid_of client.rgw.a)"

    make_keys
    radosgw-admin -c "$CONF" -n client.admin user create --uid pcache-test \
        --display-name "pcachefs test user" --access-key "$RGW_KEY" \
        --secret-key "$RGW_SECRET" >"$LOGDIR/user-create.json" \
        2>>"$LOGDIR/radosgw-admin.err" ||
        die "radosgw-admin user create failed, see $LOGDIR/radosgw-admin.err"
    {
        echo "RGW_URL=$RGW_URL"
        echo "RGW_KEY=$RGW_KEY"
        echo "RGW_SECRET=$RGW_SECRET"
        echo "RGW_VHOST_DOMAIN=localhost"
        [ -z "$bucket" ] || echo "RGW_BUCKET=$bucket"
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
    [ -z "$bucket" ] || create_bucket "$bucket"
    log "ready: $RGW_URL (key $RGW_KEY; env in $DIR/env)"
}

# running: this DIR's cluster is complete and answers
running() {
    local d url
    for d in "${DAEMONS[@]}"; do pid_of "$d" >/dev/null || return 1; done
    [ -s "$DIR/env" ] || return 1
    url=$(sed -n 's/^RGW_URL=//p' "$DIR/env")
    [ -n "$url" ] && rgw_answers "$url"
}

cmd_start() {
    local bucket=''
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
        log "already running ($(sed -n 's/^RGW_URL=//p' "$DIR/env"))"
        if [ -n "$bucket" ]; then
            grep -qx "RGW_BUCKET=$bucket" "$DIR/env" || echo "RGW_BUCKET=$bucket" >>"$DIR/env"
            create_bucket "$bucket"
        fi
        return 0
    fi
    # a half-dead or stale cluster: stop what is left and start afresh
    stop_all
    rm -rf "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw.a" "$DIR/crash" "$RUNDIR" \
        "$DIR/env" "$DIR/env.tmp" "$CONF" "$DIR/keyring" "$DIR/monmap"
    if [ -d "$LOGDIR" ]; then
        rm -rf "$LOGDIR.old"
        mv "$LOGDIR" "$LOGDIR.old"
    fi
    trap 'stop_all' EXIT
    trap 'exit 130' INT TERM
    do_start "$bucket"
    trap - EXIT
}

cmd_stop() {
    [ -n "${1:-}" ] || usage
    [ -d "$1" ] || return 0 # nothing ever ran there
    set_paths "$1"
    stop_all
    rm -f "$DIR/env"
}

cmd_status() {
    set_paths "${1:-}"
    local d p
    for d in mon.a osd.0 client.rgw.a; do
        if p=$(pid_of "$d"); then echo "$d: pid $p"; else echo "$d: not running"; fi
    done
    running
}

case ${1:-} in
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
status) shift && cmd_status "$@" ;;
*) usage ;;
esac
