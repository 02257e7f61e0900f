# SPDX-License-Identifier: MIT
"""mounthelp.py - shared helpers of the pcachefs mount tests (test_mount_*.py).

Run by Debian's /usr/bin/python3 (python3-botocore). What a test needs:

- env: PCACHE_BUILD_DIR (meson passes it; binaries are
  $PCACHE_BUILD_DIR/pcachefs/{pcachefs,pcmd}), the S3 servers' S3RVER_* and
  RGW_* variables (scripts/test.sh exports them), PCACHE_TEST_TMP for scratch
  files (else the system temp dir), PCACHE_TEST_HARNESS for faultproxy.py.
  Missing servers or binaries: the test program exits 77 (meson: SKIP).
- Server / S3: a second S3 client (botocore) to create buckets and to put or
  change objects behind the mount's back.
- Mount: one pcachefs process, started in the foreground (-f) so that its pid
  is known, its stderr kept in a log file; stop() unmounts (fusermount3 -u,
  then -z), waits for the process, kills it by pid if it lingers, and fails
  on sanitizer reports or a non-zero exit status.
- MountCase: unittest base class with a per-test timeout (a watchdog kills
  the test's mount processes by pid, so that calls stuck in the mount
  return and the test fails; one stuck elsewhere ends the program after an
  emergency cleanup) and a private temp dir that is never removed while
  something is still mounted below it. SIGTERM (meson's timeout) and
  SIGINT also kill, by pid, and lazily unmount whatever is registered.
- FaultProxy: tests/harness/faultproxy.py between a mount and a server.
"""
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from mountproc import MountProcess

SKIP = 77
MiB = 1 << 20

try:
    import botocore.config
    import botocore.session
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover
    botocore = None
    ClientError = Exception

_counter = [0]
_counter_lock = threading.Lock()


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def skip_all(reason):
    """Ends the test program with meson's skip status."""
    print("SKIP: " + reason)
    sys.stdout.flush()
    sys.exit(SKIP)


# --- environment -----------------------------------------------------------

def build_dir():
    d = os.environ.get("PCACHE_BUILD_DIR")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, "..", "..", "build")
    return os.path.abspath(d)


