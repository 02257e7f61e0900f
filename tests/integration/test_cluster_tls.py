#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_tls.py - the cache cluster over TLS: pmsd and two pcpd
serve HTTPS (tls_cert, tls_key) with certificates for 127.0.0.1 signed by
a test CA made here with the openssl CLI; the nodes reach pmsd with
pms_ca_file and register https:// addresses; the mount verifies pmsd and
the nodes with pms_ca.

- a 20 MiB file (1 MiB chunks) written with cp through a cluster-mode
  mount reads back with the same sha256 through a fresh mount without a
  local cache, and through the writer;
- chunk replies over TLS, miss then hits from the tier files (whole,
  ranged, and from the worker's open-file cache, the evbuffer file
  segment paths), are byte-exact;
- plain HTTP to a TLS node gets no reply and the node stays up;
- a mount without the CA or with another CA fails with a message; a mount
  whose CA verifies pmsd but not the nodes (signed by a second CA) cannot
  read, and reads once given both CAs;
- pcpd refuses to start with tls_cert but no tls_key (and the other way
  round), with a key of another certificate, with a missing certificate
  file, or with an http:// advertise.

usage: test_cluster_tls.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
The mount binary: $PCACHEFS_BIN, else $PCACHE_BUILD_DIR/pcachefs/pcachefs.
Needs scripts/test.sh's s3rver environment, /dev/fuse and the openssl
CLI; skips (77) without them.
"""
import hashlib
import http.client
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pmsdhelp as ph  # noqa: E402

MiB = 1 << 20


class Pki:
    """Two CAs, a pmsd and a node certificate from the first, a node
    certificate from the second, and a bundle of both CAs (P-256, two
    days: pmsdhelp.make_ca, make_server_cert)."""

    def __init__(self, d):
        self.dir = d
        self.ca = ph.make_ca(d, "ca")
        self.ca2 = ph.make_ca(d, "ca2")
        self.pmsd = ph.make_server_cert(d, "pmsd", self.ca)
        self.node = ph.make_server_cert(d, "node", self.ca)
        self.node2 = ph.make_server_cert(d, "node2", self.ca2)
        self.bundle = os.path.join(d, "bundle.pem")
        with open(self.bundle, "w") as out:
            for c in (self.ca[0], self.ca2[0]):
                with open(c) as f:
                    out.write(f.read())


class WithPki:
    """A mixin of a TestCase class: setUpClass makes a Pki (cls.pki) in a
    new directory cls.pki_dir (prefix pki_prefix), tearDownClass removes
    it."""

    pki_prefix = "cluster-tls."

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix=cls.pki_prefix,
                                       dir=os.environ.get("PCACHE_TEST_TMP"))
        cls.pki = Pki(cls.pki_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)


def tls_pmsd(cafile):
    """pmsdhelp.Pmsd whose requests (and pcachectl) speak HTTPS and
    verify against cafile."""
    class TlsPmsd(ph.Pmsd):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.cafile = cafile
    return TlsPmsd


class TlsNode(h.Node):
    """A pcpd with tls_cert; the test's requests verify it with cafile."""

    cafile = None

    def connection(self, timeout):
        ctx = ssl.create_default_context(cafile=self.cafile)
        return http.client.HTTPSConnection(self.host, self.port,
                                           timeout=timeout, context=ctx)


def chunk_path(key, etag, index=0, pbucket="pb1"):
    import urllib.parse
    return "/v1/chunk/%s/%s?etag=%s&index=%d&chunk_size=%d" % (
        pbucket, urllib.parse.quote(key), urllib.parse.quote(etag), index,
        h.CHUNK)


