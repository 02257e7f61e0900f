#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_cluster_etcd.py - two pmsd on one etcd serving one cluster: three
pcpd and a cluster-mode mount are given both addresses; the first pmsd is
stopped, and the cluster keeps working through the second: the nodes
register with it by themselves, the mount goes on reading and writing,
and a new mount (first address dead) comes up through the second.

Needs /usr/bin/etcd (Debian's etcd-server), the s3rver environment and
/dev/fuse; exits 77 (skipped) without.

usage: test_cluster_etcd.py PMSD PCACHECTL TOKEN_TOOL PCPD [CLUSTER_TOOL]
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterhelp as h  # noqa: E402
import pmsdhelp as ph  # noqa: E402
import test_cluster_mount as tm  # noqa: E402
import test_pmsd_etcd as te  # noqa: E402


class TwoPmsd(tm.MountTest):
    timeout = 150

    def setUp(self):
        if not os.access(te.ETCD, os.X_OK):
            self.skipTest("no %s (etcd-server)" % te.ETCD)
        self.etcd = te.Etcd()
        self.addCleanup(self.etcd.stop)
        self.pmsd_opts = dict(h.ClusterTest.pmsd_opts,
                              store="etcd://" + self.etcd.addr,
                              store_poll="100ms")
        super().setUp()  # pmsd A, the backend, pb1, nodes on A alone
        # pmsd B: the same state (the admin key file is A's).
        self.b = ph.Pmsd(workdir=os.path.join(self.tmp, "pmsd-b"),
                         opts=self.pmsd_opts)
        os.makedirs(self.b.state_dir, mode=0o700)
        shutil.copy(os.path.join(self.pmsd.state_dir, "admin.cred"),
                    self.b.state_dir)
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.both = "%s,%s" % (self.pmsd.addr, self.b.addr)
        # The nodes again, now with both addresses.
        for i, n in enumerate(list(self.nodes)):
            n.stop()
            n2 = h.Node(n.dir, self.both, self.credfile, i)
            self.addCleanup(n2.kill9)
            self.addCleanup(n2.finish)
            self.nodes[i] = n2.start()
        self.wait_nodes(self.nnodes)

    def live_at(self, p):
        got = p.ok("GET", "/v1/nodes")
        return sorted(n["id"] for n in got["nodes"]
                      if n.get("live", True))

    def test_first_pmsd_stopped(self):
        cred = self.user_cred("rw", ["read", "list", "write", "delete"])
        m = h.ClusterMount(os.path.join(self.tmp, "m1"), self.both, cred,
                           "pb1")
        self.mounts.append(m)
        m.start()
        data = tm.pattern(5 * h.CHUNK + 17, 3)
        with open(m.path("before.bin"), "wb") as f:
            f.write(data)
        self.assertEqual(tm.read_file(m.path("before.bin")), data)

        self.assertEqual(self.pmsd.stop(), 0)
        # The nodes fail over to B and heartbeat there by themselves.
        ids = sorted(n.id for n in self.nodes)
        ph.wait_for(lambda: self.live_at(self.b) == ids, 20,
                    "the nodes live at the second pmsd")
        # The mount goes on: reads, writes, a new name.
        self.assertEqual(tm.read_file(m.path("before.bin")), data)
        after = tm.pattern(3 * h.CHUNK, 4)
        with open(m.path("after.bin"), "wb") as f:
            f.write(after)
        # A new mount with the dead address first comes up through B.
        m2 = h.ClusterMount(os.path.join(self.tmp, "m2"), self.both, cred,
                            "pb1", opts={"cache_size": 0})
        self.mounts.append(m2)
        m2.start()
        self.assertEqual(tm.read_file(m2.path("after.bin")), after)
        self.assertEqual(tm.read_file(m2.path("before.bin")), data)
        # B keeps changing the shared state: a user made there can mount.
        cred2 = h.write_credfile(
            os.path.join(self.tmp, "late.cred"),
            self.b.make_user("late", [{"actions": ["read", "list"],
                                       "resources": ["pb1/*"]}]))
        m3 = h.ClusterMount(os.path.join(self.tmp, "m3"), self.both, cred2,
                            "pb1", opts={"cache_size": 0})
        self.mounts.append(m3)
        m3.start()
        self.assertEqual(tm.read_file(m3.path("after.bin")), after)


if __name__ == "__main__":
    tm.main()
