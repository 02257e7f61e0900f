#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_status_page.py - pmsd's status page (GET /) and the operations
files.

- nodes register and heartbeat with the optional "stats" body
  (docs/protocol.md); the page shows every node row with its health (live,
  expired), tier usage, hit ratio and bytes, per-pbucket bytes served vs
  fetched from S3, and the hot chunks, all HTML-escaped; malformed stats
  never fail a heartbeat;
- headless Debian chromium renders it to a PNG screenshot (skipped when
  chromium is not installed);
- the example configs in packaging/etc start a real pmsd and pcpd
  (addresses and directories replaced by private ones).

usage: test_status_page.py PMSD PCACHECTL TOKEN_TOOL   (PCPD_BIN in env)
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmsdhelp as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def node_body(i):
    return {"id": "n%d" % i, "address": "127.0.0.1:%d" % (7180 + i),
            "zone": "rack%d" % i,
            "tiers": [{"name": "mem", "capacity": 1 << 30},
                      {"name": "ssd", "capacity": 100 << 30}]}


def stats(hits, misses, served, fetched, hot_name="pb1/train/a.bin#0"):
    return {"stats": {
        "chunk_hits": hits, "chunk_misses": misses, "chunk_joins": 0,
        "bytes_served": served, "backend_bytes": fetched,
        "tiers": [{"name": "mem", "capacity": 1 << 30, "used": 3 << 28,
                   "chunks": 96},
                  {"name": "ssd", "capacity": 100 << 30, "used": 10 << 30,
                   "chunks": 1280}],
        "pbuckets": {"pb1": {"bytes_served": served,
                             "backend_bytes": fetched}},
        "hot": [{"name": hot_name, "count": 42},
                {"name": "pb1/<script>x</script>#1", "count": 7}],
        "future_field": {"ignored": True}}}


class StatusPage(h.PmsdTest):
    opts = {"heartbeat_interval": "200ms", "heartbeat_expiry": "2s",
            "tick": "50ms"}

    def setUp(self):
        super().setUp()
        self.node = self.node_cred()
        self.pmsd.ok("POST", "/v1/backends", {
            "name": "b1", "endpoint": "http://127.0.0.1:9", "bucket": "data",
            "path_style": True, "access_key": "AK", "secret_key": "SK"})
        self.pmsd.ok("POST", "/v1/pbuckets", {
            "name": "pb1", "routes": [{"prefix": "", "backend": "b1"}]})
        for i in (1, 2):
            self.pmsd.ok("POST", "/v1/nodes", node_body(i), auth=self.node)

    def beat(self, i, body=None, raw=None):
        return self.pmsd.request("PUT", "/v1/nodes/n%d/heartbeat" % i,
                                 body=body, raw=raw, auth=self.node)

    def page(self):
        r = self.pmsd.request("GET", "/", auth=None)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith(
            "text/html"))
        return r.raw.decode()

    def bring_up(self):
        """n1 live with stats, n2 reports then expires."""
        self.assertEqual(self.beat(2, stats(10, 10, 1 << 20, 1 << 20)).status,
                         200)
        t0 = time.time()
        while time.time() - t0 < 10:
            self.assertEqual(self.beat(1, stats(300, 100, 3 << 30,
                                                1 << 30)).status, 200)
            nodes = self.pmsd.ok("GET", "/v1/nodes", query="all=1")["nodes"]
            if [n["live"] for n in nodes] == [True, False]:
                return
            time.sleep(0.3)
        self.fail("n2 did not expire")

    def test_page_content(self):
        html = self.page()
        self.assertIn("no stats reported", html)  # registered, no reports
        self.bring_up()
        html = self.page()
        rows = re.findall(r"<tr class=node>.*?</tr>", html, re.S)
        self.assertEqual(len(rows), 2, html)
        self.assertIn("n1", rows[0])
        self.assertIn("127.0.0.1:7181", rows[0])
        self.assertIn("rack1", rows[0])
        self.assertIn("class=live>live<", rows[0])
        self.assertIn("class=down>expired<", rows[1])
        self.assertIn("75.0%", rows[0])  # 300 hits of 400
        self.assertIn("3.0 GiB", rows[0])  # bytes served
        self.assertIn("768.0 MiB / 1.0 GiB", rows[0])  # mem tier usage
        self.assertIn("1 of 2 nodes live", re.sub(r"</?b>", "", html))
        pb = re.search(r"<tr><td>pb1</td>.*?</tr>", html, re.S).group(0)
        # served 3 GiB + 1 MiB, fetched 1 GiB + 1 MiB: 2 GiB avoided
        self.assertIn("2.0 GiB", pb)
        hot = re.search(r"<table id=hot>.*?</table>", html, re.S).group(0)
        # the same chunk on two nodes: one row, 42 + 42 requests
        self.assertEqual(hot.count("pb1/train/a.bin#0"), 1)
        self.assertIn("<td class=num>84</td>", hot)
        self.assertNotIn("<script>", html)
        self.assertIn("&lt;script&gt;", html)

    def test_bad_stats_never_fail_heartbeat(self):
        self.assertEqual(self.beat(1).status, 200)  # no body
        self.assertEqual(self.beat(1, {"stats": "nonsense"}).status, 200)
        self.assertEqual(self.beat(1, {"stats": {
            "chunk_hits": "x", "tiers": [1, "a", {"name": 3}],
            "hot": {"a": 1}, "pbuckets": []}}).status, 200)
        self.assertEqual(self.beat(1, {"other": 1}).status, 200)
        self.assertIn("<tr class=node>", self.page())
        self.assertEqual(self.beat(9, {"stats": {}}).status, 404)
        # deregistration forgets the node's report
        self.beat(1, stats(1, 1, 1, 1))
        self.pmsd.ok("DELETE", "/v1/nodes/n1", auth=self.node)
        self.assertNotIn("n1</td>", self.page())

    def test_chromium_screenshot(self):
        chromium = shutil.which("chromium")
        if not chromium:
            self.skipTest("chromium not installed (apt-get install chromium)")
        self.bring_up()
        profile = tempfile.mkdtemp(prefix="chromium-")
        shot = os.path.join(self.pmsd.tmp, "status.png")
        self.addCleanup(shutil.rmtree, profile, True)
        p = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run",
             "--user-data-dir=" + profile, "--screenshot=" + shot,
             "--window-size=1200,900", "http://%s/" % self.pmsd.addr],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # its own session only
                p.wait()
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 20000, "a blank page is smaller")
        print("screenshot: %d bytes" % len(png))