class TlsCluster(WithPki, h.ClusterMountTest):
    """pmsd and the nodes on HTTPS; mounts always unmounted in cleanup
    (before the nodes and pmsd stop)."""

    nnodes = 2
    timeout = 240

    def node_cert(self, i):
        """(cert, key, CA file the test verifies it with) of node i."""
        return self.pki.node + (self.pki.ca[0],)

    def setUp(self):
        p = self.pki
        self.pmsd_opts = dict(h.ClusterTest.pmsd_opts, tls_cert=p.pmsd[0],
                              tls_key=p.pmsd[1])
        # ClusterTest makes its pmsd with pmsdhelp.Pmsd: one on HTTPS here.
        with mock.patch.object(ph, "Pmsd", tls_pmsd(p.ca[0])):
            super().setUp()
        self.mounts = []
        self.addCleanup(self.stop_mounts)

    def make_node(self, i, extra=""):
        cert, key, ca = self.node_cert(i)
        n = TlsNode(os.path.join(self.tmp, "n%d" % i), self.pmsd.addr,
                    self.credfile, i,
                    "tls_cert = %s\ntls_key = %s\npms_ca_file = %s\n%s"
                    % (cert, key, self.pki.ca[0], extra))
        n.cafile = ca
        return n

    def reader_cred(self, name="rw", actions=("read", "write", "list",
                                              "delete")):
        return self.user_cred(name, actions)

    def tls_mount(self, credfile, name, ca, opts=None, start=True):
        """A mount of pb1 on TMP/NAME that verifies with ca (None: no
        pms_ca)."""
        o = {} if ca is None else {"pms_ca": ca}
        o.update(opts or {})
        return self.cluster_mount(credfile, name=name, opts=o, start=start)

    def sum_metric(self, name):
        return sum(n.metrics().get(name, 0) for n in self.nodes)


class Tls(TlsCluster):
    def test_nodes_register_https(self):
        got = self.pmsd.ok("GET", "/v1/nodes")["nodes"]
        addrs = sorted(n["address"] for n in got)
        self.assertEqual(addrs, sorted("https://127.0.0.1:%d" % n.port
                                       for n in self.nodes))
        self.assertEqual(sorted(n["id"] for n in got), ["n0", "n1"])
        for n in self.nodes:
            self.assertIn("serving HTTPS", n.logtext())

    def test_write_and_read_back_20mib(self):
        cred = self.reader_cred()
        size = 20 * MiB + 12345
        src = os.path.join(self.tmp, "src.bin")
        digest = hashlib.sha256()
        with open(src, "wb") as f:
            for b in h.pattern_blocks(size, 7):
                digest.update(b)
                f.write(b)
        digest = digest.hexdigest()
        m = self.tls_mount(cred, "writer", self.pki.ca[0])
        p = subprocess.run(["cp", src, m.path("big.bin")], capture_output=True,
                           text=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr + m.log_tail())
        reqs0 = self.sum_metric('pcpd_requests_total{endpoint="chunk"}')
        hits0 = self.sum_metric("pcpd_chunk_hits_total")
        # A fresh mount with no local cache: every chunk from the nodes.
        r = self.tls_mount(cred, "reader", self.pki.ca[0],
                           opts={"cache_size": 0})
        self.assertEqual(os.stat(r.path("big.bin")).st_size, size)
        got, secs = h.sha256_path(r.path("big.bin"), timeout=180)
        self.assertEqual(got, digest)
        reqs = self.sum_metric('pcpd_requests_total{endpoint="chunk"}') - reqs0
        hits = self.sum_metric("pcpd_chunk_hits_total") - hits0
        sys.stderr.write("timing: 20 MiB over TLS in %.2f s, %d chunk "
                         "requests, %d hits\n" % (secs, reqs, hits))
        self.assertGreaterEqual(reqs, 21)
        got, _ = h.sha256_path(m.path("big.bin"), timeout=180)
        self.assertEqual(got, digest)
        self.assertEqual(h.get_sha256(os.environ["S3RVER_URL"],
                                      "/%s/big.bin" % self.bucket), digest)

    def test_chunk_misses_and_hits_over_tls(self):
        """Misses go out from the flight's memory once the chunk is in
        (streamed, their tails were lost: see pcpd_creq_start); hits go
        out as evbuffer file segments (first from a plain fd, then from
        the worker's open-file cache once the file is older than a
        second): all through SSL_write, whole and ranged."""
        nchunks = 6
        data = os.urandom(nchunks * h.CHUNK + 777)
        etag = self.put_object("hits/obj", data)
        tok = self.user("hitter", ["read"])
        n = self.nodes[0]
        for idx in range(nchunks + 1):
            want = data[idx * h.CHUNK:(idx + 1) * h.CHUNK]
            path = chunk_path("hits/obj", etag, idx)
            st, hd, body = n.request("GET", path, token=tok)
            self.assertEqual((st, body == want), (200, True), hd)

            def hit():
                st, hd, body = n.request("GET", path, token=tok)
                self.assertEqual((st, body == want), (200, True), hd)
                return hd.get("x-pcache-cache") == "hit"
            ph.wait_for(hit, 15, "chunk %d to be a hit" % idx, step=0.1)
        time.sleep(1.2)  # old enough for the open-file cache
        want = data[:h.CHUNK]
        path = chunk_path("hits/obj", etag, 0)
        for _ in range(3):
            st, hd, body = n.request("GET", path, token=tok)
            self.assertEqual((st, hd.get("x-pcache-cache")), (200, "hit"))
            self.assertEqual(body, want)
            st, hd, body = n.request("GET", path, token=tok,
                                     headers={"Range": "bytes=100-700099"})
            self.assertEqual((st, hd.get("x-pcache-cache")), (206, "hit"))
            self.assertEqual(body, want[100:700100])
        self.assertGreater(n.metrics()["pcpd_chunk_hits_total"], 6)

    def test_plain_http_to_a_tls_node_fails(self):
        n = self.nodes[0]
        self.assertIsNone(ph.plain_http_status("127.0.0.1", n.port))
        # A client with another CA fails the handshake.
        ctx = ssl.create_default_context(cafile=self.pki.ca2[0])
        c = http.client.HTTPSConnection("127.0.0.1", n.port, timeout=5,
                                        context=ctx)
        with self.assertRaises(ssl.SSLError):
            c.request("GET", "/v1/status")
        c.close()
        self.assertTrue(n.up())
        self.assertEqual(n.request("GET", "/v1/status")[0], 200)

    def test_mount_without_the_ca_fails(self):
        cred = self.reader_cred()
        for name, ca in (("noca", None), ("otherca", self.pki.ca2[0])):
            m = self.tls_mount(cred, name, ca, start=False)
            rc, err = m.try_mount(timeout=60)
            self.assertNotEqual(rc, 0, name)
            self.assertTrue(err.strip(), name)
            sys.stderr.write("%s: exit %d: %s\n" % (name, rc, err.strip()))


