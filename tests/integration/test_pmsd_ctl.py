#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pmsd_ctl.py - pcachectl against a real pmsd: every family of
commands, the table output and --json, failover over a list of pmsd
addresses, and exit statuses (0 done, 1 refused, 2 usage).

usage: test_pmsd_ctl.py PMSD PCACHECTL TOKEN_TOOL
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402


def table(text):
    """Rows of a table as dicts keyed by the header."""
    lines = text.rstrip("\n").split("\n")
    heads = lines[0].split()
    return [dict(zip(heads, ln.split())) for ln in lines[1:]]


class Ctl(h.PmsdTest):
    def test_backends_pbuckets_routes(self):
        c = self.pmsd.ctl
        c("backend", "add", "b1", "--endpoint", "http://127.0.0.1:9000",
          "--bucket", "data", "--path-style", "--access-key", "AK1",
          "--secret-key", "SK1")
        c("backend", "add", "b2", "--endpoint", "http://127.0.0.1:9001",
          "--bucket", "logs", "--region", "eu-west-1")
        rows = table(c("backend", "list").stdout)
        self.assertEqual([r["NAME"] for r in rows], ["b1", "b2"])
        self.assertEqual(rows[0]["PATH_STYLE"], "yes")
        self.assertEqual(rows[1]["REGION"], "eu-west-1")
        out = c("--json", "backend", "list").stdout
        self.assertNotIn("SK1", out)
        self.assertTrue(json.loads(out)["backends"][0]["has_secret"])
        c("backend", "set", "b2", "--region", "us-east-2")
        self.assertEqual(json.loads(c("--json", "backend", "show",
                                      "b2").stdout)["region"], "us-east-2")
        c("pbucket", "add", "pb1", "--chunk-size", "16M", "--route", "=b1",
          "--route", "logs/=b2", "--cache-ttl", "tmp/=10m",
          "--storage-class", "logs/=GLACIER")
        pb = json.loads(c("--json", "pbucket", "show", "pb1").stdout)
        self.assertEqual(pb["chunk_size"], 16 << 20)
        self.assertEqual(pb["lifecycle"],
                         [{"prefix": "tmp/", "cache_ttl": 600},
                          {"prefix": "logs/", "storage_class": "GLACIER"}])
        rows = table(c("pbucket", "list").stdout)
        self.assertEqual(rows[0]["NAME"], "pb1")
        self.assertEqual(rows[0]["CHUNK_SIZE"], str(16 << 20))
        c("route", "add", "pb1", "logs/old/", "b1")
        rows = c("route", "list", "pb1").stdout.split("\n")
        self.assertEqual(rows[0].split(), ["PREFIX", "BACKEND"])
        self.assertEqual(len([r for r in rows if r.strip()]), 4)
        got = json.loads(c("--json", "route", "get", "pb1",
                           "logs/old/x").stdout)
        self.assertEqual(got["backend"], "b1")
        got = json.loads(c("--json", "route", "get", "pb1", "logs/x").stdout)
        self.assertEqual(got["backend"], "b2")
        c("route", "rm", "pb1", "logs/old/")
        got = json.loads(c("--json", "route", "get", "pb1",
                           "logs/old/x").stdout)
        self.assertEqual(got["backend"], "b2")
        p = c("backend", "rm", "b2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("409", p.stderr)
        c("pbucket", "rm", "pb1")
        c("backend", "rm", "b2")

    def test_users_keys_policies_token(self):
        c = self.pmsd.ctl
        c("policy", "add", "ro", "--allow", "read,list:pb1/*",
          "--allow", "read:pb2/public/*")
        rows = table(c("policy", "list").stdout)
        self.assertEqual(sorted(r["NAME"] for r in rows), ["admin", "ro"])
        c("user", "add", "bob", "--policy", "ro")
        key = json.loads(c("--json", "key", "create", "bob").stdout)
        self.assertTrue(key["secret_key"])
        rows = table(c("key", "list", "bob").stdout)
        self.assertEqual(rows[0]["ACCESS_KEY"], key["access_key"])
        rows = table(c("user", "list").stdout)
        bob = [r for r in rows if r["NAME"] == "bob"][0]
        self.assertEqual(bob["POLICIES"], "ro")
        # bob's own credentials: a token, but no admin commands.
        cred = os.path.join(self.pmsd.tmp, "bob.cred")
        fd = os.open(cred, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, ("%s:%s\n" % (key["access_key"],
                                   key["secret_key"])).encode())
        os.close(fd)
        env_ctl = [h.BIN["pcachectl"], "--pms", self.pmsd.addr,
                   "--credfile", cred]
        import subprocess
        tok = subprocess.run(env_ctl + ["token"], capture_output=True,
                             text=True).stdout.strip()
        self.assertTrue(tok.startswith("pc1."))
        p = subprocess.run(env_ctl + ["user", "list"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("403", p.stderr)
        who = json.loads(subprocess.run(env_ctl + ["--json", "whoami"],
                                        capture_output=True,
                                        text=True).stdout)
        self.assertEqual(who["user"], "bob")
        c("key", "rm", "bob", key["access_key"])
        c("user", "rm", "bob")
        c("policy", "rm", "ro")

    def test_status_nodes_and_failover(self):
        c = self.pmsd.ctl
        st = json.loads(c("--json", "status").stdout)
        self.assertEqual(st["service"], "pmsd")
        self.assertIn("epoch", c("status").stdout)
        node = self.node_cred()
        self.pmsd.ok("POST", "/v1/nodes",
                     {"id": "n1", "address": "127.0.0.1:7081",
                      "tiers": [{"name": "mem", "capacity": 1024}]},
                     auth=node)
        rows = table(c("node", "list").stdout)
        self.assertEqual(rows[0]["ID"], "n1")
        self.assertEqual(rows[0]["LIVE"], "yes")
        # A dead address first in the list: the next one answers.
        dead = "127.0.0.1:%d" % h.free_port()
        p = c("--pms", dead + "," + self.pmsd.addr, "--json", "node", "list")
        self.assertEqual(json.loads(p.stdout)["nodes"][0]["id"], "n1")
        c("node", "rm", "n1")
        self.assertEqual(table(c("node", "list").stdout), [])

    def test_errors_and_usage(self):
        c = self.pmsd.ctl
        self.assertEqual(c("frobnicate", check=False).returncode, 2)
        self.assertEqual(c(check=False).returncode, 2)
        self.assertEqual(c("pbucket", "add", "x", "--route", "nobackend",
                           check=False).returncode, 2)
        p = c("user", "list", cred=False, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("401", p.stderr)
        p = c("--pms", "127.0.0.1:%d" % h.free_port(), "status",
              check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no pmsd answered", p.stderr)
        self.assertEqual(c("--help").returncode, 0)


if __name__ == "__main__":
    h.main()
