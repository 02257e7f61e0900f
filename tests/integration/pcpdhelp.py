# SPDX-License-Identifier: MIT
"""pcpdhelp.py - shared helpers of the pcpd integration tests.

Spawning lives here (one place), as tests/README.md asks: a test gets a
Pcpd object with start(), stop() (SIGTERM, exit status), kill9() and
get(). Every process is stopped by PID in cleanup(), also on failure.
"""
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

HARNESS = os.environ.get("PCACHE_TEST_HARNESS")
TMP = os.environ.get("PCACHE_TEST_TMP")
PY = "/usr/bin/python3"
CHUNK = 1 << 20  # 1 MiB chunks keep the tests quick

_procs = []


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def need(*names):
    for n in names:
        if not os.environ.get(n):
            skip(n + " not set (run through scripts/test.sh)")
    if not HARNESS or not TMP:
        skip("PCACHE_TEST_HARNESS/PCACHE_TEST_TMP not set")


def cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def s3(env_prefix, method, path, data_file=None, data=None):
    url = os.environ[env_prefix + "_URL"]
    cmd = [PY, os.path.join(HARNESS, "s3req.py"), "--url", url,
           "--key", os.environ[env_prefix + "_KEY"],
           "--secret", os.environ[env_prefix + "_SECRET"], method, path]
    if data_file:
        cmd += ["--data-file", data_file]
    if data is not None:
        cmd += ["--data", data]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


def head_etag(env_prefix, path):
    url = os.environ[env_prefix + "_URL"]
    out = subprocess.run(
        [PY, os.path.join(HARNESS, "s3req.py"), "--url", url, "--key",
         os.environ[env_prefix + "_KEY"], "--secret",
         os.environ[env_prefix + "_SECRET"], "-v", "HEAD", path],
        capture_output=True, text=True, timeout=60)
    for line in (out.stdout + out.stderr).splitlines():
        if line.lower().startswith("etag:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("no ETag for " + path)


class FaultProxy:
    def __init__(self, upstream, workdir):
        pf = os.path.join(workdir, "proxy.port")
        self.p = subprocess.Popen(
            [PY, os.path.join(HARNESS, "faultproxy.py"), "--upstream",
             upstream, "--port-file", pf],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        _procs.append(self.p)
        self.port = int(self.p.stdout.readline().strip())
        self.url = "http://127.0.0.1:%d" % self.port

    def ctl(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body)

    def gets(self):
        return self.ctl("/__stats")["by_method"].get("GET", 0)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=10)


class Pcpd:
    def __init__(self, binary, workdir, backend_env, upstream_url, port,
                 tiers=None, extra=""):
        self.binary = binary
        self.dir = workdir
        self.port = port
        os.makedirs(workdir, exist_ok=True)
        cred = os.path.join(workdir, "cred")
        with open(cred, "w") as f:
            f.write("%s:%s\n" % (os.environ[backend_env + "_KEY"],
                                 os.environ[backend_env + "_SECRET"]))
        os.chmod(cred, 0o600)
        self.conf = os.path.join(workdir, "pcpd.conf")
        with open(self.conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nworkers = 2\n"
                    "http_timeout = 2s\nretries = 1\nlog_level = info\n"
                    "backend.b.endpoint = %s\nbackend.b.credfile = %s\n"
                    "backend.b.bucket = %s\npbucket.pb.route = \"\" b\n%s"
                    % (port, upstream_url, cred, "BUCKET", extra))
        self.tiers = tiers or ["mem:%s:256M" % os.path.join(workdir, "t0")]
        self.p = None
        self.log = os.path.join(workdir, "pcpd.log")

    def set_bucket(self, bucket):
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("BUCKET", bucket))

    def start(self):
        args = [self.binary, "--config", self.conf]
        for t in self.tiers:
            args += ["--tier", t]
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                  stderr=open(self.log, "ab"))
        _procs.append(self.p)
        for _ in range(200):
            try:
                s, _, _ = self.get("/v1/status")
                if s == 200:
                    return
            except OSError:
                pass
            if self.p.poll() is not None:
                raise RuntimeError("pcpd exited: see " + self.log)
            time.sleep(0.05)
        raise RuntimeError("pcpd did not answer")

    def stop(self, timeout=30):
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=timeout)

    def kill9(self):
        self.p.kill()
        self.p.wait()

    def get(self, path, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def status(self):
        s, _, body = self.get("/v1/status")
        if s != 200:
            raise RuntimeError("/v1/status: %d" % s)
        return json.loads(body)

    def metrics(self):
        _, _, body = self.get("/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def chunk_path(key, etag, index, size=CHUNK, pbucket="pb"):
    return "/v1/chunk/%s/%s?etag=%s&index=%d&chunk_size=%d" % (
        pbucket, urllib.parse.quote(key), urllib.parse.quote(etag), index,
        size)


def sha(b):
    return hashlib.sha256(b).hexdigest()
