#!/usr/bin/env python3
"""
record_sub: a camera whose sub stream (sub_url) is recorded too. One camsim
serves a 640x360 main and a 320x180 sub stream; vigild records both for
~15 s. The sub stream's segments are files of their own under
<pool>/<id>.sub/, indexed under the key "<id>.sub" (listed by
`vigilctl segments <id>.sub` and /recordings?stream=sub), decode clean at the
sub resolution; the main stream's segments and recordings are the main
stream's only; clip.mp4?stream=sub decodes clean at the sub resolution; a
camera without record_sub answers 404 to ?stream=sub. After a restart,
reconcile leaves the sub files alone (nothing quarantined, nothing missing).
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, decode_errors, ffprobe, first_frame_is_key, wait_for  # noqa: E402


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int(t % 1 * 1e6)


def video_size(path):
    v = [s for s in ffprobe(path)["streams"] if s["codec_type"] == "video"][0]
    return v["width"], v["height"]


class RecordSub(unittest.TestCase):
    def test_record_sub(self):
        env = Env("recsub")
        try:
            cam = env.camsim(["m:codec=h264", "m-sub:codec=h264,size=320x180",
                              "n:codec=h264", "n-sub:codec=h264,size=320x180"])
            pool = env.path("pool0")
            cfg = env.config([
                env.camera("rs", cam.url("m"), sub_url=cam.url("m-sub"), record_sub=True,
                           source="native"),
                env.camera("live", cam.url("n"), sub_url=cam.url("n-sub")),
            ], segment_seconds=4, pools=[{"id": "main", "path": pool}])
            d = env.vigild(cfg)
            env.wait_online(cfg, ["rs", "live"])
            t_start = time.time()

            def closed(key):
                """The segments but the newest (the one being written)."""
                return env.segments(cfg, key)[:-1]

            wait_for(lambda: len(closed("rs.sub")) >= 3 and len(closed("rs")) >= 3, 40,
                     what="three closed segments per stream")
            time.sleep(max(0, 15 - (time.time() - t_start)))

            sub, main = closed("rs.sub"), closed("rs")
            self.assertGreaterEqual(len(sub), 3)
            sub_paths = {s["path"] for s in sub}
            main_paths = {s["path"] for s in main}
            self.assertFalse(sub_paths & main_paths)
            for p in sub_paths:
                self.assertTrue(p.startswith(os.path.join(pool, "rs.sub") + "/"), p)
                self.assertTrue(os.path.getsize(p) > 0, p)
                self.assertEqual(decode_errors(p), "", p)
                self.assertEqual(video_size(p), (320, 180), p)
            for p in main_paths:
                self.assertTrue(p.startswith(os.path.join(pool, "rs") + "/"), p)
                self.assertEqual(video_size(p), (640, 360), p)
            # the live-only camera records its main stream only
            self.assertEqual(env.segments(cfg, "live.sub"), [])
            self.assertFalse(os.path.exists(os.path.join(pool, "live.sub")))
            self.assertTrue(closed("live") or wait_for(lambda: closed("live"), 20,
                                                       what="live's segments"))

            # recordings: main unchanged by default, sub with ?stream=sub
            t0 = sub[0]["start_us"] / 1e6 if "start_us" in sub[0] else \
                vigiltest.rfc3339_to_unix(sub[0]["start"])
            t1 = sub[-1]["end_us"] / 1e6 if "end_us" in sub[-1] else \
                vigiltest.rfc3339_to_unix(sub[-1]["end"])
            q = "start=%s&end=%s" % (iso(t0 - 30), iso(time.time()))
            for stream, query in (("main", ""), ("main", "&stream=main"), ("sub", "&stream=sub")):
                st, _, body = d.http("/api/cameras/rs/recordings?" + q + query)
                self.assertEqual(st, 200, body)
                rec = json.loads(body)
                self.assertEqual((rec["camera"], rec["stream"]), ("rs", stream))
                self.assertGreaterEqual(len(rec["runs"]), 1, rec)
            st, _, body = d.http("/api/cameras/live/recordings?" + q + "&stream=sub")
            self.assertEqual(st, 404, body)
            st, _, body = d.http("/api/cameras/rs/recordings?" + q + "&stream=third")
            self.assertEqual(st, 400, body)

            # clips of each stream
            a, b = t0 + 0.5, t1 - 0.5
            for stream, size in (("sub", (320, 180)), ("main", (640, 360))):
                st, h, clip = d.http("/api/cameras/rs/clip.mp4?start=%s&end=%s&stream=%s"
                                     % (iso(a), iso(b), stream))
                self.assertEqual(st, 200, clip[:300])
                path = env.path("clip-%s.mp4" % stream)
                with open(path, "wb") as f:
                    f.write(clip)
                self.assertEqual(decode_errors(path), "")
                self.assertEqual(video_size(path), size)
                self.assertTrue(first_frame_is_key(path))
                self.assertAlmostEqual(float(ffprobe(path)["format"]["duration"]), b - a,
                                       delta=1.6)

            # reconcile after a restart keeps every sub segment, quarantines nothing
            d.stop()
            n_sub = len(env.segments(cfg, "rs.sub"))
            restarted = time.time()
            d = env.vigild(cfg)
            d.http_port  # listening: start-up (and its reconciliation) is over
            env.wait_online(cfg, ["rs"], since=restarted)
            ev = [e["type"] for e in env.events(cfg)]
            self.assertNotIn("segment_quarantined", ev)
            self.assertNotIn("segment_missing", ev)
            self.assertFalse(os.path.exists(os.path.join(pool, "quarantine")))
            self.assertGreaterEqual(len(env.segments(cfg, "rs.sub")), n_sub)
            d.stop()
        finally:
            env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")


if __name__ == "__main__":
    vigiltest.main()
