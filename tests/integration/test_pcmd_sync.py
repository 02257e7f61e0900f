#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_pcmd_sync.py - pcmd sync, ls, rm, the progress bar, --json, the
config file and exit codes, against s3rver (S3RVER_* from
scripts/test.sh; exit 77 without).

- a 2,000-file tree synced up and down, checksums compared, and a second
  run that copies nothing;
- a download killed by PID half-way, resumed: only the rest is copied
  (GETs counted from pcmd --json), no temporary file is left;
- --delete and --dry-run both ways;
- the progress bar on a pseudo-terminal (script -qc), none when piped;
- exit codes 0, 1 (partial failure), 2 (usage).

usage: test_pcmd_sync.py PCMD_BINARY
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

PCMD = None
ENV = None
TMP = None
NFILES = 2000


def need_env():
    global ENV, TMP
    for n in ("S3RVER_URL", "S3RVER_KEY", "S3RVER_SECRET",
              "PCACHE_TEST_TMP"):
        if not os.environ.get(n):
            print("SKIP: %s not set (run through scripts/test.sh)" % n)
            sys.exit(77)
    ENV = dict(os.environ)
    ENV["PCACHE_ENDPOINT"] = os.environ["S3RVER_URL"]
    ENV["AWS_ACCESS_KEY_ID"] = os.environ["S3RVER_KEY"]
    ENV["AWS_SECRET_ACCESS_KEY"] = os.environ["S3RVER_SECRET"]
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        ENV.pop(k, None)
    TMP = tempfile.mkdtemp(prefix="pcmd-sync-",
                           dir=os.environ["PCACHE_TEST_TMP"])


