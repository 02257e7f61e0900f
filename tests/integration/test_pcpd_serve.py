#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcpd_serve.py - pcpd against s3rver (through faultproxy.py):
single flight, hits, corrupt chunk files, malformed requests, kill -9
during writes, SIGTERM.

usage: test_pcpd_serve.py PCPD_BINARY
"""
import concurrent.futures
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcpdhelp as h  # noqa: E402

CHUNK = h.CHUNK


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


def test_single_flight(node, proxy, key, etag, data):
    proxy.ctl("/__stats?reset=1")
    path = h.chunk_path(key, etag, 1)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        res = list(ex.map(lambda _: node.get(path), range(64)))
    dt = time.time() - t0
    want = data[CHUNK:2 * CHUNK]
    check(all(s == 200 and b == want for s, _, b in res),
          "64 concurrent clients got the right chunk (%.2fs)" % dt)
    check(proxy.gets() == 1, "exactly one backend GET (saw %d)" % proxy.gets())
    m = node.metrics()
    check(m["pcpd_chunk_misses_total"] == 1 and
          m["pcpd_chunk_joins_total"] + m["pcpd_chunk_hits_total"] == 63,
          "metrics: 1 miss, 63 joins or hits")
    for _ in range(100):
        s, hd, b = node.get(path)
        if hd["x-pcache-cache"] == "hit":
            break
        time.sleep(0.05)
    check(s == 200 and hd["x-pcache-cache"] == "hit" and b == want,
          "then a hit from tier %s" % hd["x-pcache-tier"])
    s, hd, b = node.get(path, {"Range": "bytes=100-4195"})
    check(s == 206 and b == want[100:4196] and
          hd["content-range"] == "bytes 100-4195/%d" % CHUNK, "range hit")
    s, hd, b = node.get(path, {"Range": "bytes=-10"})
    check(s == 206 and b == want[-10:], "suffix range hit")
    s, hd, b = node.get(h.chunk_path(key, etag, 2),
                        {"Range": "bytes=5-9"})
    check(s == 206 and b == data[2 * CHUNK + 5:2 * CHUNK + 10],
          "range miss")
    last = len(data) // CHUNK
    s, hd, b = node.get(h.chunk_path(key, etag, last))
    check(s == 200 and b == data[last * CHUNK:], "short last chunk")
    s, hd, b = node.get(h.chunk_path(key, etag, last + 5))
    check(s == 416, "chunk past the end: 416 (got %d)" % s)


def chunk_file(tier_dir, hexid):
    return os.path.join(tier_dir, hexid[:2], hexid[2:4], hexid)


def test_corrupt(node, proxy, key, etag, data, tier_dir):
    path = h.chunk_path(key, etag, 0)
    for _ in range(100):
        s, hd, b = node.get(path)
        if hd["x-pcache-cache"] == "hit":
            break
        time.sleep(0.05)  # joined the flight while it was being written
    check(hd["x-pcache-cache"] == "hit", "chunk 0 cached")
    f = chunk_file(tier_dir, hd["x-pcache-chunk"])
    with open(f, "r+b") as fh:
        fh.seek(12288 + 70000)
        c = fh.read(1)
        fh.seek(12288 + 70000)
        fh.write(bytes([c[0] ^ 0xff]))
    proxy.ctl("/__stats?reset=1")
    s, hd, b = node.get(path)
    check(s == 200 and b == data[:CHUNK] and hd["x-pcache-cache"] == "miss",
          "flipped byte: detected, refetched, right bytes")
    check(proxy.gets() == 1, "refetch is one backend GET")
    time.sleep(0.3)
    with open(f, "r+b") as fh:
        fh.truncate(12288 + 1000)
    s, hd, b = node.get(path, {"Range": "bytes=0-99"})
    check(s == 206 and b == data[:100], "truncated file: refetched")
    m = node.metrics()
    check(m['pcpd_tier_corrupt_total{tier="mem"}'] >= 2, "corrupt counted")


def test_corrupt_cached(node, proxy, key, etag, data, tier_dir):
    """A chunk file kept open by the hit cache, its blocks already
    verified, is still caught when a byte of it changes."""
    path = h.chunk_path(key, etag, 1)
    for _ in range(100):
        s, hd, b = node.get(path)
        if hd["x-pcache-cache"] == "hit":
            break
        time.sleep(0.05)
    check(hd["x-pcache-cache"] == "hit", "chunk 1 cached")
    # The hit cache keeps only files older than a second (a write in the
    # same timestamp tick would be invisible): wait that out, not a poll.
    time.sleep(1.2)
    for _ in range(8):  # every worker now holds it open, verified
        s, hd, b = node.get(path)
        check(s == 200 and b == data[CHUNK:2 * CHUNK], "cached hit bytes")
    f = chunk_file(tier_dir, hd["x-pcache-chunk"])
    with open(f, "r+b") as fh:
        fh.seek(12288 + 3 * 65536 + 7)
        c = fh.read(1)
        fh.seek(12288 + 3 * 65536 + 7)
        fh.write(bytes([c[0] ^ 0x01]))
    s, hd, b = node.get(path)
    check(s == 200 and b == data[CHUNK:2 * CHUNK],
          "byte flipped under the hit cache: never served")


def raw(port, payload, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                break
        return out
    finally:
        s.close()


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def test_malformed(node, key, etag):
    good = h.chunk_path(key, etag, 0)
    cases = [
        ("/v1/chunk/pb/../etc/passwd?etag=x&index=0&chunk_size=1048576", {}),
        ("/v1/chunk/pb/a/%2e%2e/b?etag=x&index=0&chunk_size=1048576", {}),
        ("/v1/chunk/pb/a%00b?etag=x&index=0&chunk_size=1048576", {}),
        ("/v1/chunk/PB!/k?etag=x&index=0&chunk_size=1048576", {}),
        ("/v1/chunk/pb/k?index=0&chunk_size=1048576", {}),
        ("/v1/chunk/pb/k?etag=x&index=-1&chunk_size=1048576", {}),
        ("/v1/chunk/pb/k?etag=x&index=0&chunk_size=1000", {}),
        ("/v1/chunk/pb/k?etag=x&index=0&chunk_size=99999999999999999999",
         {}),
        ("/v1/chunk/nosuch/k?etag=x&index=0&chunk_size=1048576", {}),
        ("/v1/chunk/pb/" + "a" * 1100 + "?etag=x&index=0&chunk_size=1048576",
         {}),
        ("/nowhere", {}),
        (good, {"Range": "bytes=5-1"}),
        (good, {"Range": "bytes=0-1,5-6"}),
        (good, {"Range": "items=0-1"}),
        (good, {"Range": "bytes=%d-" % (CHUNK + 1)}),
    ]
    for p, hdr in cases:
        s, _, _ = node.get(p, hdr)
        check(400 <= s < 500, "%s %s -> %d" % (p[:60], hdr, s))
    r = raw(node.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
            b"a" * 40000 + b"\r\n\r\n")
    check(r == b"" or 400 <= status_of(r) < 500,
          "huge header -> %r" % r[:40])
    r = raw(node.port, b"BREW /pot HTTP/1.1\r\n\r\n")
    check(status_of(r) in (400, 405, 501) or r == b"", "bad method -> %d" % status_of(r))
    r = raw(node.port, b"\x16\x03\x01garbage\r\n\r\n")
    check(r == b"" or 400 <= status_of(r) < 500, "garbage request")
    # A slow client (slowloris): half a request line, then nothing.
    t0 = time.time()
    r = raw(node.port, b"GET /v1/sta", timeout=10)
    check(time.time() - t0 < 8, "slow client dropped after %.1fs" %
          (time.time() - t0))
    s, _, _ = node.get("/v1/status")
    check(s == 200, "node still serving after malformed requests")


def test_kill9(node, bucket, work, tier_dir):
    """A fresh 24 MiB object: its chunks are being written at the kill."""
    data = os.urandom(24 * CHUNK)
    obj = os.path.join(work, "obj2")
    with open(obj, "wb") as f:
        f.write(data)
    key = "big/obj2"
    h.s3("S3RVER", "PUT", "/%s/%s" % (bucket, key), data_file=obj)
    etag = h.head_etag("S3RVER", "/%s/%s" % (bucket, key))
    # Three rounds, each with a fresh chunk size (fresh chunk ids) and a
    # kill at a different moment of the fetches and writes.
    for rnd, (csize, delay) in enumerate([(1 << 20, 0.03), (2 << 20, 0.06),
                                          (4 << 20, 0.1)]):
        n = len(data) // csize
        paths = [h.chunk_path(key, etag, i, csize) for i in range(n)]

        def fetch(p):
            try:
                node.get(p, timeout=10)
            except Exception:  # the node dies under us: expected
                pass
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            futs = [ex.submit(fetch, p) for p in paths]
            time.sleep(delay)
            node.kill9()
            for f in futs:
                f.result()
        node.start()
        kinds = {}
        for i, p in enumerate(paths):
            s, hd, b = node.get(p)
            if s != 200 or b != data[i * csize:(i + 1) * csize]:
                raise AssertionError("round %d chunk %d bad after kill -9"
                                     % (rnd, i))
            kinds[hd["x-pcache-cache"]] = kinds.get(hd["x-pcache-cache"],
                                                    0) + 1
        check(True, "after kill -9 at %.2fs: %d chunks right %s" %
              (delay, n, kinds))
    # Chunks fetched by the last round may still be being written.
    for _ in range(200):
        if node.metrics()["pcpd_pool_pending"] == 0:
            break
        time.sleep(0.05)
    tmpd = os.path.join(tier_dir, "tmp")
    check(not os.listdir(tmpd), "no temporary files left")


def test_sigterm(node, key, etag):
    s, _, _ = node.get(h.chunk_path(key, etag, 0))
    t0 = time.time()
    rc = node.stop()
    check(rc == 0, "SIGTERM: exit 0 in %.2fs" % (time.time() - t0))


def main():
    h.need("S3RVER_URL", "S3RVER_KEY", "S3RVER_SECRET")
    binary = sys.argv[1]
    work = os.path.join(h.TMP, "pcpd-serve-%d" % os.getpid())
    os.makedirs(work)
    bucket = "t-pcpd-serve-%d" % os.getpid()
    try:
        check(h.s3("S3RVER", "PUT", "/" + bucket).startswith("200"),
              "bucket made")
        data = os.urandom(5 * CHUNK + 12345)
        obj = os.path.join(work, "obj")
        with open(obj, "wb") as f:
            f.write(data)
        key = "dir/some obj+1"
        check(h.s3("S3RVER", "PUT", "/%s/%s" % (bucket, key),
                   data_file=obj).startswith("200"), "object put")
        etag = h.head_etag("S3RVER", "/%s/%s" % (bucket, key))
        proxy = h.FaultProxy(os.environ["S3RVER_URL"], work)
        tier = os.path.join(work, "t0")
        node = h.Pcpd(binary, work, "S3RVER", proxy.url, free_port())
        node.set_bucket(bucket)
        node.start()
        t = time.time()
        test_single_flight(node, proxy, key, etag, data)
        test_corrupt(node, proxy, key, etag, data, tier)
        test_corrupt_cached(node, proxy, key, etag, data, tier)
        test_malformed(node, key, etag)
        test_kill9(node, bucket, work, tier)
        test_sigterm(node, key, etag)
        proxy.stop()
        print("all pcpd serve tests passed in %.1fs" % (time.time() - t))
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
