#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_netns.py - the cluster as separate hosts: s3rver, pmsd,
three pcpd and the cluster-mode mount each in a network namespace of
their own, joined by veth pairs on a bridge (10.200.0.0/24, which exists
only inside these namespaces; the root namespace gets no address, route
or link). One node's link is cut (ip link set eth0 down in its
namespace: packets vanish, no RST, no ICMP) in the middle of a read: the
read completes from the other nodes with the right bytes. Link back up:
the node re-enters pmsd's live set and serves the mount again.

    sw    bridge br0                 (the switch)
    s3    10.200.0.2    s3rver :4568 (started here, not the harness's:
                                      that one listens on 127.0.0.1 of
                                      the root namespace)
    pms   10.200.0.3    pmsd :7070
    n0-2  10.200.0.10-12 pcpd :7080
    cl    10.200.0.100  pcachefs (the mount point is in the shared mount
                                  namespace: the test reads it as usual)

The test's main thread itself enters "cl" (setns(2) through ctypes) so
that its HTTP requests to pmsd, nodes and s3rver, and every process it
starts without nsenter, are in the client's namespace; it returns to its
own namespace in cleanup. Daemons are started with nsenter --net (which
execs: the pid is the daemon's) and stopped by pid; namespaces are
deleted in cleanup, also on failure or SIGTERM.

usage: test_cluster_netns.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
Needs root (ip netns), iproute2, nsenter, node with s3rver 3.7.1
(scripts/install-deps.sh), /dev/fuse and a pcachefs with cluster mode
($PCACHEFS_BIN or $PCACHE_BUILD_DIR/pcachefs/pcachefs); skips (77)
without. PCACHE_TEST_NETNS_MB: size of the object read (default 256).
"""
import ctypes
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pcpdhelp as ch  # noqa: E402
import pmsdhelp as ph  # noqa: E402

MiB = 1 << 20
NET = "10.200.0"
S3_ADDR, PMS_ADDR = NET + ".2", NET + ".3"
NODE_ADDR = [NET + ".10", NET + ".11", NET + ".12"]
CL_ADDR = NET + ".100"
S3_PORT, PMS_PORT, NODE_PORT = 4568, 7070, 7080
CLONE_NEWNET = 0x40000000
NPM = os.environ.get("PCACHE_NPM_PREFIX", "/opt/pcachefs-test/npm")
S3RVER_JS = os.path.join(NPM, "node_modules", "s3rver", "bin", "s3rver.js")

_libc = ctypes.CDLL(None, use_errno=True)
log = h.log


def setns(fd):
    """Moves the calling thread (only) into the network namespace fd."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True,
                       timeout=20)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(args),
                                                  p.returncode,
                                                  p.stderr.strip()))
    return p


class Net:
    """The namespaces of one test, named TAG-ROLE, deleted in cleanup."""

    def __init__(self, tag):
        self.tag = tag
        self.names = []

    def ns(self, role):
        return "%s-%s" % (self.tag, role)

    def path(self, role):
        return "/run/netns/" + self.ns(role)

    def nsenter(self, role):
        return ["nsenter", "--net=" + self.path(role), "--"]

    def add(self, role):
        run("ip", "netns", "add", self.ns(role))
        self.names.append(self.ns(role))
        run("ip", "-n", self.ns(role), "link", "set", "lo", "up")

    def switch(self):
        self.add("sw")
        run("ip", "-n", self.ns("sw"), "link", "add", "br0", "type",
            "bridge")
        run("ip", "-n", self.ns("sw"), "link", "set", "br0", "up")

    def host(self, role, addr):
        """A namespace with eth0 (addr/24) on the switch."""
        self.add(role)
        port = "v-" + role
        run("ip", "-n", self.ns("sw"), "link", "add", port, "type", "veth",
            "peer", "name", "eth0", "netns", self.ns(role))
        run("ip", "-n", self.ns("sw"), "link", "set", port, "master", "br0",
            "up")
        run("ip", "-n", self.ns(role), "addr", "add", addr + "/24", "dev",
            "eth0")
        run("ip", "-n", self.ns(role), "link", "set", "eth0", "up")

    def link(self, role, up):
        run("ip", "-n", self.ns(role), "link", "set", "eth0",
            "up" if up else "down")

    def cleanup(self):
        while self.names:
            run("ip", "netns", "del", self.names.pop(), check=False)

    emergency = cleanup


