#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcpd_etag.py - pcpd against radosgw (which honours If-Match): a
chunk request with a stale ETag gets the distinct 412 reply, and nothing
is cached under it; the right ETag is served.

usage: test_pcpd_etag.py PCPD_BINARY
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcpdhelp as h  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what, flush=True)


def main():
    h.need("RGW_URL", "RGW_KEY", "RGW_SECRET")
    binary = sys.argv[1]
    work = os.path.join(h.TMP, "pcpd-etag-%d" % os.getpid())
    os.makedirs(work)
    bucket = "t-pcpd-etag-%d" % os.getpid()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.time()
    try:
        check(h.s3("RGW", "PUT", "/" + bucket).startswith("200"),
              "bucket made")
        data = os.urandom(h.CHUNK + 1000)
        obj = os.path.join(work, "obj")
        with open(obj, "wb") as f:
            f.write(data)
        h.s3("RGW", "PUT", "/%s/k" % bucket, data_file=obj)
        etag = h.head_etag("RGW", "/%s/k" % bucket)
        node = h.Pcpd(binary, work, "RGW", os.environ["RGW_URL"], port)
        node.set_bucket(bucket)
        node.start()
        stale = '"0123456789abcdef0123456789abcdef"'
        s, hd, body = node.get(h.chunk_path("k", stale, 0))
        err = json.loads(body)
        check(s == 412 and err["error"] == "PreconditionFailed",
              "stale ETag -> 412 %s" % err)
        s, hd, body = node.get(h.chunk_path("k", stale, 0))
        check(s == 412, "still 412: nothing cached under the stale ETag")
        s, hd, body = node.get(h.chunk_path("k", etag, 1))
        check(s == 200 and body == data[h.CHUNK:], "right ETag served")
        m = node.metrics()
        check(m["pcpd_etag_mismatch_total"] == 2, "mismatches counted")
        check(node.stop() == 0, "SIGTERM: exit 0")
        print("pcpd etag tests passed in %.1fs" % (time.time() - t0))
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
