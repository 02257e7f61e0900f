#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_etcd.py - pmsd keeping its state in etcd (--store
etcd://...) through etcd's v3 JSON gateway: the state survives a restart
with an empty state directory, a second pmsd on the same etcd starts with
the same state, a dead endpoint in the list is skipped, and an
unreachable etcd stops pmsd at startup.

Needs /usr/bin/etcd (Debian's etcd-server); exits 77 (skipped) without.

usage: test_pmsd_etcd.py PMSD PCACHECTL TOKEN_TOOL
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402

ETCD = "/usr/bin/etcd"


class Etcd:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pmsd-etcd.")
        self.port = h.free_port()
        peer = h.free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.tmp, "etcd.log"), "w")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", os.path.join(self.tmp, "d"),
             "--listen-client-urls", "http://" + self.addr,
             "--advertise-client-urls", "http://" + self.addr,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "t=http://127.0.0.1:%d" % peer],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        h.wait_for(self.up, 30, "etcd to answer", step=0.1)

    def up(self):
        import http.client
        if self.proc.poll() is not None:
            raise AssertionError("etcd exited")
        c = http.client.HTTPConnection(self.addr, timeout=2)
        try:
            c.request("POST", "/v3/kv/range", body=b'{"key":"AA=="}')
            return c.getresponse().status == 200
        except OSError:
            return False
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class EtcdStore(h.PmsdTest):
    def setUp(self):
        self.etcd = Etcd()
        self.addCleanup(self.etcd.stop)
        # This pmsd never polls etcd by itself (see the sharing test).
        self.opts = dict(h.PmsdTest.opts, store="etcd://" + self.etcd.addr,
                         store_poll="10m")
        super().setUp()

    def other(self, store=None):
        opts = dict(self.opts)
        if store:
            opts["store"] = store
        p = h.Pmsd(opts=opts)
        self.addCleanup(p.cleanup)
        os.makedirs(p.state_dir, mode=0o700)
        # The admin key lives in the shared state; its file in the first
        # pmsd's directory.
        shutil.copy(os.path.join(self.pmsd.state_dir, "admin.cred"),
                    p.state_dir)
        return p

    def test_state_in_etcd(self):
        p = self.pmsd
        p.ok("POST", "/v1/backends", {"name": "b1", "endpoint": "http://x",
                                      "bucket": "b"})
        p.ok("POST", "/v1/pbuckets", {"name": "pb1", "routes": [
            {"prefix": "", "backend": "b1"}]})
        self.assertIn("etcd", p.ok("GET", "/v1/status", auth=None)["store"])
        self.assertFalse(os.path.exists(os.path.join(p.state_dir,
                                                     "state.json")))
        # A second pmsd with its own (empty) state dir reads the same state.
        q = self.other(store="etcd://127.0.0.1:%d,%s" % (h.free_port(),
                                                         self.etcd.addr))
        q.start()
        self.assertEqual(q.ok("GET", "/v1/pbuckets/pb1")["routes"][0]
                         ["backend"], "b1")
        self.assertEqual(p.stop(), 0)
        self.assertEqual(q.stop(), 0)

    def test_two_pmsd_share_state_and_key(self):
        a = self.pmsd
        b = self.other()
        b.opts["store_poll"] = "100ms"
        b.start()
        # One signing key: a token of one is good at the other.
        self.assertEqual(a.ok("GET", "/v1/pubkey")["public_key"],
                         b.ok("GET", "/v1/pubkey")["public_key"])
        tok = a.token(a.cred)
        self.assertEqual(b.ok("GET", "/v1/whoami", token=tok)["user"],
                         "admin")
        # A change through a reaches b (it polls etcd).
        a.ok("POST", "/v1/backends", {"name": "ba", "endpoint": "http://x",
                                      "bucket": "b"})
        h.wait_for(lambda: b.request("GET", "/v1/backends/ba").status ==
                   200, 10, "b to see ba")
        # a does not poll (store_poll is long): its next change is made
        # over a stale state, refused (503, try again), then accepted.
        b.ok("POST", "/v1/backends", {"name": "bb", "endpoint": "http://x",
                                      "bucket": "b"})
        r = a.request("POST", "/v1/backends", {"name": "bc",
                                               "endpoint": "http://x",
                                               "bucket": "b"})
        self.assertEqual(r.status, 503, r.raw)
        self.assertEqual(r.json["error"], "SlowDown")
        a.ok("POST", "/v1/backends", {"name": "bc", "endpoint": "http://x",
                                      "bucket": "b"})
        names = sorted(x["name"] for x in
                       a.ok("GET", "/v1/backends")["backends"])
        self.assertEqual(names, ["ba", "bb", "bc"])
        # One stops: the other keeps serving and changing the state; the
        # first comes back with everything.
        self.assertEqual(a.stop(), 0)
        h.wait_for(lambda: b.request("GET", "/v1/backends/bc").status ==
                   200, 10, "b to see bc")
        b.ok("DELETE", "/v1/backends/ba")
        self.assertEqual(b.ok("GET", "/v1/whoami", token=tok)["user"],
                         "admin")
        a.start()
        names = sorted(x["name"] for x in
                       a.ok("GET", "/v1/backends")["backends"])
        self.assertEqual(names, ["bb", "bc"])

    def test_etcd_unreachable_at_startup(self):
        q = self.other(store="etcd://127.0.0.1:%d" % h.free_port())
        with self.assertRaises(AssertionError):
            q.start()
        self.assertNotEqual(q.proc.returncode, 0)
        self.assertIn("etcd", q.logtext())


if __name__ == "__main__":
    if not os.access(ETCD, os.X_OK):
        print("SKIP: no %s (apt-get install etcd-server)" % ETCD)
        sys.exit(77)
    h.main()