def pcmd(*args, timeout=300, check=None):
    """Runs pcmd; returns (status, stdout, stderr)."""
    p = subprocess.run([PCMD] + list(args), env=ENV, capture_output=True,
                       text=True, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError("pcmd %s: exit %d, want %d\n%s%s" % (
            " ".join(args), p.returncode, check, p.stdout[-2000:],
            p.stderr[-2000:]))
    return p.returncode, p.stdout, p.stderr


def pcmd_json(*args, check=0):
    _, out, _ = pcmd(*(("--json",) + args), check=check)
    return json.loads(out)


_n = [0]


def new_bucket():
    _n[0] += 1
    name = "pcmd-%d-%d" % (os.getpid(), _n[0])
    pcmd("mb", "s3://" + name, check=0)
    return name


def make_tree(root, n, size0=64):
    """n files in 20 directories; returns {relpath: sha256}."""
    sums = {}
    for i in range(n):
        rel = "d%02d/f%04d.bin" % (i % 20, i)
        data = os.urandom(size0 + (i * 37) % 3000)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    return sums


def tree_sums(root):
    sums = {}
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                sums[os.path.relpath(path, root)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return sums


def remote_keys(bucket, prefix):
    _, out, _ = pcmd("ls", "-r", "s3://%s/%s" % (bucket, prefix), check=0)
    return sorted(out.split())


class SyncTree(unittest.TestCase):
    """2,000 files up, down, and again: checksums, nothing copied twice."""

    def test_tree_up_down(self):
        bucket = new_bucket()
        src = os.path.join(TMP, "tree-src")
        sums = make_tree(src, NFILES)
        t0 = time.time()
        j = pcmd_json("-j", "16", "sync", src, "s3://%s/tree/" % bucket)
        up = time.time() - t0
        self.assertEqual(j["copied"], NFILES)
        self.assertEqual(j["failed"], 0)
        self.assertEqual(j["requests"]["PUT"], NFILES)
        self.assertEqual(len(remote_keys(bucket, "tree/")), NFILES)
        dst = os.path.join(TMP, "tree-dst")
        t0 = time.time()
        j = pcmd_json("-j", "16", "sync", "s3://%s/tree" % bucket, dst)
        down = time.time() - t0
        self.assertEqual(j["copied"], NFILES)
        self.assertEqual(j["requests"]["GET"], NFILES)
        self.assertEqual(tree_sums(dst), sums, "checksums after down")
        print("2,000 files: up %.1fs, down %.1fs" % (up, down))
        # second runs: listing only, nothing copied
        j = pcmd_json("sync", src, "s3://%s/tree/" % bucket)
        self.assertEqual((j["copied"], j["same"]), (0, NFILES))
        self.assertEqual(j["requests"]["PUT"], 0)
        j = pcmd_json("sync", "s3://%s/tree/" % bucket, dst)
        self.assertEqual((j["copied"], j["same"]), (0, NFILES))
        self.assertEqual(j["requests"]["GET"], 0)
        # a changed file (same size, new content, new mtime) goes again
        p = os.path.join(src, "d03/f0003.bin")
        size = os.path.getsize(p)
        with open(p, "wb") as f:
            f.write(os.urandom(size))
        os.utime(p, (time.time() + 5, time.time() + 5))
        j = pcmd_json("sync", src, "s3://%s/tree/" % bucket)
        self.assertEqual(j["copied"], 1)
        # a touched file with the same content is checked by MD5, not sent
        os.utime(os.path.join(src, "d04/f0004.bin"),
                 (time.time() + 5, time.time() + 5))
        j = pcmd_json("sync", src, "s3://%s/tree/" % bucket)
        self.assertEqual((j["copied"], j["requests"]["PUT"]), (0, 0))
        j = pcmd_json("sync", "s3://%s/tree/" % bucket, dst)
        self.assertEqual(j["copied"], 1)
        self.assertEqual(tree_sums(dst), tree_sums(src))
        # the mount's metadata: s3fs mode and mtime on uploads
        _, out, _ = pcmd("stat", "s3://%s/tree/d05/f0005.bin" % bucket,
                         check=0)
        self.assertIn("x-amz-meta-mtime: %d" % int(os.path.getmtime(
            os.path.join(src, "d05/f0005.bin"))), out)
        self.assertIn("x-amz-meta-mode: %d" % os.stat(
            os.path.join(src, "d05/f0005.bin")).st_mode, out)


class SyncResume(unittest.TestCase):
    def test_killed_download_resumes(self):
        bucket = new_bucket()
        src = os.path.join(TMP, "resume-src")
        sums = make_tree(src, NFILES, size0=2000)
        pcmd("-j", "16", "-q", "sync", src, "s3://%s/r/" % bucket, check=0)
        dst = os.path.join(TMP, "resume-dst")
        p = subprocess.Popen([PCMD, "-j", "2", "-q", "sync",
                              "s3://%s/r/" % bucket, dst], env=ENV,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            t0 = time.time()
            while time.time() - t0 < 60 and p.poll() is None:
                done = sum(len(f) for _, _, f in os.walk(dst)) \
                    if os.path.isdir(dst) else 0
                if done >= NFILES // 4:
                    break
                time.sleep(0.02)
            self.assertIsNone(p.poll(), "sync ended before it was killed")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        whole = [r for r, s in tree_sums(dst).items()
                 if not os.path.basename(r).startswith(".")]
        good = sum(1 for r in whole if tree_sums(dst)[r] == sums[r]) \
            if whole else 0
        self.assertEqual(good, len(whole), "killed sync left a partial file")
        self.assertLess(len(whole), NFILES)
        j = pcmd_json("-j", "8", "sync", "s3://%s/r/" % bucket, dst)
        self.assertEqual(j["copied"], NFILES - len(whole))
        self.assertEqual(j["requests"]["GET"], NFILES - len(whole))
        self.assertEqual(j["same"], len(whole))
        self.assertEqual(tree_sums(dst), sums, "no temporary left, all equal")
        print("killed after %d of %d files; resumed run copied %d" %
              (len(whole), NFILES, j["copied"]))


class SyncDeleteDryRun(unittest.TestCase):
    def test_delete_and_dry_run(self):
        bucket = new_bucket()
        src = os.path.join(TMP, "del-src")
        make_tree(src, 30)
        url = "s3://%s/del/" % bucket
        # dry run: says what it would do, does nothing
        rc, out, _ = pcmd("-n", "sync", src, url)
        self.assertEqual(rc, 0)
        self.assertEqual(out.count("(dry run) upload "), 30)
        self.assertEqual(remote_keys(bucket, "del/"), [])
        pcmd("-q", "sync", src, url, check=0)
        os.unlink(os.path.join(src, "d01/f0001.bin"))
        os.unlink(os.path.join(src, "d02/f0002.bin"))
        # without --delete the extra keys stay
        j = pcmd_json("sync", src, url)
        self.assertEqual(j["deleted"], 0)
        self.assertEqual(len(remote_keys(bucket, "del/")), 30)
        rc, out, _ = pcmd("-n", "--delete", "sync", src, url)
        self.assertIn("(dry run) delete %sd01/f0001.bin" % url, out)
        self.assertEqual(len(remote_keys(bucket, "del/")), 30)
        j = pcmd_json("--delete", "sync", src, url)
        self.assertEqual(j["deleted"], 2)
        self.assertEqual(len(remote_keys(bucket, "del/")), 28)
        # down: local extras
        dst = os.path.join(TMP, "del-dst")
        pcmd("-q", "sync", url, dst, check=0)
        with open(os.path.join(dst, "extra.txt"), "w") as f:
            f.write("x")
        rc, out, _ = pcmd("-n", "--delete", "sync", url, dst)
        self.assertIn("(dry run) delete %s/extra.txt" % dst, out)
        self.assertTrue(os.path.exists(os.path.join(dst, "extra.txt")))
        j = pcmd_json("--delete", "sync", url, dst)
        self.assertEqual(j["deleted"], 1)
        self.assertEqual(tree_sums(dst), tree_sums(src))
        # rm -r -n, then rm -r
        rc, out, _ = pcmd("rm", "-r", "-n", url)
        self.assertEqual(out.count("(dry run) delete"), 28)
        j = pcmd_json("rm", "-r", url)
        self.assertEqual(j["deleted"], 28)
        self.assertEqual(remote_keys(bucket, "del/"), [])


class Output(unittest.TestCase):
    def test_progress_tty_and_pipe(self):
        bucket = new_bucket()
        src = os.path.join(TMP, "bar-src")
        make_tree(src, 200, size0=20000)
        cmd = "%s -j 2 sync %s s3://%s/bar/" % (PCMD, src, bucket)
        # bytes: text mode would turn the bar's \r into \n
        out = subprocess.run(["script", "-qc", cmd, "/dev/null"], env=ENV,
                             capture_output=True, timeout=300)
        tty = out.stdout.decode(errors="replace")
        self.assertEqual(out.returncode, 0, tty[-2000:])
        self.assertIn("\r\x1b[Ksync [", tty)
        self.assertRegex(tty, r"sync \[[#.]+\] +\d+% .*200/200 files"
                         r".*/s, ETA")
        self.assertIn("sync: 200 source files: 200 copied", tty)
        # piped: results on stdout only, nothing on stderr
        rc, so, se = pcmd("sync", "s3://%s/bar/" % bucket,
                          os.path.join(TMP, "bar-dst"))
        self.assertEqual(rc, 0)
        self.assertEqual(se, "")
        self.assertNotIn("\r", so)
        self.assertNotIn("ETA", so)
        self.assertEqual(so.count("download "), 200)
        # --json: one document, nothing else
        j = pcmd_json("sync", "s3://%s/bar/" % bucket,
                      os.path.join(TMP, "bar-dst"))
        self.assertEqual(j["same"], 200)

    def test_ls_long_human(self):
        bucket = new_bucket()
        p = os.path.join(TMP, "ls.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(3 << 20))
        pcmd("put", p, "s3://%s/a/b/c.bin" % bucket, check=0)
        _, out, _ = pcmd("ls", "-l", "-h", "-r", "s3://%s/" % bucket, check=0)
        self.assertRegex(out, r"\s3\.0M\s+\"[0-9a-f]+\"\s+a/b/c\.bin")
        _, out, _ = pcmd("ls", "s3://%s/a/" % bucket, check=0)
        self.assertEqual(out.strip(), "a/b/")
        j = pcmd_json("ls", "-r", "s3://%s/" % bucket)
        self.assertEqual(j["entries"][0]["size"], 3 << 20)

    def test_config_file(self):
        bucket = new_bucket()
        conf = os.path.join(TMP, "pcachefs.conf")
        with open(conf, "w") as f:
            f.write("# shared with the mount\nendpoint = %s\n"
                    "cache_size = 1G\nattr_timeout = 5s\njobs = 4\n"
                    % os.environ["S3RVER_URL"])
        env = dict(ENV)
        env.pop("PCACHE_ENDPOINT")
        out = subprocess.run([PCMD, "--config", conf, "ls",
                              "s3://%s/" % bucket], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(conf, "a") as f:
            f.write("no_such_setting = 1\n")
        out = subprocess.run([PCMD, "--config", conf, "ls",
                              "s3://%s/" % bucket], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("pcachefs.conf:6", out.stderr)


class ExitCodes(unittest.TestCase):
    def test_usage_errors(self):
        for args in (["sync", "/tmp"], ["nosuchcmd"], ["sync", "/a", "/b"],
                     ["-j", "0", "sync", "s3://x/y", "/tmp/z"],
                     ["--no-such-option"], ["ls", "not-a-url"],
                     ["sync", "s3://a/b", "s3://c/d"]):
            rc, _, err = pcmd(*args)
            self.assertEqual(rc, 2, "%s: %d %s" % (args, rc, err))
        env = dict(ENV)
        env.pop("PCACHE_ENDPOINT")
        rc = subprocess.run([PCMD, "ls", "s3://x/"], env=env,
                            capture_output=True).returncode
        self.assertEqual(rc, 2, "no endpoint is a usage error")
        rc, _, _ = pcmd("--help")
        self.assertEqual(rc, 0)

    def test_failure_and_partial_failure(self):
        rc, _, err = pcmd("ls", "s3://no-such-bucket-%d/" % os.getpid())
        self.assertEqual(rc, 1, err)
        bucket = new_bucket()
        src = os.path.join(TMP, "part-src")
        make_tree(src, 10)
        pcmd("-q", "sync", src, "s3://%s/p/" % bucket, check=0)
        dst = os.path.join(TMP, "part-dst")
        # a directory where a file should go: that one file fails
        os.makedirs(os.path.join(dst, "d03/f0003.bin/sub"))
        rc, out, err = pcmd("sync", "s3://%s/p/" % bucket, dst)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("d03/f0003.bin", err)
        self.assertIn("9 copied", out)
        self.assertIn("1 failed", out)
        shutil.rmtree(os.path.join(dst, "d03/f0003.bin"))
        rc, out, _ = pcmd("sync", "s3://%s/p/" % bucket, dst)
        self.assertEqual(rc, 0)
        self.assertIn("1 copied", out)


def main():
    global PCMD
    if len(sys.argv) < 2:
        print("usage: test_pcmd_sync.py PCMD_BINARY")
        sys.exit(2)
    PCMD = os.path.abspath(sys.argv[1])
    need_env()
    t0 = time.time()
    prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    print("pcmd sync tests: %.1fs" % (time.time() - t0))
    if TMP and prog.result.wasSuccessful():
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
