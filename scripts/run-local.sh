#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-local.sh: the local demo. On a fresh Debian 12 machine (as root) it
# installs what is missing, builds pcachefs, starts a local S3 server on
# 127.0.0.1, uploads and reads back a file with pcmd, mounts the bucket
# with pcachefs, and shows data flowing both ways through the mount:
# files written through the mount appear in S3, objects put through the S3
# API appear in the mount, and a second read comes from the chunk cache.
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
PCACHEFS_PID=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
    local rc=$?
    [ "$KEEP" = 1 ] && [ $rc = 0 ] && return
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" || true
    fi
    if [ -n "$PCACHEFS_PID" ]; then
        for _ in $(seq 50); do kill -0 "$PCACHEFS_PID" 2>/dev/null || break; sleep 0.1; done
        kill "$PCACHEFS_PID" 2>/dev/null || true
    fi
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

if [ "$KEEP" = 1 ]; then
    say "left running"
    echo "mount: $MNT (stop: fusermount3 -u $MNT)"
    echo "S3:    $S3RVER_URL (stop: bash $ROOT/tests/harness/s3rver.sh stop $WORK/s3)"
else
    say "done: unmounting and stopping the server"
fi
