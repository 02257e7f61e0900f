#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_client.py - the client side of cluster mode
(pcachefs/cluster.c, driven by tests/tools/cluster_tool): chunks spread
over every node by placement, a node killed in the middle of a read is
skipped, no node at all fails fast with EIO, a wrong secret key is
refused with a clear message, the node list follows membership changes
through the long-poll, and tokens are refreshed.

usage: test_cluster_client.py PMSD PCACHECTL TOKEN_TOOL PCPD CLUSTER_TOOL
"""
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pmsdhelp as ph  # noqa: E402



class Client(h.ClusterTest):
    def setUp(self):
        super().setUp()
        self.cred = self.pmsd.make_user("reader", [
            {"actions": ["read", "list"], "resources": ["pb1/*"]}])
        self.credfile_user = os.path.join(self.tmp, "user.cred")
        with open(self.credfile_user, "w") as f:
            f.write("%s:%s\n" % self.cred)
        os.chmod(self.credfile_user, 0o600)

    def bin(self):
        return ph.BIN["cluster_tool"]

    def tool(self, *args, env=None, timeout=120, background=False):
        e = dict(os.environ)
        e.update(env or {})
        cmd = [self.bin(), args[0], self.pmsd.addr, self.credfile_user,
               "pb1"]
        cmd += [str(a) for a in args[1:]]
        if background:
            return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        return subprocess.run(cmd, env=e, capture_output=True, text=True,
                              timeout=timeout)

    def chunk_requests(self, node):
        return node.metrics().get('pcpd_requests_total{endpoint="chunk"}', 0)

    def read(self, key, data, etag, **kw):
        out = os.path.join(self.tmp, "out")
        p = self.tool("read", key, etag, len(data), out, **kw)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             hashlib.sha256(data).hexdigest())
        return json.loads(p.stdout)

    def test_reads_spread_over_every_node(self):
        data = os.urandom(24 * h.CHUNK + 4321)
        etag = self.put_object("big", data)
        got = self.read("big", data, etag)
        self.assertEqual(got["chunks"], 25)
        self.assertEqual(got["nodes"], 3)
        per = [self.chunk_requests(n) for n in self.nodes]
        self.assertEqual(sum(per), 25, per)  # each chunk asked once
        for n, c in zip(self.nodes, per):
            self.assertGreater(c, 0, "%s served nothing: %s" % (n.id, per))
        # Read again: the same nodes, and now hits.
        self.read("big", data, etag)
        self.assertEqual([self.chunk_requests(n) for n in self.nodes],
                         [2 * c for c in per])
        hits = sum(n.metrics()["pcpd_chunk_hits_total"] for n in self.nodes)
        self.assertEqual(hits, 25)

    def test_node_killed_during_read(self):
        data = os.urandom(32 * h.CHUNK)
        etag = self.put_object("big", data)
        out = os.path.join(self.tmp, "out")
        p = self.tool("read", "big", etag, len(data), out,
                      env={"CLUSTER_TOOL_LOOPS": "20"},
                      background=True)
        time.sleep(0.5)
        self.nodes[1].kill9()
        stdout, stderr = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        # A fresh object after the kill: two nodes serve all of it.
        data2 = os.urandom(6 * h.CHUNK + 1)
        etag2 = self.put_object("after", data2)
        t0 = time.monotonic()
        self.read("after", data2, etag2)
        self.assertLess(time.monotonic() - t0, 20)

    def test_no_node_fails_fast(self):
        data = os.urandom(2 * h.CHUNK)
        etag = self.put_object("x", data)
        for n in self.nodes:
            n.kill9()
        t0 = time.monotonic()
        p = self.tool("read", "x", etag, len(data), os.path.join(self.tmp,
                                                                 "o"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Input/output error", p.stderr)
        self.assertLess(time.monotonic() - t0, 10)

    def test_wrong_secret(self):
        with open(self.credfile_user, "w") as f:
            f.write("%s:%s\n" % (self.cred[0], "x" * 40))
        p = self.tool("nodes", 3, 1)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("pmsd refused the credentials", p.stderr)
        self.assertIn("Permission denied", p.stderr)
        # No such pbucket, and a pbucket the user may not use.
        with open(self.credfile_user, "w") as f:
            f.write("%s:%s\n" % self.cred)
        p = subprocess.run([self.bin(), "nodes", self.pmsd.addr,
                            self.credfile_user, "nosuch", "3", "1"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, "nosuch")

    def test_node_list_follows_membership(self):
        # The long-poll brings a new node within a second or so...
        p = self.tool("nodes", 4, 20, background=True)
        time.sleep(0.5)
        self.start_node(3)
        stdout, stderr = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, stderr)
        self.assertLess(float(stdout), 5)
        # ... and one that left.
        p = self.tool("nodes", 3, 20, background=True)
        time.sleep(0.5)
        self.nodes[3].stop()
        stdout, stderr = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, stderr)

    def test_token_refreshed(self):
        # 2 s tokens; the node list is still followed after 4 s, which
        # needs new tokens (GET /v1/nodes takes the bearer token).
        p = self.tool("nodes", 4, 30, env={"CLUSTER_TOOL_TTL": "2"},
                      background=True)
        time.sleep(4)
        self.start_node(3)
        stdout, stderr = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, stderr)


if __name__ == "__main__":
    h.main()
