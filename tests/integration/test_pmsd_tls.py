#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_tls.py - pmsd serving HTTPS (tls_cert, tls_key): clients
that verify against the CA file work (Python and pcachectl --cacert),
plain HTTP and handshakes that fail verification are refused, and the
daemon stays up; a key that does not match the certificate stops pmsd at
startup.

usage: test_pmsd_tls.py PMSD PCACHECTL TOKEN_TOOL
"""
import http.client
import os
import shutil
import ssl
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402


def make_cert(d, name):
    """A self-signed certificate for 127.0.0.1 (its own CA)."""
    return h.self_signed_cert(d, name, "/CN=pmsd-test",
                              "subjectAltName=IP:127.0.0.1")


class Tls(h.PmsdTest):
    def setUp(self):
        self.certs = tempfile.mkdtemp(prefix="pmsd-tls.")
        self.addCleanup(shutil.rmtree, self.certs, True)
        self.crt, self.key = make_cert(self.certs, "a")
        self.opts = dict(h.PmsdTest.opts, tls_cert=self.crt,
                         tls_key=self.key)
        super().setUp()

    def make_pmsd(self):
        p = h.Pmsd(opts=self.opts)
        p.cafile = self.crt
        return p

    def test_https_works(self):
        p = self.pmsd
        self.assertEqual(p.ok("GET", "/v1/whoami")["user"], "admin")
        p.ok("POST", "/v1/backends", {"name": "b1", "endpoint": "http://x",
                                      "bucket": "b"})
        out = p.ctl("--json", "backend", "list").stdout
        self.assertIn('"b1"', out)
        self.assertIn("HTTPS", p.logtext())

    def test_plain_and_unverified_refused(self):
        p = self.pmsd
        self.assertNotEqual(h.plain_http_status(p.addr), 200)
        other, _ = make_cert(self.certs, "other")
        ctx = ssl.create_default_context(cafile=other)
        c = http.client.HTTPSConnection(p.addr, timeout=5, context=ctx)
        with self.assertRaises(ssl.SSLError):
            c.request("GET", "/v1/status")
        c.close()
        p.cafile = other
        self.assertNotEqual(p.ctl("status", check=False).returncode, 0)
        p.cafile = self.crt
        self.assertTrue(p.up())

    def test_mismatched_key_refused(self):
        self.assertEqual(self.pmsd.stop(), 0)
        _, other_key = make_cert(self.certs, "other")
        q = h.Pmsd(opts=dict(self.opts, tls_key=other_key),
                   state_dir=self.pmsd.state_dir)
        self.addCleanup(q.cleanup)
        with self.assertRaises(AssertionError):
            q.start()
        self.assertNotEqual(q.proc.returncode, 0)
        self.assertIn("TLS", q.logtext())


if __name__ == "__main__":
    h.main()
