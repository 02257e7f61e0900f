#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_mount.py - pcachefs in cluster mode (-o pms=,credfile=)
over pmsd, three pcpd and s3rver, through a real FUSE mount:

- a 1 GiB object read with sha256sum: right bytes, every node served
  chunks; read again through a fresh mount while one node is killed -9
  in the middle: the read completes from the others, right bytes;
- pmsd stopped: the mount keeps reading, also an object it never saw;
  pmsd restarted on its port and state: the nodes heartbeat again by
  themselves and files written after the restart read back; a pms= list
  whose first address is dead mounts through the second;
- one pbucket over two backends by prefix: files written through the
  mount land in the bucket their prefix routes to and read back through
  a fresh mount; a routed prefix ("a/" in backend A under a root in
  backend B) shows in its parent's listing;
- security: a wrong secret or unknown key fails the mount command with a
  clear message; a read-only user gets EACCES on create, write, unlink
  and rename while reading works; nodes refuse the endpoints the mount
  uses for writes without a token (what test_cluster_auth.py does not
  cover);
- writes: a small and a 40 MiB (multipart) file written with cp read back
  identical through a second cluster mount and straight from the bucket.

usage: test_cluster_mount.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
The mount binary: $PCACHEFS_BIN, else $PCACHE_BUILD_DIR/pcachefs/pcachefs
(meson passes PCACHE_BUILD_DIR). Needs scripts/test.sh's s3rver
environment and /dev/fuse; skips (77) without them, and while pcachefs
has no cluster mode. PCACHE_TEST_BIG_MB changes the size of the big
object (default 1024). Timings are logged on stderr ("timing:").
"""
import errno
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pcpdhelp as ch  # noqa: E402
import pmsdhelp as ph  # noqa: E402

MiB = 1 << 20
log = h.log


def pattern(size, seed):
    return b"".join(h.pattern_blocks(size, seed))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class MountTest(h.ClusterMountTest):
    """ClusterTest with cluster-mode mounts that are always unmounted (in
    cleanup, before the nodes and pmsd stop), and a watchdog that kills
    the mounts by pid shortly before the test's SIGALRM, so that a call
    stuck in the mount returns (ENOTCONN) and the test fails instead of
    hanging."""

    timeout = 150

    def setUp(self):
        import mounthelp as mh
        super().setUp()
        # meson's SIGTERM: mounthelp unmounts the mounts, this kills the
        # daemons (unittest's cleanups do not run then).
        k = h.EmergencyKill(lambda: [self.pmsd.proc] +
                            [n.p for n in self.nodes])
        mh.register(k)
        self.addCleanup(mh.unregister, k)
        self.mounts = []
        self.addCleanup(self.stop_mounts)
        h.mount_watchdog(self, max(5, self.timeout - 15))

    def chunk_counts(self):
        """Chunk requests served so far, per node (0 for a dead one)."""
        return h.chunk_counts(self.nodes)

    @staticmethod
    def s3_keys(bucket, prefix=""):
        """Keys of bucket, listed straight from s3rver (botocore)."""
        import botocore.config
        import botocore.session
        c = botocore.session.get_session().create_client(
            "s3", endpoint_url=os.environ["S3RVER_URL"],
            region_name="us-east-1",
            aws_access_key_id=os.environ["S3RVER_KEY"],
            aws_secret_access_key=os.environ["S3RVER_SECRET"],
            config=botocore.config.Config(s3={"addressing_style": "path"}))
        try:
            r = c.list_objects_v2(Bucket=bucket, Prefix=prefix,
                                  MaxKeys=1000)
        finally:
            c.close()
        return sorted(o["Key"] for o in r.get("Contents", []))

    def s3_sha(self, bucket, key):
        return h.get_sha256(os.environ["S3RVER_URL"], "/%s/%s" % (bucket,
                                                                  key))

    def assertErrno(self, expected, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.errno, expected,
                         "expected %s, got %s" % (
                             errno.errorcode[expected],
                             errno.errorcode.get(cm.exception.errno)))


class BigFile(MountTest):
    timeout = 420

    def test_big_file_spread_then_node_killed(self):
        size = int(os.environ.get("PCACHE_TEST_BIG_MB", "1024")) * MiB
        nchunks = (size + h.CHUNK - 1) // h.CHUNK
        t0 = time.monotonic()
        digest, _ = h.put_stream(os.environ["S3RVER_URL"],
                                 "/%s/big/file.bin" % self.bucket, size,
                                 h.pattern_blocks(size, 1))
        log("timing: upload of %d MiB to s3rver: %.1f s"
            % (size >> 20, time.monotonic() - t0))
        cred = self.user_cred("reader", ["read", "list"])

        # 1. Cold, through the nodes: right bytes, every node served.
        m = self.cluster_mount(cred, opts={"cache_size": 0})
        c0 = self.chunk_counts()
        got, secs = h.sha256_path(m.path("big", "file.bin"), timeout=240)
        self.assertEqual(got, digest)
        per = [b - a for a, b in zip(c0, self.chunk_counts())]
        log("timing: cold read of %d MiB through the mount: %.1f s "
            "(%.0f MB/s); chunk requests per node %s"
            % (size >> 20, secs, size / 1e6 / secs, per))
        for n, c in zip(self.nodes, per):
            self.assertGreater(c, 0, "%s served no chunk: %s" % (n.id, per))
        self.assertGreaterEqual(sum(per), nchunks)
        self.unmount(m)

        # 2. Again through a fresh mount (no page cache, no disk cache):
        # node n1 is killed -9 once a quarter of the chunks came in.
        m = self.cluster_mount(cred, name="again", opts={"cache_size": 0})
        r = h.read_through_fault(
            self, m.path("big", "file.bin"), digest, self.chunk_counts,
            nchunks // 4, "a quarter of the chunks read", self.nodes[1].kill9,
            "kill", wait=120, timeout=240)
        at_kill = r.at_fault
        after = self.chunk_counts()
        log("timing: read with n1 killed at %.1f s (%s chunk requests "
            "done): %.1f s in all; chunk requests since the kill: n0 %d, "
            "n2 %d" % (r.t_fault, [b - a for a, b in zip(r.c0, at_kill)],
                       r.secs, after[0] - at_kill[0], after[2] - at_kill[2]))
        for i in (0, 2):
            self.assertGreater(after[i], at_kill[i],
                               "n%d served nothing after the kill" % i)
        # The mount is still fine: a fresh object after the kill.
        data = pattern(3 * h.CHUNK + 77, 2)
        self.put_object("big/after", data)
        ph.wait_for(lambda: os.path.exists(m.path("big", "after")), 10,
                    "big/after visible in the mount", step=0.1)
        self.assertEqual(sha(read_file(m.path("big", "after"))), sha(data))


class PmsdOutage(MountTest):
    def test_pmsd_stopped_then_restarted(self):
        cred = self.user_cred("rw", ["read", "list", "write", "delete"])
        m = self.cluster_mount(cred)
        d1 = pattern(3 * h.CHUNK + 5, 10)
        self.put_object("before", d1)
        self.assertEqual(read_file(m.path("before")), d1)

        self.assertEqual(self.pmsd.stop(), 0)
        # An object the mount never saw, read while pmsd is down: the
        # nodes have their routes, the mount its token and node list.
        d2 = pattern(5 * h.CHUNK + 11, 11)
        self.put_object("during", d2)
        # Made behind the mount's back: visible once the listing the
        # mount trusts (attr_timeout, 1 s) has expired.
        ph.wait_for(lambda: os.path.exists(m.path("during")), 10,
                    "'during' visible in the mount", step=0.1)
        c0 = self.chunk_counts()
        self.assertEqual(read_file(m.path("during")), d2)
        self.assertIn("during", os.listdir(m.mnt))
        self.assertGreaterEqual(sum(self.chunk_counts()) - sum(c0), 6)
        self.assertEqual(read_file(m.path("before")), d1)
        # Still fine a few heartbeat intervals later.
        t_down = time.monotonic()
        ph.wait_for(lambda: time.monotonic() - t_down > 1.5, 5, "1.5 s")
        self.assertEqual(read_file(m.path("during")), d2)

        # Same port, same state dir.
        t0 = time.monotonic()
        self.pmsd.start()

        def back():
            if time.monotonic() - t0 < 2.5:  # past the 1 s expiry, twice
                return False
            got = self.pmsd.ok("GET", "/v1/nodes")["nodes"]
            return (sorted(n["id"] for n in got) == ["n0", "n1", "n2"] and
                    all(n["age_ms"] < 1000 for n in got))
        ph.wait_for(back, 20, "the nodes heartbeating the new pmsd")
        log("timing: nodes heartbeat the restarted pmsd after %.1f s"
            % (time.monotonic() - t0))

        # Written through the mount after the restart: reads back through
        # it, through a new mount (a token from the restarted pmsd) and
        # straight from the bucket.
        d3 = pattern(2 * h.CHUNK + 3, 12)
        with open(m.path("after"), "wb") as f:
            f.write(d3)
        self.assertEqual(read_file(m.path("after")), d3)
        self.assertEqual(self.s3_sha(self.bucket, "after"), sha(d3))
        m2 = self.cluster_mount(cred, name="new")
        self.assertEqual(read_file(m2.path("after")), d3)
        self.assertEqual(read_file(m2.path("during")), d2)


    def test_second_pmsd_address_used_when_first_is_dead(self):
        # pms=DEAD,LIVE: the comma inside the -o value separates pmsd
        # addresses (each looks like host:port); the mount gets its token
        # and node list from the second.
        dead = "127.0.0.1:%d" % ph.free_port()  # nothing listens there
        cred = self.user_cred("reader", ["read", "list"])
        m = h.ClusterMount(os.path.join(self.tmp, "two"),
                           [dead, self.pmsd.addr], cred, "pb1")
        self.mounts.append(m)
        m.start()
        data = pattern(2 * h.CHUNK + 1, 13)
        self.put_object("x", data)
        self.assertEqual(read_file(m.path("x")), data)


class Routing(MountTest):
    def pbucket_over_two_backends(self):
        """pb2: backend A (a second bucket) takes "a/"; pb1's backend "s3"
        (self.bucket, backend B) takes "" and "b/". Returns the mount of a
        read-write user and bucket A."""
        bucket_a = self.bucket + "-a"
        self.add_backend("sa", bucket_a)
        self.add_pbucket("pb2", [("a/", "sa"), ("", "s3"), ("b/", "s3")])
        cred = self.user_cred("rw", ["read", "list", "write", "delete"],
                              "pb2/*")
        tok = self.pmsd.token(ph.read_cred(cred))
        for n in self.nodes:  # every node has taken pb2 from pmsd
            ph.wait_for(lambda: n.request("GET", "/v1/meta/pb2?prefix=a/",
                                          token=tok)[0] == 200, 10,
                        "%s serving pb2" % n.id)
        return self.cluster_mount(cred, source="pb2"), bucket_a

    def test_prefixes_land_in_their_backends(self):
        m, bucket_a = self.pbucket_over_two_backends()
        files = {"a/x.bin": pattern(2 * h.CHUNK + 9, 20),
                 "a/deep/y.txt": b"routed to A\n",
                 "b/z.bin": pattern(h.CHUNK + 1, 21),
                 "top.txt": b"routed to B\n"}
        os.makedirs(m.path("a", "deep"))
        os.makedirs(m.path("b"))
        for k, d in files.items():
            with open(m.path(k), "wb") as f:
                f.write(d)
        keys_a = self.s3_keys(bucket_a)
        keys_b = self.s3_keys(self.bucket)
        log("bucket A: %s; bucket B: %s" % (keys_a, keys_b))
        for k, d in files.items():
            right, wrong = ((bucket_a, self.bucket) if k.startswith("a/")
                            else (self.bucket, bucket_a))
            self.assertEqual(self.s3_sha(right, k), sha(d), k)
            self.assertIsNone(self.s3_sha(wrong, k), k + " in the wrong "
                              "bucket")
        self.assertEqual([k for k in keys_a if not k.startswith("a/")], [])
        self.assertEqual([k for k in keys_b if k.startswith("a/")], [])
        # And read back through the mount, listings included, then
        # through a fresh mount (which knows only what the nodes list).
        fresh = self.cluster_mount(m.credfile, source="pb2",
                                   name="fresh")
        for mm in (m, fresh):
            for k, d in files.items():
                try:
                    self.assertEqual(read_file(mm.path(k)), d, k)
                except FileNotFoundError:
                    self.fail("%s: %s not found; its root lists %s" % (
                        os.path.basename(mm.mnt), k,
                        sorted(os.listdir(mm.mnt))))
            self.assertEqual(sorted(os.listdir(mm.path("a"))),
                             ["deep", "x.bin"])
            self.assertEqual(os.listdir(mm.path("b")), ["z.bin"])
            self.assertIn("top.txt", os.listdir(mm.mnt))

    def test_routed_prefix_listed_in_its_parent(self):
        # "a/" lives in another backend than "": a listing of the root
        # must still show "a" (find, cp -r, rsync walk from the top).
        m, bucket_a = self.pbucket_over_two_backends()
        os.makedirs(m.path("b"))
        with open(m.path("top.txt"), "wb") as f:
            f.write(b"B\n")
        with open(m.path("b", "z.txt"), "wb") as f:
            f.write(b"B\n")
        # Made behind the mount's back, in backend A only.
        h.put_stream(os.environ["S3RVER_URL"], "/%s/a/x.txt" % bucket_a, 2,
                     [b"A\n"])
        t0 = time.monotonic()
        try:
            ph.wait_for(lambda: os.path.exists(m.path("a", "x.txt")), 5,
                        "a/x.txt", step=0.2)
        except AssertionError:
            self.fail("a/x.txt (in backend A only) not found through the "
                      "mount in 5 s; the root lists %s"
                      % sorted(os.listdir(m.mnt)))
        log("a/x.txt visible after %.1f s" % (time.monotonic() - t0))
        self.assertEqual(read_file(m.path("a", "x.txt")), b"A\n")

        def root():
            return sorted(os.listdir(m.mnt))
        try:
            ph.wait_for(lambda: "a" in root(), 5, "a in the root listing",
                        step=0.2)
        except AssertionError:
            self.fail("the root of pb2 lists %s: no 'a', whose prefix "
                      "routes to another backend" % root())
        walked = sorted(os.path.relpath(os.path.join(d, f), m.mnt)
                        for d, _, fs in os.walk(m.mnt) for f in fs)
        self.assertEqual(walked, ["a/x.txt", "b/z.txt", "top.txt"])


class Security(MountTest):
    def try_mount(self, credfile, source="pb1"):
        m = self.cluster_mount(credfile, source=source, name="fails",
                               start=False)
        t0 = time.monotonic()
        rc, err = m.try_mount(timeout=30)
        import mounthelp as mh
        self.assertFalse(mh.mounted(m.mnt))
        return rc, err.strip(), time.monotonic() - t0

    def test_wrong_secret_fails_the_mount(self):
        ak, sk = self.pmsd.make_user("alice", [{"actions": ["read", "list"],
                                               "resources": ["pb1/*"]}])
        bad = h.write_credfile(os.path.join(self.tmp, "bad.cred"),
                               (ak, "x" * len(sk)))
        rc, err, secs = self.try_mount(bad)
        log("wrong secret: exit %s in %.1f s: %s" % (rc, secs, err))
        self.assertNotEqual(rc, 0)
        self.assertIn("credentials", err.lower())
        self.assertLess(secs, 15)
        # An access key pmsd does not know: the same.
        unknown = h.write_credfile(os.path.join(self.tmp, "unknown.cred"),
                                   ("AKNOSUCHKEY0000", sk))
        rc, err, _ = self.try_mount(unknown)
        log("unknown key: exit %s: %s" % (rc, err))
        self.assertNotEqual(rc, 0)
        self.assertIn("credentials", err.lower())
        # The right key mounts (so the failures above were the keys').
        good = h.write_credfile(os.path.join(self.tmp, "good.cred"), (ak, sk))
        self.cluster_mount(good)

    def test_user_of_another_pbucket_cannot_mount(self):
        cred = self.user_cred("other", ["read", "list"], "pb9/*")
        rc, err, _ = self.try_mount(cred)
        log("user of pb9 mounting pb1: exit %s: %s" % (rc, err))
        self.assertNotEqual(rc, 0)
        self.assertTrue(err, "no message on stderr")

    def test_read_only_user(self):
        data = pattern(2 * h.CHUNK + 100, 30)
        etag = self.put_object("data/obj", data)
        m = self.cluster_mount(self.user_cred("ro", ["read", "list"]))
        self.assertEqual(read_file(m.path("data", "obj")), data)
        self.assertEqual(os.listdir(m.path("data")), ["obj"])

        stage = {}

        def writes(name, path, mode):
            def fn():
                stage[name] = "open"
                with open(path, mode, buffering=0) as f:
                    stage[name] = "write"
                    f.write(b"must not land")
                    stage[name] = "close"
            return fn
        for name, path, mode in (("create", m.path("data", "new"), "wb"),
                                 ("overwrite", m.path("data", "obj"), "r+b"),
                                 ("append", m.path("data", "obj"), "ab")):
            self.assertErrno(errno.EACCES, writes(name, path, mode))
        log("read-only user: EACCES at %s" % stage)
        self.assertErrno(errno.EACCES, os.unlink, m.path("data", "obj"))
        self.assertErrno(errno.EACCES, os.rename, m.path("data", "obj"),
                         m.path("data", "moved"))
        try:
            os.mkdir(m.path("newdir"))
        except OSError as e:
            self.assertEqual(e.errno, errno.EACCES, e)
        # Nothing changed in the bucket.
        self.assertEqual(self.s3_keys(self.bucket), ["data/obj"])
        self.assertEqual(ch.head_etag("S3RVER", "/%s/data/obj"
                                      % self.bucket), etag)
        self.assertEqual(read_file(m.path("data", "obj")), data)
        # Last, so that everything above is checked in any case: the
        # refusal comes at open(), not only when close() uploads (the
        # mount knows its token's scopes).
        self.assertEqual(stage, {"create": "open", "overwrite": "open",
                                 "append": "open"},
                         "EACCES came late for a read-only user")

    def test_nodes_refuse_write_paths_without_token(self):
        # test_cluster_auth.py covers chunk GET, meta HEAD and PUT; these
        # are the other requests a mount sends to nodes.
        node = self.nodes[0]
        ro = self.pmsd.token(self.pmsd.make_user("ro2", [{
            "actions": ["read", "list"], "resources": ["pb1/*"]}]))
        cases = [
            ("GET", "/v1/meta/pb1?prefix=&delimiter=/", None),
            ("GET", "/v1/meta/pb1/x", None),
            ("DELETE", "/v1/meta/pb1/x", None),
            ("POST", "/v1/meta/pb1/x?uploads", None),
            ("PUT", "/v1/meta/pb1/x?upload_id=u1&part=1", b"part"),
            ("POST", "/v1/meta/pb1/x?upload_id=u1",
             b'{"parts":[{"part":1,"etag":"\\"e\\""}]}'),
            ("DELETE", "/v1/meta/pb1/x?upload_id=u1", None),
            ("PUT", "/v1/meta/pb1/y?copy_from=x", None),
            ("POST", "/v1/warmup", b'{"pbucket":"pb1","prefix":""}'),
        ]
        for method, path, body in cases:
            st, _, out = node.request(method, path, body=body)
            self.assertEqual((st, h.err_code(out)), (401, "Unauthorized"),
                             "%s %s: %s" % (method, path, out))
        # A read-only token: the writes are 403, the reads pass.
        for method, path, body in cases[2:8]:
            st, _, out = node.request(method, path, body=body, token=ro)
            self.assertEqual(st, 403, "%s %s: %s" % (method, path, out))
        self.assertEqual(node.request("GET", cases[0][1], token=ro)[0], 200)
        # Nothing reached the bucket.
        self.assertEqual(self.s3_keys(self.bucket), [])


class Writes(MountTest):
    timeout = 240

    def test_small_and_multipart_files(self):
        cred = self.user_cred("rw", ["read", "list", "write", "delete"])
        m = self.cluster_mount(cred, name="writer")
        src = os.path.join(self.tmp, "src")
        os.makedirs(src)
        sizes = {"small.bin": 100 * 1024 + 1, "large.bin": 40 * MiB + 12345}
        digests = {}
        for i, (name, size) in enumerate(sizes.items()):
            hh = hashlib.sha256()
            with open(os.path.join(src, name), "wb") as f:
                for b in h.pattern_blocks(size, 40 + i):
                    hh.update(b)
                    f.write(b)
            digests[name] = hh.hexdigest()
        os.makedirs(m.path("w"))
        for name in sizes:
            t0 = time.monotonic()
            p = subprocess.run(["cp", os.path.join(src, name),
                                m.path("w", name)],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            log("timing: cp of %s (%d bytes) into the mount: %.2f s"
                % (name, sizes[name], time.monotonic() - t0))
        # close() returned: the objects are in the bucket.
        for name in sizes:
            self.assertEqual(self.s3_sha(self.bucket, "w/" + name),
                             digests[name], name)
        # A second cluster mount, its own caches.
        c0 = self.chunk_counts()
        hits0 = sum(n.metrics()["pcpd_chunk_hits_total"] for n in self.nodes)
        m2 = self.cluster_mount(cred, name="reader")
        for name, size in sizes.items():
            self.assertEqual(os.stat(m2.path("w", name)).st_size, size)
            got, _ = h.sha256_path(m2.path("w", name), timeout=120)
            self.assertEqual(got, digests[name], name)
        hits = sum(n.metrics()["pcpd_chunk_hits_total"]
                   for n in self.nodes) - hits0
        reqs = sum(self.chunk_counts()) - sum(c0)
        log("read back through a second mount: %d chunk requests, %d hits "
            "(chunks cached by the writes)" % (reqs, hits))
        # And through the writer itself.
        for name in sizes:
            got, _ = h.sha256_path(m.path("w", name), timeout=120)
            self.assertEqual(got, digests[name], name)
        self.assertEqual(sorted(os.listdir(m2.path("w"))), sorted(sizes))


def main():
    h.mount_main(h.cluster_mount_missing)


if __name__ == "__main__":
    main()
