#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mount(8) integration: `mount -t fuse.pcachefs SOURCE DIR -o ...` and an
fstab line (a temporary fstab through `mount -T FILE DIR`) with fstab-only
options (_netdev, nofail, noauto, x-*), credentials from a credfile.

mount(8) looks for /sbin/mount.fuse.pcachefs: the test makes it a symlink to
the helper of the build tree (or of the source tree) for its duration when
it does not exist yet, and removes it afterwards; the build directory goes
first on PATH so that the helper finds the pcachefs binary. These mounts
daemonize: the daemon's pid is found through /proc (its argv names our
private mountpoint) and it is stopped by that pid if the unmount does not
end it. Needs root (mount(8) with a helper).
"""
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402
import mountproc  # noqa: E402

HELPER_LINK = "/sbin/mount.fuse.pcachefs"


class DaemonMount(mountproc.LazyUnmount):
    """A mount made by mount(8): pcachefs runs in the background."""

    def __init__(self, mnt):
        self.mnt = mnt
        self.pids = []

    def find(self):
        self.pids = mh.pids_with_arg(self.mnt, names=(
            "pcachefs", "mount.fuse.pcachefs"))
        return self.pids

    def kill(self):
        for p in self.find():
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass

    def stop(self, how=("fusermount3", "-u")):
        problems = []
        self.find()
        if mh.mounted(self.mnt):
            r = subprocess.run(list(how) + [self.mnt], capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                problems.append("%s failed: %s" % (" ".join(how),
                                                   r.stderr.strip()))
                mh.fusermount_u(self.mnt)
        end = time.monotonic() + 20
        while any(mh.pid_alive(p) for p in self.pids) and \
                time.monotonic() < end:
            time.sleep(0.05)
        for p in self.pids:
            if mh.pid_alive(p):
                problems.append("pcachefs pid %d still running after the "
                                "unmount: killed" % p)
                mh.kill_pid(p)
        mh.unregister(self)
        return problems


class TestMountHelper(mh.MountCase):
    SERVER = "S3RVER"
    TIMEOUT = 60

    @classmethod
    def setUpMounts(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mount(8) with a helper needs root")
        cls.helper = os.path.join(mh.build_dir(), "pcachefs",
                                  "mount.fuse.pcachefs")
        if not os.access(cls.helper, os.X_OK):
            # Not in the build tree (meson only installs it): stage the
            # source tree's helper next to a link to the built binary, the
            # layout the helper expects ("$here/pcachefs"); mount(8) runs
            # helpers with a fixed PATH, so PATH cannot point it there.
            src = os.path.join(mh.source_root(), "pcachefs",
                               "mount.fuse.pcachefs")
            if not os.access(src, os.X_OK):
                raise unittest.SkipTest("no mount.fuse.pcachefs helper found")
            bindir = os.path.join(cls.ctmp, "bin")
            os.mkdir(bindir)
            cls.helper = os.path.join(bindir, "mount.fuse.pcachefs")
            shutil.copy2(src, cls.helper)
            os.symlink(mh.binary("pcachefs"), os.path.join(bindir, "pcachefs"))
            mh.log("the build tree has no mount.fuse.pcachefs: staged %s"
                   % bindir)
        if not os.path.lexists(HELPER_LINK):
            os.symlink(cls.helper, HELPER_LINK)
            cls.addClassCleanup(mh.Cleanup(cls._remove_link))
            mh.log("created %s -> %s" % (HELPER_LINK, cls.helper))
        else:
            mh.log("%s exists already (-> %s): using it" % (
                HELPER_LINK, os.path.realpath(HELPER_LINK)))
        cls.bucket = cls.server.new_bucket("fstab")
        cls.server.put(cls.bucket, "hello.txt", b"hello from s3\n")
        cls.server.put(cls.bucket, "pre/fix/inner.txt", b"inner\n")
        cls.credfile = os.path.join(cls.ctmp, "cred")
        fd = os.open(cls.credfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        os.write(fd, ("[default]\naws_access_key_id = %s\n"
                      "aws_secret_access_key = %s\n" % (
                          cls.server.key, cls.server.secret)).encode())
        os.close(fd)

    @classmethod
    def _remove_link(cls):
        if os.path.islink(HELPER_LINK) and \
                os.readlink(HELPER_LINK) == cls.helper:
            os.unlink(HELPER_LINK)

    def env(self):
        e = dict(os.environ)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            e.pop(k, None)  # credentials only from the credfile
        e["PATH"] = os.path.join(mh.build_dir(), "pcachefs") + ":" + \
            e.get("PATH", "/usr/bin:/bin")
        # sanitizer reports of a daemonized pcachefs go to files
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":log_path=" +
                             os.path.join(self.tmp, "asan")).lstrip(":")
        e["UBSAN_OPTIONS"] = (e.get("UBSAN_OPTIONS", "") + ":log_path=" +
                              os.path.join(self.tmp, "ubsan")).lstrip(":")
        return e

    def opts(self, extra=""):
        return ("endpoint=%s,credfile=%s,cache_dir=%s,chunk_size=1M%s" % (
            self.server.url, self.credfile, os.path.join(self.tmp, "cache"),
            extra))

    def track(self, mnt):
        d = DaemonMount(mnt)
        mh.register(d)
        type(self)._test_mounts.append(d)  # the watchdog kills it by pid
        self.addCleanup(self._stop, d)
        return d

    def _stop(self, d):
        if d in type(self)._test_mounts:
            type(self)._test_mounts.remove(d)
        d.stop()
        self.check_sanitizer_logs()

    def check_sanitizer_logs(self):
        for n in os.listdir(self.tmp):
            if n.startswith(("asan", "ubsan")):
                with open(os.path.join(self.tmp, n), errors="replace") as f:
                    self.fail("sanitizer report of the daemonized pcachefs "
                              "(%s):\n%s" % (n, f.read()[:4000]))

    def check_mounted(self, mnt, prefix=False):
        self.assertTrue(mh.mounted(mnt))
        with open("/proc/self/mountinfo") as f:
            line = [ln for ln in f if " %s " % mnt in ln][0]
        self.assertIn(" - fuse.pcachefs ", line)
        if prefix:
            self.assertEqual(mh.read_file(os.path.join(mnt, "inner.txt")),
                             b"inner\n")
            return
        self.assertEqual(mh.read_file(os.path.join(mnt, "hello.txt")),
                         b"hello from s3\n")
        mh.write_file(os.path.join(mnt, "written.txt"), b"via mount(8)\n")
        self.assertEqual(self.server.get(self.bucket, "written.txt"),
                         b"via mount(8)\n")

    def test_mount_t_fuse_pcachefs(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        d = self.track(mnt)
        t0 = time.monotonic()
        r = subprocess.run(["mount", "-t", "fuse.pcachefs",
                            "s3://%s" % self.bucket, mnt, "-o", self.opts()],
                           capture_output=True, text=True, env=self.env(),
                           timeout=30)
        self.assertEqual(r.returncode, 0, "mount -t fuse.pcachefs failed: %s%s"
                         % (r.stdout, r.stderr))
        mh.log("mount -t returned after %.2f s" % (time.monotonic() - t0))
        self.assertTrue(d.find(), "no background pcachefs process for %s"
                        % mnt)
        self.check_mounted(mnt)
        problems = d.stop(how=("umount",))
        self.assertEqual(problems, [])
        self.assertFalse(mh.mounted(mnt))

    def test_mount_t_with_prefix_and_bad_bucket(self):
        mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(mnt)
        d = self.track(mnt)
        r = subprocess.run(["mount", "-t", "fuse.pcachefs",
                            "s3://%s/pre/fix" % self.bucket, mnt,
                            "-o", self.opts(",ro")],
                           capture_output=True, text=True, env=self.env(),
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_mounted(mnt, prefix=True)
        with self.assertRaises(OSError):
            mh.write_file(os.path.join(mnt, "nope"), b"x")  # ro
        self.assertEqual(d.stop(), [])
        # a missing bucket: error on the terminal, non-zero, nothing mounted
        t0 = time.monotonic()
        r = subprocess.run(["mount", "-t", "fuse.pcachefs",
                            "s3://no-such-bucket-%d" % os.getpid(), mnt,
                            "-o", self.opts()],
                           capture_output=True, text=True, env=self.env(),
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not exist", r.stderr + r.stdout)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(mh.mounted(mnt))

    def test_fstab_line(self):
        mnt = os.path.join(self.tmp, "data")
        os.mkdir(mnt)
        fstab = os.path.join(self.tmp, "fstab")
        with open(fstab, "w") as f:
            f.write("# a temporary fstab for mount -T\n")
            f.write("s3://%s %s fuse.pcachefs _netdev,nofail,noauto,noatime,"
                    "x-systemd.mount-timeout=30,%s 0 0\n"
                    % (self.bucket, mnt, self.opts()))
        d = self.track(mnt)
        r = subprocess.run(["mount", "-T", fstab, mnt], capture_output=True,
                           text=True, env=self.env(), timeout=30)
        self.assertEqual(r.returncode, 0, "mount -T %s %s failed: %s%s" % (
            fstab, mnt, r.stdout, r.stderr))
        self.check_mounted(mnt)
        problems = d.stop(how=("umount",))
        self.assertEqual(problems, [])
        # and again through the mount point alone with fusermount3 -u
        r = subprocess.run(["mount", "-T", fstab, mnt], capture_output=True,
                           text=True, env=self.env(), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(d.find())
        self.assertEqual(mh.read_file(os.path.join(mnt, "written.txt")),
                         b"via mount(8)\n")
        self.assertEqual(d.stop(), [])


if __name__ == "__main__":
    mh.require(servers=("S3RVER",), tools=("mount", "umount"))
    mh.main()
