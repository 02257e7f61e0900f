#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_auth.py - pmsd users, keys, policies and tokens: signed
requests (right and wrong secret, replays, clock skew), token issuance,
offline verification with the public key (tests/tools/token_tool, the
same common/token.c pcpd links), forged, expired and wrong-scope tokens,
and the audit log.

usage: test_pmsd_auth.py PMSD PCACHECTL TOKEN_TOOL
"""
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402

READ_DATA = [{"actions": ["read", "list"], "resources": ["pb1/data/*"]},
             {"actions": ["write"], "resources": ["pb1/data/incoming/*"]}]


def verify(pub, token, *check):
    p = subprocess.run([h.BIN["token_tool"], "verify", pub, token] +
                       list(check), capture_output=True, text=True,
                       timeout=30)
    return p.returncode, json.loads(p.stdout) if p.stdout else None


def flip(token, where):
    i = where % len(token)
    if token[i] == ".":
        i += 1
    c = "A" if token[i] != "A" else "B"
    return token[:i] + c + token[i + 1:]


class Auth(h.PmsdTest):
    def setUp(self):
        super().setUp()
        self.alice = self.pmsd.make_user("alice", READ_DATA, "data-readers")
        self.pub = self.pmsd.ok("GET", "/v1/pubkey", auth=None)["public_key"]

    def test_secret_shown_once(self):
        p = self.pmsd
        u = p.ok("GET", "/v1/users/alice")
        self.assertEqual([k["access_key"] for k in u["keys"]], [self.alice[0]])
        self.assertNotIn(self.alice[1].encode(),
                         p.request("GET", "/v1/users").raw)
        self.assertNotIn(self.alice[1].encode(),
                         p.request("GET", "/v1/users/alice/keys").raw)
        self.assertTrue(self.alice[0].startswith("PK"))
        self.assertGreaterEqual(len(self.alice[1]), 40)

    def test_token_with_right_and_wrong_secret(self):
        p = self.pmsd
        r = p.ok("POST", "/v1/token", auth=self.alice)
        self.assertEqual(r["user"], "alice")
        self.assertLessEqual(r["expires_at"] - r["issued_at"], 3600)
        res = sorted(s["resource"] for s in r["scopes"])
        self.assertEqual(res, ["pb1/data/*", "pb1/data/incoming/*"])
        # Another last character (a fixed one matched it now and then).
        last = "y" if self.alice[1].endswith("x") else "x"
        wrong = (self.alice[0], self.alice[1][:-1] + last)
        r = p.request("POST", "/v1/token", auth=wrong)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"], "Unauthorized")
        r = p.request("POST", "/v1/token", auth=("PKNOSUCHKEY", "x"))
        self.assertEqual(r.status, 401)
        # A bearer token cannot mint tokens.
        r = p.request("POST", "/v1/token", token=p.token(self.alice))
        self.assertEqual(r.status, 401)

    def test_replay_and_skew_refused(self):
        p = self.pmsd
        ak, sk = self.alice
        ts = int(time.time())
        nonce = secrets.token_hex(8)
        hdr = {"Authorization":
               "PCACHE-HMAC-SHA256 Credential=%s, Timestamp=%d, Nonce=%s, "
               "Signature=%s" % (ak, ts, nonce,
                                 h.sign(sk, "POST", "/v1/token", ts, nonce))}
        self.assertEqual(p.request("POST", "/v1/token", auth=None,
                                   headers=hdr).status, 200)
        r = p.request("POST", "/v1/token", auth=None, headers=hdr)
        self.assertEqual(r.status, 401)
        self.assertIn("nonce", r.json["message"])
        old = ts - 3600
        hdr["Authorization"] = (
            "PCACHE-HMAC-SHA256 Credential=%s, Timestamp=%d, Nonce=n2, "
            "Signature=%s" % (ak, old, h.sign(sk, "POST", "/v1/token", old,
                                              "n2")))
        self.assertEqual(p.request("POST", "/v1/token", auth=None,
                                   headers=hdr).status, 401)
        # The signature covers the path: the same one elsewhere fails.
        hdr["Authorization"] = (
            "PCACHE-HMAC-SHA256 Credential=%s, Timestamp=%d, Nonce=n3, "
            "Signature=%s" % (ak, ts, h.sign(sk, "POST", "/v1/other", ts,
                                             "n3")))
        self.assertEqual(p.request("POST", "/v1/token", auth=None,
                                   headers=hdr).status, 401)
        # The C signer agrees with the Python one.
        out = subprocess.run([h.BIN["token_tool"], "sign", sk, "POST",
                              "/v1/token", str(ts), nonce],
                             capture_output=True, text=True).stdout.strip()
        self.assertEqual(out, h.sign(sk, "POST", "/v1/token", ts, nonce))

    def test_offline_verification_and_scope(self):
        tok = self.pmsd.token(self.alice)
        rc, out = verify(self.pub, tok)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["subject"], "alice")
        for action, key, allowed in [("read", "data/x", True),
                                     ("list", "data/", True),
                                     ("write", "data/x", False),
                                     ("write", "data/incoming/f", True),
                                     ("delete", "data/incoming/f", False),
                                     ("read", "other/x", False)]:
            rc, out = verify(self.pub, tok, action, "pb1", key)
            self.assertEqual(out["allowed"], allowed, (action, key))
            self.assertEqual(rc, 0 if allowed else 1)
        rc, out = verify(self.pub, tok, "read", "pb2", "data/x")
        self.assertFalse(out["allowed"])

    def test_forged_tokens_refused(self):
        p = self.pmsd
        tok = p.token(self.alice)
        for where in range(5, len(tok), max(1, len(tok) // 25)):
            forged = flip(tok, where)
            if forged == tok:
                continue
            rc, out = verify(self.pub, forged)
            self.assertEqual(rc, 1, where)
            self.assertIn(out["error"], ["EACCES", "EINVAL"])
        # Widen the scope in the payload and keep the signature.
        head, payload, sig = tok.split(".")
        body = json.loads(base64.urlsafe_b64decode(payload + "=="))
        body["scp"] = [{"act": ["read", "write", "admin"], "res": "*"}]
        evil = base64.urlsafe_b64encode(
            json.dumps(body, separators=(",", ":"),
                       sort_keys=True).encode()).decode().rstrip("=")
        forged = "%s.%s.%s" % (head, evil, sig)
        rc, out = verify(self.pub, forged)
        self.assertEqual(out["error"], "EACCES")
        r = p.request("GET", "/v1/users", token=forged)
        self.assertEqual(r.status, 401)
        # A token of another pmsd (another key) is refused.
        other = h.Pmsd(opts=self.opts)
        self.addCleanup(other.cleanup)
        other.start()
        alien = other.token(other.cred)
        rc, out = verify(self.pub, alien)
        self.assertEqual(out["error"], "EACCES")
        self.assertEqual(p.request("GET", "/v1/whoami",
                                   token=alien).status, 401)

    def test_expired_token_refused(self):
        p = self.pmsd
        tok = p.token(self.alice, ttl=1)
        self.assertEqual(p.request("GET", "/v1/whoami", token=tok).status,
                         200)
        h.wait_for(lambda: verify(self.pub, tok)[1].get("error") ==
                   "EKEYEXPIRED", 10, "the token to expire", step=0.2)
        r = p.request("GET", "/v1/whoami", token=tok)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"], "TokenExpired")

    def test_wrong_scope_on_pmsd(self):
        p = self.pmsd
        tok = p.token(self.alice)
        for method, path in [("GET", "/v1/users"), ("GET", "/v1/backends"),
                             ("POST", "/v1/policies"),
                             ("GET", "/v1/node/config")]:
            r = p.request(method, path, {"name": "x"}, token=tok)
            self.assertEqual(r.status, 403, path)
        self.assertEqual(p.request("GET", "/v1/whoami",
                                   token=tok).json["user"], "alice")
        self.assertEqual(p.request("GET", "/v1/users", auth=None).status, 401)
        self.assertEqual(p.request("GET", "/v1/users", auth=None,
                                   headers={"Authorization": "Basic x"}
                                   ).status, 401)

    def test_policies_and_keys_lifecycle(self):
        p = self.pmsd
        # Referenced policies cannot go; unknown ones cannot be attached.
        self.assertEqual(p.request("DELETE",
                                   "/v1/policies/data-readers").status, 409)
        self.assertEqual(p.request("PUT", "/v1/users/alice",
                                   {"policies": ["nope"]}).status, 400)
        for bad in [{"statements": [{"actions": ["fly"],
                                     "resources": ["*"]}]},
                    {"statements": [{"actions": ["read"],
                                     "resources": ["pb1/*/x"]}]},
                    {"statements": [{"actions": [], "resources": ["*"]}]},
                    {"statements": "all"}]:
            self.assertEqual(p.request("PUT", "/v1/policies/data-readers",
                                       bad).status, 400, bad)
        # A policy change applies to the next token.
        p.ok("PUT", "/v1/policies/data-readers",
             {"statements": [{"actions": ["read"], "resources": ["pb9/*"]}]})
        r = p.ok("POST", "/v1/token", auth=self.alice)
        self.assertEqual([s["resource"] for s in r["scopes"]], ["pb9/*"])
        # A second key works; a deleted key no longer does.
        k2 = p.ok("POST", "/v1/users/alice/keys")
        k2 = (k2["access_key"], k2["secret_key"])
        p.ok("POST", "/v1/token", auth=k2)
        p.ok("DELETE", "/v1/users/alice/keys/" + self.alice[0])
        self.assertEqual(p.request("POST", "/v1/token",
                                   auth=self.alice).status, 401)
        p.ok("DELETE", "/v1/users/alice")
        self.assertEqual(p.request("POST", "/v1/token", auth=k2).status, 401)
        p.ok("DELETE", "/v1/policies/data-readers")

    def test_audit_log(self):
        p = self.pmsd
        p.token(self.alice)
        p.request("POST", "/v1/token", auth=(self.alice[0], "bad"))
        p.request("POST", "/v1/backends", {"name": "bx"})
        with open(os.path.join(p.state_dir, "audit.log")) as f:
            lines = [json.loads(x) for x in f]
        acts = [(x["who"], x["action"], x["target"], x["result"])
                for x in lines]
        self.assertIn(("admin", "user.create", "alice", "ok"), acts)
        self.assertIn(("admin", "key.create", "alice", "ok"), acts)
        self.assertIn(("alice", "token.issue", "alice", "ok"), acts)
        self.assertIn(("admin", "backend.create", "bx",
                       os.strerror(22)), acts)
        self.assertIn(("-", "token.issue", self.alice[0],
                       os.strerror(13)), acts)
        for x in lines:
            self.assertTrue(x["from"].startswith("127.0.0.1:"))
            self.assertRegex(x["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_audit_log_reopened_on_sighup(self):
        p = self.pmsd
        path = os.path.join(p.state_dir, "audit.log")
        os.rename(path, path + ".1")
        p.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: os.path.exists(path), 10, "a new audit.log")
        p.token(self.alice)
        with open(path) as f:
            self.assertIn('"token.issue"', f.read())
        self.assertTrue(p.up())

    def test_init_admin(self):
        p = self.pmsd
        self.assertEqual(p.stop(), 0)
        out = subprocess.run([h.BIN["pmsd"], "--state-dir", p.state_dir,
                              "--init-admin"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("access_key=PK", out.stdout)
        p.start()
        # Both the first and the new admin key work.
        self.assertEqual(len(p.ok("GET", "/v1/users/admin")["keys"]), 2)
        self.assertEqual(p.ok("GET", "/v1/whoami")["user"], "admin")


if __name__ == "__main__":
    h.main()
