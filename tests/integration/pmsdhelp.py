# SPDX-License-Identifier: MIT
"""pmsdhelp.py - shared helpers of the pmsd integration tests.

A test gets a Pmsd object: a real pmsd on 127.0.0.1 on a free port with a
private state directory, started with start() (which polls /v1/status
until it answers), stopped by PID with stop() (SIGTERM, exit status) and
always killed in cleanup. Requests are signed here with an independent
Python implementation of PCACHE-HMAC-SHA256, so the tests also check the
C signer against another one.

Binaries come from the command line (meson passes them):
    test_pmsd_X.py PMSD PCACHECTL TOKEN_TOOL
or from $PCACHE_BUILD_DIR.

To point the tests at a pmsd you run yourself (under gdb), as
tests/README.md describes: PCACHE_TEST_NO_SPAWN=1
PCACHE_TEST_PMSD_URL=http://127.0.0.1:7070 and
PCACHE_TEST_PMSD_STATE_DIR=<its --state-dir> (for admin.cred); start it
with the settings of PmsdTest.opts (-o heartbeat_interval=200ms,...).
Tests that restart pmsd are then skipped; run one test at a time, each on
a fresh state dir (tests share what they create).
"""
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = {}


def parse_argv():
    """Takes the three binaries off sys.argv (the rest goes to unittest)."""
    build = os.environ.get("PCACHE_BUILD_DIR", "build")
    names = ["pmsd", "pcachectl", "token_tool"]
    defaults = [os.path.join(build, "pmsd", "pmsd"),
                os.path.join(build, "pmsd", "pcachectl"),
                os.path.join(build, "tests", "tools", "token_tool")]
    args = sys.argv[1:]
    for i, n in enumerate(names):
        if args and not args[0].startswith("-"):
            BIN[n] = os.path.abspath(args.pop(0))
        else:
            BIN[n] = defaults[i]
    sys.argv[1:] = args


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, what="condition", step=0.05):
    """Polls pred() until true; fails with what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


def set_alarm(test):
    """SIGALRM fails test (a unittest.TestCase) after test.timeout
    seconds; the alarm is cancelled in its cleanup."""
    def on_alarm(signum, frame):
        raise AssertionError("test timed out after %ds" % test.timeout)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(test.timeout)
    test.addCleanup(signal.alarm, 0)


def plain_http_status(host, port=None, path="/v1/status", timeout=5):
    """The status of a GET in plain HTTP; None when no HTTP reply comes
    (a TLS listener)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        return c.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()


# -- test certificates (openssl CLI), P-256, valid for two days --

def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                   timeout=60, cwd=cwd)


def self_signed_cert(d, name, subject, *addext):
    """D/NAME.crt and D/NAME.key, self-signed; addext: -addext values.
    Returns (crt, key)."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    ext = []
    for e in addext:
        ext += ["-addext", e]
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", crt, "-days", "2", "-subj", subject, *ext)
    return crt, key


def make_ca(d, name):
    """A CA certificate and key."""
    return self_signed_cert(d, name, "/CN=pcache test " + name,
                            "basicConstraints=critical,CA:TRUE",
                            "keyUsage=critical,keyCertSign,cRLSign")


def make_server_cert(d, name, ca):
    """A server certificate for IP 127.0.0.1 signed by ca (crt, key)."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    csr, ext = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\n"
                "basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature\n"
                "extendedKeyUsage = serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def read_cred(path):
    with open(path) as f:
        ak, sk = f.read().strip().split(":", 1)
    return ak, sk


def sign(secret, method, path, ts, nonce):
    msg = "PCACHE-HMAC-SHA256\n%s\n%s\n%d\n%s" % (method, path, ts, nonce)
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


class Reply:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


