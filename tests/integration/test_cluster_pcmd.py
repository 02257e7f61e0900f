#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_pcmd.py - pcmd in cluster mode (--pms, the user's key in
--credfile) over pmsd, three pcpd and s3rver:

- put, ls, stat, cat, get, cp and rm of one object, through the nodes;
- sync of a 300-file tree up and down again, identical;
- warmup of a prefix on every node (each loads the chunks it owns),
  then a read of every chunk: all hits, no new fetch from S3;
- stats: the per-node and cluster sums;
- a read-only user: put and rm fail with exit status 1 and a message.

usage: test_cluster_pcmd.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
pcmd is $PCACHE_BUILD_DIR/pcachefs/pcmd. Skips (77) without the s3rver
environment that scripts/test.sh exports.
"""
import filecmp
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402


def pcmd_bin():
    build = os.environ.get("PCACHE_BUILD_DIR", "build")
    return os.path.join(build, "pcachefs", "pcmd")


class PcmdCluster(h.ClusterTest):
    def setUp(self):
        super().setUp()
        self.rw = h.write_credfile(
            os.path.join(self.tmp, "rw.cred"),
            self.pmsd.make_user("rw", [{"actions": ["read", "list", "write",
                                                    "delete"],
                                        "resources": ["pb1/*"]}]))
        self.ro = h.write_credfile(
            os.path.join(self.tmp, "ro.cred"),
            self.pmsd.make_user("ro", [{"actions": ["read", "list"],
                                        "resources": ["pb1/*"]}]))

    def pcmd(self, *args, cred=None, check=True):
        argv = [pcmd_bin(), "--pms", self.pmsd.addr, "--credfile",
                cred or self.rw] + list(args)
        p = subprocess.run(argv, capture_output=True, timeout=120)
        if check and p.returncode != 0:
            self.fail("%s: exit %d\n%s" % (" ".join(args), p.returncode,
                                           p.stderr.decode()))
        return p

    def local(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def chunk_counts(self):
        hits = misses = 0
        for n in self.nodes:
            m = n.metrics()
            hits += m.get("pcpd_chunk_hits_total", 0)
            misses += m.get("pcpd_chunk_misses_total", 0)
        return hits, misses

    def test_objects(self):
        data = b"".join(h.pattern_blocks(5 * h.CHUNK + 123, 7))
        src = self.local("obj", data)
        self.pcmd("put", src, "s3://pb1/d/obj")
        ls = self.pcmd("ls", "-l", "s3://pb1/d/").stdout.decode()
        self.assertIn("d/obj", ls)
        self.assertIn(str(len(data)), ls)
        st = self.pcmd("stat", "s3://pb1/d/obj").stdout.decode()
        self.assertIn("size:          %d" % len(data), st)
        self.assertEqual(self.pcmd("cat", "s3://pb1/d/obj").stdout, data)
        back = os.path.join(self.tmp, "back")
        self.pcmd("get", "s3://pb1/d/obj", back)
        self.assertTrue(filecmp.cmp(src, back, shallow=False))
        self.pcmd("cp", "s3://pb1/d/obj", "s3://pb1/d/copy")
        self.assertEqual(self.pcmd("cat", "s3://pb1/d/copy").stdout, data)
        self.pcmd("rm", "s3://pb1/d/copy")
        ls = self.pcmd("ls", "-r", "s3://pb1/").stdout.decode().split()
        self.assertEqual(ls, ["d/obj"])

    def test_sync_both_ways(self):
        up = os.path.join(self.tmp, "up")
        for i in range(300):
            d = os.path.join(up, "d%d" % (i % 7))
            os.makedirs(d, exist_ok=True)
            size = (i * 7919) % (3 * h.CHUNK) if i % 10 else 0
            with open(os.path.join(d, "f%03d" % i), "wb") as f:
                f.write(b"".join(h.pattern_blocks(size, i)) if size else b"")
        self.pcmd("sync", up, "s3://pb1/tree/")
        down = os.path.join(self.tmp, "down")
        self.pcmd("sync", "s3://pb1/tree/", down)
        cmp = filecmp.dircmp(up, down)
        self.assertEqual(cmp.left_only + cmp.right_only, [])
        for sub in cmp.subdirs.values():
            self.assertEqual(sub.left_only + sub.right_only + sub.diff_files,
                             [])
        again = json.loads(self.pcmd("--json", "sync", up,
                                     "s3://pb1/tree/").stdout)
        self.assertEqual((again["copied"], again["same"]), (0, 300))

    def test_warmup_then_all_hits(self):
        size = 12 * h.CHUNK + 5
        for i in range(4):
            self.put_object("w/f%d" % i, b"".join(h.pattern_blocks(size, i)))
        w = self.pcmd("--json", "warmup", "s3://pb1/w/")
        rep = json.loads(w.stdout)
        self.assertEqual(rep["state"], "done")
        self.assertEqual(rep["nodes"], 3)
        self.assertEqual(rep["chunks"], 4 * 13)
        self.assertEqual(rep["failed"], 0)
        # every node loaded some of the chunks: the ones it owns
        self.assertTrue(all(n.metrics().get("pcpd_warmup_chunks_total", 0) > 0
                            for n in self.nodes))
        hits0, misses0 = self.chunk_counts()
        for i in range(4):
            self.pcmd("get", "s3://pb1/w/f%d" % i,
                      os.path.join(self.tmp, "g%d" % i))
        hits, misses = self.chunk_counts()
        self.assertEqual(misses, misses0, "reads after warmup fetched")
        self.assertEqual(hits - hits0, 4 * 13)

    def test_stats(self):
        self.put_object("s/x", b"".join(h.pattern_blocks(3 * h.CHUNK, 1)))
        self.pcmd("cat", "s3://pb1/s/x")
        st = json.loads(self.pcmd("--json", "stats", "s3://pb1/").stdout)
        self.assertEqual(st["mode"], "cluster")
        self.assertEqual(st["objects"], 1)
        self.assertEqual(len(st["nodes"]), 3)
        self.assertEqual(st["cluster"]["live_nodes"], 3)
        self.assertEqual(st["cluster"]["chunk_misses"], 3)
        text = self.pcmd("stats", "s3://pb1/").stdout.decode()
        self.assertIn("cluster: 3 live nodes", text)

    def test_status_page_per_pbucket(self):
        """The nodes' heartbeats carry their statistics: pmsd's status
        page shows bytes served and fetched per pbucket."""
        import http.client
        import re
        self.put_object("p/x", b"".join(h.pattern_blocks(3 * h.CHUNK, 2)))
        self.pcmd("cat", "s3://pb1/p/x")  # misses: 3 MiB fetched
        self.pcmd("cat", "s3://pb1/p/x")  # hits
        want = ("6.0 MiB", "3.0 MiB", "3.0 MiB")

        def row():
            c = http.client.HTTPConnection(self.pmsd.addr, timeout=5)
            try:
                c.request("GET", "/")
                page = c.getresponse().read().decode()
            finally:
                c.close()
            m = re.search(r"<tr><td>pb1</td><td class=num>([^<]*)</td>"
                          r"<td class=num>([^<]*)</td><td class=num>"
                          r"([^<]*)</td>", page)
            return m.groups() if m else None
        h.ph.wait_for(lambda: row() == want, 15,
                      "pb1's row to read %s (has %s)" % (want, row()))

    def test_read_only_user(self):
        self.put_object("r/x", b"hello")
        self.assertEqual(self.pcmd("cat", "s3://pb1/r/x",
                                   cred=self.ro).stdout, b"hello")
        p = self.pcmd("put", self.local("y", b"y"), "s3://pb1/r/y",
                      cred=self.ro, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"Permission denied", p.stderr)
        p = self.pcmd("rm", "s3://pb1/r/x", cred=self.ro, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"may not delete", p.stderr)


if __name__ == "__main__":
    h.main()
