# SPDX-License-Identifier: MIT
"""clusterhelp.py - shared helpers of the cluster integration tests
(tests/integration/test_cluster_*.py): one pmsd, N pcpd started with
--pms, and s3rver as the backend.

A test class derives from ClusterTest: setUp starts pmsd (pmsdhelp.Pmsd,
fast heartbeats), makes a node user and its credentials file, a backend
for s3rver and a pbucket "pb1" over a fresh bucket, then starts
self.nnodes pcpd that register with pmsd. Everything is stopped by PID in
cleanup, also on failure.

usage: test_cluster_X.py PMSD PCACHECTL TOKEN_TOOL PCPD CLUSTER_TOOL
Needs the s3rver environment (S3RVER_URL, ...) and PCACHE_TEST_TMP /
PCACHE_TEST_HARNESS, as scripts/test.sh exports them; skips (77) without.
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as ph  # noqa: E402
import pcpdhelp as ch  # noqa: E402

CHUNK = 1 << 20


def parse_argv():
    """pmsd, pcachectl, token_tool, then pcpd and cluster_tool off
    sys.argv (the rest goes to unittest)."""
    ph.parse_argv()
    build = os.environ.get("PCACHE_BUILD_DIR", "build")
    args = sys.argv[1:]
    for name, default in (("pcpd", os.path.join(build, "pcpd", "pcpd")),
                          ("cluster_tool", os.path.join(
                              build, "tests", "tools", "cluster_tool"))):
        if args and not args[0].startswith("-"):
            ph.BIN[name] = os.path.abspath(args.pop(0))
        else:
            ph.BIN[name] = default
    sys.argv[1:] = args


def need_servers():
    for n in ("S3RVER_URL", "PCACHE_TEST_TMP", "PCACHE_TEST_HARNESS"):
        if not os.environ.get(n):
            print("SKIP: %s not set (run through scripts/test.sh)" % n)
            sys.exit(77)


class Node:
    """One pcpd with --pms; its config has no routes of its own."""

    def __init__(self, workdir, pms_addr, credfile, index, extra=""):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.index = index
        self.id = "n%d" % index
        self.port = None
        self.p = None
        self.pms_addr = pms_addr
        self.credfile = credfile
        self.extra = extra
        self.log = os.path.join(workdir, "pcpd.log")

    def start(self):
        for _ in range(5):
            self.port = ph.free_port()
            self.addr = "127.0.0.1:%d" % self.port
            conf = os.path.join(self.dir, "pcpd.conf")
            with open(conf, "w") as f:
                f.write("listen = %s\nworkers = 2\nhttp_timeout = 5s\n"
                        "retries = 1\nlog_level = info\nnode_id = %s\n"
                        "pms_credfile = %s\nzone = z%d\n%s"
                        % (self.addr, self.id, self.credfile,
                           self.index % 2, self.extra))
            args = [ph.BIN["pcpd"], "--config", conf, "--pms", self.pms_addr,
                    "--tier", "mem:%s:256M" % os.path.join(self.dir, "t0")]
            with open(self.log, "ab") as logf:
                self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                          stderr=logf,
                                          stdin=subprocess.DEVNULL)
            try:
                ph.wait_for(self.up, 10, "pcpd %s to answer" % self.id)
                return self
            except AssertionError:
                if self.p.poll() is None:
                    raise
                if "Address already in use" not in self.logtext():
                    raise AssertionError("pcpd exited: " + self.logtext())
        raise AssertionError("pcpd did not start: " + self.logtext())

    def up(self):
        if self.p.poll() is not None:
            return False
        try:
            return self.request("GET", "/v1/status")[0] == 200
        except OSError:
            return False

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, timeout=30):
        if self.p.poll() is not None:
            return self.p.returncode
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=timeout)

    def kill9(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def finish(self):
        """Cleanup: SIGTERM (exit 0 expected) and no sanitizer report."""
        if self.p is None:
            return
        rc = self.stop() if self.p.poll() is None else 0
        text = self.logtext()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if bad in text:
                raise AssertionError("pcpd %s: %s in %s" % (self.id, bad,
                                                            self.log))
        if rc != 0:
            raise AssertionError("pcpd %s exited %d" % (self.id, rc))

    def request(self, method, path, body=None, headers=None, token=None,
                timeout=30):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return (r.status, dict((k.lower(), v) for k, v in
                                   r.getheaders()), data)
        finally:
            c.close()

    def metrics(self):
        _, _, body = self.request("GET", "/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def err_code(body):
    try:
        return json.loads(body).get("error")
    except ValueError:
        return None


class ClusterTest(unittest.TestCase):
    nnodes = 3
    timeout = 120  # seconds per test
    pmsd_opts = {"heartbeat_interval": "200ms", "heartbeat_expiry": "1s",
                 "tick": "50ms"}

    def setUp(self):
        need_servers()

        def on_alarm(signum, frame):
            raise AssertionError("test timed out after %ds" % self.timeout)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(self.timeout)
        self.addCleanup(signal.alarm, 0)
        self.tmp = tempfile.mkdtemp(prefix="cluster.",
                                    dir=os.environ["PCACHE_TEST_TMP"])
        self.addCleanup(self.remove_tmp)
        self.pmsd = ph.Pmsd(workdir=os.path.join(self.tmp, "pmsd"),
                            opts=self.pmsd_opts)
        os.makedirs(self.pmsd.tmp, exist_ok=True)
        self.addCleanup(self.pmsd.cleanup)
        self.pmsd.start()
        self.node_key = self.pmsd.make_user(
            "node", [{"actions": ["node"], "resources": ["*"]}])
        self.credfile = os.path.join(self.tmp, "node.cred")
        with open(self.credfile, "w") as f:
            f.write("%s:%s\n" % self.node_key)
        os.chmod(self.credfile, 0o600)
        self.bucket = "cl-" + secrets.token_hex(4)
        ch.s3("S3RVER", "PUT", "/" + self.bucket)
        self.pmsd.ok("POST", "/v1/backends", {
            "name": "s3", "endpoint": os.environ["S3RVER_URL"],
            "bucket": self.bucket, "path_style": True,
            "access_key": os.environ["S3RVER_KEY"],
            "secret_key": os.environ["S3RVER_SECRET"]})
        self.pmsd.ok("POST", "/v1/pbuckets", {
            "name": "pb1", "chunk_size": CHUNK,
            "routes": [{"prefix": "", "backend": "s3"}]})
        self.nodes = []
        for i in range(self.nnodes):
            self.start_node(i)
        self.wait_nodes(self.nnodes)

    def start_node(self, i, extra=""):
        n = Node(os.path.join(self.tmp, "n%d" % i), self.pmsd.addr,
                 self.credfile, i, extra)
        self.addCleanup(n.kill9)
        self.addCleanup(n.finish)
        n.start()
        if i < len(self.nodes):
            self.nodes[i] = n
        else:
            self.nodes.append(n)
        return n

    def remove_tmp(self):
        if not os.environ.get("PCACHE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def live_ids(self):
        got = self.pmsd.ok("GET", "/v1/nodes")
        return sorted(n["id"] for n in got["nodes"])

    def wait_nodes(self, n, timeout=15):
        return ph.wait_for(lambda: len(self.live_ids()) == n, timeout,
                           "%d live nodes (have %s)" % (n, self.live_ids()))

    def put_object(self, key, data):
        path = os.path.join(self.tmp, "obj")
        with open(path, "wb") as f:
            f.write(data)
        ch.s3("S3RVER", "PUT", "/%s/%s" % (self.bucket, key), data_file=path)
        return ch.head_etag("S3RVER", "/%s/%s" % (self.bucket, key))

    def user(self, name, actions, resource="pb1/*"):
        cred = self.pmsd.make_user(name, [{"actions": actions,
                                          "resources": [resource]}])
        return self.pmsd.token(cred)


def main():
    parse_argv()
    unittest.main(verbosity=2)
