#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_nodes.py - pmsd membership: register, heartbeat, expiry,
deregister, the epoch, and long-polls that wake on a change.

usage: test_pmsd_nodes.py PMSD PCACHECTL TOKEN_TOOL
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402


def node_body(i, zone="z1"):
    return {"id": "n%d" % i, "address": "127.0.0.1:%d" % (7080 + i),
            "zone": zone,
            "tiers": [{"name": "mem", "capacity": 1 << 30},
                      {"name": "ssd", "capacity": 100 << 30}]}


class Nodes(h.PmsdTest):
    def setUp(self):
        super().setUp()
        self.node = self.node_cred()

    def nodes(self, all_=False):
        return self.pmsd.ok("GET", "/v1/nodes",
                            query="all=1" if all_ else None)

    def register(self, i, **kw):
        return self.pmsd.ok("POST", "/v1/nodes", node_body(i, **kw),
                            auth=self.node)

    def heartbeat(self, i):
        return self.pmsd.request("PUT", "/v1/nodes/n%d/heartbeat" % i,
                                 auth=self.node)

    def test_register_and_epoch(self):
        e0 = self.nodes()["epoch"]
        r = self.register(1)
        self.assertEqual(r["epoch"], e0 + 1)
        self.assertEqual(r["heartbeat_interval_ms"], 200)
        self.register(2, zone="z2")
        got = self.nodes()
        self.assertEqual(got["epoch"], e0 + 2)
        self.assertEqual(sorted(n["id"] for n in got["nodes"]), ["n1", "n2"])
        n1 = [n for n in got["nodes"] if n["id"] == "n1"][0]
        self.assertEqual(n1["address"], "127.0.0.1:7081")
        self.assertEqual(n1["tiers"][1]["capacity"], 100 << 30)
        # The same registration again: no change, same epoch.
        self.assertEqual(self.register(1)["epoch"], e0 + 2)
        # A changed address is a change.
        b = node_body(1)
        b["address"] = "127.0.0.1:9999"
        self.assertEqual(self.pmsd.ok("POST", "/v1/nodes", b,
                                      auth=self.node)["epoch"], e0 + 3)

    def test_heartbeat_expiry_and_return(self):
        self.register(1)
        self.register(2)
        e = self.nodes()["epoch"]
        # n1 heartbeats, n2 stays silent: n2 leaves the live set.
        stop = threading.Event()

        def beat():
            while not stop.is_set():
                self.heartbeat(1)
                stop.wait(0.2)
        t = threading.Thread(target=beat)
        t.start()
        try:
            h.wait_for(lambda: [n["id"] for n in self.nodes()["nodes"]] ==
                       ["n1"], 10, "n2 to expire")
        finally:
            stop.set()
            t.join()
        got = self.nodes(all_=True)
        self.assertEqual(got["epoch"], e + 1)
        n2 = [n for n in got["nodes"] if n["id"] == "n2"][0]
        self.assertFalse(n2["live"])
        # A heartbeat brings it back, with a new epoch.
        self.assertEqual(self.heartbeat(2).status, 200)
        self.assertEqual(sorted(n["id"] for n in self.nodes()["nodes"]),
                         ["n1", "n2"])
        self.assertGreater(self.nodes()["epoch"], e + 1)

    def test_config_version_tells_nodes_to_refetch(self):
        self.register(1)
        v1 = self.heartbeat(1).json["config_version"]
        self.assertEqual(self.heartbeat(1).json["config_version"], v1)
        self.pmsd.ok("POST", "/v1/backends", {"name": "b1",
                                              "endpoint": "http://x",
                                              "bucket": "b"})
        v2 = self.heartbeat(1).json["config_version"]
        self.assertNotEqual(v2, v1)
        cfg = self.pmsd.ok("GET", "/v1/node/config", auth=self.node)
        self.assertEqual(cfg["config_version"], v2)
        self.assertIn("b1", cfg["backends"])
        # A refused change is no change.
        self.pmsd.request("POST", "/v1/backends", {"name": "b1"})
        self.assertEqual(self.heartbeat(1).json["config_version"], v2)

    def test_unknown_node_heartbeat(self):
        r = self.heartbeat(77)
        self.assertEqual(r.status, 404)
        self.assertIn("register", r.json["message"])

    def test_deregister(self):
        self.register(1)
        e = self.nodes()["epoch"]
        self.pmsd.ok("DELETE", "/v1/nodes/n1", auth=self.node)
        got = self.nodes(all_=True)
        self.assertEqual(got["nodes"], [])
        self.assertEqual(got["epoch"], e + 1)
        self.assertEqual(self.pmsd.request("DELETE", "/v1/nodes/n1",
                                           auth=self.node).status, 404)

    def test_longpoll_wakes_on_change(self):
        e = self.nodes()["epoch"]
        result = {}

        def poll():
            t0 = time.monotonic()
            result["r"] = self.pmsd.ok("GET", "/v1/nodes",
                                       query="wait_epoch=%d&timeout=20" % e)
            result["t"] = time.monotonic() - t0
        t = threading.Thread(target=poll)
        t.start()
        h.wait_for(lambda: self.pmsd.ok("GET", "/v1/status",
                                        auth=None)["waiters"] == 1,
                   10, "the long-poll to park")
        self.register(3)
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["r"]["epoch"], e + 1)
        self.assertEqual([n["id"] for n in result["r"]["nodes"]], ["n3"])
        self.assertLess(result["t"], 10)

    def test_longpoll_other_epoch_and_timeout(self):
        e = self.nodes()["epoch"]
        # A stale epoch answers at once.
        t0 = time.monotonic()
        r = self.pmsd.ok("GET", "/v1/nodes", query="wait_epoch=%d" % (e + 5))
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(r["epoch"], e)
        # The current epoch waits for the timeout, then gives the same list.
        t0 = time.monotonic()
        r = self.pmsd.ok("GET", "/v1/nodes",
                         query="wait_epoch=%d&timeout=1" % e)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5)
        self.assertEqual(r["epoch"], e)
        bad = self.pmsd.request("GET", "/v1/nodes", query="wait_epoch=x")
        self.assertEqual(bad.status, 400)

    def test_sigterm_with_parked_longpoll(self):
        e = self.nodes()["epoch"]
        result = {}

        def poll():
            try:
                result["status"] = self.pmsd.request(
                    "GET", "/v1/nodes",
                    query="wait_epoch=%d&timeout=30" % e).status
            except (OSError, ConnectionError) as ex:
                result["status"] = type(ex).__name__
        t = threading.Thread(target=poll)
        t.start()
        h.wait_for(lambda: self.pmsd.ok("GET", "/v1/status",
                                        auth=None)["waiters"] == 1,
                   10, "the long-poll to park")
        self.assertEqual(self.pmsd.stop(), 0)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertIn(result["status"], [503, "RemoteDisconnected",
                                         "ConnectionResetError"])

    def test_node_role_needed(self):
        # Admin lacks nothing; a reader may list but not register.
        reader = self.pmsd.make_user(
            "reader", [{"actions": ["read"], "resources": ["pb1/*"]}])
        self.assertEqual(self.pmsd.request("GET", "/v1/nodes",
                                           auth=reader).status, 200)
        r = self.pmsd.request("POST", "/v1/nodes", node_body(1), auth=reader)
        self.assertEqual(r.status, 403)
        r = self.pmsd.request("PUT", "/v1/nodes/n1/heartbeat", auth=reader)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.pmsd.request("GET", "/v1/nodes",
                                           auth=None).status, 401)
        bad = node_body(1)
        bad["address"] = "nope"
        self.assertEqual(self.pmsd.request("POST", "/v1/nodes", bad,
                                           auth=self.node).status, 400)

    def test_restart_keeps_members_until_expiry(self):
        self.register(1)
        e = self.nodes()["epoch"]
        self.assertEqual(self.pmsd.stop(), 0)
        self.pmsd.start()
        got = self.nodes()
        self.assertEqual(got["epoch"], e)
        self.assertEqual([n["id"] for n in got["nodes"]], ["n1"])
        # Nobody heartbeats: it expires after the grace period.
        h.wait_for(lambda: self.nodes()["nodes"] == [], 10, "n1 to expire")


if __name__ == "__main__":
    h.main()
