#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_auth.py - nodes that run with pmsd check every chunk and
metadata request's bearer token offline with pmsd's key: no token, a
forged one, one signed by another key, an expired one and one whose
scope does not cover the request are refused (401/403, JSON errors,
logged, counted); a valid one reads chunks.

usage: test_cluster_auth.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
"""
import base64
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pmsdhelp as ph  # noqa: E402


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def chunk_path(key, etag, index=0, pbucket="pb1"):
    return "/v1/chunk/%s/%s?etag=%s&index=%d&chunk_size=%d" % (
        pbucket, urllib.parse.quote(key), urllib.parse.quote(etag), index,
        h.CHUNK)


class Auth(h.ClusterTest):
    nnodes = 1

    def setUp(self):
        super().setUp()
        self.node = self.nodes[0]
        self.data = os.urandom(h.CHUNK + 500)
        self.etag = self.put_object("data/obj", self.data)
        self.path = chunk_path("data/obj", self.etag)

    def assertRefused(self, status, code, token=None, path=None,
                      method="GET", body=None, headers=None):
        st, hd, out = self.node.request(method, path or self.path, body=body,
                                        headers=headers, token=token)
        self.assertEqual(st, status, out)
        self.assertEqual(hd.get("content-type"), "application/json")
        self.assertEqual(h.err_code(out), code, out)

    def test_valid_token_reads_chunks(self):
        tok = self.user("reader", ["read", "list"])
        st, _, body = self.node.request("GET", self.path, token=tok)
        self.assertEqual((st, body), (200, self.data[:h.CHUNK]))
        st, _, body = self.node.request("GET", chunk_path("data/obj",
                                                          self.etag, 1),
                                        token=tok)
        self.assertEqual((st, body), (200, self.data[h.CHUNK:]))
        st, hd, _ = self.node.request("HEAD", "/v1/meta/pb1/data/obj",
                                      token=tok)
        self.assertEqual(st, 200)
        st, _, body = self.node.request("GET", "/v1/meta/pb1?prefix=data/",
                                        token=tok)
        self.assertEqual(st, 200)
        self.assertIn("data/obj", body.decode())
        # Status and metrics need no token.
        self.assertEqual(self.node.request("GET", "/v1/status")[0], 200)
        self.assertEqual(self.node.metrics()["pcpd_auth_denied_total"], 0)

    def test_no_token(self):
        self.assertRefused(401, "Unauthorized")
        self.assertRefused(401, "Unauthorized", path="/v1/meta/pb1/data/obj")
        self.assertRefused(401, "Unauthorized", path="/v1/meta/pb1/x",
                           method="PUT", body=b"x")
        self.assertRefused(401, "Unauthorized",
                           headers={"Authorization": "Basic YTpi"})
        # Nothing is revealed: not even whether the pbucket exists.
        self.assertRefused(401, "Unauthorized",
                           path="/v1/meta/nosuch/data/obj")
        self.assertIn("auth: denied read pb1/data/obj",
                      self.node.logtext())
        self.assertEqual(self.node.metrics()["pcpd_auth_denied_total"], 5)

    def test_forged_token(self):
        tok = self.user("reader", ["read"], "pb1/other/*")
        prefix, payload, sig = tok.split(".")
        claims = json.loads(unb64url(payload))
        # Widen the scope and keep the signature.
        claims["scp"] = [{"act": ["read", "write"], "res": "*"}]
        forged = ".".join([prefix, b64url(json.dumps(
            claims, separators=(",", ":"), sort_keys=True).encode()), sig])
        self.assertRefused(401, "Unauthorized", token=forged)
        # Garbage and a truncated token.
        self.assertRefused(401, "Unauthorized", token="pc1.xxxx.yyyy")
        self.assertRefused(401, "Unauthorized", token=tok[:-10])
        # Untouched, it is still only good for pb1/other/*.
        self.assertRefused(403, "Forbidden", token=tok)

    def test_token_of_another_key(self):
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives import serialization
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        import hashlib
        kid = hashlib.sha256(raw).hexdigest()[:16]
        now = int(time.time())
        claims = {"exp": now + 600, "iat": now, "kid": kid,
                  "scp": [{"act": ["read"], "res": "*"}], "sub": "mallory",
                  "v": 1}
        head = "pc1." + b64url(json.dumps(claims, separators=(",", ":"),
                                          sort_keys=True).encode())
        tok = head + "." + b64url(key.sign(head.encode()))
        self.assertRefused(401, "Unauthorized", token=tok)
        # The node asked pmsd whether it has a new key (it has not).
        ph.wait_for(lambda: "asking pmsd" in self.node.logtext(), 5,
                    "the node to ask pmsd for its key")
        self.assertRefused(401, "Unauthorized", token=tok)
        # pmsd's own tokens still work.
        ok = self.user("reader", ["read"])
        self.assertEqual(self.node.request("GET", self.path, token=ok)[0],
                         200)

    def test_expired_token(self):
        cred = self.pmsd.make_user("shortlived", [{"actions": ["read"],
                                                   "resources": ["pb1/*"]}])
        tok = self.pmsd.token(cred, ttl=1)
        self.assertEqual(self.node.request("GET", self.path, token=tok)[0],
                         200)
        time.sleep(2.1)
        self.assertRefused(401, "TokenExpired", token=tok)

    def test_scopes(self):
        ro = self.user("ro", ["read", "list"])
        # A read-only user may not write, copy or delete.
        self.assertRefused(403, "Forbidden", token=ro,
                           path="/v1/meta/pb1/data/new", method="PUT",
                           body=b"new data")
        self.assertRefused(403, "Forbidden", token=ro,
                           path="/v1/meta/pb1/data/new?uploads",
                           method="POST")
        self.assertRefused(403, "Forbidden", token=ro,
                           path="/v1/meta/pb1/data/obj", method="DELETE")
        self.assertIn("ro may not write pb1/data/new", self.node.logtext())
        # A prefix scope: inside yes, outside no, lists by their prefix.
        pre = self.user("pre", ["read", "list", "write"], "pb1/data/*")
        self.assertEqual(self.node.request("GET", self.path, token=pre)[0],
                         200)
        etag2 = self.put_object("secret/obj", b"secret")
        self.assertRefused(403, "Forbidden", token=pre,
                           path=chunk_path("secret/obj", etag2))
        self.assertRefused(403, "Forbidden", token=pre,
                           path="/v1/meta/pb1?prefix=secret/")
        self.assertEqual(self.node.request(
            "GET", "/v1/meta/pb1?prefix=data/", token=pre)[0], 200)
        # Copying a key it may not read into one it may write: refused.
        self.assertRefused(403, "Forbidden", token=pre, method="PUT",
                           path="/v1/meta/pb1/data/copy?copy_from=secret/obj")
        # Writing inside its prefix works, and reads back.
        st, _, out = self.node.request("PUT", "/v1/meta/pb1/data/new",
                                       body=b"written", token=pre)
        self.assertEqual(st, 200, out)
        etag3 = json.loads(out)["etag"]
        st, _, body = self.node.request(
            "GET", chunk_path("data/new", etag3), token=pre)
        self.assertEqual((st, body), (200, b"written"))
        # Another pbucket: nothing.
        self.assertRefused(403, "Forbidden", token=pre,
                           path=chunk_path("data/obj", self.etag,
                                           pbucket="pb9"))
        # A node token (node action) reads no data.
        node_tok = self.pmsd.token(self.node_key)
        self.assertRefused(403, "Forbidden", token=node_tok)


if __name__ == "__main__":
    h.main()