class NodeCa(TlsCluster):
    """The nodes' certificates come from a second CA: a mount that trusts
    only pmsd's CA must not read from them."""

    def node_cert(self, i):
        return self.pki.node2 + (self.pki.ca2[0],)

    def test_node_not_verified_cannot_read(self):
        cred = self.reader_cred()
        data = os.urandom(h.CHUNK + 99)
        self.put_object("x.bin", data)
        m = self.tls_mount(cred, "pmsdca", self.pki.ca[0],
                           opts={"cache_size": 0}, start=False)
        try:
            m.start()
        except AssertionError:
            m = None  # refused at mount time: as good as refused on read
        if m is not None:
            self.mounts.append(m)
            with self.assertRaises((AssertionError,
                                    subprocess.TimeoutExpired)):
                h.sha256_path(m.path("x.bin"), timeout=90)
            self.unmount(m)
        m = self.tls_mount(cred, "bundle", self.pki.bundle,
                           opts={"cache_size": 0})
        got, _ = h.sha256_path(m.path("x.bin"), timeout=60)
        self.assertEqual(got, hashlib.sha256(data).hexdigest())


class Refusals(WithPki, unittest.TestCase):
    """pcpd does not start with half or wrong TLS settings."""

    pki_prefix = "cluster-tls-refuse."

    def pcpd(self, **opts):
        o = dict({"listen": "127.0.0.1:%d" % ph.free_port()}, **opts)
        args = [ph.BIN["pcpd"], "--tier", "mem:%s:16M" % os.path.join(
            self.pki_dir, "t0"), "-o", ",".join("%s=%s" % kv
                                                for kv in o.items())]
        p = subprocess.run(args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stderr

    def assertRefused(self, text, **opts):
        rc, err = self.pcpd(**opts)
        self.assertNotEqual(rc, 0, err)
        self.assertIn(text, err)
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, err)

    def test_cert_without_key(self):
        self.assertRefused("tls_key is missing", tls_cert=self.pki.node[0])

    def test_key_without_cert(self):
        self.assertRefused("tls_cert is missing", tls_key=self.pki.node[1])

    def test_key_of_another_certificate(self):
        self.assertRefused("does not match", tls_cert=self.pki.node[0],
                           tls_key=self.pki.node2[1])

    def test_missing_certificate_file(self):
        self.assertRefused("cannot read the certificate",
                           tls_cert=os.path.join(self.pki_dir, "nope.crt"),
                           tls_key=self.pki.node[1])

    def test_http_advertise_with_tls(self):
        self.assertRefused("speaks HTTPS", tls_cert=self.pki.node[0],
                           tls_key=self.pki.node[1],
                           advertise="http://127.0.0.1:1")


def openssl_missing():
    return None if shutil.which("openssl") else "no openssl CLI"


def main():
    h.mount_main(h.cluster_mount_missing, openssl_missing)


if __name__ == "__main__":
    main()
