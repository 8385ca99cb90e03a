"""
The web console in a real browser (Debian chromium driven by playwright-core):
vigild serves the console and the API, camsim feeds two cameras; the camera
list renders, a camera's coverage timeline shows its recording, its clip plays
in a <video> element and seeks. A screenshot is kept next to the test log.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, wait_for  # noqa: E402


class Console(unittest.TestCase):
    def test_console_plays_a_camera(self):
        env = Env("console")
        try:
            cam = env.camsim(["lobby:codec=h264", "gate:codec=h265,audio=aac"])
            cams = [env.camera("lobby", cam.url("lobby"), name="Sảnh một cửa",
                               district="Lục Nam", site="one-stop-shop"),
                    env.camera("gate", cam.url("gate"), district="Yên Thế", site="security")]
            cfg = env.config(cams, segment_seconds=4,
                             extra='web: "%s"\n' % os.path.join(SRC, "web"))
            d = env.vigild(cfg)
            wait_for(lambda: len([s for s in env.segments(cfg, "lobby") if s["sha256"]]) >= 2,
                     40, what="two closed segments")
            shot = os.path.join(BUILD, "console-screenshot.png")
            rc, out, err = browser.run("console.mjs", d.url(""), "lobby", shot)
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))
            self.assertEqual(out["cameras"], 2)
            self.assertEqual(out["status"], "recording")
            self.assertEqual((out["width"], out["height"]), (640, 360))
            self.assertGreater(out["duration"], 4)
            self.assertIsNone(out["video_error"])
            self.assertEqual(out["page_errors"], [])
            self.assertTrue(os.path.getsize(shot) > 10000)
            d.stop()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
