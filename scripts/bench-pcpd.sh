#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-pcpd.sh: pcpd against nginx serving the same chunk files over
# loopback, in one run, plus pcpd's memory with a 10,000-chunk index. Not
# a timed test: a report for people.
#
#   scripts/bench-pcpd.sh [--build DIR] [--duration S] [--keep]
#
#   --build DIR     meson build dir with pcpd/pcpd and common/libpcache.a
#                   (default build-bench: a release build, made if missing)
#   --duration S    seconds per wrk run (default 5)
#   --keep          keep the run directory
#
# No S3 server is needed: a small helper (built against libpcache) writes
# chunks straight into a tier with store_put(), under the ids pcpd derives
# for pbucket "pb", key "k<i>", ETag "e", so every request is a hit. nginx
# (Debian's, our own instance on 127.0.0.1 with a temporary config) serves
# the tier directory itself, so both read the very same files. wrk (Debian)
# drives both; both are installed with apt-get when missing.
#
# Measured: MB/s of whole 8 MiB chunks with 1 and 16 connections, req/s of
# 4 KiB ranges with 64 connections, and pcpd's RSS after it rebuilt an
# index of 10,000 chunks. Targets: >= 0.9x nginx throughput, >= 0.7x its
# req/s, RSS < 64 MiB + the mem tier's resident data (tmpfs pages are not
# pcpd's RSS; its tier here is a plain directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
DUR=5
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$(realpath "$2"); shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) sed -n '4,12p' "$0" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-pcpd: %s\n' "$*" >&2; }
PIDS=()
RUN=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$RUN" ] && [ -f "$RUN/nginx.pid" ]; then
        kill -TERM "$(cat "$RUN/nginx.pid")" 2>/dev/null || true
    fi
    if [ -n "$RUN" ] && [ "$KEEP" = 0 ]; then rm -rf "$RUN"; fi
}
trap cleanup EXIT

for t in wrk nginx; do
    if ! command -v $t >/dev/null && ! [ -x /usr/sbin/$t ]; then
        log "installing $t (Debian package)"
        apt-get install -y $t >/dev/null
    fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if ! [ -x "$BUILD/pcpd/pcpd" ] || ! [ -f "$BUILD/common/libpcache.a" ]; then
    log "building a release build in $BUILD"
    [ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release \
        -Dtests=disabled -Dfuse=disabled >/dev/null
    ninja -C "$BUILD" pcpd/pcpd common/libpcache.a >/dev/null
fi

RUN=$(mktemp -d /tmp/bench-pcpd.XXXXXX)
log "run directory $RUN"

# --- the chunk writer ----------------------------------------------------
cat >"$RUN/mkchunks.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/store.h"
/* mkchunks DIR COUNT SIZE CHUNK_SIZE: chunk 0 of keys k0..k<COUNT-1>. */
int main(int argc, char **argv)
{
    struct store_opts o;
    struct store *s;
    struct chunk_id id;
    char err[256], key[32];
    long n = atol(argv[2]), i;
    size_t len = (size_t)atol(argv[3]);
    unsigned char *d = malloc(len);

    for (i = 0; i < (long)len; i++)
        d[i] = (unsigned char)(i * 7 + 3);
    store_opts_init(&o);
    o.capacity = (uint64_t)n * (len + STORE_HDR_SIZE) * 2 + (64u << 20);
    s = store_open(argv[1], &o, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        chunk_id_make(&id, "pb", key, "e", 0, (uint64_t)atol(argv[4]));
        d[0] = (unsigned char)i;
        if (store_put(s, &id, d, len) < 0)
            return 1;
    }
    store_close(s);
    free(d);
    return 0;
}
C
DEPS=$(pkg-config --libs libxxhash libcrypto libcurl expat jansson \
    libevent_core libevent_pthreads 2>/dev/null || true)
cc -O2 -D_GNU_SOURCE -I"$ROOT" -o "$RUN/mkchunks" "$RUN/mkchunks.c" \
    "$BUILD/common/libpcache.a" $DEPS -lxxhash -lpthread -lm
CS=8388608
NBIG=8
"$RUN/mkchunks" "$RUN/big" $NBIG $CS $CS
"$RUN/mkchunks" "$RUN/small" 10000 4096 1048576

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
printf 'x:y\n' >"$RUN/cred"
chmod 600 "$RUN/cred"
start_pcpd() { # DIR TIER CAP -> sets PCPD_PID PCPD_PORT
    local port
    port=$(free_port)
    cat >"$RUN/$1.conf" <<CONF
listen = 127.0.0.1:$port
workers = 2
log_level = warn
backend.b.endpoint = http://127.0.0.1:9
backend.b.bucket = none
backend.b.credfile = $RUN/cred
pbucket.pb.route = "" b
CONF
    "$BUILD/pcpd/pcpd" --config "$RUN/$1.conf" --tier "mem:$RUN/$2:$3" \
        2>>"$RUN/pcpd.log" &
    PCPD_PID=$!
    PIDS+=("$PCPD_PID")
    PCPD_PORT=$port
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v1/status" >/dev/null && return 0
        sleep 0.1
    done
    log "pcpd did not start (see $RUN/pcpd.log)"
    exit 1
}

start_pcpd big big 1G
PBIG=$PCPD_PORT
NPORT=$(free_port)
# The store makes its directories 0700: nginx's workers must be us.
NUSER=
[ "$(id -u)" = 0 ] && NUSER="user root;"
cat >"$RUN/nginx.conf" <<CONF
$NUSER
worker_processes 2;
pid $RUN/nginx.pid;
error_log $RUN/nginx.err warn;
daemon on;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NPORT;
        root $RUN/big;
    }
}
CONF
"$NGINX" -c "$RUN/nginx.conf" -p "$RUN" -e "$RUN/nginx.err"
sleep 0.3