def source_root():
    return os.path.abspath(os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", ".."))


def binary(name):
    return os.path.join(build_dir(), "pcachefs", name)


def harness_dir():
    return os.environ.get("PCACHE_TEST_HARNESS") or os.path.join(
        source_root(), "tests", "harness")


def scratch_root():
    d = os.environ.get("PCACHE_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(d, exist_ok=True)
    return d


def require(servers=("S3RVER",), tools=()):
    """Exits 77 unless what the tests need is there."""
    if botocore is None:
        skip_all("python3-botocore missing (run with /usr/bin/python3)")
    for s in servers:
        for suffix in ("URL", "KEY", "SECRET"):
            if not os.environ.get("%s_%s" % (s, suffix)):
                skip_all("%s_%s not set: start the S3 servers (scripts/test.sh)"
                         % (s, suffix))
    for b in ("pcachefs", "pcmd"):
        if not os.access(binary(b), os.X_OK):
            skip_all("%s not built (PCACHE_BUILD_DIR=%s)" % (b, build_dir()))
    if not os.path.exists("/dev/fuse"):
        skip_all("no /dev/fuse")
    if not shutil.which("fusermount3"):
        skip_all("fusermount3 missing")
    for t in tools:
        if not shutil.which(t):
            skip_all("%s missing" % t)


def main():
    """unittest.main() that exits 77 when every test was skipped."""
    prog = unittest.TestProgram(exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun and len(r.skipped) == r.testsRun:
        sys.exit(SKIP)
    sys.exit(0)


def unique_name(tag):
    """A bucket name unique to this process: t-m-<tag>-<pid>-<n>."""
    with _counter_lock:
        _counter[0] += 1
        n = _counter[0]
    tag = "".join(c for c in tag.lower() if c.isalnum() or c == "-")[:30]
    return ("t-m-%s-%d-%d" % (tag, os.getpid(), n))[:63].rstrip("-")


# --- S3 side ---------------------------------------------------------------

class Server:
    """One S3 server from the environment: prefix S3RVER or RGW."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.url = os.environ[prefix + "_URL"]
        self.key = os.environ[prefix + "_KEY"]
        self.secret = os.environ[prefix + "_SECRET"]
        self._client = None

    @property
    def host_port(self):
        return self.url.split("://", 1)[1].rstrip("/")

    def client(self, url=None):
        if self._client is not None and url is None:
            return self._client
        s = botocore.session.get_session()
        c = s.create_client(
            "s3", endpoint_url=url or self.url, region_name="us-east-1",
            aws_access_key_id=self.key, aws_secret_access_key=self.secret,
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, max_pool_connections=64,
                retries={"max_attempts": 3}, connect_timeout=10,
                read_timeout=120))
        if url is None:
            self._client = c
        return c

    def env(self):
        """Environment with this server's credentials for pcachefs/pcmd."""
        e = dict(os.environ)
        e["AWS_ACCESS_KEY_ID"] = self.key
        e["AWS_SECRET_ACCESS_KEY"] = self.secret
        e.pop("AWS_SESSION_TOKEN", None)
        e.pop("AWS_PROFILE", None)
        return e

    def new_bucket(self, tag):
        name = unique_name(tag)
        self.client().create_bucket(Bucket=name)
        return name

    def put(self, bucket, key, data, meta=None):
        kw = {"Bucket": bucket, "Key": key, "Body": data}
        if meta:
            kw["Metadata"] = meta
        return self.client().put_object(**kw)

    def get(self, bucket, key):
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def head(self, bucket, key):
        """The HEAD answer, or None for a missing key."""
        try:
            return self.client().head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def sha256(self, bucket, key):
        h = hashlib.sha256()
        body = self.client().get_object(Bucket=bucket, Key=key)["Body"]
        for block in iter(lambda: body.read(MiB), b""):
            h.update(block)
        return h.hexdigest()

    def keys(self, bucket, prefix=""):
        """Every key below prefix (paged, no delimiter)."""
        out = []
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        while True:
            r = self.client().list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            kw["ContinuationToken"] = r["NextContinuationToken"]

    def put_many(self, bucket, items, threads=32):
        """items: (key, data) pairs, put in parallel."""
        errors = []
        items = list(items)
        lock = threading.Lock()
        pos = [0]

        def worker():
            c = self.client()
            while True:
                with lock:
                    if pos[0] >= len(items) or errors:
                        return
                    k, d = items[pos[0]]
                    pos[0] += 1
                try:
                    c.put_object(Bucket=bucket, Key=k, Body=d)
                except Exception as e:  # noqa: BLE001 - reported below
                    with lock:
                        errors.append((k, e))
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError("put_many: %d failed, first %r" % (
                len(errors), errors[0]))


# --- files -------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(root):
    """{relative path: ('f', sha256) | ('d',) | ('l', target)}."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in dirs:
            p = os.path.join(d, n)
            r = os.path.normpath(os.path.join(rel, n))
            out[r] = ("l", os.readlink(p)) if os.path.islink(p) else ("d",)
        for n in files:
            p = os.path.join(d, n)
            r = os.path.normpath(os.path.join(rel, n))
            if os.path.islink(p):
                out[r] = ("l", os.readlink(p))
            else:
                out[r] = ("f", sha256_file(p))
    return out


def pattern(size, seed):
    """size deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def mounted(path):
    """Whether path is a mount point (from /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="replace") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ").replace("\\134", "\\")
            if mp == real:
                return True
    return False


def mounts_below(path):
    real = os.path.realpath(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="replace") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp.startswith(real):
                out.append(mp)
    return out


def wait_for(cond, timeout, interval=0.05, what="condition"):
    """Polls cond() until it returns a true value; returns it or raises."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def pids_with_arg(arg, names=("pcachefs",)):
    """Pids of processes named in names whose argv holds arg exactly."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0]).decode(errors="replace") not in names:
            continue
        if arg.encode() in argv:
            out.append(int(p))
    return out


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return False


def kill_pid(pid, grace=5.0):
    """TERM, wait up to grace seconds, then KILL one process by pid."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- what is running: for the emergency exit ---------------------------------

_live = []
_live_lock = threading.Lock()


def register(obj):
    """obj.emergency() will be called if the program must end at once."""
    with _live_lock:
        _live.append(obj)


def unregister(obj):
    with _live_lock:
        if obj in _live:
            _live.remove(obj)


def emergency_cleanup(reason):
    """Kills by pid and lazily unmounts everything still registered."""
    log("emergency cleanup: %s" % reason)
    with _live_lock:
        objs = list(reversed(_live))
    for o in objs:
        try:
            o.emergency()
        except Exception as e:  # noqa: BLE001 - best effort, keep going
            log("emergency cleanup of %r: %s" % (o, e))


def _on_term(signum, frame):
    emergency_cleanup("signal %d (meson timeout or interrupt)" % signum)
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGINT, _on_term)


class Cleanup:
    """A callable registered for the emergency exit (e.g. removing a
    symlink the test created)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args
        register(self)

    def emergency(self):
        self.fn(*self.args)

    def __call__(self):
        unregister(self)
        self.fn(*self.args)


def fusermount_u(mnt, timeout=20):
    """fusermount3 -u, retried for a few seconds on EBUSY, then -z."""
    end = time.monotonic() + 5
    last = ""
    while mounted(mnt):
        r = subprocess.run(["fusermount3", "-u", mnt], capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode == 0:
            return True
        last = r.stderr.strip()
        if time.monotonic() > end:
            log("fusermount3 -u %s failed (%s): lazy unmount" % (mnt, last))
            subprocess.run(["fusermount3", "-u", "-z", mnt],
                           capture_output=True, timeout=timeout)
            return False
        time.sleep(0.2)
    return True


def run_bounded(code, timeout, env=None):
    """Runs python code in a child (it may block in a dead FUSE mount);
    returns (returncode, stdout, elapsed). A child still running at the
    timeout is killed and returncode is None."""
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out, time.monotonic() - t0


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer",
                   "ERROR: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    for m in SANITIZER_MARKS:
        i = text.find(m)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return None


# --- the mount ---------------------------------------------------------------

class Mount(MountProcess):
    """One pcachefs mount in the foreground (-f), pid known (pid, path(),
    log_text(), log_tail(), kill(), emergency() and the two halves of
    stop(): mountproc.py)."""

    def __init__(self, server, bucket, mnt, cache_dir, opts=None, prefix="",
                 endpoint=None, env=None, log_path=None):
        self.server = server
        self.bucket = bucket
        self.mnt = mnt
        self.cache_dir = cache_dir
        self.opts = dict(opts or {})
        self.prefix = prefix
        self.endpoint = endpoint or server.url
        self.env = env if env is not None else server.env()
        self.log_path = log_path or (mnt.rstrip("/") + ".log")
        self.proc = None
        self.logf = None
        self.exit_status = None

    def source(self):
        return "s3://%s%s" % (self.bucket,
                              "/" + self.prefix if self.prefix else "")

    def option_string(self):
        o = {"endpoint": self.endpoint, "cache_dir": self.cache_dir}
        o.update(self.opts)
        return ",".join(k if v is None else "%s=%s" % (k, v)
                        for k, v in o.items())

    def argv(self):
        return [binary("pcachefs"), self.source(), self.mnt, "-f",
                "-o", self.option_string()]

    def start(self, timeout=30):
        self.killed = False
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)
        self.logf = open(self.log_path, "ab")
        self.logf.write(("--- %s %s\n" % (time.strftime("%H:%M:%S"),
                                           " ".join(self.argv()))).encode())
        self.logf.flush()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=self.env)
        register(self)
        end = time.monotonic() + timeout
        while not mounted(self.mnt):
            if self.proc.poll() is not None:
                raise AssertionError("pcachefs exited with %s before mounting:"
                                     "\n%s" % (self.proc.returncode,
                                               self.log_tail()))
            if time.monotonic() > end:
                self.stop(check=False)
                raise AssertionError("pcachefs did not mount within %d s:\n%s"
                                     % (timeout, self.log_tail()))
            time.sleep(0.02)
        os.stat(self.mnt)  # answers
        return self

    def stop(self, check=True, timeout=30):
        """Unmounts and waits for the process; returns its exit status.
        With check, raises AssertionError on a sanitizer report, a non-zero
        exit status or a process that had to be killed."""
        if self.proc is None:
            return None
        try:
            self.exit_status, problems = self.unmount_and_wait(timeout)
        finally:
            if self.logf:
                self.logf.close()
                self.logf = None
        return self.stopped(self.exit_status, problems, check)

    def remount(self, **kw):
        self.stop()
        for k, v in kw.items():
            setattr(self, k, v)
        return self.start()


# --- fault proxy -------------------------------------------------------------

class FaultProxy:
    """tests/harness/faultproxy.py in front of url; stopped by pid."""

    def __init__(self, upstream, workdir):
        self.upstream = upstream
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log_path = os.path.join(workdir, "proxy-%d.log" % id(self))

    def start(self, timeout=10):
        pf = os.path.join(self.workdir, "proxy-%d.port" % id(self))
        if os.path.exists(pf):
            os.unlink(pf)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(harness_dir(), "faultproxy.py"),
             "--upstream", self.upstream, "--port-file", pf,
             "--log", self.log_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        register(self)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("faultproxy.py exited with %s"
                                     % self.proc.returncode)
            try:
                with open(pf, encoding="ascii") as f:
                    s = f.read().strip()
                return s if s.isdigit() else None
            except OSError:
                return None
        self.port = int(wait_for(ready, timeout, what="faultproxy port"))
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def control(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def stats(self, reset=False):
        return self.control("/__stats" + ("?reset=1" if reset else ""))

    def fault(self, **kw):
        q = "&".join("%s=%s" % (k, v) for k, v in kw.items())
        return self.control("/__fault?" + q)

    def request_lines(self):
        """The request lines the proxy forwarded so far ("GET /b/k HTTP/1.1")."""
        out = []
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    i = line.find('"')
                    j = line.rfind('"')
                    if 0 <= i < j:
                        out.append(line[i + 1:j])
        except OSError:
            pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kill_pid(self.proc.pid)
            self.proc.wait()
        self.proc = None
        unregister(self)

    def emergency(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()


# --- unittest base -----------------------------------------------------------

class MountCase(unittest.TestCase):
    """Base class: per-test timeout, scratch dir, mounts that always go away.

    Subclasses set SERVER ('S3RVER' or 'RGW'), TIMEOUT (s per test),
    CLASS_TIMEOUT (s for setUpClass) and may build shared mounts in
    setUpMounts() with cls.class_mount(...).

    Timeouts without asynchronous exceptions (which could land anywhere,
    also in unittest's own code): when a test overruns TIMEOUT a watchdog
    thread kills its mounts' processes by pid, so that a call stuck in the
    FUSE mount returns (ENOTCONN) and the test fails; its cleanup then
    reports the timeout. A test still running GRACE s later (stuck outside
    the mount) ends the program after an emergency cleanup.
    """

    SERVER = "S3RVER"
    TIMEOUT = 120
    CLASS_TIMEOUT = 120
    GRACE = 30

    # -- timers
    @classmethod
    def _arm(cls, seconds, label):
        cls._timed_out = None

        def kill_mounts():
            cls._timed_out = "%s exceeded its timeout of %d s: its mounts " \
                "were killed by the watchdog" % (label, seconds)
            log("watchdog: " + cls._timed_out)
            for m in list(cls._all_mounts()):
                try:
                    m.kill()
                except Exception as e:  # noqa: BLE001
                    log("watchdog: %s" % e)

        def give_up():
            emergency_cleanup("%s still running %d s after its timeout"
                              % (label, cls.GRACE))
            sys.stdout.flush()
            os._exit(1)
        t1 = threading.Timer(seconds, kill_mounts)
        t2 = threading.Timer(seconds + cls.GRACE, give_up)
        for t in (t1, t2):
            t.daemon = True
            t.start()
        cls._watchdogs = (t1, t2)

    @classmethod
    def _disarm(cls):
        for t in getattr(cls, "_watchdogs", ()):
            t.cancel()
        cls._watchdogs = ()

    @classmethod
    def _all_mounts(cls):
        return list(getattr(cls, "_class_mounts", [])) + list(
            getattr(cls, "_test_mounts", []))

    def _check_timeout(self):
        if getattr(type(self), "_timed_out", None):
            msg, type(self)._timed_out = type(self)._timed_out, None
            self.fail(msg)

    # -- scratch
    @staticmethod
    def _safe_rmtree(path):
        left = mounts_below(path)
        if left:
            log("NOT removing %s: still mounted below it: %s" % (path, left))
            return
        shutil.rmtree(path, ignore_errors=True)

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.SERVER)
        cls._class_mounts = []
        cls._test_mounts = []
        cls.ctmp = tempfile.mkdtemp(prefix="mount-%s-" % cls.__name__.lower(),
                                    dir=scratch_root())
        cls.addClassCleanup(cls._safe_rmtree, cls.ctmp)
        cls.addClassCleanup(cls._disarm)
        cls.addClassCleanup(cls._stop_class_mounts)
        cls.addClassCleanup(cls._arm, 60, cls.__name__ + " class cleanup")
        cls._arm(cls.CLASS_TIMEOUT, cls.__name__ + ".setUpClass")
        try:
            cls.setUpMounts()
        finally:
            cls._disarm()

    @classmethod
    def setUpMounts(cls):
        """Override: build shared mounts with cls.class_mount()."""

    @classmethod
    def _stop_class_mounts(cls):
        errors = []
        while cls._class_mounts:
            m = cls._class_mounts.pop()
            try:
                m.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            # a class cleanup error is reported by unittest as an error
            raise AssertionError("\n".join(errors))

    @classmethod
    def class_mount(cls, bucket=None, tag=None, server=None, **kw):
        server = server or cls.server
        if bucket is None:
            bucket = server.new_bucket(tag or cls.__name__)
        n = len(cls._class_mounts)
        m = Mount(server, bucket, os.path.join(cls.ctmp, "mnt%d" % n),
                  kw.pop("cache_dir", os.path.join(cls.ctmp, "cache%d" % n)),
                  **kw)
        cls._class_mounts.append(m)
        m.start()
        return m

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self._testMethodName + "-",
                                    dir=self.ctmp)
        type(self)._test_mounts = []
        self.addCleanup(self._safe_rmtree, self.tmp)
        self.addCleanup(self._disarm)
        self.addCleanup(self._stop_test_mounts)
        self.addCleanup(self._check_timeout)
        self._arm(self.TIMEOUT, self.id())

    def _stop_test_mounts(self):
        errors = []
        ms = type(self)._test_mounts
        while ms:
            m = ms.pop()
            try:
                m.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            self.fail("\n".join(errors))

    def mount(self, bucket=None, tag=None, server=None, name=None, **kw):
        """A mount owned by this test (stopped in its cleanup)."""
        server = server or self.server
        if bucket is None:
            bucket = server.new_bucket(tag or self._testMethodName[:20])
        n = len(type(self)._test_mounts)
        name = name or "mnt%d" % n
        m = Mount(server, bucket, os.path.join(self.tmp, name),
                  kw.pop("cache_dir", os.path.join(self.tmp, name + ".cache")),
                  **kw)
        type(self)._test_mounts.append(m)
        m.start()
        return m

    def forget_mount(self, m):
        """Stop tracking a mount the test stopped itself."""
        ms = type(self)._test_mounts
        if m in ms:
            ms.remove(m)

    def proxy(self, upstream=None):
        p = FaultProxy(upstream or self.server.url, self.tmp)
        p.start()
        self.addCleanup(p.stop)
        return p

    def assertErrno(self, expected, fn, *args, **kw):
        """fn(*args) must raise OSError with errno in expected."""
        if isinstance(expected, int):
            expected = (expected,)
        with self.assertRaises(OSError) as cm:
            fn(*args, **kw)
        self.assertIn(cm.exception.errno, expected,
                      "expected %s, got %s (%s)" % (
                          "/".join(errno.errorcode[e] for e in expected),
                          errno.errorcode.get(cm.exception.errno),
                          cm.exception))
        return cm.exception
