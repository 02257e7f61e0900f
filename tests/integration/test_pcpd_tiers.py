#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcpd_tiers.py - pcpd with two tiers against s3rver (through
faultproxy.py): a full fast tier demotes its coldest chunks to the slow
one, a chunk read repeatedly on the slow tier is promoted back, a
per-prefix TTL makes an old chunk a miss, and a tier on a tiny tmpfs that
fills up still lets every chunk be served.

usage: test_pcpd_tiers.py PCPD_BINARY
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcpdhelp as h  # noqa: E402

CHUNK = h.CHUNK
HDR = 12288


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what, flush=True)


def wait_for(fn, what, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def put_object(bucket, key, data, work):
    obj = os.path.join(work, "obj-" + key.replace("/", "_"))
    with open(obj, "wb") as f:
        f.write(data)
    check(h.s3("S3RVER", "PUT", "/%s/%s" % (bucket, key),
               data_file=obj).startswith("200"), "put " + key)
    return h.head_etag("S3RVER", "/%s/%s" % (bucket, key))


def get_ok(node, key, etag, i, data, what=None):
    s, hd, b = node.get(h.chunk_path(key, etag, i))
    want = data[i * CHUNK:(i + 1) * CHUNK]
    if s != 200 or b != want:
        raise AssertionError("chunk %d of %s: status %d, %d bytes" %
                             (i, key, s, len(b)))
    if what:
        check(True, what)
    return hd


def test_demote_promote(node, key, etag, data):
    m = "pcpd_tier_%s_total{tier=\"%s\"}"
    n = len(data) // CHUNK
    for i in range(n):
        get_ok(node, key, etag, i, data)
    # Every chunk ends up stored somewhere (writes run on the pool).
    wait_for(lambda: node.metrics()["pcpd_pool_pending"] == 0, "pool idle")
    met = node.metrics()
    check(met[m % ("demotions", "ssd")] >= 1,
          "the full mem tier demoted %d chunks to ssd" %
          met[m % ("demotions", "ssd")])
    check(met["pcpd_tier_used_bytes{tier=\"mem\"}"] <=
          met["pcpd_tier_capacity_bytes{tier=\"mem\"}"],
          "mem tier within its capacity")
    # The first chunks were the coldest: they are on ssd now.
    hd = get_ok(node, key, etag, 0, data)
    check(hd["x-pcache-cache"] == "hit" and hd["x-pcache-tier"] == "ssd",
          "chunk 0 served from ssd after demotion (%s)" % hd["x-pcache-tier"])
    before = met[m % ("promotions", "mem")]
    get_ok(node, key, etag, 0, data)  # second hit on ssd: promote
    wait_for(lambda: node.metrics()[m % ("promotions", "mem")] > before,
             "a promotion")
    hd = get_ok(node, key, etag, 0, data)
    check(hd["x-pcache-tier"] == "mem",
          "chunk 0 promoted back to mem after repeated reads")
    hd = get_ok(node, key, etag, 0, data)
    s, hd, b = node.get(h.chunk_path(key, etag, 0), {"Range": "bytes=5-9"})
    check(s == 206 and b == data[5:10], "range of the promoted chunk")
    st = node.status()
    tiers = {t["name"]: t for t in st["tiers"]}
    check(tiers["mem"]["promotions"] >= 1 and tiers["ssd"]["demotions"] >= 1,
          "/v1/status counts promotions and demotions")


def test_ttl(node, proxy, key, etag, data):
    get_ok(node, key, etag, 0, data)
    hd = wait_for(lambda: (lambda r: r if r["x-pcache-cache"] == "hit"
                           else None)(get_ok(node, key, etag, 0, data)),
                  "ttl chunk cached")
    check(hd["x-pcache-cache"] == "hit", "ttl/ chunk is a hit while young")
    time.sleep(2.2)
    proxy.ctl("/__stats?reset=1")
    hd = get_ok(node, key, etag, 0, data)
    check(hd["x-pcache-cache"] == "miss" and proxy.gets() == 1,
          "after its 1s TTL the chunk is fetched again")


def test_tiny_tmpfs(binary, bucket, work, key, etag, data, proxy):
    mnt = os.path.join(work, "tmpfs")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                        mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print("SKIP tiny tmpfs: cannot mount (%s)" % r.stderr.strip())
        return
    try:
        # The tier believes it has 64M; the disk says no at 16M.
        node = h.Pcpd(binary, os.path.join(work, "n3"), "S3RVER", proxy.url,
                      free_port(),
                      tiers=["mem:%s:64M" % os.path.join(mnt, "t")])
        node.set_bucket(bucket)
        node.start()
        n = len(data) // CHUNK
        for rnd in range(2):
            for i in range(n):
                get_ok(node, key, etag, i, data)
            wait_for(lambda: node.metrics()["pcpd_pool_pending"] == 0,
                     "pool idle")
        met = node.metrics()
        check(met["pcpd_cache_put_failures_total"] >= 1,
              "tmpfs full: %d chunks could not be cached" %
              met["pcpd_cache_put_failures_total"])
        check(True, "all %d chunks served right twice on a full tmpfs" % n)
        s, _, _ = node.get("/v1/status")
        check(s == 200, "node still serving")
        check(node.stop() == 0, "SIGTERM: exit 0")
    finally:
        h.cleanup()
        subprocess.run(["umount", mnt], capture_output=True)


def main():
    h.need("S3RVER_URL", "S3RVER_KEY", "S3RVER_SECRET")
    binary = sys.argv[1]
    work = os.path.join(h.TMP, "pcpd-tiers-%d" % os.getpid())
    os.makedirs(work)
    bucket = "t-pcpd-tiers-%d" % os.getpid()
    t0 = time.time()
    try:
        check(h.s3("S3RVER", "PUT", "/" + bucket).startswith("200"),
              "bucket made")
        data = os.urandom(8 * CHUNK)
        etag = put_object(bucket, "d/obj", data, work)
        ttl_data = os.urandom(CHUNK)
        ttl_etag = put_object(bucket, "ttl/obj", ttl_data, work)
        proxy = h.FaultProxy(os.environ["S3RVER_URL"], work)
        # mem holds 3 chunk files: 3 * (1M + 12K) < 95 % of 3.3M
        mem = "mem:%s:%d" % (os.path.join(work, "t0"), 3300000)
        ssd = "ssd:%s:64M" % os.path.join(work, "t1")
        node = h.Pcpd(binary, os.path.join(work, "n1"), "S3RVER", proxy.url,
                      free_port(), tiers=[mem, ssd],
                      extra="promote_hits = 2\n"
                            "pbucket.pb.route = ttl/ b 1s\n")
        node.set_bucket(bucket)
        node.start()
        test_demote_promote(node, "d/obj", etag, data)
        test_ttl(node, proxy, "ttl/obj", ttl_etag, ttl_data)
        check(node.stop() == 0, "SIGTERM: exit 0")
        big = os.urandom(24 * CHUNK)
        big_etag = put_object(bucket, "d/big", big, work)
        test_tiny_tmpfs(binary, bucket, work, "d/big", big_etag, big, proxy)
        proxy.stop()
        print("pcpd tier tests passed in %.1fs" % (time.time() - t0))
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
