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
import threading
import time
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as ph  # noqa: E402
import pcpdhelp as ch  # noqa: E402
from mountproc import MountProcess  # noqa: E402

CHUNK = 1 << 20
CHUNK_REQS = 'pcpd_requests_total{endpoint="chunk"}'


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


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
    """One pcpd with --pms; its config has no routes of its own. The
    test's requests go to host:port over connection() (a subclass: over
    HTTPS, or to another host), request_timeout seconds unless told."""

    host = "127.0.0.1"
    request_timeout = 30

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

    def connection(self, timeout):
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=None,
                timeout=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        c = self.connection(self.request_timeout if timeout is None
                            else timeout)
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


def chunk_counts(nodes, skip=()):
    """Chunk requests each of nodes served so far (0 for a dead one, and
    for the indexes in skip)."""
    out = []
    for i, n in enumerate(nodes):
        if i in skip:
            out.append(0)
            continue
        try:
            out.append(int(n.metrics().get(CHUNK_REQS, 0)))
        except OSError:
            out.append(0)
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
        ph.set_alarm(self)
        self.tmp = tempfile.mkdtemp(prefix="cluster.",
                                    dir=os.environ["PCACHE_TEST_TMP"])
        self.addCleanup(self.remove_tmp)
        self.pmsd = ph.Pmsd(workdir=os.path.join(self.tmp, "pmsd"),
                            opts=self.pmsd_opts)
        os.makedirs(self.pmsd.tmp, exist_ok=True)
        self.addCleanup(self.pmsd.cleanup)
        self.pmsd.start()
        self.node_key = self.user_key("node", ["node"], "*")
        self.credfile = write_credfile(os.path.join(self.tmp, "node.cred"),
                                       self.node_key)
        self.bucket = "cl-" + secrets.token_hex(4)
        self.add_backend("s3", self.bucket)
        self.add_pbucket("pb1", [("", "s3")])
        self.nodes = []
        for i in range(self.nnodes):
            self.start_node(i)
        self.wait_nodes(self.nnodes)

    def add_backend(self, name, bucket):
        """A new s3rver bucket and a backend name in pmsd over it."""
        ch.s3("S3RVER", "PUT", "/" + bucket)
        self.pmsd.ok("POST", "/v1/backends", {
            "name": name, "endpoint": os.environ["S3RVER_URL"],
            "bucket": bucket, "path_style": True,
            "access_key": os.environ["S3RVER_KEY"],
            "secret_key": os.environ["S3RVER_SECRET"]})

    def add_pbucket(self, name, routes):
        """A pbucket with 1 MiB chunks; routes: (prefix, backend) pairs."""
        self.pmsd.ok("POST", "/v1/pbuckets", {
            "name": name, "chunk_size": CHUNK,
            "routes": [{"prefix": p, "backend": b} for p, b in routes]})

    def make_node(self, i, extra=""):
        """Node i (not started); a subclass may make another kind."""
        return Node(os.path.join(self.tmp, "n%d" % i), self.pmsd.addr,
                    self.credfile, i, extra)

    def start_node(self, i, extra=""):
        n = self.make_node(i, extra)
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

    def user_key(self, name, actions, resource="pb1/*"):
        """A pmsd user allowed actions on resource: (access key, secret)."""
        return self.pmsd.make_user(name, [{"actions": list(actions),
                                           "resources": [resource]}])

    def user(self, name, actions, resource="pb1/*"):
        return self.pmsd.token(self.user_key(name, actions, resource))


def main():
    parse_argv()
    unittest.main(verbosity=2)


# --- cluster-mode mounts (test_cluster_{mount,netns,tls,etcd}.py) ----------
#
# pcachefs PBUCKET[/PREFIX] MNT -o pms=HOST:PORT,credfile=F[,...]: the mount
# holds a pmsd user's key only, never backend credentials. The helpers of
# the standalone mount tests (mounthelp.py) are imported when first used:
# importing it installs its SIGTERM handler (emergency unmount), which the
# cluster tests without mounts do not need. What ClusterMount shares with
# mounthelp.Mount is in mountproc.py, which has no such side effect.

def pcachefs_bin():
    """$PCACHEFS_BIN, else $PCACHE_BUILD_DIR/pcachefs/pcachefs."""
    return os.path.abspath(os.environ.get("PCACHEFS_BIN") or os.path.join(
        os.environ.get("PCACHE_BUILD_DIR", "build"), "pcachefs", "pcachefs"))


