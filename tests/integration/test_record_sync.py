"""
Power loss: a segment's fragments are fdatasync'ed while it is open, every
pool's sync_ms (default 1000 ms), not only when it closes; a pool with
sync_ms: 0 keeps the old behaviour. Two cameras record 60 s segments into
one pool each; within seconds /metrics counts the syncs of the default pool
(none failed) and none for the other, whose segments are all still open.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, log, wait_for  # noqa: E402


def metric(body, name, pool):
    m = re.search(r'^%s\{pool="%s"\} (\S+)$' % (name, pool), body, re.M)
    return float(m.group(1)) if m else None


class Sync(unittest.TestCase):
    def test_open_segments_synced(self):
        env = self.env = Env("sync")
        cam = env.camsim(["a:codec=h264", "b:codec=h264"])
        pools = [{"id": "main", "path": env.path("pool0")},
                 {"id": "lazy", "path": env.path("pool1"), "sync_ms": 0}]
        cfg = env.config([env.camera("a", cam.url("a")),
                          env.camera("b", cam.url("b"), pool="lazy")],
                         segment_seconds=60, pools=pools)
        d = env.vigild(cfg)
        env.wait_online(cfg, ["a", "b"])

        def body():
            return d.http("/metrics")[2].decode()
        # a fragment a second: a few rounds of the syncer
        wait_for(lambda: (metric(body(), "vigil_pool_syncs_total", "main") or 0) >= 4, 20,
                 what="four syncs of pool main")
        b = body()
        log("pool main: %d syncs in %.4f s; pool lazy: %d" % (
            metric(b, "vigil_pool_syncs_total", "main"),
            metric(b, "vigil_pool_sync_seconds_total", "main"),
            metric(b, "vigil_pool_syncs_total", "lazy")))
        self.assertEqual(metric(b, "vigil_pool_sync_interval_seconds", "main"), 1.0)
        self.assertEqual(metric(b, "vigil_pool_sync_interval_seconds", "lazy"), 0.0)
        self.assertEqual(metric(b, "vigil_pool_sync_errors_total", "main"), 0.0)
        self.assertEqual(metric(b, "vigil_pool_syncs_total", "lazy"), 0.0)
        # the segments are still open: these syncs are not the close's
        segs = env.segments(cfg, "a")
        self.assertTrue(segs)
        self.assertTrue(all(s["sha256"] is None for s in segs), segs)
        self.assertTrue(d.alive())

    def tearDown(self):
        self.env.close()


if __name__ == "__main__":
    vigiltest.main()
