#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The mount's resource limits and its credentials:

- a disk cache on a tiny tmpfs fills up and reads go on, correct, uncached;
- cache_size is never exceeded by more than a chunk per reader in flight;
- max_memory bounds the process while 16 files are read at once;
- a changed credentials file is used by the running mount (no remount).
"""
import errno
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mounthelp as mh  # noqa: E402

MiB = mh.MiB


def du_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class TestCacheLimits(mh.MountCase):
    SERVER = "S3RVER"
    TIMEOUT = 180

    def test_full_cache_disk_degrades_to_uncached_reads(self):
        bucket = self.server.new_bucket("tinycache")
        data = mh.pattern(48 * MiB, 7)
        self.server.put(bucket, "big.bin", data)
        cache = os.path.join(self.tmp, "tmpfs")
        os.makedirs(cache)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs",
                        cache], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", cache])
        # The store is told it has far more room than the disk has.
        m = self.mount(bucket=bucket, cache_dir=cache,
                       opts={"cache_size": "1G", "chunk_size": "1M"})
        for _ in range(2):
            self.assertEqual(mh.read_file(m.path("big.bin")), data)
            subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"])
        self.assertLessEqual(du_bytes(cache), 12 * MiB)

    def test_cache_size_is_a_hard_limit(self):
        bucket = self.server.new_bucket("cachesize")
        files = {"f%d" % i: mh.pattern(6 * MiB, i) for i in range(6)}
        for k, v in files.items():
            self.server.put(bucket, k, v)
        m = self.mount(bucket=bucket,
                       opts={"cache_size": "8M", "chunk_size": "1M"})
        threads = []
        results = {}

        def reader(name):
            results[name] = mh.read_file(m.path(name))
        for name in files:
            t = threading.Thread(target=reader, args=(name,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(120)
        self.assertEqual(results, files)
        # one chunk per reader in flight is the documented slack
        self.assertLessEqual(du_bytes(m.cache_dir), (8 + 6 + 1) * MiB)

    def test_memory_stays_under_max_memory(self):
        ldd = subprocess.run(["ldd", mh.binary("pcachefs")],
                             capture_output=True, text=True).stdout
        if "libasan" in ldd:
            self.skipTest("sanitizer build: ASan's shadow and quarantine "
                          "make RSS meaningless (scripts/bench.sh measures "
                          "it on a release build)")
        bucket = self.server.new_bucket("memory")
        data = mh.pattern(40 * MiB, 3)
        self.server.put(bucket, "src", data)
        c = self.server.client()
        for i in range(16):
            c.copy_object(Bucket=bucket, Key="f%02d" % i,
                          CopySource={"Bucket": bucket, "Key": "src"})
        m = self.mount(bucket=bucket, opts={"max_memory": "128M",
                                            "cache_size": "0"})
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(m.pid))
                done.wait(0.02)
        s = threading.Thread(target=sample)
        s.start()
        threads = [threading.Thread(target=mh.read_file,
                                    args=(m.path("f%02d" % i),))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        done.set()
        s.join()
        mh.log("peak RSS with max_memory=128M: %d KiB" % peak[0])
        self.assertGreater(peak[0], 0)
        self.assertLess(peak[0], 128 * 1024 + 32 * 1024,
                        "RSS must stay near max_memory")


class TestConfigFile(mh.MountCase):
    SERVER = "S3RVER"
    TIMEOUT = 60

    def test_config_file_and_overrides(self):
        bucket = self.server.new_bucket("conf")
        self.server.put(bucket, "a.txt", b"from s3")
        conf = os.path.join(self.tmp, "pcachefs.conf")
        with open(conf, "w") as f:
            # the command line's endpoint= must win over this one
            f.write("# shared with pcmd --config\n"
                    "endpoint = http://127.0.0.1:1\n"
                    "chunk_size = 2M\nattr_timeout = 2s\nparallel = 4\n")
        m = self.mount(bucket=bucket, opts={"config": conf})
        self.assertEqual(mh.read_file(m.path("a.txt")), b"from s3")
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("chunk_size = 2M\nnot a setting line\n")
        r = subprocess.run([mh.binary("pcachefs"), "s3://" + bucket,
                            os.path.join(self.tmp, "never"), "-o",
                            "config=" + bad], capture_output=True, text=True,
                           timeout=30, env=self.server.env())
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.conf:2:", r.stderr)


class TestCredentialRotation(mh.MountCase):
    SERVER = "RGW"
    TIMEOUT = 120

    def write_cred(self, path, key, secret):
        tmp = path + ".new"
        with open(tmp, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (key, secret))
        os.rename(tmp, path)

    def test_changed_credfile_is_used_without_remount(self):
        bucket = self.server.new_bucket("rotate")
        self.server.put(bucket, "a.txt", b"hello")
        cred = os.path.join(self.tmp, "cred")
        self.write_cred(cred, self.server.key, self.server.secret)
        env = dict(self.server.env())
        env.pop("AWS_ACCESS_KEY_ID")
        env.pop("AWS_SECRET_ACCESS_KEY")
        m = self.mount(bucket=bucket, env=env,
                       opts={"credfile": cred, "attr_timeout": "0",
                             "retries": "0"})
        self.assertEqual(mh.read_file(m.path("a.txt")), b"hello")
        # A wrong secret: the running mount picks it up and is refused.
        self.write_cred(cred, self.server.key, "wrong-secret")

        def refused():
            try:
                with open(m.path("b.txt"), "wb") as f:
                    f.write(b"x")
            except OSError as e:
                return e.errno == errno.EACCES
            return False
        mh.wait_for(refused, 10, interval=0.2, what="EACCES with new keys")
        # The right keys again: it works again, still the same mount.
        self.write_cred(cred, self.server.key, self.server.secret)

        def accepted():
            try:
                mh.write_file(m.path("c.txt"), b"back")
                return True
            except OSError:
                return False
        mh.wait_for(accepted, 10, interval=0.2, what="writes with good keys")
        self.assertEqual(self.server.get(bucket, "c.txt"), b"back")


if __name__ == "__main__":
    mh.require(servers=("S3RVER", "RGW"))
    mh.main()