PURL="http://127.0.0.1:$PBIG/v1/chunk/pb/k0?etag=e&index=0&chunk_size=$CS"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$PURL")" = 200 ] ||
    { log "pcpd does not serve the chunk"; exit 1; }
# The file of k0 (pcpd names it in X-Pcache-Chunk).
ID=$(curl -s -D- -o /dev/null "$PURL" | sed -n 's/^X-Pcache-Chunk: //Ip' | tr -d '\r')
NURL="http://127.0.0.1:$NPORT/${ID:0:2}/${ID:2:2}/$ID"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$NURL")" = 200 ] ||
    { log "nginx does not serve $NURL"; exit 1; }

mbps() { # wrk output -> MB/s
    awk '/Transfer\/sec/ { v=$2; u=substr(v, length(v)-1); n=v+0;
        if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u!="MB") n/=1048576;
        printf "%.0f", n }'
}
rps() { awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
run_wrk() { # THREADS CONNS URL [header]
    if [ $# -ge 4 ]; then
        wrk -t"$1" -c"$2" -d"${DUR}s" -H "$4" "$3"
    else
        wrk -t"$1" -c"$2" -d"${DUR}s" "$3"
    fi
}

log "8 MiB chunks, 1 connection"
P1=$(run_wrk 1 1 "$PURL" | mbps)
N1=$(run_wrk 1 1 "$NURL" | mbps)
log "8 MiB chunks, 16 connections"
P16=$(run_wrk 2 16 "$PURL" | mbps)
N16=$(run_wrk 2 16 "$NURL" | mbps)
log "4 KiB ranges, 64 connections"
PR=$(run_wrk 2 64 "$PURL" "Range: bytes=4096-8191" | rps)
NR=$(run_wrk 2 64 "$NURL" "Range: bytes=16384-20479" | rps)

log "RSS with a 10,000-chunk index"
start_pcpd small small 1G
for _ in $(seq 50); do
    n=$(curl -s "http://127.0.0.1:$PCPD_PORT/v1/status" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tiers"][0]["chunks"])')
    [ "$n" = 10000 ] && break
    sleep 0.1
done
# A few requests, so the workers' buffers exist too.
for i in $(seq 0 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PCPD_PORT/v1/chunk/pb/k$i?etag=e&index=0&chunk_size=1048576"
done
RSS=$(awk '/VmRSS/ { print $2 }' "/proc/$PCPD_PID/status")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "ok" : "BELOW TARGET" }'; }
R1=$(ratio "$P1" "$N1")
R16=$(ratio "$P16" "$N16")
RR=$(ratio "$PR" "$NR")
RSSM=$(awk -v k="$RSS" 'BEGIN { printf "%.1f", k / 1024 }')
report() {
    cat <<REPORT

pcpd vs nginx, loopback, same chunk files ($(nproc) cores, ${DUR}s per run)

| test                         | pcpd      | nginx     | ratio | target |
|------------------------------|-----------|-----------|-------|--------|
| 8 MiB chunks, 1 conn (MB/s)  | $P1 | $N1 | $R1 | >= 0.9 $(verdict "$R1" 0.9) |
| 8 MiB chunks, 16 conn (MB/s) | $P16 | $N16 | $R16 | >= 0.9 $(verdict "$R16" 0.9) |
| 4 KiB ranges, 64 conn (req/s)| $PR | $NR | $RR | >= 0.7 $(verdict "$RR" 0.7) |

pcpd RSS with a 10,000-chunk index: ${RSSM} MiB (target < 64 MiB + mem tier;
the tier here is a directory, so no tier pages are in the RSS)
REPORT
}
report | tee "$BUILD/bench-pcpd.md"
# The chart: pcpd relative to nginx (1 = nginx) on each test.
printf 'test pcpd nginx\nchunks_1_conn %s 1\nchunks_16_conn %s 1\nranges_64_conn %s 1\n' \
    "$R1" "$R16" "$RR" >"$BUILD/bench-pcpd.dat"
bash "$ROOT/scripts/bench-chart.sh" "$BUILD/bench-pcpd.dat" "$BUILD/bench-pcpd.png" \
    "pcpd vs nginx, same chunk files (1 = nginx)" "x nginx (higher is better)" ||
    log "no chart (gnuplot)"
echo "report: $BUILD/bench-pcpd.md, chart: $BUILD/bench-pcpd.png"
