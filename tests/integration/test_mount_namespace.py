#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Namespace semantics of a pcachefs mount, on radosgw (faithful listings,
CopyObject of any key): rename (over a file, of a directory), rmdir of a
non-empty directory, unlink of an open file, mkdir/rmdir, symlinks, hard
links (ENOTSUP), mode/owner/time round-trips surviving a remount (stored as
s3fs-style x-amz-meta-*), and readdir of 5,000 entries (with the LIST/HEAD
requests it costs counted by faultproxy.py).
"""
import errno
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB
OPTS = {"chunk_size": "1M", "attr_timeout": "1s"}


class TestNamespace(mh.MountCase):
    SERVER = "RGW"
    TIMEOUT = 90

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="ns", opts=OPTS)

    def d(self, *parts):
        """This test's own directory in the mount (created)."""
        p = self.m.path(self._testMethodName)
        if not os.path.isdir(p):
            os.mkdir(p)
        return os.path.join(p, *parts)

    def key(self, *parts):
        return "/".join((self._testMethodName,) + parts)

    def remount(self):
        """A fresh mount of the same bucket with an empty cache."""
        return self.mount(bucket=self.m.bucket, opts=OPTS, name="again")

    def test_rename_over_existing_file(self):
        a, b = self.d("a"), self.d("b")
        mh.write_file(a, b"new contents\n" * 1000)
        mh.write_file(b, b"old")
        os.rename(a, b)
        self.assertFalse(os.path.exists(a))
        self.assertEqual(mh.read_file(b), b"new contents\n" * 1000)
        self.assertEqual(os.stat(b).st_size, 13000)
        self.assertIsNone(self.m.server.head(self.m.bucket, self.key("a")),
                          "source object still in S3")
        self.assertEqual(self.m.server.get(self.m.bucket, self.key("b")),
                         b"new contents\n" * 1000)
        self.assertEqual(sorted(os.listdir(self.d())), ["b"])
        # multi-chunk file over a multi-chunk file, into another directory
        os.mkdir(self.d("sub"))
        big1, big2 = mh.pattern(3 * MiB + 5, 1), mh.pattern(2 * MiB, 2)
        mh.write_file(self.d("big1"), big1)
        mh.write_file(self.d("sub", "big2"), big2)
        self.assertEqual(mh.read_file(self.d("sub", "big2")), big2)
        os.rename(self.d("big1"), self.d("sub", "big2"))
        self.assertEqual(mh.read_file(self.d("sub", "big2")), big1)
        m2 = self.remount()
        self.assertEqual(mh.read_file(m2.path(self.key("sub", "big2"))), big1)
        self.assertFalse(os.path.exists(m2.path(self.key("big1"))))

    def test_rename_directory(self):
        os.makedirs(self.d("src", "sub", "deeper"))
        os.mkdir(self.d("src", "empty"))
        files = {("src", "f1"): b"one", ("src", "sub", "f2"): b"two" * 100,
                 ("src", "sub", "deeper", "f 3"): mh.pattern(MiB + 1, 3),
                 ("src", "ü+%"): b"odd name"}
        for parts, data in files.items():
            mh.write_file(self.d(*parts), data)
        os.rename(self.d("src"), self.d("dst"))
        self.assertFalse(os.path.exists(self.d("src")))
        for parts, data in files.items():
            new = ("dst",) + parts[1:]
            self.assertEqual(mh.read_file(self.d(*new)), data, new)
        self.assertTrue(os.path.isdir(self.d("dst", "empty")))
        left = self.m.server.keys(self.m.bucket, self.key("src") + "/")
        self.assertEqual(left, [], "keys left below the old name")
        moved = self.m.server.keys(self.m.bucket, self.key("dst") + "/")
        for parts in files:
            self.assertIn(self.key("dst", *parts[1:]), moved)
        m2 = self.remount()
        self.assertEqual(sorted(os.listdir(m2.path(self.key("dst")))),
                         sorted(["f1", "sub", "empty", "ü+%"]))
        self.assertFalse(os.path.exists(m2.path(self.key("src"))))
        # a directory over a non-empty directory: ENOTEMPTY; over a file
        os.makedirs(self.d("full", "x"))
        os.mkdir(self.d("e"))
        self.assertErrno((errno.ENOTEMPTY, errno.EEXIST), os.rename,
                         self.d("e"), self.d("full"))
        mh.write_file(self.d("file"), b"f")
        self.assertErrno(errno.ENOTDIR, os.rename, self.d("e"), self.d("file"))
        self.assertErrno(errno.EISDIR, os.rename, self.d("file"), self.d("e"))
        # onto an empty directory: replaces it
        os.mkdir(self.d("e2"))
        mh.write_file(self.d("e", "in"), b"in")
        os.rename(self.d("e"), self.d("e2"))
        self.assertEqual(mh.read_file(self.d("e2", "in")), b"in")

    def test_rmdir_non_empty(self):
        os.makedirs(self.d("a", "b"))
        mh.write_file(self.d("a", "b", "f"), b"x")
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, self.d("a"))
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, self.d("a", "b"))
        # a directory that exists only as a prefix of a key put behind the
        # mount's back
        self.m.server.put(self.m.bucket, self.key("implicit", "k"), b"k")
        mh.wait_for(lambda: os.path.isdir(self.d("implicit")), 5,
                    what="implicit directory")
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, self.d("implicit"))
        self.assertErrno(errno.ENOTDIR, os.rmdir, self.d("a", "b", "f"))
        self.assertErrno((errno.EISDIR, errno.EPERM), os.unlink, self.d("a"))
        os.unlink(self.d("a", "b", "f"))
        os.rmdir(self.d("a", "b"))
        os.rmdir(self.d("a"))
        self.assertFalse(os.path.exists(self.d("a")))
        self.assertEqual(self.m.server.keys(self.m.bucket,
                                            self.key("a") + "/"), [])

    def test_mkdir_rmdir(self):
        os.mkdir(self.d("new"), 0o750)
        self.assertTrue(stat.S_ISDIR(os.stat(self.d("new")).st_mode))
        self.assertErrno(errno.EEXIST, os.mkdir, self.d("new"))
        mh.write_file(self.d("file"), b"")
        self.assertErrno(errno.EEXIST, os.mkdir, self.d("file"))
        self.assertErrno(errno.ENOENT, os.mkdir, self.d("nope", "x"))
        self.assertErrno(errno.ENOTDIR, os.mkdir, self.d("file", "x"))
        os.makedirs(self.d("p", "q", "r"))
        self.assertIn("new", os.listdir(self.d()))
        # empty directories survive a remount (marker objects)
        m2 = self.remount()
        self.assertTrue(os.path.isdir(m2.path(self.key("new"))))
        self.assertTrue(os.path.isdir(m2.path(self.key("p", "q", "r"))))
        os.rmdir(self.d("new"))
        self.assertFalse(os.path.exists(self.d("new")))
        self.assertErrno(errno.ENOENT, os.rmdir, self.d("new"))
        for p in (("p", "q", "r"), ("p", "q"), ("p",)):
            os.rmdir(self.d(*p))
        self.assertEqual(sorted(os.listdir(self.d())), ["file"])
        mh.wait_for(lambda: not os.path.exists(m2.path(self.key("new"))), 5,
                    what="the removed directory to go from the other mount")
        self.assertEqual(self.m.server.keys(self.m.bucket,
                                            self.key("p") + "/"), [])

    def test_unlink_open_file(self):
        data = mh.pattern(3 * MiB + 77, 9)
        p = self.d("f")
        mh.write_file(p, data)
        with open(p, "rb") as f:
            self.assertEqual(f.read(100), data[:100])
            os.unlink(p)
            self.assertFalse(os.path.exists(p))
            self.assertNotIn("f", os.listdir(self.d()))
            self.assertIsNone(self.m.server.head(self.m.bucket, self.key("f")))
            rest = f.read()
            self.assertEqual(len(rest), len(data) - 100,
                             "an unlinked open file reads short")
            self.assertTrue(rest == data[100:],
                            "an unlinked open file reads other bytes")
        # writing through an fd whose name was unlinked does not bring the
        # name back
        fd = os.open(self.d("g"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.write(fd, b"first")
            os.unlink(self.d("g"))
            os.write(fd, b" second")
            self.assertEqual(os.pread(fd, 100, 0), b"first second")
        finally:
            os.close(fd)
        self.assertFalse(os.path.exists(self.d("g")))
        self.assertIsNone(self.m.server.head(self.m.bucket, self.key("g")),
                          "closing an unlinked file re-created its object")

    def test_mode_owner_time_round_trip(self):
        f, dd = self.d("file"), self.d("dir")
        mh.write_file(f, b"meta")
        os.mkdir(dd)
        os.chmod(f, 0o640)
        os.chown(f, 1234, 5678)
        os.utime(f, (1_000_000_000, 1_000_000_000))
        os.chmod(dd, 0o711)
        os.chown(dd, 4321, 8765)
        subprocess.run(["touch", "-m", "-d", "2001-02-03 04:05:06 UTC", dd],
                       check=True)
        exe = self.d("exe")
        mh.write_file(exe, b"#!/bin/sh\necho hi\n")
        os.chmod(exe, 0o755)

        def check(root, where):
            st = os.stat(os.path.join(root, "file"))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o640, where)
            self.assertTrue(stat.S_ISREG(st.st_mode), where)
            self.assertEqual((st.st_uid, st.st_gid), (1234, 5678), where)
            self.assertEqual(int(st.st_mtime), 1_000_000_000, where)
            st = os.stat(os.path.join(root, "dir"))
            self.assertTrue(stat.S_ISDIR(st.st_mode), where)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o711, where)
            self.assertEqual((st.st_uid, st.st_gid), (4321, 8765), where)
            self.assertEqual(int(st.st_mtime), 981173106, where)
            st = os.stat(os.path.join(root, "exe"))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o755, where)
        check(self.d(), "same mount")
        r = subprocess.run([os.path.join(self.d(), "exe")],
                           capture_output=True)
        self.assertEqual(r.stdout, b"hi\n")
        m2 = self.remount()
        check(m2.path(self.key()), "after a remount")
        # stored the s3fs way
        h = self.m.server.head(self.m.bucket, self.key("file"))
        md = h["Metadata"]
        self.assertEqual(int(md.get("mode", "0")), 0o100640, md)
        self.assertEqual((md.get("uid"), md.get("gid")), ("1234", "5678"))
        self.assertEqual(int(float(md.get("mtime", "0"))), 1_000_000_000)
        # the content survived the metadata copies
        self.assertEqual(mh.read_file(m2.path(self.key("file"))), b"meta")
        # chmod through one mount is seen by the other after attr_timeout
        os.chmod(f, 0o600)
        mh.wait_for(lambda: stat.S_IMODE(os.stat(
            m2.path(self.key("file"))).st_mode) == 0o600, 5,
            what="chmod to show in the other mount")

    def test_readdir_keeps_object_metadata(self):
        """Attributes after a readdir are the same as after a lookup: the
        s3fs metadata (mode, uid, gid, mtime) of objects put through the
        S3 API, small and large."""
        meta = {"mode": str(0o100755), "uid": "1001", "gid": "2002",
                "mtime": "1300000000"}
        for n, size in (("small", 100), ("large", 5000), ("big", MiB + 1)):
            for sub in ("listed", "looked-up"):
                self.m.server.put(self.m.bucket, self.key(sub, n),
                                  b"x" * size, meta=meta)
        os.listdir(self.d("listed"))
        bad = []
        for n in ("small", "large", "big"):
            for sub in ("listed", "looked-up"):
                st = os.lstat(self.d(sub, n))
                got = (oct(st.st_mode), st.st_uid, st.st_gid,
                       int(st.st_mtime))
                if got != (oct(0o100755), 1001, 2002, 1300000000):
                    bad.append("%s/%s: %s" % (sub, n, got))
        self.assertEqual(bad, [], "attributes differ from the object's "
                         "x-amz-meta-{mode,uid,gid,mtime} (0o100755, 1001, "
                         "2002, 1300000000)")

    def test_symlinks(self):
        mh.write_file(self.d("target"), b"target data")
        os.mkdir(self.d("tdir"))
        mh.write_file(self.d("tdir", "inside"), b"inside")
        os.symlink("target", self.d("rel"))
        os.symlink("tdir", self.d("dirlink"))
        os.symlink("/nonexistent/dangling path", self.d("dangling"))
        long_target = "x/" * 500 + "end"
        os.symlink(long_target, self.d("long"))

        def check(root, where):
            j = lambda n: os.path.join(root, n)  # noqa: E731
            self.assertTrue(stat.S_ISLNK(os.lstat(j("rel")).st_mode), where)
            self.assertEqual(os.readlink(j("rel")), "target", where)
            self.assertEqual(os.lstat(j("rel")).st_size, len("target"), where)
            self.assertEqual(mh.read_file(j("rel")), b"target data", where)
            self.assertEqual(mh.read_file(os.path.join(j("dirlink"),
                                                       "inside")),
                             b"inside", where)
            self.assertEqual(os.readlink(j("dangling")),
                             "/nonexistent/dangling path", where)
            self.assertFalse(os.path.exists(j("dangling")), where)
            self.assertEqual(os.readlink(j("long")), long_target, where)
            self.assertErrno(errno.EEXIST, os.symlink, "x", j("rel"))
        check(self.d(), "same mount")
        m2 = self.remount()
        check(m2.path(self.key()), "after a remount")
        # s3fs stores the target as the object's body
        self.assertEqual(self.m.server.get(self.m.bucket, self.key("rel")),
                         b"target")
        os.unlink(self.d("rel"))
        self.assertFalse(os.path.lexists(self.d("rel")))
        self.assertTrue(os.path.exists(self.d("target")))
        # rename of a symlink keeps it a symlink
        os.rename(self.d("dirlink"), self.d("dirlink2"))
        self.assertEqual(os.readlink(self.d("dirlink2")), "tdir")

    def test_hard_link_not_supported(self):
        mh.write_file(self.d("f"), b"x")
        self.assertErrno((errno.ENOTSUP, errno.EOPNOTSUPP), os.link,
                         self.d("f"), self.d("g"))
        self.assertFalse(os.path.exists(self.d("g")))
        self.assertErrno((errno.EPERM, errno.ENOTSUP), os.mknod,
                         self.d("fifo"), 0o600 | stat.S_IFIFO)

    def test_statfs_and_names(self):
        st = os.statvfs(self.m.mnt)
        self.assertGreater(st.f_bsize, 0)
        self.assertGreaterEqual(st.f_namemax, 255)
        name = "n" * 255
        mh.write_file(self.d(name), b"long name")
        self.assertEqual(mh.read_file(self.d(name)), b"long name")
        self.assertErrno(errno.ENAMETOOLONG, mh.write_file, self.d("n" * 256),
                         b"")


