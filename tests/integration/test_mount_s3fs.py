#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""s3fs compatibility: a tree written through an s3fs mount (files, empty
and nested directories, symlinks, chmod, chown, mtimes, odd names) reads
the same through pcachefs, and the other way round.

On radosgw (s3fs changes metadata with CopyObject, which s3rver cannot do
for keys with spaces). Needs the s3fs package: installed here with apt-get
when missing and running as root; skipped with the reason otherwise.
"""
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB
OPTS = {"chunk_size": "1M", "attr_timeout": "1s"}
T1, T2 = 1_200_000_000, 1_300_000_000


def ensure_s3fs():
    """The s3fs binary, installed if missing and possible; else None."""
    if shutil.which("s3fs"):
        return shutil.which("s3fs")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        mh.log("s3fs missing: apt-get install -y s3fs")
        subprocess.run(["apt-get", "install", "-y", "s3fs"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=300, env=dict(os.environ,
                                             DEBIAN_FRONTEND="noninteractive"))
    return shutil.which("s3fs")


class S3fsMount:
    """s3fs in the foreground (-f), pid known, stopped like our mounts."""

    def __init__(self, server, bucket, mnt, workdir):
        self.server, self.bucket, self.mnt = server, bucket, mnt
        self.passwd = os.path.join(workdir, "s3fs.passwd")
        self.log_path = mnt + ".s3fs.log"
        self.proc = None

    def start(self, timeout=20):
        os.makedirs(self.mnt, exist_ok=True)
        fd = os.open(self.passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, ("%s:%s\n" % (self.server.key,
                                   self.server.secret)).encode())
        os.close(fd)
        opts = ("url=%s,use_path_request_style,passwd_file=%s,"
                "stat_cache_expire=1,retries=2,connect_timeout=5,"
                "readwrite_timeout=30,dbglevel=warn" % (self.server.url,
                                                        self.passwd))
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["s3fs", self.bucket, self.mnt, "-f",
                                      "-o", opts], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        mh.register(self)
        end = time.monotonic() + timeout
        while not mh.mounted(self.mnt):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise AssertionError("s3fs did not mount:\n" + open(
                    self.log_path, errors="replace").read()[-3000:])
            time.sleep(0.05)
        os.stat(self.mnt)
        return self

    def path(self, *p):
        return os.path.join(self.mnt, *p)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    def emergency(self):
        self.kill()
        subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                       capture_output=True, timeout=10)

    def stop(self):
        if not self.proc:
            return
        try:
            if mh.mounted(self.mnt):
                mh.fusermount_u(self.mnt)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                mh.kill_pid(self.proc.pid)
                self.proc.wait()
        finally:
            if self.proc.poll() is None:
                mh.kill_pid(self.proc.pid)
                self.proc.wait()
            self.logf.close()
            self.proc = None
            mh.unregister(self)


def write_tree(root):
    """The same tree whichever file system writes it; returns nothing."""
    big = mh.pattern(3 * MiB + 5, 11)
    mh.write_file(os.path.join(root, "plain.txt"), b"plain text\n")
    mh.write_file(os.path.join(root, "empty"), b"")
    mh.write_file(os.path.join(root, "big.bin"), big)
    mh.write_file(os.path.join(root, "with space ü.txt"), b"odd name\n")
    os.makedirs(os.path.join(root, "dir", "sub"))
    mh.write_file(os.path.join(root, "dir", "sub", "f"), b"nested\n")
    os.mkdir(os.path.join(root, "emptydir"))
    os.symlink("plain.txt", os.path.join(root, "link"))
    os.symlink("dir/sub", os.path.join(root, "dirlink"))
    os.chmod(os.path.join(root, "plain.txt"), 0o600)
    os.chmod(os.path.join(root, "big.bin"), 0o755)
    os.chown(os.path.join(root, "big.bin"), 1001, 2002)
    os.chmod(os.path.join(root, "emptydir"), 0o750)
    os.utime(os.path.join(root, "plain.txt"), (T1, T1))
    os.utime(os.path.join(root, "big.bin"), (T2, T2))


def check_tree(t, root, where):
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    t.assertEqual(sorted(os.listdir(root)),
                  sorted(["plain.txt", "empty", "big.bin", "with space ü.txt",
                          "dir", "emptydir", "link", "dirlink"]), where)
    t.assertEqual(mh.read_file(j("plain.txt")), b"plain text\n", where)
    t.assertEqual(mh.read_file(j("empty")), b"", where)
    t.assertEqual(mh.read_file(j("big.bin")), mh.pattern(3 * MiB + 5, 11),
                  where)
    t.assertEqual(mh.read_file(j("with space ü.txt")), b"odd name\n", where)
    t.assertEqual(mh.read_file(j("dir", "sub", "f")), b"nested\n", where)
    t.assertEqual(os.listdir(j("emptydir")), [], where)
    st = os.lstat(j("plain.txt"))
    t.assertEqual(st.st_mode, stat.S_IFREG | 0o600, where + ": plain.txt mode")
    t.assertEqual(int(st.st_mtime), T1, where + ": plain.txt mtime")
    st = os.lstat(j("big.bin"))
    t.assertEqual(st.st_mode, stat.S_IFREG | 0o755, where + ": big.bin mode")
    t.assertEqual((st.st_uid, st.st_gid), (1001, 2002),
                  where + ": big.bin owner")
    t.assertEqual(int(st.st_mtime), T2, where + ": big.bin mtime")
    t.assertEqual(st.st_size, 3 * MiB + 5, where)
    st = os.lstat(j("emptydir"))
    t.assertEqual(st.st_mode, stat.S_IFDIR | 0o750, where + ": emptydir mode")
    t.assertTrue(stat.S_ISDIR(os.lstat(j("dir")).st_mode), where)
    t.assertTrue(stat.S_ISLNK(os.lstat(j("link")).st_mode),
                 where + ": link is not a symlink")
    t.assertEqual(os.readlink(j("link")), "plain.txt", where)
    t.assertEqual(mh.read_file(j("link")), b"plain text\n", where)
    t.assertEqual(os.readlink(j("dirlink")), "dir/sub", where)
    t.assertEqual(mh.read_file(j("dirlink", "f")), b"nested\n", where)


class TestS3fsCompat(mh.MountCase):
    SERVER = "RGW"
    TIMEOUT = 120

    @classmethod
    def setUpMounts(cls):
        if not ensure_s3fs():
            raise mh.unittest.SkipTest("s3fs is not installed and could not "
                                       "be installed (apt-get install s3fs)")

    def s3fs(self, bucket, name):
        m = S3fsMount(self.server, bucket, os.path.join(self.tmp, name),
                      self.tmp)
        self.addCleanup(m.stop)
        type(self)._test_mounts.append(m)  # the watchdog may kill it
        m.start()
        return m

    def test_s3fs_writes_pcachefs_reads(self):
        bucket = self.server.new_bucket("s3fs-w")
        s = self.s3fs(bucket, "s3fs")
        os.mkdir(s.path("t"))
        write_tree(s.path("t"))
        check_tree(self, s.path("t"), "s3fs itself")
        s.stop()
        type(self)._test_mounts.remove(s)
        keys = self.server.keys(bucket)
        mh.log("s3fs wrote keys: %s" % keys)
        m = self.mount(bucket=bucket, opts=OPTS)
        check_tree(self, m.path("t"), "pcachefs reading what s3fs wrote")

    def test_pcachefs_writes_s3fs_reads(self):
        bucket = self.server.new_bucket("s3fs-r")
        m = self.mount(bucket=bucket, opts=OPTS)
        os.mkdir(m.path("t"))
        write_tree(m.path("t"))
        check_tree(self, m.path("t"), "pcachefs itself")
        m.stop()
        self.forget_mount(m)
        s = self.s3fs(bucket, "s3fs")
        check_tree(self, s.path("t"), "s3fs reading what pcachefs wrote")


if __name__ == "__main__":
    mh.require(servers=("RGW",))
    mh.main()
