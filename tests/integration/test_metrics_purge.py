"""
/metrics answers while retention purges: a pool holding thousands of segments
of a camera (a synthesized tree: rows and files, the generator of
tools/bench/startup_bench.py), kept until a reload sets the camera's
retention_days to 1, is then purged by the next age pass, one batch of rows
and files after the other, with retention's pass lock held throughout. /metrics, polled the whole time, keeps answering, and at
least one answer shows the purge half done (0 < deleted < all): it was read
while the purge held the lock, and it counts each batch as it goes. A reader
that needed that lock would wait for the end and only ever see 0 or all.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import SRC, Env, SLOW, http_request, log, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tools", "bench"))
import startup_bench  # noqa: E402

DAYS, PER_HOUR = 20, 25  # 12 000 segments of one camera
DELETED = re.compile(r'^vigil_pool_segments_deleted_total\{pool="main"\} (\d+)$', re.M)


class MetricsDuringPurge(unittest.TestCase):
    def test_metrics_during_purge(self):
        env = Env("metrics-purge")
        ok = False
        try:
            def config(days):
                return env.config([env.camera("synth-000", "rtsp://127.0.0.1:9/none",
                                              enabled=False, retention_days=days)])
            cfg = config(0)  # kept until space runs out
            env.vigild(cfg).stop()  # creates the index
            now_hour = int(time.time()) // 3600 * 3600 * 1000000
            hours = DAYS * 24
            startup_bench.synthesize(env.path("pool0"), env.path("index.db"), 1, hours,
                                     now_hour - 2 * 24 * startup_bench.HOUR_US,
                                     files_per_hour=PER_HOUR)
            total = hours * PER_HOUR
            d = env.vigild(cfg)
            url = "http://127.0.0.1:%d/metrics" % d.http_port
            st, _, body = http_request(url)
            self.assertEqual(st, 200)
            m = DELETED.search(body.decode())
            self.assertEqual(int(m.group(1)) if m else 0, 0)  # nothing purged yet
            config(1)
            st, _, body = http_request(d.url("/api/reload"), method="POST")
            self.assertEqual(st, 200, body)
            seen, t0, slowest = [], time.time(), 0.0
            while time.time() - t0 < 120 * SLOW:
                t1 = time.time()
                st, _, body = http_request(url, timeout=30)
                slowest = max(slowest, time.time() - t1)  # reported, not asserted
                self.assertEqual(st, 200)
                m = DELETED.search(body.decode())
                n = int(m.group(1)) if m else 0
                seen.append(n)
                if n >= total:
                    break
            log("purge of %d segments: %d /metrics answers in %.1f s (slowest %.0f ms), "
                "deleted counts %s" % (total, len(seen), time.time() - t0, slowest * 1000,
                                       sorted(set(seen))[:12]))
            self.assertEqual(seen[-1], total, "the purge did not finish")
            self.assertTrue(any(0 < n < total for n in seen),
                            "no /metrics answer while the purge was in progress")
            self.assertEqual(len(env.segments(cfg, "synth-000")), 0)
            self.assertTrue(d.alive())
            d.stop()
            ok = True
        finally:
            env.close(keep_on_failure=not ok)


if __name__ == "__main__":
    vigiltest.main()
