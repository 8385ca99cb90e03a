"""
A live tile of the console's wall in a real browser (Debian chromium driven by
playwright-core): vigild serves the console and live.mp4, camsim feeds an
H.264 camera; the tile plays the live stream through Media Source Extensions
(currentTime advances), and shows the latency it reads from the stream's prft
boxes, which must be plausible on loopback. A screenshot is kept next to the
test log.
"""
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, log  # noqa: E402


class LiveTile(unittest.TestCase):
    def test_live_tile_plays(self):
        env = Env("browser-live")
        try:
            cam = env.camsim(["lobby:codec=h264"])
            cfg = env.config([env.camera("lobby", cam.url("lobby"), source="native")],
                             segment_seconds=4,
                             extra='web: "%s"\n' % os.path.join(SRC, "web"))
            d = env.vigild(cfg)
            env.wait_online(cfg, ["lobby"])
            shot = os.path.join(BUILD, "live-tile-screenshot.png")
            rc, out, err = browser.run("live.mjs", d.url(""), "lobby", shot)
            log("live tile: %r" % out)
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))
            self.assertEqual((out["width"], out["height"]), (640, 360))
            self.assertGreater(out["t1"], out["t0"] + 1.5, "the live video does not advance")
            self.assertIsNotNone(out["latency"], out["text"])
            self.assertIn("trễ", out["text"])  # Vietnamese by default
            self.assertGreater(out["latency"], -0.5)
            self.assertLess(out["latency"], 3.0)
            self.assertIsNone(out["video_error"])
            self.assertEqual(out["page_errors"], [])
            self.assertEqual(out["error_text"], "")
            d.stop()
        finally:
            env.close()

    def test_wall_plays_four_tiles(self):
        self.wall(auth=False)

    def test_wall_after_sign_in_plays_without_token_in_urls(self):
        self.wall(auth=True)

    def wall(self, auth):
        env = Env("browser-wall")
        token = "wall-operator-token-0123456789"
        extra = ""
        if auth:
            extra = ('auth:\n  tokens:\n    - {name: operator, role: viewer, token_sha256: "%s"}\n'
                     % hashlib.sha256(token.encode()).hexdigest())
        try:
            names = ["a", "b", "c", "d"]
            cam = env.camsim(["%s:codec=h264" % n for n in names])
            cams = [env.camera(n, cam.url(n), source="native", district="Lục Nam",
                               site="security") for n in names]
            cfg = env.config(cams, segment_seconds=4,
                             extra='web: "%s"\nconsole:\n  timezone: Asia/Ho_Chi_Minh\n'
                             % os.path.join(SRC, "web") + extra)
            d = env.vigild(cfg)
            env.wait_online(cfg, names)
            st, _, data = d.http("/api/session")
            self.assertEqual((st, json.loads(data)["timezone"]), (200, "Asia/Ho_Chi_Minh"))
            shot = os.path.join(BUILD, "wall-signed-in-screenshot" if auth else "wall-screenshot")
            args = [token] if auth else []
            rc, out, err = browser.run("wall.mjs", d.url(""), shot, *args, timeout=90)
            log("wall: %r" % out)
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))
            self.assertEqual(sorted(out["tiles"]), names)
            for n, adv in zip(out["tiles"], out["advanced"]):
                self.assertGreater(adv, 1.5, "tile %s does not advance" % n)
            for text in out["latency"]:
                self.assertIn("trễ", text)
            self.assertEqual(out["nav_vi"], "Màn hình giám sát")
            self.assertEqual(out["layout_vi"], "Bố cục")
            self.assertEqual(out["nav_en"], "Video wall")
            self.assertEqual(out["layout_en"], "Layout")
            self.assertIn("default-src 'self'", out["csp"])
            self.assertIn("frame-ancestors 'none'", out["csp"])
            self.assertEqual(out["xfo"], "DENY")
            self.assertEqual(out["page_errors"], [])
            self.assertEqual(out["token_in_urls"], [])
            if auth:
                self.assertEqual(out["cookies"], [{"name": "vigil_session", "httpOnly": True,
                                                   "sameSite": "Strict"}])
            for lang in ("vi", "en"):
                self.assertTrue(os.path.getsize("%s-%s.png" % (shot, lang)) > 10000)
            d.stop()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