class Pmsd:
    def __init__(self, workdir=None, opts=None, state_dir=None):
        self.tmp = workdir or tempfile.mkdtemp(prefix="pmsd-test.")
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        self.opts = dict(opts or {})
        self.port = None
        self.proc = None
        self.log = os.path.join(self.tmp, "pmsd.log")
        self.attached = None
        if os.environ.get("PCACHE_TEST_NO_SPAWN"):
            url = os.environ.get("PCACHE_TEST_PMSD_URL", "")
            if not url:
                raise unittest.SkipTest("PCACHE_TEST_PMSD_URL not set")
            self.attached = url.split("://", 1)[-1].rstrip("/")
            self.state_dir = os.environ.get("PCACHE_TEST_PMSD_STATE_DIR",
                                            self.state_dir)
        self.cred = None
        self.cafile = None  # set: HTTPS, verified against it

    # -- process --
    def start(self, extra=None):
        if self.attached:
            self.addr = self.attached
            self.cred = read_cred(os.path.join(self.state_dir, "admin.cred"))
            return self
        for _ in range(5):
            self.port = self.port or free_port()
            self.addr = "127.0.0.1:%d" % self.port
            args = [BIN["pmsd"], "--listen", self.addr, "--state-dir",
                    self.state_dir]
            opts = dict(self.opts)
            if "store" in opts:  # may hold commas: not for -o
                args += ["--store", opts.pop("store")]
            if opts:
                args += ["-o", ",".join("%s=%s" % kv for kv in opts.items())]
            args += extra or []
            logf = open(self.log, "a")
            self.proc = subprocess.Popen(args, stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL)
            logf.close()
            try:
                wait_for(self.up, 15, "pmsd to answer")
                break
            except AssertionError:
                if self.proc.poll() is None:
                    raise
                self.port = None  # port taken: another one
        else:
            raise AssertionError("pmsd did not start: " + self.logtext())
        self.cred = read_cred(os.path.join(self.state_dir, "admin.cred"))
        return self

    def up(self):
        if self.proc and self.proc.poll() is not None:
            raise AssertionError("pmsd exited %d: %s" % (self.proc.returncode,
                                                          self.logtext()))
        try:
            return self.request("GET", "/v1/status", auth=None).status == 200
        except OSError:
            return False

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self, timeout=15):
        """SIGTERM by PID; returns the exit status."""
        if self.attached:
            raise unittest.SkipTest("needs to stop pmsd (attached)")
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not os.environ.get("PMSD_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- HTTP --
    def request(self, method, path, body=None, auth="admin", token=None,
                headers=None, raw=None, timeout=30, query=None):
        """auth: "admin", a (ak, sk) pair, or None; token: a bearer."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        elif auth:
            ak, sk = self.cred if auth == "admin" else auth
            ts = int(time.time())
            nonce = secrets.token_hex(12)
            hdrs["Authorization"] = (
                "PCACHE-HMAC-SHA256 Credential=%s, Timestamp=%d, Nonce=%s, "
                "Signature=%s" % (ak, ts, nonce, sign(sk, method, path, ts,
                                                      nonce)))
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        url = path + ("?" + query if query else "")
        if self.cafile:
            import ssl
            ctx = ssl.create_default_context(cafile=self.cafile)
            c = http.client.HTTPSConnection(self.addr, timeout=timeout,
                                            context=ctx)
        else:
            c = http.client.HTTPConnection(self.addr, timeout=timeout)
        try:
            c.request(method, url, body=data, headers=hdrs)
            r = c.getresponse()
            return Reply(r.status, r.read(), dict(r.getheaders()))
        finally:
            c.close()

    def ok(self, method, path, body=None, **kw):
        r = self.request(method, path, body, **kw)
        if r.status // 100 != 2:
            raise AssertionError("%s %s: %d %s" % (method, path, r.status,
                                                   r.raw[:300]))
        return r.json

    def token(self, cred, ttl=None):
        body = {"ttl": ttl} if ttl else None
        return self.ok("POST", "/v1/token", body, auth=cred)["token"]

    def make_user(self, name, statements, policy=None):
        """A user with one policy; returns (access_key, secret_key)."""
        policy = policy or name + "-policy"
        self.ok("POST", "/v1/policies", {"name": policy,
                                          "statements": statements})
        self.ok("POST", "/v1/users", {"name": name, "policies": [policy]})
        k = self.ok("POST", "/v1/users/%s/keys" % name)
        return k["access_key"], k["secret_key"]

    def ctl(self, *args, cred=True, check=True):
        """Runs pcachectl against this pmsd; returns CompletedProcess."""
        env = dict(os.environ)
        env["PCACHE_PMS"] = self.addr
        env.pop("PCACHE_CREDFILE", None)
        env.pop("PCACHE_CACERT", None)
        if self.cafile:
            env["PCACHE_CACERT"] = self.cafile
        if cred:
            env["PCACHE_CREDFILE"] = os.path.join(self.state_dir,
                                                  "admin.cred")
        p = subprocess.run([BIN["pcachectl"]] + list(args), env=env,
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("pcachectl %s: %d %s" % (
                " ".join(args), p.returncode, p.stderr))
        return p


class PmsdTest(unittest.TestCase):
    """Each test gets self.pmsd, started, and stopped in cleanup."""
    opts = {"heartbeat_interval": "200ms", "heartbeat_expiry": "1s",
            "tick": "50ms"}

    timeout = 60  # seconds per test

    def setUp(self):
        set_alarm(self)
        self.pmsd = self.make_pmsd()
        self.addCleanup(self.pmsd.cleanup)
        self.pmsd.start()

    def make_pmsd(self):
        return Pmsd(opts=self.opts)

    def node_cred(self):
        return self.pmsd.make_user(
            "node-" + secrets.token_hex(3),
            [{"actions": ["node"], "resources": ["*"]}])


def main():
    parse_argv()
    unittest.main(verbosity=2)