def netns_missing():
    """Why this test cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "not root: ip netns needs CAP_SYS_ADMIN"
    for t in ("ip", "nsenter", "node"):
        if not shutil.which(t):
            return t + " missing"
    if not os.path.exists(S3RVER_JS):
        return "s3rver not in %s (scripts/install-deps.sh)" % NPM
    if not hasattr(_libc, "setns"):
        return "no setns in libc"
    probe = Net("pcnp%d" % os.getpid())
    try:
        probe.switch()
        probe.host("x", NET + ".250")
    except (AssertionError, OSError) as e:
        return "ip netns not usable: %s" % e
    finally:
        probe.cleanup()
    return None


class NsPmsd(ph.Pmsd):
    """pmsd listening on PMS_ADDR in namespace "pms"."""

    def __init__(self, net, **kw):
        super().__init__(**kw)
        self.net = net
        self.port = PMS_PORT

    def start(self, extra=None):
        self.addr = "%s:%d" % (PMS_ADDR, self.port)
        args = self.net.nsenter("pms") + [
            ph.BIN["pmsd"], "--listen", self.addr, "--state-dir",
            self.state_dir]
        if self.opts:
            args += ["-o", ",".join("%s=%s" % kv for kv in self.opts.items())]
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL)
        ph.wait_for(self.up, 15, "pmsd to answer")
        self.cred = ph.read_cred(os.path.join(self.state_dir, "admin.cred"))
        return self


class NsNode(h.Node):
    """pcpd on NODE_ADDR[index]:7080 in namespace "n<index>"; the test's
    requests to it time out after 5 s."""

    request_timeout = 5

    def __init__(self, net, workdir, credfile, index):
        super().__init__(workdir, "%s:%d" % (PMS_ADDR, PMS_PORT), credfile,
                         index)
        self.net = net
        self.role = "n%d" % index
        self.host = NODE_ADDR[index]
        self.port = NODE_PORT

    def start(self):
        self.addr = "%s:%d" % (self.host, self.port)
        conf = os.path.join(self.dir, "pcpd.conf")
        with open(conf, "w") as f:
            f.write("listen = %s\nworkers = 2\nhttp_timeout = 5s\n"
                    "retries = 1\nlog_level = info\nnode_id = %s\n"
                    "pms_credfile = %s\npms_timeout = 2s\n"
                    % (self.addr, self.id, self.credfile))
        args = self.net.nsenter(self.role) + [
            ph.BIN["pcpd"], "--config", conf, "--pms", self.pms_addr,
            "--tier", "mem:%s:512M" % os.path.join(self.dir, "t0")]
        with open(self.log, "ab") as logf:
            self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                      stderr=logf, stdin=subprocess.DEVNULL)
        ph.wait_for(self.up, 10, "pcpd %s to answer" % self.id)
        return self


class NetnsCluster(unittest.TestCase):
    timeout = 90  # seconds per test, setup included

    def setUp(self):
        ph.set_alarm(self)
        import mounthelp as mh
        root = os.environ.get("PCACHE_TEST_TMP") or tempfile.gettempdir()
        self.tmp = tempfile.mkdtemp(prefix="netns.", dir=root)
        self.addCleanup(self.remove_tmp)
        self.net = Net("pcn%d" % os.getpid())
        self.addCleanup(self.net.cleanup)
        # meson's SIGTERM: mounthelp kills and unmounts the mounts, then
        # the daemons are killed and the namespaces deleted.
        mh.register(self.net)
        self.addCleanup(mh.unregister, self.net)
        k = h.EmergencyKill(lambda: [getattr(self, "s3", None)] + (
            [self.pmsd.proc] if getattr(self, "pmsd", None) else []) +
            [n.p for n in getattr(self, "nodes", [])])
        mh.register(k)
        self.addCleanup(mh.unregister, k)
        self.net.switch()
        for role, addr in (("s3", S3_ADDR), ("pms", PMS_ADDR),
                           ("cl", CL_ADDR)):
            self.net.host(role, addr)
        for i in range(3):
            self.net.host("n%d" % i, NODE_ADDR[i])
        # This thread into the client's namespace, back in cleanup.
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, own)
        self.addCleanup(setns, own)
        fd = os.open(self.net.path("cl"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd)
        finally:
            os.close(fd)
        self.start_s3rver()
        self.start_cluster()
        self.mounts = []
        self.addCleanup(self.stop_mounts)
        h.mount_watchdog(self, self.timeout - 10)

    def remove_tmp(self):
        if not os.environ.get("PCACHE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_s3rver(self):
        data = os.path.join(self.tmp, "s3")
        os.makedirs(data)
        logf = open(os.path.join(self.tmp, "s3rver.log"), "ab")
        self.s3 = subprocess.Popen(
            self.net.nsenter("s3") + [
                "node", "--openssl-legacy-provider", S3RVER_JS, "-d", data,
                "-a", S3_ADDR, "-p", str(S3_PORT), "--silent"],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()

        def stop():
            if self.s3.poll() is None:
                self.s3.kill()
                self.s3.wait()
        self.addCleanup(stop)
        os.environ.update({"NS3_URL": "http://%s:%d" % (S3_ADDR, S3_PORT),
                           "NS3_KEY": "S3RVER", "NS3_SECRET": "S3RVER"})

        def answers():
            if self.s3.poll() is not None:
                raise AssertionError("s3rver exited")
            try:
                c = http.client.HTTPConnection(S3_ADDR, S3_PORT, timeout=2)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
                return True
            except OSError:
                return False
        ph.wait_for(answers, 30, "s3rver in its namespace", step=0.1)
        self.bucket = "netns-%d" % os.getpid()
        ch.s3("NS3", "PUT", "/" + self.bucket)

    def start_cluster(self):
        self.pmsd = NsPmsd(self.net, workdir=os.path.join(self.tmp, "pmsd"),
                           opts={"heartbeat_interval": "200ms",
                                 "heartbeat_expiry": "1s", "tick": "50ms"})
        os.makedirs(self.pmsd.tmp, exist_ok=True)
        self.addCleanup(self.pmsd.cleanup)
        self.pmsd.start()
        node_cred = h.write_credfile(
            os.path.join(self.tmp, "node.cred"), self.pmsd.make_user(
                "node", [{"actions": ["node"], "resources": ["*"]}]))
        self.pmsd.ok("POST", "/v1/backends", {
            "name": "s3", "endpoint": os.environ["NS3_URL"],
            "bucket": self.bucket, "path_style": True,
            "access_key": "S3RVER", "secret_key": "S3RVER"})
        self.pmsd.ok("POST", "/v1/pbuckets", {
            "name": "pb1", "chunk_size": h.CHUNK,
            "routes": [{"prefix": "", "backend": "s3"}]})
        self.nodes = []
        for i in range(3):
            n = NsNode(self.net, os.path.join(self.tmp, "n%d" % i),
                       node_cred, i)
            self.addCleanup(n.kill9)
            self.addCleanup(n.finish)
            n.start()
            self.nodes.append(n)
        ph.wait_for(lambda: self.live_ids() == ["n0", "n1", "n2"], 15,
                    "three live nodes")
        self.cred = h.write_credfile(
            os.path.join(self.tmp, "reader.cred"), self.pmsd.make_user(
                "reader", [{"actions": ["read", "list"],
                            "resources": ["pb1/*"]}]))

    def live_ids(self):
        return sorted(n["id"] for n in
                      self.pmsd.ok("GET", "/v1/nodes")["nodes"])

    def stop_mounts(self):
        while self.mounts:
            self.mounts.pop().stop()

    def chunk_counts(self, skip=()):
        return h.chunk_counts(self.nodes, skip)

    def put(self, key, size, seed):
        return h.put_stream(os.environ["NS3_URL"], "/%s/%s" % (self.bucket,
                                                               key),
                            size, h.pattern_blocks(size, seed))[0]

    def test_node_cut_off_during_read(self):
        size = int(os.environ.get("PCACHE_TEST_NETNS_MB", "256")) * MiB
        nchunks = size // h.CHUNK
        digest = self.put("big.bin", size, 7)
        m = h.ClusterMount(os.path.join(self.tmp, "mnt"),
                           "%s:%d" % (PMS_ADDR, PMS_PORT), self.cred, "pb1",
                           opts={"cache_size": 0})
        self.mounts.append(m)
        m.start()
        r = h.read_through_fault(
            self, m.path("big.bin"), digest, self.chunk_counts, nchunks // 5,
            "a fifth of the chunks read", lambda: self.net.link("n1", False),
            "cut", wait=40, timeout=45)
        at_cut = r.at_fault
        after = self.chunk_counts(skip=(1,))
        log("timing: %d MiB read, n1 cut off at %.1f s (%s chunk requests "
            "done): %.1f s in all; since the cut n0 served %d, n2 %d"
            % (size >> 20, r.t_fault, [b - a for a, b in zip(r.c0, at_cut)],
               r.secs, after[0] - at_cut[0], after[2] - at_cut[2]))
        for i in (0, 2):
            self.assertGreater(after[i], at_cut[i])
        # pmsd dropped it (no heartbeats for 1 s).
        ph.wait_for(lambda: self.live_ids() == ["n0", "n2"], 10,
                    "n1 out of the live set")

        # Link back: it heartbeats again and is live.
        t1 = time.monotonic()
        self.net.link("n1", True)
        ph.wait_for(lambda: self.live_ids() == ["n0", "n1", "n2"], 15,
                    "n1 back in the live set")
        log("timing: n1 live again %.1f s after its link came back"
            % (time.monotonic() - t1))
        # And the mount uses it again (once its node list has n1 and any
        # penalty for the failures has run out): fresh objects of 16
        # chunks, n1 owns about a third of each.
        served = [False]
        i = [0]

        def n1_serves():
            before = self.chunk_counts()[1]
            i[0] += 1
            key = "after-%d" % i[0]
            d = self.put(key, 16 * h.CHUNK, 100 + i[0])
            ph.wait_for(lambda: os.path.exists(m.path(key)), 10,
                        key + " visible in the mount", step=0.1)
            got, _ = h.sha256_path(m.path(key), timeout=30)
            self.assertEqual(got, d)
            served[0] = self.chunk_counts()[1] > before
            return served[0]
        ph.wait_for(n1_serves, 30, "the mount reading from n1 again",
                    step=0.5)
        log("timing: the mount read from n1 again %.1f s after its link "
            "came back (%d objects)" % (time.monotonic() - t1, i[0]))


def main():
    h.mount_main(netns_missing, h.cluster_mount_missing, servers=False)


if __name__ == "__main__":
    main()
