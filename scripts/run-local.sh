#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-local.sh: the local demo. On a fresh Debian 12 machine (as root) it
# installs what is missing, builds pcachefs, starts a local S3 server on
# 127.0.0.1, uploads and reads back a file with pcmd, mounts the bucket
# with pcachefs, and shows data flowing both ways through the mount:
# files written through the mount appear in S3, objects put through the S3
# API appear in the mount, and a second read comes from the chunk cache.
# Then the cache cluster: pmsd and two cache nodes, a user with a key, a
# second mount of the bucket through the nodes (cluster mode), reads and
# writes through it, a warmup, and the nodes' statistics.
#
#   scripts/run-local.sh          run the demo, then clean everything up
#   scripts/run-local.sh --keep   leave the server and the mount running
#                                 (it prints how to stop them)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
WORK=$(mktemp -d /tmp/pcachefs-demo.XXXXXX)
MNT=$WORK/mnt
CMNT=$WORK/cluster-mnt
PCACHEFS_PID=
CLUSTER_MOUNT_PID=
CLUSTER_PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
    local rc=$?
    [ "$KEEP" = 1 ] && [ $rc = 0 ] && return
    for m in "$MNT" "$CMNT"; do
        if mountpoint -q "$m" 2>/dev/null; then
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" || true
        fi
    done
    for pid in $PCACHEFS_PID $CLUSTER_MOUNT_PID; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${CLUSTER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${CLUSTER_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    bash "$ROOT/tests/harness/s3rver.sh" stop "$WORK/s3" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT INT TERM

say "installing dependencies and building"
bash "$ROOT/scripts/install-deps.sh"
[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >/dev/null
ninja -C "$BUILD" >/dev/null
PCMD=$BUILD/pcachefs/pcmd
PCACHEFS=$BUILD/pcachefs/pcachefs

say "starting a local S3 server (s3rver) on 127.0.0.1"
bash "$ROOT/tests/harness/s3rver.sh" start "$WORK/s3" --bucket demo
# shellcheck disable=SC1091
. "$WORK/s3/env"
export AWS_ACCESS_KEY_ID=$S3RVER_KEY AWS_SECRET_ACCESS_KEY=$S3RVER_SECRET
export PCACHE_ENDPOINT=$S3RVER_URL
echo "endpoint $S3RVER_URL, bucket demo"

say "uploading and reading back through the S3 client library (pcmd)"
head -c $((40 << 20)) /dev/urandom > "$WORK/sample.bin"
run "$PCMD" put "$WORK/sample.bin" s3://demo/datasets/sample.bin
run "$PCMD" get s3://demo/datasets/sample.bin "$WORK/sample.back"
run cmp "$WORK/sample.bin" "$WORK/sample.back" && echo "identical"
run "$PCMD" ls -l -r s3://demo/

say "mounting s3://demo on $MNT with pcachefs"
mkdir -p "$MNT"
run "$PCACHEFS" s3://demo "$MNT" -o "endpoint=$S3RVER_URL,cache_dir=$WORK/cache,cache_size=1G,attr_timeout=1s"
PCACHEFS_PID=$(pgrep -n -f "pcachefs s3://demo $MNT" || true)
run ls -l "$MNT" "$MNT/datasets"

say "reading through the mount (cold, then from the chunk cache)"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
run dd if="$MNT/datasets/sample.bin" of=/dev/null bs=1M
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
run dd if="$MNT/datasets/sample.bin" of=/dev/null bs=1M
run cmp "$WORK/sample.bin" "$MNT/datasets/sample.bin" && echo "identical"

say "writing through the mount: the object is in S3 when close() returns"
run mkdir -p "$MNT/results/run1"
run cp "$WORK/sample.bin" "$MNT/results/run1/model.bin"
echo "accuracy 0.93" > "$MNT/results/run1/metrics.txt"
run "$PCMD" ls -l -r s3://demo/results/
run "$PCMD" cat s3://demo/results/run1/metrics.txt

say "an object put through the S3 API shows up in the mount"
echo "added behind the mount's back" > "$WORK/note.txt"
run "$PCMD" put "$WORK/note.txt" s3://demo/note.txt
for _ in $(seq 50); do [ -e "$MNT/note.txt" ] && break; sleep 0.1; done
run cat "$MNT/note.txt"

say "rename, symlink, chmod, remove"
run mv "$MNT/results/run1" "$MNT/results/best"
run ln -s results/best/metrics.txt "$MNT/latest-metrics"
run chmod 600 "$MNT/results/best/metrics.txt"
run ls -l "$MNT" "$MNT/results/best"
run rm "$MNT/note.txt"
run "$PCMD" ls -r s3://demo/

say "the cache cluster: a metadata service (pmsd) and two cache nodes (pcpd)"
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
json_cred() {
    /usr/bin/python3 -c 'import json, sys; k = json.load(sys.stdin); print("%s:%s" % (k["access_key"], k["secret_key"]))'
}
PMS_PORT=$(free_port)
"$BUILD/pmsd/pmsd" --listen "127.0.0.1:$PMS_PORT" --state-dir "$WORK/pmsd" \
    > "$WORK/pmsd.log" 2>&1 &
CLUSTER_PIDS+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PMS_PORT/v1/status" >/dev/null &&
        [ -s "$WORK/pmsd/admin.cred" ] && break
    sleep 0.1
done
export PCACHE_PMS=127.0.0.1:$PMS_PORT PCACHE_CREDFILE=$WORK/pmsd/admin.cred
CTL=$BUILD/pmsd/pcachectl
run "$CTL" backend add local --endpoint "$S3RVER_URL" --bucket demo \
    --access-key "$S3RVER_KEY" --secret-key "$S3RVER_SECRET" >/dev/null
run "$CTL" pbucket add demo --route =local >/dev/null
run "$CTL" policy add nodes --allow 'node:*' >/dev/null
run "$CTL" user add node --policy nodes >/dev/null
"$CTL" --json key create node | json_cred > "$WORK/node.cred"
chmod 600 "$WORK/node.cred"
NODE_PORTS=()
for i in 1 2; do
    port=$(free_port)
    NODE_PORTS+=("$port")
    "$BUILD/pcpd/pcpd" --listen "127.0.0.1:$port" --pms "127.0.0.1:$PMS_PORT" \
        -o "pms_credfile=$WORK/node.cred,node_id=node$i" \
        --tier "mem:$WORK/node$i:256M" 2> "$WORK/node$i.log" &
    CLUSTER_PIDS+=($!)
done
for _ in $(seq 100); do
    [ "$("$CTL" node list | grep -c ' yes ')" = 2 ] && break
    sleep 0.2
done
run "$CTL" node list

say "a user gets a key; a second mount reaches the bucket through the cluster"
run "$CTL" policy add team --allow 'read,list,write,delete:demo/*' >/dev/null
run "$CTL" user add alice --policy team >/dev/null
"$CTL" --json key create alice | json_cred > "$WORK/alice.cred"
chmod 600 "$WORK/alice.cred"
mkdir -p "$CMNT"
run "$PCACHEFS" demo "$CMNT" -o "pms=127.0.0.1:$PMS_PORT,credfile=$WORK/alice.cred,cache_dir=$WORK/ccache,cache_size=0"
CLUSTER_MOUNT_PID=$(pgrep -n -f "pcachefs demo $CMNT" || true)
run ls -l "$CMNT" "$CMNT/datasets"

say "reading through the cluster: chunks come from the nodes that own them"
run dd if="$CMNT/datasets/sample.bin" of=/dev/null bs=1M
run cmp "$WORK/sample.bin" "$CMNT/datasets/sample.bin" && echo "identical"
PCMDC=("$PCMD" --pms "127.0.0.1:$PMS_PORT" --credfile "$WORK/alice.cred")
run "${PCMDC[@]}" stats -h s3://demo/datasets/

say "writing through the cluster: the nodes upload to S3 and keep the chunks"
echo "written through the cache cluster" > "$CMNT/from-cluster.txt"
run "$PCMD" cat s3://demo/from-cluster.txt
run "${PCMDC[@]}" warmup s3://demo/results/
ETAG=$("$PCMD" stat s3://demo/datasets/sample.bin | awk '/^ETag/ {print $2}')
ETAG_Q=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$ETAG")
CHUNK_URL="http://127.0.0.1:${NODE_PORTS[0]}/v1/chunk/demo/datasets/sample.bin?etag=$ETAG_Q&index=0&chunk_size=8388608"
printf 'a chunk request without a token: HTTP %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "$CHUNK_URL")"
run "$CTL" status

if [ "$KEEP" = 1 ]; then
    say "left running"
    echo "mount: $MNT (stop: fusermount3 -u $MNT)"
    echo "cluster mount: $CMNT (stop: fusermount3 -u $CMNT)"
    echo "S3:    $S3RVER_URL (stop: bash $ROOT/tests/harness/s3rver.sh stop $WORK/s3)"
    echo "pmsd:  127.0.0.1:$PMS_PORT, nodes on ports ${NODE_PORTS[*]} (pids ${CLUSTER_PIDS[*]})"
else
    say "done: unmounting and stopping the server"
fi
