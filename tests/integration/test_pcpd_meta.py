#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcpd_meta.py - pcpd's metadata proxy and warmup against real S3
servers (s3rver, and radosgw when its environment is set): head, list,
small put, delete, copy, multipart create/part/complete/abort, data
written through the node read back from its cache without a backend GET;
warmup of a key list and of a prefix, with progress in /v1/status; the
hot-chunk top-K.

usage: test_pcpd_meta.py PCPD_BINARY
"""
import json
import os
import socket
import sys
import time
import urllib.parse

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


def q(s):
    return urllib.parse.quote(s, safe="")


def meta(node, method, key, query="", body=None, headers=None):
    path = "/v1/meta/pb" + ("/" + urllib.parse.quote(key) if key else "")
    if query:
        path += "?" + query
    s, hd, b = node.request(method, path, body=body, headers=headers)
    try:
        j = json.loads(b) if b else None
    except ValueError:
        j = None
    return s, hd, j


def wait_for(fn, what, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def gets(node):
    return node.metrics()["pcpd_backend_gets_total"]


def test_basic(node, label):
    data = os.urandom(2 * CHUNK + 777)
    s, _, j = meta(node, "PUT", "w/small obj", "chunk_size=%d" % CHUNK, data,
                   {"x-amz-meta-mode": "33188", "Content-Type": "text/x-y"})
    check(s == 200 and j["etag"] and j["cached"] == 3,
          "%s: small put through the node, 3 chunks cached" % label)
    etag = j["etag"]
    s, hd, _ = meta(node, "HEAD", "w/small obj")
    check(s == 200 and hd["x-pcache-size"] == str(len(data)) and
          hd["etag"] == etag and hd.get("x-amz-meta-mode") == "33188",
          "%s: HEAD: size, ETag, user metadata" % label)
    s, _, j = meta(node, "GET", "w/small obj")
    check(s == 200 and j["size"] == len(data) and j["meta"]["mode"] ==
          "33188", "%s: head as JSON" % label)
    g0 = gets(node)
    for i in range(3):
        s, hd, b = node.get(h.chunk_path("w/small obj", etag, i))
        check(s == 200 and b == data[i * CHUNK:(i + 1) * CHUNK] and
              hd["x-pcache-cache"] == "hit",
              "%s: chunk %d just written is a cache hit" % (label, i))
    check(gets(node) == g0, "%s: no backend GET for written data" % label)
    s, _, j = meta(node, "PUT", "w/copy", "copy_from=" + q("w/small obj"))
    check(s == 200 and j["etag"], "%s: copy" % label)
    for k in ("w/a/1", "w/a/2", "w/b"):
        meta(node, "PUT", k, "", b"x")
    s, _, j = meta(node, "GET", None, "prefix=w/&delimiter=/")
    keys = sorted(o["key"] for o in j["objects"])
    check(s == 200 and keys == ["w/b", "w/copy", "w/small obj"] and
          j["prefixes"] == ["w/a/"], "%s: list with delimiter" % label)
    s, _, j = meta(node, "GET", None, "prefix=w/a/&max_keys=1")
    check(s == 200 and len(j["objects"]) == 1 and j["truncated"],
          "%s: list pages (truncated, next)" % label)
    s, _, _ = meta(node, "DELETE", "w/copy")
    check(s == 204, "%s: delete" % label)
    s, _, j = meta(node, "HEAD", "w/copy")
    check(s == 404, "%s: deleted object is gone (HEAD 404)" % label)
    s, _, j = meta(node, "GET", "w/nothing")
    check(s == 404 and j["error"] == "NoSuchKey", "%s: head of a missing "
          "key: 404 NoSuchKey" % label)
    s, _, j = meta(node, "GET", None, "max_keys=abc")
    check(s == 400, "%s: bad max_keys: 400" % label)
    s, _, _ = node.request("GET", "/v1/meta/nosuch/k")
    check(s == 404, "%s: unknown pbucket: 404" % label)
    s, _, _ = node.request("PATCH", "/v1/meta/pb/k")
    check(400 <= s < 500 or s == 501, "%s: unknown method: %d" % (label, s))
    s, _, _ = node.request("GET", "/v1/meta/pb/a/../b")
    check(s == 400, "%s: '..' in a key: 400" % label)


def test_multipart(node, label):
    part = 5 * CHUNK  # S3's smallest part: 5 MiB
    data = os.urandom(2 * part + 3 * CHUNK + 1000)
    key = "mp/big obj"
    s, _, j = meta(node, "POST", key, "uploads")
    check(s == 200 and j["upload_id"], "%s: multipart create" % label)
    uid = j["upload_id"]
    parts = []
    for n, off in enumerate(range(0, len(data), part), 1):
        body = data[off:off + part]
        s, _, j = meta(node, "PUT", key, "upload_id=%s&part=%d&offset=%d&"
                       "chunk_size=%d" % (q(uid), n, off, CHUNK), body)
        check(s == 200 and j["etag"] and j["staged"] ==
              (len(body) + CHUNK - 1) // CHUNK,
              "%s: part %d uploaded, %d chunks staged" %
              (label, n, j["staged"]))
        parts.append({"part": n, "etag": j["etag"]})
    s, _, j = meta(node, "POST", key, "upload_id=" + q(uid),
                   json.dumps({"parts": parts}).encode())
    nchunks = (len(data) + CHUNK - 1) // CHUNK
    check(s == 200 and j["etag"] and j["cached"] == nchunks,
          "%s: complete: ETag %s, %d chunks cached" %
          (label, j.get("etag"), j.get("cached", -1)))
    etag = j["etag"]
    s, hd, _ = meta(node, "HEAD", key)
    check(s == 200 and int(hd["x-pcache-size"]) == len(data) and
          hd["etag"] == etag, "%s: completed object's size and ETag" % label)
    g0 = gets(node)
    ok = True
    for i in range(nchunks):
        s, hd, b = node.get(h.chunk_path(key, etag, i))
        ok = ok and s == 200 and b == data[i * CHUNK:(i + 1) * CHUNK] and \
            hd["x-pcache-cache"] == "hit"
    check(ok and gets(node) == g0, "%s: all %d chunks of the multipart "
          "object are cache hits, no backend GET" % (label, nchunks))
    # abort
    s, _, j = meta(node, "POST", "mp/aborted", "uploads")
    uid = j["upload_id"]
    s, _, j = meta(node, "PUT", "mp/aborted", "upload_id=%s&part=1&offset=0"
                   "&chunk_size=%d" % (q(uid), CHUNK), os.urandom(part))
    check(s == 200 and j["staged"] == 5, "%s: part staged" % label)
    s, _, j = meta(node, "DELETE", "mp/aborted", "upload_id=" + q(uid))
    # s3rver has no AbortMultipartUpload (405): the node passes that on.
    check(s == 204 or (label == "s3rver" and s == 400),
          "%s: multipart abort (%d %s)" % (label, s, j))
    s, _, j = meta(node, "POST", "mp/aborted", "upload_id=" + q(uid),
                   b'{"parts": [{"part": 1, "etag": "x"}]}')
    check(s >= 400 or label == "s3rver",
          "%s: complete after abort fails (%d)" % (label, s))
    s, _, j = meta(node, "POST", key, "upload_id=x", b"not json")
    check(s == 400, "%s: complete with a bad body: 400" % label)


def run_warmup(node, backend_env, bucket, work, label):
    objs = {}
    for i in range(4):
        d = os.urandom(2 * CHUNK + 100 * (i + 1))
        k = "warm/d/f%d" % i
        path = os.path.join(work, "warm%d" % i)
        with open(path, "wb") as f:
            f.write(d)
        h.s3(backend_env, "PUT", "/%s/%s" % (bucket, k), data_file=path)
        objs[k] = d
    body = {"pbucket": "pb", "keys": ["warm/d/f0"], "chunk_size": CHUNK}
    s, _, b = node.request("POST", "/v1/warmup", json.dumps(body).encode())
    j = json.loads(b)
    check(s == 202 and j["id"], "%s: warmup of a key list accepted" % label)

    def done(wid):
        st = node.status()
        for w in st["warmups"]:
            if w["id"] == wid and w["state"] in ("done", "failed"):
                return w
        return None
    w = wait_for(lambda: done(j["id"]), "warmup 1")
    check(w["state"] == "done" and w["chunks"] == 3 and w["fetched"] == 3,
          "%s: warmup 1 done: %s" % (label, w))
    body = {"pbucket": "pb", "prefix": "warm/d/", "chunk_size": CHUNK,
            "parallel": 2}
    s, _, b = node.request("POST", "/v1/warmup", json.dumps(body).encode())
    j = json.loads(b)
    w = wait_for(lambda: done(j["id"]), "warmup 2")
    check(w["state"] == "done" and w["keys"] == 4 and w["chunks"] == 12 and
          w["fetched"] == 9 and w["cached"] == 3 and w["failed"] == 0,
          "%s: prefix warmup: 4 keys, 9 fetched, 3 already cached" % label)
    g0 = gets(node)
    for k, d in objs.items():
        etag = h.head_etag(backend_env, "/%s/%s" % (bucket, k))
        for i in range(3):
            s, hd, b = node.get(h.chunk_path(k, etag, i))
            if s != 200 or b != d[i * CHUNK:(i + 1) * CHUNK] or \
                    hd["x-pcache-cache"] != "hit":
                raise AssertionError("warmed chunk %s#%d: %d %s" %
                                     (k, i, s, hd.get("x-pcache-cache")))
    check(gets(node) == g0, "%s: every warmed chunk is a hit" % label)
    for bad in (b"{", b'{"pbucket": "pb"}', b'{"pbucket": "nosuch", '
                b'"prefix": ""}', b'{"pbucket": "pb", "keys": [1]}'):
        s, _, _ = node.request("POST", "/v1/warmup", bad)
        check(400 <= s < 500, "%s: bad warmup %r -> %d" % (label, bad, s))
    return objs


def test_hot(node, objs, backend_env, bucket, label):
    k = sorted(objs)[0]
    etag = h.head_etag(backend_env, "/%s/%s" % (bucket, k))
    for _ in range(50):
        node.get(h.chunk_path(k, etag, 1), {"Range": "bytes=0-9"})
    st = node.status()
    top = st["hot"]["top"]
    check(top and top[0]["name"] == "pb/%s#1" % k and top[0]["count"] >= 50,
          "%s: hottest chunk in /v1/status: %s" % (label, top[0]))
    m = node.metrics()
    hot = [x for x in m if x.startswith("pcpd_hot_chunk_requests{")]
    check(hot and any(("#1" in x and k in x) for x in hot),
          "%s: hot chunks in /metrics" % label)


def run(binary, env, label, work):
    bucket = "t-pcpd-meta-%d" % os.getpid()
    check(h.s3(env, "PUT", "/" + bucket).startswith("200"),
          "%s: bucket made" % label)
    node = h.Pcpd(binary, os.path.join(work, label), env,
                  os.environ[env + "_URL"], free_port(),
                  tiers=["mem:%s:256M" % os.path.join(work, label, "t0")])
    node.set_bucket(bucket)
    node.start()
    test_basic(node, label)
    test_multipart(node, label)
    objs = run_warmup(node, env, bucket, os.path.join(work, label), label)
    test_hot(node, objs, env, bucket, label)
    check(node.stop() == 0, "%s: SIGTERM: exit 0" % label)


def main():
    h.need("S3RVER_URL", "S3RVER_KEY", "S3RVER_SECRET")
    binary = sys.argv[1]
    work = os.path.join(h.TMP, "pcpd-meta-%d" % os.getpid())
    os.makedirs(work)
    t0 = time.time()
    try:
        run(binary, "S3RVER", "s3rver", work)
        if os.environ.get("RGW_URL"):
            run(binary, "RGW", "rgw", work)
        else:
            print("radosgw not set up: s3rver only")
        print("pcpd meta tests passed in %.1fs" % (time.time() - t0))
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