class TestBigDirectory(mh.MountCase):
    """readdir of 5,000 entries put through the S3 API (radosgw: paged
    listings are correct there), with requests counted at a proxy."""
    SERVER = "RGW"
    TIMEOUT = 120
    CLASS_TIMEOUT = 180
    N = 5000

    @classmethod
    def setUpMounts(cls):
        s = cls.server
        cls.bucket = s.new_bucket("bigdir")
        t0 = time.monotonic()
        cls.names = ["file-%05d%s" % (i, " spaced" if i % 997 == 0 else "")
                     for i in range(cls.N)]
        items = [("big/" + n, b"%d" % i) for i, n in enumerate(cls.names)]
        items += [("big/sub-%d/x" % i, b"x") for i in range(5)]
        items += [("big/zz-marker-dir/", b"")]
        s.put_many(cls.bucket, items, threads=48)
        mh.log("put %d objects in %.1f s" % (len(items),
                                              time.monotonic() - t0))
        cls.expected = set(cls.names) | {"sub-%d" % i for i in range(5)} | {
            "zz-marker-dir"}
        cls.proxy = mh.FaultProxy(s.url, cls.ctmp)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)
        cls.m = cls.class_mount(bucket=cls.bucket, endpoint=cls.proxy.url,
                                opts={"chunk_size": "1M",
                                      "attr_timeout": "30s",
                                      "entry_timeout": "30s"})

    def requests(self):
        """Requests the mount sent since the last reset, by kind."""
        st = self.proxy.stats()
        lines = self.proxy.request_lines()
        out = {"LIST": 0, "HEAD": 0, "GET": 0, "total": st["requests"]}
        for ln in lines[self._mark:]:
            parts = ln.split()
            if len(parts) < 2:
                continue
            if parts[0] == "GET" and "list-type" in parts[1]:
                out["LIST"] += 1
            elif parts[0] in out:
                out[parts[0]] += 1
        return out

    def mark(self):
        self._mark = len(self.proxy.request_lines())

    def test_readdir_5000(self):
        self.mark()
        t0 = time.monotonic()
        got = os.listdir(self.m.path("big"))
        t_list = time.monotonic() - t0
        self.assertEqual(len(got), len(set(got)), "duplicate names")
        self.assertEqual(set(got), self.expected)
        # ls -l: attributes of every entry, without a HEAD per file
        t0 = time.monotonic()
        r = subprocess.run(["ls", "-l", self.m.path("big")],
                           capture_output=True, text=True, check=True)
        t_ls = time.monotonic() - t0
        lines = [ln for ln in r.stdout.splitlines() if not
                 ln.startswith("total")]
        self.assertEqual(len(lines), len(self.expected))
        sizes = {}
        for ln in lines:
            f = ln.split(None, 8)
            sizes[f[8]] = f[4]
        self.assertEqual(sizes["file-01234"], str(len(b"1234")))
        self.assertEqual(sizes["file-00000 spaced"], "1")
        req = self.requests()
        mh.log("readdir 5000: listdir %.2f s, ls -l %.2f s, requests %s"
               % (t_list, t_ls, req))
        self.assertLess(req["HEAD"], 50, "ls -l sent a HEAD per entry: %s"
                        % req)
        self.assertLess(req["LIST"], 40, "too many LIST requests: %s" % req)
        # find sees every file exactly once
        r = subprocess.run(["find", self.m.path("big"), "-type", "f"],
                           capture_output=True, text=True, check=True)
        found = r.stdout.splitlines()
        self.assertEqual(len(found), self.N + 5)
        # readdir with a small buffer (telldir/seekdir-style resumption)
        with os.scandir(self.m.path("big")) as it:
            again = [e.name for e in it]
        self.assertEqual(sorted(again), sorted(got))


if __name__ == "__main__":
    mh.require(servers=("RGW",))
    mh.main()
