#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Objects changed behind a pcachefs mount, and the disk cache.

- Objects put, changed or deleted through the S3 API show up after the
  attribute timeout (attr_timeout=1s, polled).
- Never mixed bytes: a multi-chunk object overwritten with other content
  while a reader has it open; each open reads all-old or all-new (an
  error is tolerated, a mix is not); a reopen after the attribute timeout
  reads the new content. On radosgw: it honours If-Match (s3rver ignores
  it, so a client there could not even detect the change).
- A warm remount reads from the disk cache: faultproxy.py between the mount
  and s3rver counts the object GETs of the second mount (must be none).
- A file nearly alone in its directory is revalidated by a HEAD, not by
  listing the directory again.
- Chunk files damaged on disk are refused by their checksums and fetched
  again; the other chunks still come from the disk (fewer GETs than chunks).
"""
import errno
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB


def version_bytes(v, size):
    """Content of version v: every 4 KiB block says its version, so a mix
    of versions is visible anywhere in the file."""
    blk = (b"v%08d|" % v) * 455 + b"\n" * 1
    blk = (blk + b"." * 4096)[:4096]
    n = size // 4096 + 1
    return (blk * n)[:size]


def versions_in(data):
    """The set of versions whose blocks appear in data (4 KiB aligned; a
    short last block counts if it is the start of a version's block); -1
    stands for bytes of no version (zeros, garbage)."""
    out = set()
    for off in range(0, len(data), 4096):
        b = data[off:off + 4096]
        if len(b) >= 10 and b[:1] == b"v" and b[1:9].isdigit():
            v = int(b[1:9])
        elif b and version_bytes(0, 10)[:len(b)] == b[:10]:
            continue  # a short tail "v000..." too short to name a version
        else:
            out.add(-1)
            continue
        if b != version_bytes(v, len(b)):
            out.add(-1)
        else:
            out.add(v)
    return out


def describe(data):
    """Runs of versions in data, for failure messages."""
    runs = []
    for off in range(0, len(data), 4096):
        vs = versions_in(data[off:off + 4096]) or {"tail"}
        v = next(iter(vs))
        if runs and runs[-1][0] == v:
            runs[-1][2] = off + len(data[off:off + 4096])
        else:
            runs.append([v, off, off + len(data[off:off + 4096])])
    return ", ".join("v%s [%d, %d)" % tuple(r) for r in runs[:12])


class TestBehindTheBack(mh.MountCase):
    SERVER = "RGW"
    TIMEOUT = 60

    @classmethod
    def setUpMounts(cls):
        cls.m = cls.class_mount(tag="behind", opts={
            "chunk_size": "1M", "attr_timeout": "1s", "entry_timeout": "1s",
            "negative_timeout": "1s", "readahead": "2M"})

    def put(self, key, data, **kw):
        return self.m.server.put(self.m.bucket, key, data, **kw)

    def test_put_change_delete_show_up(self):
        m = self.m
        d = self._testMethodName
        os.listdir(m.path())
        self.assertFalse(os.path.exists(m.path(d, "new")))  # negative entry
        t0 = time.monotonic()
        self.put(d + "/new", b"hello")
        mh.wait_for(lambda: os.path.exists(m.path(d, "new")), 5,
                    what="a new object to appear")
        mh.log("new object visible after %.2f s" % (time.monotonic() - t0))
        self.assertEqual(mh.read_file(m.path(d, "new")), b"hello")
        self.assertIn("new", os.listdir(m.path(d)))
        # changed: other size and content
        t0 = time.monotonic()
        self.put(d + "/new", b"changed content, longer")
        mh.wait_for(lambda: os.stat(m.path(d, "new")).st_size == 23, 5,
                    what="the new size")
        self.assertEqual(mh.read_file(m.path(d, "new")),
                         b"changed content, longer")
        # same size, other bytes: only the ETag tells
        self.put(d + "/new", b"CHANGED CONTENT, LONGER")
        mh.wait_for(lambda: mh.read_file(m.path(d, "new")) ==
                    b"CHANGED CONTENT, LONGER", 5,
                    what="same-size new content")
        mh.log("changes visible after %.2f s" % (time.monotonic() - t0))
        # metadata changed behind the back (s3fs-style mode)
        self.put(d + "/new", b"x", meta={"mode": str(0o100600)})
        mh.wait_for(lambda: os.stat(m.path(d, "new")).st_mode == 0o100600, 5,
                    what="the new mode")
        # a new directory (prefix only) and a file in it
        self.put(d + "/sub/deep/f", b"deep")
        mh.wait_for(lambda: "sub" in os.listdir(m.path(d)), 5,
                    what="a new implicit directory in the listing")
        self.assertEqual(mh.read_file(m.path(d, "sub", "deep", "f")), b"deep")
        # deleted
        self.m.server.client().delete_object(Bucket=m.bucket, Key=d + "/new")
        mh.wait_for(lambda: not os.path.exists(m.path(d, "new")), 5,
                    what="a deleted object to go")
        mh.wait_for(lambda: "new" not in os.listdir(m.path(d)), 5,
                    what="a deleted object to leave the listing")
        self.assertErrno(errno.ENOENT, mh.read_file, m.path(d, "new"))

    def test_overwrite_while_open_never_mixes(self):
        m = self.m
        key = self._testMethodName
        size = 24 * MiB + 123
        self.put(key, version_bytes(1, size))
        mh.wait_for(lambda: os.path.exists(m.path(key)), 5, what="object")
        with open(m.path(key), "rb", buffering=0) as f:
            first = f.read(MiB)
            self.assertEqual(versions_in(first), {1})
            # overwrite behind the back with the same size
            self.put(key, version_bytes(2, size))
            time.sleep(1.2)  # the attr timeout passes while the file is open
            got = bytearray(first)
            err = None
            try:
                while True:
                    b = f.read(MiB)
                    if not b:
                        break
                    got += b
            except OSError as e:
                err = e
            vs = versions_in(bytes(got))
            self.assertEqual(len(vs), 1, "one open read a mix of versions "
                             "%s (read %d bytes%s)" % (
                                 sorted(vs), len(got),
                                 ", then %s" % err if err else ""))
            if err is None:
                self.assertEqual(len(got), size)
            else:
                mh.log("open of the old version failed at %d: %s (allowed)"
                       % (len(got), err))
        # a new open after the attr timeout reads the new version only
        data = mh.read_file(m.path(key))
        self.assertEqual(versions_in(data), {2})
        self.assertEqual(len(data), size)
        # a new version of another size while open
        with open(m.path(key), "rb", buffering=0) as f:
            head = f.read(4096)
            self.put(key, version_bytes(3, 5 * MiB + 1))
            time.sleep(1.2)
            try:
                rest = f.read()
            except OSError as e:
                rest = b""
                mh.log("read after shrink failed: %s (allowed)" % e)
            got = head + rest
            vs = versions_in(got)
            self.assertEqual(len(vs), 1, "mixed versions %s: %s" % (
                sorted(vs), describe(got)))
            v = next(iter(vs))
            want = {2: size, 3: 5 * MiB + 1}[v]
            self.assertEqual(len(got), want, "an open of version %d read %d "
                             "bytes, the version has %d: the size of "
                             "another version applied to this open (%s)"
                             % (v, len(got), want, describe(got)))
        data = mh.read_file(m.path(key))
        self.assertEqual(versions_in(data), {3})
        self.assertEqual(len(data), 5 * MiB + 1)

    def test_two_opens_of_two_versions(self):
        """A reads part of v1; v2 is put; after the attr timeout B opens and
        reads all of v2; A reads on: A must not get v2's pages."""
        m = self.m
        key = self._testMethodName
        size = 8 * MiB
        self.put(key, version_bytes(1, size))
        mh.wait_for(lambda: os.path.exists(m.path(key)), 5, what="object")
        with open(m.path(key), "rb", buffering=0) as a:
            got = a.read(MiB)
            self.put(key, version_bytes(2, size))
            time.sleep(1.2)
            b_data = mh.read_file(m.path(key))
            self.assertEqual(versions_in(b_data), {2}, describe(b_data))
            try:
                got += a.read()
            except OSError as e:
                mh.log("A's read after the change failed: %s (allowed)" % e)
        vs = versions_in(got)
        self.assertEqual(len(vs), 1, "the first open read a mix once a second "
                         "open read the new version: %s" % describe(got))

    def test_concurrent_readers_while_versions_change(self):
        """Readers loop open/read-all/close while a writer puts new versions
        through S3: every open reads exactly one version."""
        m = self.m
        key = self._testMethodName
        size = 6 * MiB + 4096
        self.put(key, version_bytes(0, size))
        mh.wait_for(lambda: os.path.exists(m.path(key)), 5, what="object")
        stop = threading.Event()
        problems, seen, errors = [], set(), []
        lock = threading.Lock()

        def reader():
            while not stop.is_set():
                try:
                    with open(m.path(key), "rb") as f:
                        data = f.read()
                except OSError as e:
                    with lock:
                        errors.append(e)
                    continue
                vs = versions_in(data)
                with lock:
                    seen.update(vs)
                    if len(vs) != 1:
                        problems.append("%s: %s" % (sorted(vs), describe(data)))
                    elif len(data) != size:
                        problems.append("size %d" % len(data))
        ts = [threading.Thread(target=reader) for _ in range(3)]
        for t in ts:
            t.start()
        try:
            for v in range(1, 8):
                time.sleep(0.4)
                self.put(key, version_bytes(v, size))
            time.sleep(1.5)
        finally:
            stop.set()
            for t in ts:
                t.join(30)
        self.assertEqual(len(problems), 0, "%d of the opens read mixed "
                         "versions, e.g.:\n%s" % (len(problems),
                                                 "\n".join(problems[:3])))
        mh.log("versions seen by readers: %s; read errors: %d %s" % (
            sorted(seen), len(errors), errors[:2]))
        self.assertIn(7, seen | versions_in(mh.read_file(m.path(key))))
        self.assertEqual(versions_in(mh.read_file(m.path(key))), {7})


class TestWarmRemount(mh.MountCase):
    """The second mount with the same cache_dir reads without GETs."""
    SERVER = "S3RVER"
    TIMEOUT = 90

    def object_gets(self, proxy, bucket, since):
        out = []
        for ln in proxy.request_lines()[since:]:
            parts = ln.split()
            if len(parts) >= 2 and parts[0] == "GET" and \
                    parts[1].startswith("/%s/" % bucket):
                out.append(parts[1])
        return out

    def test_warm_remount_reads_from_disk_cache(self):
        s = self.server
        bucket = s.new_bucket("warm")
        files = {"big.bin": mh.pattern(5 * MiB + 3, 1),
                 "small.txt": b"small file\n",
                 "dir/mid.bin": mh.pattern(MiB + 1, 2)}
        for k, v in files.items():
            s.put(bucket, k, v)
        proxy = self.proxy()
        opts = {"chunk_size": "1M", "attr_timeout": "1s"}
        cache = os.path.join(self.tmp, "cache")
        m = self.mount(bucket=bucket, endpoint=proxy.url, cache_dir=cache,
                       opts=opts)
        mark = len(proxy.request_lines())
        for k, v in files.items():
            self.assertEqual(mh.read_file(m.path(k)), v, k)
        cold = self.object_gets(proxy, bucket, mark)
        self.assertGreater(len(cold), 0, "the first read fetched nothing?")
        m.stop()
        self.forget_mount(m)
        self.assertGreater(sum(len(fs) for _, _, fs in os.walk(cache)), 0,
                           "nothing in cache_dir after reading")
        proxy.stats(reset=True)
        mark = len(proxy.request_lines())
        m2 = self.mount(bucket=bucket, endpoint=proxy.url, cache_dir=cache,
                        opts=opts, name="warm")
        for k, v in files.items():
            self.assertEqual(mh.read_file(m2.path(k)), v, k)
        warm = self.object_gets(proxy, bucket, mark)
        st = proxy.stats()
        mh.log("cold: %d object GETs; warm: %d (%s); warm requests by "
               "method %s" % (len(cold), len(warm), warm[:5],
                              st["by_method"]))
        self.assertEqual(warm, [], "a warm remount fetched objects again")
        # changed behind the back: the cache must not serve the old version
        s.put(bucket, "big.bin", mh.pattern(5 * MiB + 3, 99))
        mh.wait_for(lambda: mh.read_file(m2.path("big.bin")) ==
                    mh.pattern(5 * MiB + 3, 99), 5,
                    what="the new version instead of the cached one")


    def test_damaged_cache_files_are_fetched_again(self):
        """A sequential reader takes cached chunks whole from the disk
        (store_load); a chunk file whose data was damaged is refused by
        its checksum, removed, and fetched again: the read is right."""
        s = self.server
        bucket = s.new_bucket("damage")
        data = mh.pattern(6 * MiB + 5, 3)
        s.put(bucket, "seq.bin", data)
        proxy = self.proxy()
        opts = {"chunk_size": "1M", "attr_timeout": "1s"}
        cache = os.path.join(self.tmp, "cache-damage")
        m = self.mount(bucket=bucket, endpoint=proxy.url, cache_dir=cache,
                       opts=opts)
        self.assertEqual(mh.read_file(m.path("seq.bin")), data)
        m.stop()
        self.forget_mount(m)
        full = sorted(os.path.join(d, f) for d, _, fs in os.walk(cache)
                      for f in fs
                      if "tmp" not in os.path.relpath(d, cache).split(os.sep)
                      and os.path.getsize(os.path.join(d, f)) >= 12288 + MiB)
        damaged = 0
        for p in full[:3]:
            with open(p, "r+b") as fh:  # a byte in the last block
                fh.seek(os.path.getsize(p) - 7)
                b = fh.read(1)
                fh.seek(-1, os.SEEK_CUR)
                fh.write(bytes([b[0] ^ 0xFF]))
            damaged += 1
        self.assertEqual(damaged, 3, "too few chunk files in %s" % cache)
        mark = len(proxy.request_lines())
        m2 = self.mount(bucket=bucket, endpoint=proxy.url, cache_dir=cache,
                        opts=opts, name="damage2")
        self.assertEqual(mh.read_file(m2.path("seq.bin")), data,
                         "damaged cache files were served")
        gets = self.object_gets(proxy, bucket, mark)
        self.assertGreaterEqual(len(gets), 1, "nothing fetched again")
        self.assertLess(len(gets), 7, "undamaged chunks fetched again")


    def test_lone_file_revalidated_by_head(self):
        """Once the attribute timeout has passed, a file nearly alone in
        its directory is revalidated by one HEAD, not by listing the
        directory again (a LIST pays off for many siblings); a change
        behind the mount is still seen."""
        s = self.server
        bucket = s.new_bucket("lone")
        s.put(bucket, "solo/one.bin", mh.pattern(3 * MiB, 4))
        proxy = self.proxy()
        m = self.mount(bucket=bucket, endpoint=proxy.url, opts={
            "chunk_size": "1M", "attr_timeout": "1s", "entry_timeout": "1s"})
        self.assertEqual(mh.read_file(m.path("solo/one.bin")),
                         mh.pattern(3 * MiB, 4))
        t0 = time.monotonic()
        mh.wait_for(lambda: time.monotonic() - t0 > 1.5, 5,
                    what="the attribute timeout to pass")
        mark = len(proxy.request_lines())
        self.assertEqual(mh.read_file(m.path("solo/one.bin")),
                         mh.pattern(3 * MiB, 4))
        lines = [ln.split()[:2] for ln in proxy.request_lines()[mark:]]
        lists = [p for meth, p in lines if meth == "GET" and
                 "prefix=solo%2F" in p]
        heads = [p for meth, p in lines if meth == "HEAD"]
        mh.log("revalidation requests: %s" % lines)
        self.assertEqual(lists, [], "the directory was listed again")
        self.assertIn("/%s/solo/one.bin" % bucket, heads)
        s.put(bucket, "solo/one.bin", mh.pattern(2 * MiB, 5))
        mh.wait_for(lambda: mh.read_file(m.path("solo/one.bin")) ==
                    mh.pattern(2 * MiB, 5), 5,
                    what="the new version after the attribute timeout")


if __name__ == "__main__":
    mh.require(servers=("S3RVER", "RGW"))
    mh.main()
