#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_config.py - pmsd backends and pbuckets: create, list,
update, delete, routing by longest prefix, credentials only for nodes,
state kept across restarts (file mode 0600), and bad input answered with
4xx while the daemon stays up.

usage: test_pmsd_config.py PMSD PCACHECTL TOKEN_TOOL
"""
import json
import os
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402

B1 = {"name": "b1", "endpoint": "http://127.0.0.1:9000", "bucket": "data",
      "region": "eu-west-1", "path_style": True,
      "access_key": "AKIAB1", "secret_key": "SECRETB1"}
B2 = {"name": "b2", "endpoint": "https://s3.example.com", "bucket": "logs",
      "access_key": "AKIAB2", "secret_key": "SECRETB2"}
PB = {"name": "pb1", "chunk_size": 4 << 20,
      "routes": [{"prefix": "", "backend": "b1"},
                 {"prefix": "logs/", "backend": "b2"},
                 {"prefix": "logs/old/", "backend": "b1"}],
      "lifecycle": [{"prefix": "tmp/", "cache_ttl": 60},
                    {"prefix": "logs/", "storage_class": "STANDARD_IA"}]}


class Config(h.PmsdTest):
    def setUp(self):
        super().setUp()
        p = self.pmsd
        self.assertEqual(p.request("POST", "/v1/backends", B1).status, 201)
        self.assertEqual(p.request("POST", "/v1/backends", B2).status, 201)
        self.assertEqual(p.request("POST", "/v1/pbuckets", PB).status, 201)

    def test_backend_crud_and_secrets(self):
        p = self.pmsd
        got = p.ok("GET", "/v1/backends")["backends"]
        self.assertEqual(sorted(b["name"] for b in got), ["b1", "b2"])
        text = json.dumps(got)
        self.assertNotIn("SECRETB1", text)
        self.assertTrue(all(b["has_secret"] for b in got))
        self.assertEqual(p.request("POST", "/v1/backends", B1).status, 409)
        r = p.ok("PUT", "/v1/backends/b2", {"region": "us-west-2"})
        self.assertEqual(r["region"], "us-west-2")
        self.assertEqual(r["bucket"], "logs")
        self.assertEqual(p.request("PUT", "/v1/backends/zz",
                                   {"region": "x"}).status, 404)
        # Routed to: cannot go.
        r = p.request("DELETE", "/v1/backends/b2")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["error"], "InUse")
        p.ok("POST", "/v1/backends", dict(B2, name="b3"))
        p.ok("DELETE", "/v1/backends/b3")
        self.assertEqual(p.request("GET", "/v1/backends/b3").status, 404)

    def test_credentials_reach_only_nodes(self):
        p = self.pmsd
        client = p.make_user("client", [{"actions": ["read", "list", "write"],
                                         "resources": ["pb1/*"]}])
        # A client sees its pbucket, not backends, not node config.
        self.assertEqual(p.request("GET", "/v1/backends",
                                   auth=client).status, 403)
        self.assertEqual(p.request("GET", "/v1/node/config",
                                   auth=client).status, 403)
        r = p.request("GET", "/v1/pbuckets/pb1", auth=client)
        self.assertEqual(r.status, 200)
        self.assertNotIn(b"SECRET", r.raw)
        # Admins see that there is a secret, not the secret.
        r = p.request("GET", "/v1/node/config")
        self.assertEqual(r.status, 403)
        # A node gets them.
        node = self.node_cred()
        cfg = p.ok("GET", "/v1/node/config", auth=node)
        self.assertEqual(cfg["backends"]["b1"]["secret_key"], "SECRETB1")
        self.assertEqual(cfg["pbuckets"]["pb1"]["chunk_size"], 4 << 20)

    def test_pbucket_crud_and_routes(self):
        p = self.pmsd
        got = p.ok("GET", "/v1/pbuckets/pb1")
        self.assertEqual(len(got["routes"]), 3)
        for key, backend, prefix in [("a/b", "b1", ""),
                                     ("logs/x", "b2", "logs/"),
                                     ("logs/old/y", "b1", "logs/old/"),
                                     ("logs", "b1", "")]:
            r = p.ok("GET", "/v1/pbuckets/pb1/route", query="key=" + key)
            self.assertEqual((r["backend"], r["prefix"]), (backend, prefix),
                             key)
        r = p.ok("GET", "/v1/pbuckets/pb1/route", query="key=logs/z")
        self.assertEqual(r["rule"]["storage_class"], "STANDARD_IA")
        # Update: routes replaced, the rest kept.
        r = p.ok("PUT", "/v1/pbuckets/pb1",
                 {"routes": [{"prefix": "", "backend": "b2"}]})
        self.assertEqual(r["chunk_size"], 4 << 20)
        self.assertEqual(len(r["routes"]), 1)
        # Validation.
        for bad in [{"chunk_size": 1000},
                    {"chunk_size": 128 << 20},
                    {"routes": [{"prefix": "", "backend": "nope"}]},
                    {"routes": [{"prefix": "a", "backend": "b1"},
                                {"prefix": "a", "backend": "b2"}]},
                    {"lifecycle": [{"prefix": "", "storage_class": "x y"}]},
                    {"colour": "blue"},
                    {"routes": "b1"}]:
            r = p.request("PUT", "/v1/pbuckets/pb1", bad)
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json["error"], "BadRequest")
        self.assertEqual(p.request("POST", "/v1/pbuckets",
                                   {"name": "Bad/Name"}).status, 400)
        self.assertEqual(p.request("POST", "/v1/pbuckets",
                                   {"name": "pb2"}).json["chunk_size"],
                         8 << 20)
        names = [b["name"] for b in p.ok("GET", "/v1/pbuckets")["pbuckets"]]
        self.assertEqual(sorted(names), ["pb1", "pb2"])
        p.ok("DELETE", "/v1/pbuckets/pb2")
        self.assertEqual(p.request("GET", "/v1/pbuckets/pb2").status, 404)

    def test_pbucket_visibility(self):
        p = self.pmsd
        p.ok("POST", "/v1/pbuckets", {"name": "secret"})
        client = p.make_user("c", [{"actions": ["read"],
                                    "resources": ["pb1/data/*"]}])
        names = [b["name"] for b in
                 p.ok("GET", "/v1/pbuckets", auth=client)["pbuckets"]]
        self.assertEqual(names, ["pb1"])
        self.assertEqual(p.request("GET", "/v1/pbuckets/secret",
                                   auth=client).status, 403)
        self.assertEqual(p.request("PUT", "/v1/pbuckets/pb1", {},
                                   auth=client).status, 403)
        self.assertEqual(p.request("POST", "/v1/pbuckets", {"name": "x"},
                                   auth=client).status, 403)

    def test_restart_keeps_state(self):
        p = self.pmsd
        before = p.ok("GET", "/v1/pbuckets/pb1")
        key = p.ok("GET", "/v1/pubkey")["public_key"]
        self.assertEqual(p.stop(), 0)
        path = os.path.join(p.state_dir, "state.json")
        for f in ["state.json", "ed25519.pem", "admin.cred", "audit.log"]:
            mode = stat.S_IMODE(os.stat(os.path.join(p.state_dir, f)).st_mode)
            self.assertEqual(mode, 0o600, f)
        with open(path) as f:
            self.assertIn("SECRETB1", f.read())
        p.start()
        self.assertEqual(p.ok("GET", "/v1/pbuckets/pb1"), before)
        self.assertEqual(p.ok("GET", "/v1/pubkey")["public_key"], key)
        self.assertEqual(len(p.ok("GET", "/v1/backends")["backends"]), 2)
        # No temporary files left behind.
        self.assertEqual(sorted(os.listdir(p.state_dir)),
                         ["admin.cred", "audit.log", "ed25519.pem",
                          "state.json"])

    def test_failed_save_undoes_the_change(self):
        p = self.pmsd
        path = os.path.join(p.state_dir, "state.json")
        os.rename(path, path + ".keep")
        os.mkdir(path)  # rename() onto a directory fails: EISDIR
        try:
            r = p.request("PUT", "/v1/backends/b1", {"region": "mars-1"})
            self.assertEqual(r.status, 500)
            self.assertEqual(r.json["error"], "StateNotSaved")
            r = p.request("DELETE", "/v1/pbuckets/pb1")
            self.assertEqual(r.status, 500)
        finally:
            os.rmdir(path)
            os.rename(path + ".keep", path)
        self.assertEqual(p.ok("GET", "/v1/backends/b1")["region"],
                         "eu-west-1")
        self.assertEqual(p.request("GET", "/v1/pbuckets/pb1").status, 200)
        p.ok("PUT", "/v1/backends/b1", {"region": "mars-1"})
        self.assertEqual(p.ok("GET", "/v1/backends/b1")["region"], "mars-1")
        self.assertFalse([f for f in os.listdir(p.state_dir) if ".tmp" in f])

    def test_corrupt_state_refused_at_startup(self):
        p = self.pmsd
        self.assertEqual(p.stop(), 0)
        with open(os.path.join(p.state_dir, "state.json"), "w") as f:
            f.write("{not json")
        with self.assertRaises(AssertionError):
            p.start()
        self.assertNotEqual(p.proc.returncode, 0)
        self.assertIn("state.json", p.logtext())

    def test_port_taken_refused_at_startup(self):
        d = os.path.join(self.pmsd.tmp, "second")
        out = subprocess.run([h.BIN["pmsd"], "--listen", self.pmsd.addr,
                              "--state-dir", d], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot listen", out.stderr)
        self.assertTrue(self.pmsd.up())

    def test_bad_input(self):
        p = self.pmsd
        cases = [
            ("POST", "/v1/backends", b"{bad json", 400),
            ("POST", "/v1/backends", b"[1,2]", 400),
            ("POST", "/v1/backends", b'{"name":"x","name":"y"}', 400),
            ("POST", "/v1/backends", b'{"name":"x"}', 400),
            ("POST", "/v1/backends", b"\xff\xfe", 400),
            ("POST", "/v1/backends", b"x" * (2 << 20), 413),
            ("GET", "/v1/nope", None, 404),
            ("GET", "/", None, 200),  # the status page (issue 6)
            ("POST", "/", b"{}", 405),
            ("GET", "/v1/backends/", None, 404),
            ("DELETE", "/v1/backends", None, 405),
            ("PUT", "/v1/token", None, 405),
            ("HEAD", "/v1/status", None, 405),
            ("PATCH", "/v1/backends/b1", b"{}", 405),
            ("GET", "/v1/backends/%00", None, 404),
        ]
        for method, path, raw, want in cases:
            try:
                r = p.request(method, path, raw=raw)
                got = r.status
            except (ConnectionError, OSError):
                got = "closed"
            self.assertTrue(got == want or (want == 413 and got == "closed"),
                            "%s %s: %s, want %s" % (method, path, got, want))
            self.assertTrue(p.up())
        # Garbage on the socket and a huge header.
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        s.recv(1024)
        s.close()
        r = p.request("GET", "/v1/status", auth=None,
                      headers={"X-Big": "a" * (64 << 10)})
        self.assertEqual(r.status // 100, 4)
        self.assertTrue(p.up())


if __name__ == "__main__":
    h.main()