def cluster_mount_missing():
    """Why cluster-mode mounts cannot be tested here (None: they can)."""
    b = pcachefs_bin()
    if not os.access(b, os.X_OK):
        return "%s not built" % b
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not shutil.which("fusermount3"):
        return "fusermount3 missing"
    try:
        p = subprocess.run([b, "--help"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s --help: %s" % (b, e)
    if "pms" not in p.stdout + p.stderr:
        return "%s has no cluster mode yet (no pms= in --help)" % b
    return None


def mount_main(*checks, servers=True):
    """main() of a test program with cluster-mode mounts: the binaries
    off sys.argv; skips (77) without the s3rver environment (servers), or
    with the first reason one of checks gives (functions: why the tests
    cannot run, None if they can; e.g. cluster_mount_missing)."""
    parse_argv()
    if servers:
        need_servers()
    for check in checks:
        why = check()
        if why:
            print("SKIP: " + why)
            sys.exit(77)
    unittest.main(verbosity=2)


def write_credfile(path, cred):
    """An ACCESS_KEY:SECRET_KEY file, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("%s:%s\n" % tuple(cred))
    os.chmod(path, 0o600)
    return path


def pattern_blocks(size, seed, block=CHUNK):
    """size bytes of a pattern, block by block, never all in memory: a
    random 1 MiB base, rotated differently for every block, whose first
    16 bytes are the block's number and the seed, so that a block served
    for another (or shifted) is caught by a checksum."""
    import random
    import struct
    base = random.Random(seed).randbytes(block)
    i = 0
    left = size
    while left > 0:
        k = (i * 7919 + 13) % block
        b = base[k:] + base[:k]
        b = struct.pack(">QQ", i, seed & 0xFFFFFFFFFFFFFFFF) + b[16:]
        n = min(left, block)
        yield b[:n]
        left -= n
        i += 1


def put_stream(url, path, size, blocks, timeout=600):
    """PUT of size bytes from the iterable blocks to url + path (s3rver:
    unsigned requests pass), streamed; returns (sha256 hex, ETag)."""
    import hashlib
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    h = hashlib.sha256()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.putrequest("PUT", path)
        c.putheader("Content-Length", str(size))
        c.putheader("Content-Type", "application/octet-stream")
        c.endheaders()
        sent = 0
        for b in blocks:
            h.update(b)
            c.send(b)
            sent += len(b)
        if sent != size:
            raise AssertionError("put_stream: %d bytes, not %d" % (sent,
                                                                   size))
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise AssertionError("PUT %s: %d %s" % (path, r.status,
                                                    body[:300]))
        return h.hexdigest(), r.getheader("ETag")
    finally:
        c.close()


def get_sha256(url, path, timeout=600):
    """sha256 hex of GET url + path (s3rver, unsigned), streamed; None for
    a 404."""
    import hashlib
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    h = hashlib.sha256()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        if r.status == 404:
            r.read()
            return None
        if r.status != 200:
            raise AssertionError("GET %s: %d %s" % (path, r.status,
                                                    r.read()[:300]))
        for b in iter(lambda: r.read(CHUNK), b""):
            h.update(b)
        return h.hexdigest()
    finally:
        c.close()


def sha256_path(path, timeout=300):
    """sha256sum of path in a child process (a read stuck in a FUSE mount
    cannot hang the test: the child is killed at the timeout); returns
    (hex, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run(["sha256sum", path], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("sha256sum %s: exit %d: %s" % (
            path, p.returncode, p.stderr.strip()))
    return p.stdout.split()[0], time.monotonic() - t0


class EmergencyKill:
    """Registered with mounthelp.register(): on SIGTERM (meson's timeout)
    or SIGINT, SIGKILLs the processes procs() returns (Popen objects, or
    None), by pid, so that no daemon outlives the test program."""

    def __init__(self, procs):
        self.procs = procs

    def emergency(self):
        for p in self.procs():
            if p is not None and p.poll() is None:
                p.kill()


class ClusterMount(MountProcess):
    """One cluster-mode pcachefs in the foreground (-f), stopped by PID
    (pid, path(), log_text(), log_tail(), kill(), emergency() and the
    two halves of stop(): mountproc.py).

    opts: more -o settings (None as a value: a flag). argv_prefix: e.g.
    ["nsenter", "--net=/run/netns/X", "--"] (it must exec, so that the
    pid is pcachefs'). The environment has no AWS_* variables: the mount
    must not need backend credentials."""

    def __init__(self, mnt, pms, credfile, source, cache_dir=None,
                 opts=None, log_path=None, argv_prefix=None):
        self.mnt = mnt
        self.pms = pms if isinstance(pms, str) else ",".join(pms)
        self.credfile = credfile
        self.source = source
        self.cache_dir = cache_dir or mnt.rstrip("/") + ".cache"
        self.opts = dict(opts or {})
        self.log_path = log_path or mnt.rstrip("/") + ".log"
        self.argv_prefix = list(argv_prefix or [])
        self.proc = None
        self.killed = False

    def option_string(self):
        o = {"pms": self.pms, "credfile": self.credfile,
             "cache_dir": self.cache_dir}
        o.update(self.opts)
        return ",".join(k if v is None else "%s=%s" % (k, v)
                        for k, v in o.items())

    def argv(self, foreground=True):
        return self.argv_prefix + [pcachefs_bin(), self.source, self.mnt] + \
            (["-f"] if foreground else []) + ["-o", self.option_string()]

    @staticmethod
    def env():
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("AWS_"):
                del e[k]
        return e

    def _prepare(self):
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)

    def start(self, timeout=30):
        import mounthelp as mh
        self._prepare()
        self.killed = False
        with open(self.log_path, "ab") as logf:
            logf.write(("--- %s %s\n" % (time.strftime("%H:%M:%S"),
                                         " ".join(self.argv()))).encode())
            logf.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf,
                                         env=self.env())
        mh.register(self)
        end = time.monotonic() + timeout
        while not mh.mounted(self.mnt):
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                mh.unregister(self)
                raise AssertionError("pcachefs exited with %s before "
                                     "mounting:\n%s" % (rc, self.log_tail()))
            if time.monotonic() > end:
                self.stop(check=False)
                raise AssertionError("pcachefs did not mount within %d s:\n%s"
                                     % (timeout, self.log_tail()))
            time.sleep(0.02)
        os.stat(self.mnt)
        return self

    def try_mount(self, timeout=30):
        """The mount command as a user types it (no -f: it must fail or
        go to the background); returns (exit status, stderr). A mount
        that succeeded is unmounted again."""
        import mounthelp as mh
        self._prepare()
        try:
            p = subprocess.run(self.argv(foreground=False),
                               capture_output=True, text=True,
                               timeout=timeout, env=self.env(),
                               stdin=subprocess.DEVNULL)
        finally:
            if mh.mounted(self.mnt):
                mh.fusermount_u(self.mnt)
        return p.returncode, p.stderr

    def stop(self, check=True, timeout=30):
        """Unmounts (fusermount3 -u, then -z), waits for the process (kills
        it by pid after timeout); with check, raises AssertionError on a
        sanitizer report, a non-zero exit or a kill."""
        import mounthelp as mh
        if self.proc is None:
            if mh.mounted(self.mnt):
                mh.fusermount_u(self.mnt)
            return None
        rc, problems = self.unmount_and_wait(timeout)
        return self.stopped(rc, problems, check)


def mount_watchdog(test, seconds):
    """After seconds, kills test.mounts by pid, so that a call stuck in a
    mount returns (ENOTCONN) and the test fails instead of hanging;
    cancelled in cleanup."""
    def kill_mounts():
        log("watchdog: %s runs out of time: killing its mounts" % test.id())
        for m in list(test.mounts):
            m.kill()
    wd = threading.Timer(seconds, kill_mounts)
    wd.daemon = True
    wd.start()
    test.addCleanup(wd.cancel)


def read_through_fault(test, path, digest, counts, at, what, fault, event,
                       wait, timeout):
    """sha256sum of path in a child process, and fault() (a node killed,
    a link cut: the event) in the middle of the read: once the chunk
    requests counts() returns (one number a node) have grown by at, which
    must happen within wait seconds and before the read ends (what: those
    chunks, for the message). The read must then end within timeout
    seconds with digest; the child is killed by pid if it is still there.
    Returns c0 and at_fault (counts() at the start and at the fault),
    t_fault and secs (seconds from the start to the fault and to the
    end of the read)."""
    c0 = counts()
    t0 = time.monotonic()
    p = subprocess.Popen(["sha256sum", path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        def enough():
            done = sum(b - a for a, b in zip(c0, counts()))
            return p.poll() is not None or done >= at
        ph.wait_for(enough, wait, what, step=0.02)
        test.assertIsNone(p.poll(), "the read ended before the " + event)
        at_fault = counts()
        fault()
        t_fault = time.monotonic() - t0
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    secs = time.monotonic() - t0
    test.assertEqual(p.returncode, 0, err)
    test.assertEqual(out.split()[0], digest)
    return types.SimpleNamespace(c0=c0, at_fault=at_fault, t_fault=t_fault,
                                 secs=secs)


class ClusterMountTest(ClusterTest):
    """ClusterTest with cluster-mode mounts in self.mounts (the base of
    test_cluster_mount.MountTest and test_cluster_tls.TlsCluster); a
    subclass's setUp sets self.mounts = [] and adds self.stop_mounts to
    its cleanups (so that the mounts go before the nodes and pmsd stop)."""

    def stop_mounts(self):
        errors = []
        while self.mounts:
            try:
                self.mounts.pop().stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            self.fail("\n".join(errors))

    def user_cred(self, name, actions, resource="pb1/*"):
        """A credentials file (TMP/NAME.cred) of a new user."""
        return write_credfile(os.path.join(self.tmp, name + ".cred"),
                              self.user_key(name, actions, resource))

    def cluster_mount(self, credfile, source="pb1", name=None, opts=None,
                      start=True):
        """A ClusterMount on TMP/NAME (default mnt<N>) through this
        cluster's pmsd; started (and in self.mounts) with start."""
        name = name or "mnt%d" % len(self.mounts)
        m = ClusterMount(os.path.join(self.tmp, name), self.pmsd.addr,
                         credfile, source, opts=opts)
        if start:
            self.mounts.append(m)
            m.start()
        return m

    def unmount(self, m):
        self.mounts.remove(m)
        m.stop()
