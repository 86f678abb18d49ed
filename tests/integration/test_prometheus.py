"""Each worker's GET /metrics, scraped by a real Prometheus server.

The test starts the three workers with metrics_listen on free loopback
ports, then Debian's `prometheus` on loopback with a scrape config for the
three (1 s interval), waits until its HTTP API reports up == 1 for each,
and queries rapport series through it. It also checks the shipped example,
deploy/prometheus/, with promtool. Without the prometheus package the test
skips (exit 77), never passes."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ia  # noqa: E402

SRC = os.environ.get("RAPPORT_SOURCE_DIR",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WORKERS = ("logwriter", "interaction", "segment")


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


class PrometheusTest(unittest.TestCase):
    def setUp(self):
        self.ports = {w: harness.free_port() for w in WORKERS}
        self.cl = harness.Cluster(start=False)
        for w in WORKERS:
            self.cl[w].extra_args += ["--set", "metrics_listen=127.0.0.1:%d" % self.ports[w]]
            self.cl[w].start()
        self.prom = None

    def tearDown(self):
        if self.prom and self.prom.poll() is None:
            self.prom.terminate()
            try:
                self.prom.wait(20)
            except subprocess.TimeoutExpired:
                self.prom.kill()
                self.prom.wait()
        if self.prom:
            self.prom_log.close()
        self.cl.close()

    def test_endpoint(self):
        status, ctype, text = http_get("http://127.0.0.1:%d/metrics" % self.ports["logwriter"])
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.assertIn('rapport_build_info{worker="logwriter",version="', text)
        self.assertIn('rapport_last_event_seq{worker="logwriter"} 0', text)
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            http_get("http://127.0.0.1:%d/other" % self.ports["logwriter"])
        self.assertEqual(cm.exception.code, 404)
        # The worker serves its ROUTER as before.
        self.cl.ok("interaction", ia.InteractionRequest(
            put_group=ia.InteractionGroup(code="g", description="G")))

    def start_prometheus(self):
        web = harness.free_port()
        cfg = os.path.join(self.cl.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: rapport\n    static_configs:\n")
            for w in WORKERS:
                f.write("      - targets: ['127.0.0.1:%d']\n        labels: {rapport_worker: %s}\n"
                        % (self.ports[w], w))
        self.prom_log = open(os.path.join(self.cl.dir, "prometheus.log"), "wb")
        self.prom = subprocess.Popen(
            ["prometheus", "--config.file=" + cfg,
             "--storage.tsdb.path=" + os.path.join(self.cl.dir, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % web, "--log.level=warn"],
            stdout=self.prom_log, stderr=self.prom_log)
        return "http://127.0.0.1:%d" % web

    def query(self, base, expr):
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            _, _, body = http_get(url)
        except (urllib.error.URLError, ConnectionError, OSError):
            return None
        doc = json.loads(body)
        return doc["data"]["result"] if doc.get("status") == "success" else None

    def wait_query(self, base, expr, check, timeout=60.0):
        deadline = time.monotonic() + timeout * harness.TIME_SCALE
        last = None
        while time.monotonic() < deadline:
            self.assertIsNone(self.prom.poll(), "prometheus exited")
            last = self.query(base, expr)
            if last is not None and check(last):
                return last
            time.sleep(0.2)
        self.fail("%s: %r" % (expr, last))

    def test_scraped_by_prometheus(self):
        if not shutil.which("prometheus"):
            print("SKIP: prometheus not installed (deploy/deps.sh installs it)")
            sys.exit(77)
        self.cl.ok("interaction", ia.InteractionRequest(
            put_group=ia.InteractionGroup(code="g", description="G")))
        base = self.start_prometheus()
        up = self.wait_query(base, 'up{job="rapport"}',
                             lambda r: len(r) == 3 and all(x["value"][1] == "1" for x in r))
        self.assertEqual(sorted(x["metric"]["rapport_worker"] for x in up), sorted(WORKERS))
        got = self.wait_query(
            base, 'rapport_requests_total{worker="interaction",command="put_group",code="ok"}',
            lambda r: len(r) == 1)
        self.assertEqual(got[0]["value"][1], "1")
        self.assertEqual(got[0]["metric"]["rapport_worker"], "interaction")


class ShippedConfigTest(unittest.TestCase):
    def test_promtool_checks_the_example(self):
        if not shutil.which("promtool"):
            print("SKIP: promtool not installed (deploy/deps.sh installs prometheus)")
            sys.exit(77)
        d = os.path.join(SRC, "deploy", "prometheus")
        p = subprocess.run(["promtool", "check", "rules", "rapport.rules.yml"], cwd=d,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"SUCCESS: 4 rules found", p.stdout)
        p = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=d,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(d, "rapport.rules.yml")) as f:
            rules = f.read()
        for name in ("up{", "rapport_relay_lag_events", "rapport_store_used_bytes",
                     "rapport_commit_fsync_seconds_bucket"):
            self.assertIn(name, rules)


if __name__ == "__main__":
    unittest.main()