class ExampleConfigs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="opsconf-")
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rewrite(self, name, subs):
        with open(os.path.join(ROOT, "packaging", "etc", name)) as f:
            text = f.read()
        for pat, rep in subs:
            text, n = re.subn(pat, rep, text, flags=re.M)
            self.assertGreater(n, 0, "%s: %s" % (name, pat))
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def serve(self, args, port):
        log = open(os.path.join(self.tmp, "log"), "ab")
        p = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        self.procs.append(p)
        h.wait_for(lambda: p.poll() is not None or self.answers(port), 15,
                   args[0])
        self.assertIsNone(p.poll(), open(os.path.join(self.tmp,
                                                      "log")).read())
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)

    def answers(self, port):
        import http.client
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/status")
            return c.getresponse().status == 200
        except OSError:
            return False

    def test_pmsd_conf(self):
        port = h.free_port()
        conf = self.rewrite("pmsd.conf", [
            (r"^listen = .*$", "listen = 127.0.0.1:%d" % port),
            (r"^state_dir = .*$", "state_dir = " + self.tmp + "/state")])
        self.serve([h.BIN["pmsd"], "--config", conf], port)

    def test_pcpd_conf(self):
        pcpd = os.environ.get("PCPD_BIN")
        if not pcpd:
            self.skipTest("PCPD_BIN not set")
        port = h.free_port()
        conf = self.rewrite("pcpd.conf", [
            (r"^listen = .*$", "listen = 127.0.0.1:%d" % port),
            (r"^tier = mem:\S+", "tier = mem:%s/mem:64M" % self.tmp),
            (r"^tier = ssd:\S+", "tier = ssd:%s/ssd:128M" % self.tmp),
            # standalone: no pmsd to register with in this test
            (r"^(pms|pms_credfile|zone) = ", r"# \1 = "),
            (r"^flight_mem = .*$", "flight_mem = 256M")])
        self.serve([pcpd, "--config", conf], port)


if __name__ == "__main__":
    h.main()
