#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_nodes.py - pcpd with pmsd: nodes register, heartbeat,
leave the list when stopped or killed, take their routes from pmsd (and
new pbuckets as they are made), come back after a pmsd restart, and fail
over to the next pmsd of their list.

usage: test_cluster_nodes.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
"""
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pcpdhelp as ch  # noqa: E402
import pmsdhelp as ph  # noqa: E402


def chunk_path(pbucket, key, etag, index):
    return "/v1/chunk/%s/%s?etag=%s&index=%d&chunk_size=%d" % (
        pbucket, urllib.parse.quote(key), urllib.parse.quote(etag), index,
        h.CHUNK)


class Membership(h.ClusterTest):
    def test_nodes_listed_with_their_settings(self):
        got = self.pmsd.ok("GET", "/v1/nodes")
        self.assertEqual(sorted(n["id"] for n in got["nodes"]),
                         ["n0", "n1", "n2"])
        for n in got["nodes"]:
            node = self.nodes[int(n["id"][1:])]
            self.assertEqual(n["address"], node.addr)
            self.assertEqual(n["zone"], "z%d" % (node.index % 2))
            self.assertEqual(n["tiers"], [{"name": "mem",
                                           "capacity": 256 << 20}])
        # Heartbeats keep them live well past the expiry (1 s).
        time.sleep(2)
        self.assertEqual(self.live_ids(), ["n0", "n1", "n2"])

    def test_stopped_and_killed_nodes_leave(self):
        e0 = self.pmsd.ok("GET", "/v1/nodes")["epoch"]
        self.assertEqual(self.nodes[0].stop(), 0)
        # SIGTERM deregisters at once (no waiting for the expiry).
        self.assertIn("deregistered from", self.nodes[0].logtext())
        self.assertEqual(self.live_ids(), ["n1", "n2"])
        self.assertGreater(self.pmsd.ok("GET", "/v1/nodes")["epoch"], e0)
        # kill -9: gone once its heartbeats are missed.
        self.nodes[1].kill9()
        self.wait_nodes(1, timeout=10)
        self.assertEqual(self.live_ids(), ["n2"])
        # Started again, it is back.
        self.start_node(1)
        self.wait_nodes(2)

    def test_pmsd_restart(self):
        self.assertEqual(self.pmsd.stop(), 0)
        time.sleep(1.5)  # nodes' heartbeats fail meanwhile
        self.pmsd.start()
        # Every node is live again: the state kept them, heartbeats (or a
        # new registration after a 404) confirm it.
        ph.wait_for(lambda: self.live_ids() == ["n0", "n1", "n2"], 10,
                    "nodes back after the restart")
        time.sleep(1.5)  # past the expiry: they really heartbeat
        self.assertEqual(self.live_ids(), ["n0", "n1", "n2"])
        # And still serve with the configuration they fetched again.
        etag = self.put_object("after-restart", b"x" * 1000)
        tok = self.user("reader", ["read"])
        st, _, body = self.nodes[0].request(
            "GET", chunk_path("pb1", "after-restart", etag, 0), token=tok)
        self.assertEqual((st, body), (200, b"x" * 1000))

    def test_failover_to_second_pmsd(self):
        dead = "127.0.0.1:%d" % ph.free_port()  # nothing listens there
        n = h.Node(os.path.join(self.tmp, "nf"), dead + "," + self.pmsd.addr,
                   self.credfile, 7)
        self.addCleanup(n.kill9)
        self.addCleanup(n.finish)
        n.start()
        ph.wait_for(lambda: "n7" in self.live_ids(), 15,
                    "the node registered through the second pmsd")
        tok = self.user("reader", ["read"])
        etag = self.put_object("fo", b"failover")
        st, _, body = n.request("GET", chunk_path("pb1", "fo", etag, 0),
                                token=tok)
        self.assertEqual((st, body), (200, b"failover"))


class Routes(h.ClusterTest):
    def test_pbucket_made_in_pmsd_is_served(self):
        # A second bucket and a pbucket over it, made after the nodes
        # started: they pick it up from the heartbeat's config_version.
        bucket2 = self.bucket + "-b"
        self.add_backend("s3b", bucket2)
        self.add_pbucket("pb2", [("", "s3"), ("b/", "s3b")])
        data = os.urandom(3 * h.CHUNK + 123)
        path = os.path.join(self.tmp, "big")
        with open(path, "wb") as f:
            f.write(data)
        ch.s3("S3RVER", "PUT", "/%s/b/big" % bucket2, data_file=path)
        etag = ch.head_etag("S3RVER", "/%s/b/big" % bucket2)
        tok = self.user("reader", ["read", "list"], "pb2/*")

        def served(node):
            st, _, _ = node.request("GET", chunk_path("pb2", "b/big", etag, 0),
                                    token=tok)
            return st == 200
        for n in self.nodes:
            ph.wait_for(lambda: served(n), 10, "%s serving pb2" % n.id)
        # Every node serves every chunk (clients choose by placement).
        for i in range(4):
            for n in self.nodes:
                st, hd, body = n.request(
                    "GET", chunk_path("pb2", "b/big", etag, i), token=tok)
                self.assertEqual(st, 200)
                self.assertEqual(body, data[i * h.CHUNK:(i + 1) * h.CHUNK])
        # The metadata proxy routes by prefix through pmsd's routes too.
        st, _, body = self.nodes[1].request("GET", "/v1/meta/pb2?prefix=b/",
                                            token=tok)
        self.assertEqual(st, 200, body)
        self.assertIn("b/big", body.decode())
        m = self.nodes[0].metrics()
        self.assertGreaterEqual(m["pcpd_config_updates_total"], 2)

    def test_pbucket_deleted_in_pmsd(self):
        tok = self.user("reader", ["read"])
        etag = self.put_object("gone", b"data")
        p = chunk_path("pb1", "gone", etag, 0)
        self.assertEqual(self.nodes[0].request("GET", p, token=tok)[0], 200)
        self.pmsd.ok("DELETE", "/v1/pbuckets/pb1")
        ph.wait_for(lambda: h.err_code(self.nodes[2].request(
            "GET", p, token=tok)[2]) == "NoSuchPbucket", 10,
            "pb1 gone from the node")


if __name__ == "__main__":
    h.main()
