#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Data through a pcachefs mount: trees copied in and out with cp and rsync
(checksums compared through the mount, through a second cold mount and
through the S3 API), a 100 MiB file, a streamed multipart upload with
rewrites behind the parts already sent, and a seeded random-operation
exerciser checked against a reference file on local disk.

Mounts use chunk_size=1M so that chunk boundaries are cheap to cross.
Trees with spaces and unicode in names go to radosgw (s3rver cannot
CopyObject such keys, and rsync renames); the 100 MiB file and the
exerciser go to s3rver (fast).

Env: PCACHE_TEST_SEED=N replays the exerciser with that seed.
"""
import hashlib
import mmap
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB
CHUNK = MiB
OPTS = {"chunk_size": "1M", "attr_timeout": "1s"}

# sizes around the chunk boundaries (chunk_size=1M)
SIZES = {
    "empty": 0,
    "one": 1,
    "chunk-1": CHUNK - 1,
    "chunk": CHUNK,
    "chunk+1": CHUNK + 1,
    "2chunks+1": 2 * CHUNK + 1,
    "3chunks-1": 3 * CHUNK - 1,
}


def make_tree(root, seed=1, fancy=True):
    """A tree with boundary sizes, deep directories and odd names."""
    rnd = random.Random(seed)
    os.makedirs(root)
    for i, (name, size) in enumerate(sorted(SIZES.items())):
        mh.write_file(os.path.join(root, name), mh.pattern(size, seed * 100 + i))
    deep = os.path.join(root, *["d%d" % i for i in range(12)])
    os.makedirs(deep)
    mh.write_file(os.path.join(deep, "leaf.bin"), mh.pattern(4097, seed + 7))
    mh.write_file(os.path.join(root, "d0", "d1", "mid.txt"), b"middle\n")
    os.makedirs(os.path.join(root, "empty dir" if fancy else "emptydir"))
    os.makedirs(os.path.join(root, "many"))
    for i in range(12):
        mh.write_file(os.path.join(root, "many", "f%03d" % i),
                      mh.pattern(rnd.randrange(0, 70000), seed * 1000 + i))
    if fancy:
        names = ["with space.txt", "  leading and trailing  ",
                 "ünïcödé-文件-ファイル.bin", "emoji 🎉 party", "a+b=c&d",
                 "percent%20not-a-space", "semi;colon,comma", "tilde~$dollar",
                 "quote'single\"double"]
        os.makedirs(os.path.join(root, "spaced dir", "ünï dir"))
        for i, n in enumerate(names):
            mh.write_file(os.path.join(root, n), mh.pattern(100 + i, seed + i))
            mh.write_file(os.path.join(root, "spaced dir", "ünï dir", n),
                          mh.pattern(CHUNK + i, seed + 50 + i))
    # mtimes in the past, whole seconds (S3 metadata keeps seconds)
    t = 1_500_000_000
    for d, dirs, files in os.walk(root):
        for n in files:
            t += 17
            os.utime(os.path.join(d, n), (t, t))
    return root


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\nstdout: %s\nstderr: %s" % (
            " ".join(argv), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r


class TreeMixin:
    def assertSameTree(self, want, got, what):
        a, b = mh.tree_digest(want), mh.tree_digest(got)
        missing = sorted(set(a) - set(b))
        extra = sorted(set(b) - set(a))
        differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
        if missing or extra or differ:
            self.fail("%s: trees differ: missing %s, extra %s, different %s"
                      % (what, missing[:10], extra[:10], differ[:10]))

    def assertTreeInS3(self, local, m, subdir):
        """Every file of local is an object with the same bytes."""
        for d, dirs, files in os.walk(local):
            for n in files:
                p = os.path.join(d, n)
                key = m.prefix + subdir + "/" + os.path.relpath(p, local)
                self.assertEqual(mh.sha256_file(p),
                                 m.server.sha256(m.bucket, key),
                                 "object %r" % key)


class TestCopyTree(TreeMixin, mh.MountCase):
    """cp -a and rsync -a in and out, on radosgw (odd names, renames)."""
    SERVER = "RGW"
    TIMEOUT = 150

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="tree", opts=OPTS)
        cls.src = make_tree(os.path.join(cls.ctmp, "src"), seed=3)

    def cold_mount(self):
        """A second mount of the same bucket with an empty cache."""
        return self.mount(bucket=self.m.bucket, opts=OPTS, name="cold")

    def test_cp_tree_in_and_out(self):
        m = self.m
        dst = m.path("cp")
        run(["cp", "-a", self.src, dst])
        self.assertSameTree(self.src, dst, "cp -a into the mount")
        self.assertTreeInS3(self.src, m, "cp")
        cold = self.cold_mount()
        self.assertSameTree(self.src, cold.path("cp"), "read by a cold mount")
        out = os.path.join(self.tmp, "out")
        run(["cp", "-a", cold.path("cp"), out])
        self.assertSameTree(self.src, out, "cp -a out of a cold mount")
        # sizes at chunk boundaries as seen by stat
        for name, size in SIZES.items():
            self.assertEqual(os.stat(cold.path("cp", name)).st_size, size, name)

    @mh.unittest.skipUnless(mh.shutil.which("rsync"), "rsync not installed")
    def test_rsync_tree_in_and_out(self):
        m = self.m
        dst = m.path("rs")
        run(["rsync", "-a", self.src + "/", dst + "/"])
        self.assertSameTree(self.src, dst, "rsync -a into the mount")
        self.assertTreeInS3(self.src, m, "rs")
        # a second rsync finds nothing to do: sizes and mtimes round-trip
        r = run(["rsync", "-ai", "--dry-run", self.src + "/", dst + "/"])
        changed = [ln for ln in r.stdout.splitlines()
                   if ln and not ln.startswith(".d")]
        self.assertEqual(changed, [], "rsync would transfer again (mtime/size "
                         "not kept?)")
        cold = self.cold_mount()
        r = run(["rsync", "-ai", "--dry-run", self.src + "/",
                 cold.path("rs") + "/"])
        changed = [ln for ln in r.stdout.splitlines()
                   if ln and not ln.startswith(".d")]
        self.assertEqual(changed, [], "after a remount rsync would transfer "
                         "again (mtime/size not stored in S3?)")
        out = os.path.join(self.tmp, "out")
        run(["rsync", "-a", cold.path("rs") + "/", out + "/"])
        self.assertSameTree(self.src, out, "rsync -a out of a cold mount")
        # --inplace updates of an existing tree (writes into old objects)
        upd = os.path.join(self.tmp, "upd")
        run(["cp", "-a", self.src, upd])
        for name in ("chunk+1", "3chunks-1"):
            with open(os.path.join(upd, name), "r+b") as f:
                f.seek(CHUNK - 3)
                f.write(b"CHANGED-ACROSS-A-BOUNDARY")
            os.utime(os.path.join(upd, name), (1_600_000_000, 1_600_000_000))
        run(["rsync", "-a", "--inplace", "--no-whole-file", upd + "/",
             dst + "/"])
        self.assertSameTree(upd, dst, "rsync --inplace update")
        # the other mount sees the update once its attr_timeout (1s) passed
        mh.wait_for(lambda: mh.tree_digest(cold.path("rs")) ==
                    mh.tree_digest(upd), 10, interval=0.3,
                    what="the --inplace update to show in the other mount")
        # with --delete rsync reads the destination's directories first: the
        # attributes a listing gives must be those a lookup gives, or every
        # file is sent again after a remount
        fresh = self.mount(bucket=m.bucket, opts=OPTS, name="fresh")
        r = run(["rsync", "-ai", "--dry-run", "--delete", upd + "/",
                 fresh.path("rs") + "/"])
        changed = [ln for ln in r.stdout.splitlines()
                   if ln and not ln.startswith(".d")]
        self.assertEqual(changed, [], "rsync --delete after a remount would "
                         "transfer again: attributes after a readdir differ "
                         "from the stored mode/mtime")


class TestBigFile(TreeMixin, mh.MountCase):
    """A 100 MiB file (multipart upload, many chunks) on s3rver."""
    TIMEOUT = 180

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="big", opts=OPTS)

    def test_100mib_file(self):
        m = self.m
        src = os.path.join(self.tmp, "big.bin")
        # cheap but position-dependent content: each 64 KiB block differs
        rnd = random.Random(42)
        blk = rnd.randbytes(1 << 16)
        with open(src, "wb") as f:
            for i in range(1600):
                f.write(i.to_bytes(4, "little") + blk[4:])
        want = mh.sha256_file(src)
        t0 = time.monotonic()
        run(["cp", src, m.path("big.bin")])
        t_in = time.monotonic() - t0
        self.assertEqual(os.stat(m.path("big.bin")).st_size, 100 * MiB)
        self.assertEqual(m.server.sha256(m.bucket, "big.bin"), want,
                         "object in S3")
        cold = self.mount(bucket=m.bucket, opts=OPTS, name="cold")
        t0 = time.monotonic()
        self.assertEqual(mh.sha256_file(cold.path("big.bin")), want,
                         "read by a cold mount")
        t_cold = time.monotonic() - t0
        out = os.path.join(self.tmp, "out.bin")
        run(["cp", cold.path("big.bin"), out])
        self.assertEqual(mh.sha256_file(out), want, "cp out")
        # random reads across chunk boundaries against the source
        with open(src, "rb") as a, open(cold.path("big.bin"), "rb") as b:
            for _ in range(200):
                off = rnd.choice([rnd.randrange(100 * MiB),
                                  rnd.randrange(1, 100) * CHUNK - rnd.randrange(64)])
                n = rnd.randrange(1, 3 * CHUNK)
                self.assertEqual(os.pread(a.fileno(), n, off),
                                 os.pread(b.fileno(), n, off), "pread(%d, %d)"
                                 % (n, off))
        mh.log("100 MiB: cp in %.1f s, cold read %.1f s" % (t_in, t_cold))

    def test_streamed_upload_with_rewrites(self):
        """Parts go up while the file is written (multipart_above and
        part_size at their minimum, 2 parts in flight, so the writer runs
        ahead of the upload); bytes rewritten in parts already sent, a
        truncate below the sent parts and an extension afterwards all end
        up in the object."""
        m = self.mount(bucket=self.m.bucket, name="stream", opts=dict(
            OPTS, multipart_above="5M", part_size="5M", upload_parallel="2"))
        rnd = random.Random(7)
        ref = bytearray(rnd.randbytes(48 * MiB))
        path = m.path("streamed.bin")
        with open(path, "wb") as f:
            for off in range(0, len(ref), MiB):
                f.write(ref[off:off + MiB])
            for off in (100, 5 * MiB - 3, 17 * MiB + 12345):  # sent parts
                patch = rnd.randbytes(70000)
                os.pwrite(f.fileno(), patch, off)
                ref[off:off + len(patch)] = patch
            f.truncate(31 * MiB + 77)
            del ref[31 * MiB + 77:]
            tail = rnd.randbytes(9 * MiB)
            f.seek(0, os.SEEK_END)
            f.write(tail)
            ref += tail
        want = hashlib.sha256(bytes(ref)).hexdigest()
        self.assertEqual(m.server.sha256(m.bucket, "streamed.bin"), want,
                         "object in S3")
        self.assertEqual(mh.sha256_file(path), want, "read back")


# --- random-operation exerciser --------------------------------------------

class Exerciser:
    """Applies the same random operations to a file in the mount and to a
    reference file on local disk, comparing every read."""

    MAX_SIZE = 4 * CHUNK + 1234

    def __init__(self, test, seed, mnt_path, ref_path):
        self.t = test
        self.rnd = random.Random(seed)
        self.seed = seed
        self.mp, self.rp = mnt_path, ref_path
        self.mfd = self.rfd = None
        self.ops = []

    def open(self, trunc=False):
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if trunc else 0)
        self.mfd = os.open(self.mp, flags, 0o644)
        self.rfd = os.open(self.rp, flags, 0o644)

    def close(self):
        os.close(self.rfd)
        os.close(self.mfd)  # the upload: must succeed
        self.mfd = self.rfd = None

    def size(self):
        return os.fstat(self.rfd).st_size

    def offset(self):
        r = self.rnd
        if r.random() < 0.5:  # near a chunk boundary
            return max(0, r.randrange(0, 5) * CHUNK + r.randrange(-40, 40))
        return r.randrange(0, self.MAX_SIZE)

    def note(self, s):
        self.ops.append(s)

    def check_read(self, off, n):
        a = os.pread(self.rfd, n, off)
        b = os.pread(self.mfd, n, off)
        if a != b:
            self.fail("pread(%d, %d): %d bytes expected, %d read, first "
                      "difference at %s" % (n, off, len(a), len(b),
                                            first_diff(a, b, off)))

    def check_mmap(self):
        size = self.size()
        self.t.assertEqual(os.fstat(self.mfd).st_size, size, self.ctx("size"))
        if size == 0:
            return
        with open(self.rp, "rb") as f:
            want = f.read()
        mm = mmap.mmap(self.mfd, size, prot=mmap.PROT_READ)
        try:
            off = self.rnd.randrange(0, size)
            n = min(size - off, self.rnd.randrange(1, 2 * CHUNK))
            got = mm[off:off + n]
        finally:
            mm.close()
        if got != want[off:off + n]:
            self.fail("mmap read [%d, %d): first difference at %s"
                      % (off, off + n, first_diff(want[off:off + n], got, off)))

    def ctx(self, what):
        return "%s (seed %d, op %d; last ops: %s)" % (
            what, self.seed, len(self.ops), "; ".join(self.ops[-12:]))

    def fail(self, what):
        self.t.fail(self.ctx(what))

    def full_compare(self):
        with open(self.rp, "rb") as f:
            want = f.read()
        got = os.pread(self.mfd, len(want) + 10, 0)
        if got != want:
            self.fail("whole file: %d bytes expected, %d read, first "
                      "difference at %s" % (len(want), len(got),
                                            first_diff(want, got, 0)))

    def step(self):
        r = self.rnd
        x = r.random()
        if x < 0.40:
            off = self.offset()
            n = r.choice([1, 2, 7, 512, 4096, r.randrange(1, 70000),
                          r.randrange(1, 2 * CHUNK)])
            n = max(1, min(n, self.MAX_SIZE - off))
            data = r.randbytes(n)
            self.note("write(%d, %d)" % (off, n))
            os.pwrite(self.rfd, data, off)
            w = os.pwrite(self.mfd, data, off)
            if w != n:
                self.fail("short write %d of %d" % (w, n))
        elif x < 0.50:
            ln = r.choice([0, r.randrange(0, self.MAX_SIZE),
                           max(0, r.randrange(0, 5) * CHUNK + r.randrange(-3, 3)),
                           self.size() + r.randrange(1, 3 * CHUNK)])
            ln = min(ln, self.MAX_SIZE)
            self.note("truncate(%d)" % ln)
            os.ftruncate(self.rfd, ln)
            os.ftruncate(self.mfd, ln)
        elif x < 0.78:
            off = self.offset()
            n = r.choice([1, 4096, r.randrange(1, 3 * CHUNK)])
            self.note("read(%d, %d)" % (off, n))
            self.check_read(off, n)
        elif x < 0.86:
            self.note("mmap")
            self.check_mmap()
        elif x < 0.92:
            self.note("fsync")
            os.fsync(self.mfd)
        elif x < 0.985:
            trunc = r.random() < 0.1
            self.note("reopen%s" % (" O_TRUNC" if trunc else ""))
            self.close()
            self.open(trunc=trunc)
            if r.random() < 0.3:
                self.full_compare()
        else:
            self.note("stat")
            self.t.assertEqual(os.stat(self.mp).st_size, self.size(),
                               self.ctx("stat size"))


def first_diff(a, b, base):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return "offset %d (%r vs %r)" % (base + i, a[i:i + 8], b[i:i + 8])
    return "offset %d (length)" % (base + n)


class TestRandomOps(mh.MountCase):
    SERVER = "S3RVER"
    TIMEOUT = 200
    OPS = 3000

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="rops", opts=OPTS)

    def test_random_operations(self):
        seed = int(os.environ.get("PCACHE_TEST_SEED") or
                   random.SystemRandom().randrange(1, 1 << 31))
        mh.log("exerciser seed %d (replay: PCACHE_TEST_SEED=%d)" % (seed, seed))
        m = self.m
        ex = Exerciser(self, seed, m.path("x.bin"),
                       os.path.join(self.tmp, "ref.bin"))
        t0 = time.monotonic()
        try:
            ex.open(trunc=True)
            for _ in range(self.OPS):
                ex.step()
            ex.full_compare()
            ex.close()
        except AssertionError:
            raise
        except Exception as e:
            raise AssertionError(ex.ctx("%s: %s" % (type(e).__name__, e))) \
                from e
        want = mh.read_file(ex.rp)
        got = m.server.get(m.bucket, "x.bin")
        self.assertEqual(len(got), len(want), "object size (seed %d)" % seed)
        self.assertTrue(got == want, "object bytes differ from the reference "
                        "at %s (seed %d)" % (first_diff(want, got, 0), seed))
        # and through a cold mount
        cold = self.mount(bucket=m.bucket, opts=OPTS, name="cold")
        self.assertTrue(mh.read_file(cold.path("x.bin")) == want,
                        "cold mount reads other bytes (seed %d)" % seed)
        mh.log("exerciser: %d ops in %.1f s" % (self.OPS,
                                                 time.monotonic() - t0))


class TestRandomOpsWriteback(TestRandomOps):
    """The exerciser again with the kernel's write-back cache on: writes
    reach the mount late, gathered, and partial pages are read first."""
    OPS = 1500

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="ropswb",
                                opts=dict(OPTS, writeback_cache="yes"))


if __name__ == "__main__":
    mh.require(servers=("S3RVER", "RGW"), tools=("cp",))
    mh.main()
