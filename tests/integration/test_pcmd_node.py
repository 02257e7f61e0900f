#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcmd_node.py - pcmd warmup and pcmd stats against a real pcpd
(spawned with pcpdhelp.py, backend s3rver; exit 77 without S3RVER_*).

- pcmd warmup s3://pb/PREFIX --node URL loads every chunk of the prefix;
  the reads that follow are all hits (pcpd's metrics: no new miss, no
  backend GET);
- its progress bar appears on a pseudo-terminal and not when piped;
- pcmd stats --node URL reports hit ratio, bytes served and tier usage;
  pcmd stats without a node reports the client's S3 requests;
- warmup of an unknown pbucket fails with exit status 1, without --node
  it is a usage error (2).

usage: test_pcmd_node.py PCMD_BINARY PCPD_BINARY
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcpdhelp as h  # noqa: E402

PCMD = PCPD = None
ENV = None
WORK = None
CHUNK = h.CHUNK


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pcmd(*args, timeout=120):
    p = subprocess.run([PCMD] + list(args), env=ENV, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Warmup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = "pcmd-node-%d" % os.getpid()
        rc, _, err = pcmd("mb", "s3://" + cls.bucket)
        assert rc == 0, err
        cls.node = h.Pcpd(PCPD, os.path.join(WORK, "pcpd"), "S3RVER",
                          os.environ["S3RVER_URL"], free_port(),
                          extra="pbucket.pb.chunk_size = 1M\n")
        cls.node.set_bucket(cls.bucket)
        cls.node.start()
        cls.url = "http://127.0.0.1:%d" % cls.node.port
        src = os.path.join(WORK, "src")
        cls.files = {}
        for i in range(6):
            rel = "train/part-%d.bin" % i
            data = os.urandom(CHUNK * (1 + i % 3) + 1000 * i)
            os.makedirs(os.path.dirname(os.path.join(src, rel)),
                        exist_ok=True)
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
            cls.files[rel] = data
        rc, _, err = pcmd("-q", "sync", src, "s3://%s/" % cls.bucket)
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        try:
            cls.node.stop()
        finally:
            h.cleanup()

    def test_1_warmup_then_all_hits(self):
        m0 = self.node.metrics()
        t0 = time.time()
        rc, out, err = pcmd("--json", "warmup", "s3://pb/train/", "--node",
                            self.url)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(err, "", "nothing on stderr when piped")
        w = json.loads(out)
        chunks = sum((len(d) + CHUNK - 1) // CHUNK
                     for d in self.files.values())
        self.assertEqual((w["state"], w["keys"], w["chunks"], w["failed"]),
                         ("done", 6, chunks, 0))
        self.assertEqual(w["fetched"] + w["cached"], chunks)
        print("warmup of %d chunks: %.2fs" % (chunks, time.time() - t0))
        m1 = self.node.metrics()
        for k, d in self.files.items():
            etag = h.head_etag("S3RVER", "/%s/%s" % (self.bucket, k))
            for i in range((len(d) + CHUNK - 1) // CHUNK):
                s, hd, b = self.node.get(h.chunk_path(k, etag, i))
                self.assertEqual(s, 200)
                self.assertEqual(b, d[i * CHUNK:(i + 1) * CHUNK])
                self.assertEqual(hd["x-pcache-cache"], "hit", "%s#%d" % (k, i))
        m2 = self.node.metrics()
        self.assertEqual(m2["pcpd_chunk_misses_total"],
                         m1["pcpd_chunk_misses_total"])
        self.assertEqual(m2["pcpd_backend_gets_total"],
                         m1["pcpd_backend_gets_total"])
        self.assertEqual(m2["pcpd_chunk_hits_total"] -
                         m1["pcpd_chunk_hits_total"], chunks)
        self.assertGreaterEqual(m1["pcpd_warmup_chunks_total"] -
                                m0.get("pcpd_warmup_chunks_total", 0),
                                w["fetched"])

    def test_2_warmup_progress_on_tty(self):
        cmd = "%s warmup s3://pb/train/ --node %s -o poll=20ms" % (PCMD,
                                                                   self.url)
        p = subprocess.run(["script", "-qc", cmd, "/dev/null"], env=ENV,
                           capture_output=True, timeout=120)
        tty = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, tty)
        self.assertIn("\r\x1b[Kwarmup [", tty)
        self.assertRegex(tty, r"warmup \d+: done: 6 keys")
        rc, out, err = pcmd("warmup", "s3://pb/train/", "--node", self.url)
        self.assertEqual(rc, 0)
        self.assertNotIn("\r", out + err)
        self.assertRegex(out, r"^warmup \d+: done: 6 keys, \d+ chunks")

    def test_3_stats(self):
        rc, out, err = pcmd("--json", "stats", "--node", self.url)
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertGreater(j["chunk_hits"], 0)
        self.assertGreater(j["hit_ratio"], 0)
        self.assertGreater(j["bytes_served_tiers"], 0)
        self.assertEqual(j["tiers"][0]["name"], "mem")
        self.assertGreater(j["tiers"][0]["used"], 0)
        rc, out, _ = pcmd("stats", "--node", self.url)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"hit ratio \d+\.\d%")
        self.assertRegex(out, r"tier mem +\S+ of 256M")
        # standalone: the client's own S3 requests
        rc, out, _ = pcmd("--json", "stats", "s3://%s/train/" % self.bucket)
        j = json.loads(out)
        self.assertEqual(rc, 0)
        self.assertEqual(j["objects"], 6)
        self.assertEqual(j["requests"]["LIST"], 1)

    def test_4_errors(self):
        rc, _, err = pcmd("warmup", "s3://nosuchpb/x/", "--node", self.url)
        self.assertEqual(rc, 1, err)
        self.assertIn("NoSuchPbucket", err)
        rc, _, _ = pcmd("warmup", "s3://pb/x/")
        self.assertEqual(rc, 2)
        rc, _, _ = pcmd("stats", "--node", "http://127.0.0.1:1")
        self.assertEqual(rc, 1)

    def test_5_dashboard_metrics_exist(self):
        """Every pcpd metric docs/grafana/pcachefs.json uses is served."""
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        with open(os.path.join(root, "docs", "grafana",
                               "pcachefs.json")) as f:
            text = f.read()
        json.loads(text)
        used = set(re.findall(r"pcpd_[a-z_]+", text))
        _, _, body = self.node.get("/metrics")
        served = set(re.findall(r"^(pcpd_[a-z_]+)", body.decode(), re.M))
        self.assertTrue(used)
        self.assertEqual(used - served, set())


def main():
    global PCMD, PCPD, ENV, WORK
    if len(sys.argv) < 3:
        print("usage: test_pcmd_node.py PCMD_BINARY PCPD_BINARY")
        sys.exit(2)
    PCMD, PCPD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    h.need("S3RVER_URL", "S3RVER_KEY", "S3RVER_SECRET")
    ENV = dict(os.environ)
    ENV["PCACHE_ENDPOINT"] = os.environ["S3RVER_URL"]
    ENV["AWS_ACCESS_KEY_ID"] = os.environ["S3RVER_KEY"]
    ENV["AWS_SECRET_ACCESS_KEY"] = os.environ["S3RVER_SECRET"]
    WORK = tempfile.mkdtemp(prefix="pcmd-node-", dir=h.TMP)
    t0 = time.time()
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    finally:
        h.cleanup()
    print("pcmd node tests: %.1fs" % (time.time() - t0))
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
