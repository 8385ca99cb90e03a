"""
The segment verifier, against a real daemon recording two camsim cameras:

- vigilctl verify re-reads every closed segment: all match (exit 0);
- a byte flipped in one segment file and another file deleted: vigilctl verify
  prints both paths and exits 1; limited to the other camera, or to a range
  without them, it exits 0;
- vigild's background verifier (scrub: with a short period) finds the same two:
  a segment_corrupt event and an audit row naming each, and
  vigil_scrub_segments_total{result="damaged"} on /metrics; recording goes on;
- passes keep ending while recording goes on;
- the walk's position is kept beside the index (<index>.scrub).
"""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, wait_for  # noqa: E402

CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"


def metric(text, name, labels=""):
    m = re.search(r"^%s%s\s+([0-9.e+]+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


class Scrub(unittest.TestCase):
    def test_verify_and_scrub(self):
        env = Env("scrub")
        ok = False
        try:
            cam = env.camsim(["a:" + CAM, "b:" + CAM])
            cams = [env.camera("a", cam.url("a")), env.camera("b", cam.url("b"))]
            cfg = env.config(cams, segment_seconds=2,
                             extra="scrub:\n  period: 3s\n  max_rate: 64MiB\n")
            d = env.vigild(cfg)

            def closed(c):
                return [s for s in env.segments(cfg, c) if s["sha256"]]
            wait_for(lambda: len(closed("a")) >= 4 and len(closed("b")) >= 3, 60,
                     what="segments on both cameras")
            r = env.vigilctl(cfg, "verify")
            self.assertEqual(r.stdout, "")
            self.assertIn("do not", r.stderr)
            n_ok = int(re.search(r"verify: (\d+) segments", r.stderr).group(1))
            self.assertGreaterEqual(n_ok, 7)

            segs = closed("a")
            flip, gone = segs[1], segs[2]
            with open(flip["path"], "r+b") as f:
                f.seek(os.path.getsize(flip["path"]) // 2)
                b = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([b[0] ^ 0x40]))
            os.unlink(gone["path"])

            r = env.vigilctl(cfg, "verify", check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(sorted(r.stdout.split()), sorted([flip["path"], gone["path"]]))
            self.assertIn("SHA-256", r.stderr)
            r = env.vigilctl(cfg, "verify", "b")
            self.assertEqual(r.returncode, 0)
            r = env.vigilctl(cfg, "verify", "a", "--start", segs[3]["start"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = env.vigilctl(cfg, "verify", "a", "--end", segs[2]["end"], check=False)
            self.assertEqual(r.returncode, 1)

            # the daemon's own pass finds them
            def corrupt_events():
                return [e for e in env.events(cfg, "--camera", "a")
                        if e["type"] == "segment_corrupt"]
            wait_for(lambda: len(corrupt_events()) >= 2, 60, what="two segment_corrupt events")
            found = {json.loads(e["detail"])["path"] for e in corrupt_events()}
            rel = {os.path.relpath(p, env.path("pool0")) for p in (flip["path"], gone["path"])}
            self.assertTrue(rel <= found, (found, rel))
            audit = [json.loads(l) for l in env.vigilctl(cfg, "audit").stdout.splitlines()]
            bad_rows = [a for a in audit if a["action"] == "segment_corrupt"]
            self.assertGreaterEqual(len(bad_rows), 2)
            self.assertTrue(all(a["camera"] == "a" for a in bad_rows))
            st, _, body = d.http("/metrics")
            self.assertEqual(st, 200)
            text = body.decode()
            self.assertGreaterEqual(
                metric(text, "vigil_scrub_segments_total", '{result="damaged"}'), 2)
            self.assertGreater(metric(text, "vigil_scrub_segments_total", '{result="ok"}'), 0)
            self.assertGreater(metric(text, "vigil_scrub_bytes_total"), 0)
            self.assertTrue(os.path.exists(env.path("index.db") + ".scrub"))
            # recording went on
            n = len(closed("b"))
            wait_for(lambda: len(closed("b")) > n, 30, what="recording to go on")
            # and passes still end: each covers what was recorded before it
            # began, so a walk slower than recording (a segment a second here,
            # at the 1 MiB/s floor) is not a pass that never ends
            def passes():
                return metric(d.http("/metrics")[2].decode(), "vigil_scrub_passes_total")
            p0 = passes()
            wait_for(lambda: passes() >= p0 + 2, 30, what="two more scrub passes")
            d.stop()
            # a period or rate that makes no sense is refused, naming the key
            for extra, key in (("scrub:\n  period: 400d\n", "scrub.period"),
                               ("scrub:\n  max_rate: 10\n", "scrub.max_rate"),
                               ("scrub:\n  speed: 1\n", "speed")):
                bad = env.config(cams, extra=extra, name="bad.yaml")
                r = env.vigilctl(bad, "config", "check", check=False)
                self.assertEqual(r.returncode, 1, (extra, r.stdout, r.stderr))
                self.assertIn(key, r.stdout + r.stderr)
            ok = True
        finally:
            env.close(keep_on_failure=not ok)


if __name__ == "__main__":
    vigiltest.main()
