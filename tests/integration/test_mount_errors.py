#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Bad input and dead endpoints.

- Mount errors are reported on the terminal with a non-zero exit, quickly,
  before pcachefs detaches (no -f): wrong credentials (radosgw checks
  signatures; s3rver does not), a missing bucket, an unreachable endpoint,
  an endpoint that accepts connections and never answers, bad sources and
  options. Nothing stays mounted, no process stays behind.
- Keys with '.', '..' or empty path segments (put through the S3 API) never
  show up as '.'/'..' entries or let a path escape.
- The endpoint dies while mounted (faultproxy.py stopped, or hanging):
  operations fail with EIO/ETIMEDOUT within a bound (small timeouts,
  retries=1) and fusermount3 -u still works. File operations on the dead
  mount run in child processes so that a hang cannot block the test.
"""
import errno
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB
QUICK = 15  # seconds a failing mount may take at most


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TestMountErrors(mh.MountCase):
    """pcachefs without -f: errors before detaching."""
    SERVER = "S3RVER"
    TIMEOUT = 60

    @classmethod
    def setUpMounts(cls):
        cls.bucket = cls.server.new_bucket("err")
        cls.rgw = mh.Server("RGW")
        cls.rgw_bucket = cls.rgw.new_bucket("err")

    def attempt(self, source, opts, env=None, server=None, expect_ok=False):
        """Runs a daemonizing mount; returns (rc, output, seconds). Cleans up
        whatever it may have mounted or left running."""
        server = server or self.server
        mnt = os.path.join(self.tmp, "mnt-%d" % time.monotonic_ns())
        os.mkdir(mnt)
        o = {"cache_dir": mnt + ".cache", "connect_timeout": "2s",
             "request_timeout": "3s", "retries": "1", "retry_base": "50ms"}
        o.update(opts)
        argv = [mh.binary("pcachefs"), source, mnt, "-o",
                ",".join(k if v is None else "%s=%s" % (k, v)
                         for k, v in o.items())]
        env = env if env is not None else server.env()
        env = dict(env, ASAN_OPTIONS=(env.get("ASAN_OPTIONS", "") +
                                      ":log_path=" + os.path.join(
                                          self.tmp, "asan")).lstrip(":"))
        self.addCleanup(self.cleanup_attempt, mnt)
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, env=env,
                               timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("%s did not return within 60 s" % " ".join(argv))
        dt = time.monotonic() - t0
        out = r.stdout + r.stderr
        if not expect_ok:
            self.assertNotEqual(r.returncode, 0, "mount succeeded: %s" % out)
            self.assertFalse(mh.mounted(mnt), "mounted despite the error")
            self.assertEqual(mh.pids_with_arg(mnt), [],
                             "a pcachefs process stayed behind")
            self.assertLess(dt, QUICK, "took %.1f s to fail" % dt)
            self.assertTrue(out.strip(), "no message on the terminal")
            mh.log("%s -> exit %d in %.2f s: %s" % (
                source, r.returncode, dt, out.strip().splitlines()[-1]))
        return r.returncode, out, dt

    def cleanup_attempt(self, mnt):
        if mh.mounted(mnt):
            mh.fusermount_u(mnt)
        for p in mh.pids_with_arg(mnt):
            mh.kill_pid(p)
        for n in os.listdir(self.tmp):
            if n.startswith("asan"):
                with open(os.path.join(self.tmp, n), errors="replace") as f:
                    rep = mh.sanitizer_report(f.read())
                if rep:
                    self.fail("sanitizer report of pcachefs:\n" + rep)

    def test_wrong_credentials(self):
        env = self.rgw.env()
        env["AWS_SECRET_ACCESS_KEY"] = "wrong" + self.rgw.secret
        rc, out, dt = self.attempt("s3://" + self.rgw_bucket,
                                   {"endpoint": self.rgw.url}, env=env,
                                   server=self.rgw)
        self.assertRegex(out.lower(), r"denied|credential|signature|keys")
        env["AWS_ACCESS_KEY_ID"] = "NOSUCHKEY0000000000"
        rc, out, dt = self.attempt("s3://" + self.rgw_bucket,
                                   {"endpoint": self.rgw.url}, env=env,
                                   server=self.rgw)
        self.assertRegex(out.lower(), r"denied|credential|invalid|keys")

    def test_no_credentials(self):
        env = dict(os.environ)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(k, None)
        env["HOME"] = self.tmp  # no ~/.aws/credentials
        self.attempt("s3://" + self.rgw_bucket, {"endpoint": self.rgw.url},
                     env=env, server=self.rgw)
        # a credfile readable by others is refused or at least not used
        cred = os.path.join(self.tmp, "cred")
        with open(cred, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (self.rgw.key,
                                                      self.rgw.secret))
        os.chmod(cred, 0o644)
        rc, out, _ = self.attempt("s3://" + self.rgw_bucket,
                                  {"endpoint": self.rgw.url,
                                   "credfile": cred}, env=env,
                                  server=self.rgw)
        self.assertIn("cred", out)

    def test_missing_bucket(self):
        rc, out, dt = self.attempt("s3://no-such-bucket-%d" % os.getpid(),
                                   {"endpoint": self.server.url})
        self.assertIn("does not exist", out)
        rc, out, dt = self.attempt("s3://no-such-bucket-%d" % os.getpid(),
                                   {"endpoint": self.rgw.url},
                                   server=self.rgw)
        self.assertIn("does not exist", out)

    def test_unreachable_endpoint(self):
        port = free_port()  # nothing listens there
        rc, out, dt = self.attempt("s3://" + self.bucket,
                                   {"endpoint": "http://127.0.0.1:%d" % port})
        self.assertIn("127.0.0.1:%d" % port, out)
        rc, out, dt = self.attempt("s3://" + self.bucket,
                                   {"endpoint": "http://no-such-host.invalid"})

    def test_endpoint_that_never_answers(self):
        p = self.proxy()
        p.fault(mode="hang")
        rc, out, dt = self.attempt("s3://" + self.bucket,
                                   {"endpoint": p.url,
                                    "request_timeout": "1s"})

    def test_bad_sources_and_options(self):
        ep = {"endpoint": self.server.url}
        for src in ("s3://", "bucket-without-scheme", "s3:///x",
                    "s3://%s/../escape" % self.bucket,
                    "s3://%s/a/../../b" % self.bucket):
            rc, out, dt = self.attempt(src, ep)
        for bad in ({"chunk_size": "1000"}, {"chunk_size": "1G"},
                    {"attr_timeout": "soon"}, {"cache_size": "-5"},
                    {"no_such_option_xyz": "1"}, {"endpoint": "ftp://x"}):
            o = dict(ep)
            o.update(bad)
            rc, out, dt = self.attempt("s3://" + self.bucket, o)
        # no endpoint at all
        mnt = os.path.join(self.tmp, "noep")
        os.mkdir(mnt)
        r = subprocess.run([mh.binary("pcachefs"), "s3://" + self.bucket,
                            mnt], capture_output=True, text=True, timeout=30,
                           env=self.server.env())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("endpoint", r.stderr)
        self.assertFalse(mh.mounted(mnt))

    def test_daemonized_mount_works(self):
        """The same path without an error: mounts and detaches."""
        rc, out, dt = self.attempt("s3://" + self.bucket,
                                   {"endpoint": self.server.url},
                                   expect_ok=True)
        self.assertEqual(rc, 0, out)
        self.assertLess(dt, QUICK)


class TestDotNames(mh.MountCase):
    """Keys with '.', '..' and empty segments cannot be walked into."""
    SERVER = "RGW"
    TIMEOUT = 60

    def test_dot_dot_keys(self):
        s = self.server
        bucket = s.new_bucket("dots")
        for k in ("d/../escape", "d/./dot", "d/a//b", "d/..", "d/.",
                  "../up", "./here", "d/ok", "d/..hidden", "d/.x"):
            s.put(bucket, k, b"data of " + k.encode())
        m = self.mount(bucket=bucket, opts={"chunk_size": "1M"})
        r = subprocess.run(["ls", "-1a", m.path("d")], capture_output=True,
                           text=True, check=True)
        names = r.stdout.splitlines()
        self.assertEqual(names.count("."), 1, names)
        self.assertEqual(names.count(".."), 1, names)
        self.assertIn("ok", names)
        self.assertIn("..hidden", names)
        self.assertIn(".x", names)
        self.assertNotIn("", names)
        r = subprocess.run(["ls", "-1a", m.mnt], capture_output=True,
                           text=True, check=True)
        top = r.stdout.splitlines()
        self.assertEqual(top.count("."), 1, top)
        self.assertEqual(top.count(".."), 1, top)
        self.assertEqual(mh.read_file(m.path("d", "ok")), b"data of d/ok")
        self.assertEqual(mh.read_file(m.path("d", "..hidden")),
                         b"data of d/..hidden")
        # d/.. is the mount root, never an object
        self.assertEqual(os.stat(m.path("d", "..")).st_ino,
                         os.stat(m.mnt).st_ino)
        # walking the whole tree terminates and stays inside
        r = subprocess.run(["find", m.mnt], capture_output=True, text=True,
                           timeout=30)
        for ln in r.stdout.splitlines():
            self.assertTrue(ln.startswith(m.mnt))
            self.assertNotIn("/../", ln + "/")
            self.assertNotIn("/./", ln + "/")
        # names that cannot be keys are refused, not mangled
        for bad in ("with\nnewline",):
            try:
                mh.write_file(m.path("d", bad), b"x")
            except OSError as e:
                self.assertIn(e.errno, (errno.EINVAL, errno.EPERM,
                                        errno.ENAMETOOLONG))


class TestDeadEndpoint(mh.MountCase):
    """The endpoint goes away while mounted."""
    SERVER = "S3RVER"
    TIMEOUT = 90
    BOUND = 20  # seconds an operation on a dead endpoint may take at most
    OPTS = {"chunk_size": "1M", "attr_timeout": "1s", "entry_timeout": "1s",
            "negative_timeout": "1s", "connect_timeout": "1s",
            "request_timeout": "2s", "stall_timeout": "2s", "retries": "1",
            "retry_base": "100ms", "retry_max": "500ms", "readahead": "1M"}

    def setup_mount(self):
        s = self.server
        bucket = s.new_bucket("dead")
        s.put(bucket, "cached.txt", b"cached\n")
        s.put(bucket, "big.bin", mh.pattern(8 * MiB, 5))
        s.put(bucket, "dir/a", b"a")
        proxy = self.proxy()
        m = self.mount(bucket=bucket, endpoint=proxy.url, opts=self.OPTS)
        self.assertEqual(mh.read_file(m.path("cached.txt")), b"cached\n")
        with open(m.path("big.bin"), "rb") as f:
            f.read(4096)
        return m, proxy

    def op(self, code, what):
        """Runs code in a child; returns the errno it failed with."""
        prog = ("import errno, os, sys\n"
                "try:\n" + "".join("    %s\n" % ln for ln in code.split("\n"))
                + "    print('OK')\n"
                "except OSError as e:\n"
                "    print('ERR', errno.errorcode.get(e.errno, e.errno))\n")
        rc, out, dt = mh.run_bounded(prog, self.BOUND + 30)
        self.assertIsNotNone(rc, "%s hung for more than %d s" % (
            what, self.BOUND + 30))
        self.assertLess(dt, self.BOUND, "%s took %.1f s to fail" % (what, dt))
        mh.log("dead endpoint: %-28s -> %s in %.2f s" % (
            what, out.strip(), dt))
        return out.strip(), dt

    def check_ops_fail(self, m):
        time.sleep(1.1)  # attr/entry timeouts (1s) expire: must ask S3
        ok_errs = ("ERR EIO", "ERR ETIMEDOUT")
        results = {}
        results["stat"] = self.op("os.stat(%r)" % m.path("cached.txt"), "stat")
        results["read uncached"] = self.op(
            "f = open(%r, 'rb')\nf.seek(5 * 2**20)\nf.read(2**20)"
            % m.path("big.bin"), "read of an uncached chunk")
        results["listdir"] = self.op("os.listdir(%r)" % m.path("dir"),
                                     "listdir")
        results["create"] = self.op(
            "f = open(%r, 'wb')\nf.write(b'x' * 1000)\nf.close()"
            % m.path("new.txt"), "create+write+close")
        results["mkdir"] = self.op("os.mkdir(%r)" % m.path("newdir"), "mkdir")
        results["unlink"] = self.op("os.unlink(%r)" % m.path("dir/a"),
                                    "unlink")
        bad = {k: v[0] for k, v in results.items() if v[0] not in ok_errs}
        self.assertEqual(bad, {}, "operations on a dead endpoint must fail "
                         "with EIO or ETIMEDOUT")

    def check_unmount(self, m):
        t0 = time.monotonic()
        r = subprocess.run(["fusermount3", "-u", m.mnt], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "fusermount3 -u on a dead endpoint: "
                         "%s" % r.stderr)
        m.stop()
        self.forget_mount(m)
        mh.log("unmounted and exited in %.2f s" % (time.monotonic() - t0))

    def test_endpoint_stopped(self):
        m, proxy = self.setup_mount()
        proxy.stop()  # connections refused from now on
        self.check_ops_fail(m)
        # what was read before still reads? (not required; logged)
        self.op("open(%r, 'rb').read()" % m.path("cached.txt"),
                "read of a cached file")
        self.check_unmount(m)

    def test_endpoint_hangs(self):
        m, proxy = self.setup_mount()
        proxy.fault(mode="hang")  # connections accepted, never answered
        self.check_ops_fail(m)
        self.check_unmount(m)

    def test_slowdown_storm_during_sequential_read(self):
        """Every object GET answered 503 SlowDown: a sequential read fails
        with EIO in bounded time (retries exhausted), never loops; once the
        storm is over the same file reads right."""
        m, proxy = self.setup_mount()
        proxy.fault(mode="error", status=503, method="GET", path="big.bin")
        out, _ = self.op("open(%r, 'rb').read()" % m.path("big.bin"),
                         "sequential read in a 503 storm")
        self.assertEqual(out, "ERR EIO")
        proxy.fault(mode="pass")
        self.assertEqual(mh.read_file(m.path("big.bin")),
                         mh.pattern(8 * MiB, 5))


if __name__ == "__main__":
    mh.require(servers=("S3RVER", "RGW"))
    mh.main()
