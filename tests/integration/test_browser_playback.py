"""
The console's Playback view in a real browser (Debian chromium driven by
playwright-core, tests/browser/playback.mjs): vigild records four camsim
cameras for over a minute (one at 8 Mbit/s); signed in as an investigator, a deep link opens
the first camera, a drag on its timeline (zoomed to a minute with the
buttons and the wheel) to a chosen time shows that moment (the loaded clip's X-Clip-Start is at or before it
and the video's wall time is it), the hover preview loads a snapshot, the
event posted at that time has its marker (a click on it goes to its
time), the heat strip shows where
activity can be read and "activity unavailable" where not (a strict-CBR
camera), playing advances the video, frame
steps move by one frame of the camera's fps, the four cameras played in step
stay within 0.2 s of each other (sampled every 0.1 s at 1×, 2× and 4×, and
at 4× on across the end of a tile's clip, where it loads its next), texts render in
Vietnamese and English, the wall's "back 30 s" opens playback 30 s ago, and a
viewer (no access to events) plays without markers and without an error.
No console errors, no token in any URL. Screenshots are kept next to the
test log.
"""
import datetime
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, SLOW, Env, log, wait_for  # noqa: E402

TOKENS = {"investigator": "playback-investigator-token-0123456789",
          "viewer": "playback-viewer-token-0123456789"}


def recorded(env, cfg, cam):
    """Seconds of closed segments from the first one's start, or 0."""
    segs = [s for s in env.segments(cfg, cam) if s["sha256"]]
    if not segs:
        return 0, None
    start = min(vigiltest.rfc3339_to_unix(s["start"]) for s in segs)
    end = max(vigiltest.rfc3339_to_unix(s["end"]) for s in segs)
    return end - start, start


class Playback(unittest.TestCase):
    def test_playback_view(self):
        env = Env("browser-playback")
        try:
            names = ["a", "b", "c", "d"]
            # c sends 8 Mbit/s of noise: Chromium reads its clips in several
            # range requests (the same bytes each time, and within the
            # download slots). d's encoder pads every picture to one size
            # (strict CBR): its activity cannot be read, which its timeline says.
            motion = "motion=8-14,cycle=30,bitrate=1000"
            cam = env.camsim(["%s:codec=h264,rc=vbr,%s" % (n, motion) for n in names[:2]] +
                             ["c:codec=h264,rc=vbr,pattern=snow,bitrate=8000",
                              "d:codec=h264,rc=cbr,%s" % motion])
            cams = [env.camera(n, cam.url(n), source="native", district="Lục Nam",
                               site="security") for n in names]
            auth = "auth:\n  tokens:\n" + "".join(
                '    - {name: %s, role: %s, token_sha256: "%s"}\n'
                % (role, role, hashlib.sha256(tok.encode()).hexdigest())
                for role, tok in TOKENS.items())
            cfg = env.config(cams, segment_seconds=10,
                             extra='web: "%s"\nconsole:\n  timezone: Asia/Ho_Chi_Minh\n'
                             % os.path.join(SRC, "web") + auth)
            d = env.vigild(cfg)
            wait_for(lambda: all(recorded(env, cfg, n)[0] >= 65 for n in names), 150 * SLOW,
                     step=2, what="a minute recorded by every camera")
            start = recorded(env, cfg, "a")[1]
            chosen = start + 37.3
            # An event at the chosen time: its marker is on the timeline.
            at = datetime.datetime.fromtimestamp(chosen, datetime.timezone.utc)
            st, _, body = d.http("/api/events", method="POST",
                                 headers={"Authorization": "Bearer " + TOKENS["investigator"]},
                                 body={"camera": "a", "time": at.isoformat(), "type": "anpr",
                                       "text": "29A-123.45"})
            self.assertEqual(st, 201, body)
            shot = os.path.join(BUILD, "playback-screenshot")
            rc, out, err = browser.run("playback.mjs", d.url(""), ",".join(names),
                                       int(chosen * 1000), shot, TOKENS["investigator"],
                                       TOKENS["viewer"], timeout=240)
            log("playback: %s" % json.dumps(out))
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))
            self.assertEqual(out["errors"], [])
            self.assertEqual(out["token_in_urls"], [])
            # the seek: that moment's picture
            self.assertEqual(out["span"], 60000)
            self.assertLess(abs(out["clicked"]), 1000)
            self.assertTrue(out["clip_start_before"])
            self.assertLess(abs(out["seek_wall"]), 1000)
            self.assertEqual((out["video"]["width"], out["video"]["height"]), (640, 360))
            self.assertIsNone(out["video"]["error"])
            self.assertEqual(out["preview"]["width"], 640)
            self.assertEqual(out["preview"]["src"], "/api/cameras/a/snapshot.jpg")
            # the posted event among the camera's (its online event is one too)
            self.assertIn(round(chosen * 1000), [round(vigiltest.rfc3339_to_unix(e) * 1000)
                                                 for e in out["events"]])
            self.assertEqual(out["wheel_out"], 75000)
            self.assertEqual(out["wheel_in"], 60000)
            self.assertLessEqual(abs(out["marker_seek"]), 1)
            # frame steps: one frame of the camera's fps each way
            # the camera's rate is read from its stream's times (camsim sends
            # 25 a second), not from when the pictures arrived
            self.assertAlmostEqual(out["fps"], 25, delta=0.25)
            frame = 1000 / out["fps"]
            self.assertLess(abs(out["step_forward"] - frame), 2)
            self.assertLess(abs(out["step_forward_wall"] - frame), 2)
            self.assertLess(abs(out["step_back"]), 2)
            # playing
            self.assertGreater(out["played"], 0.5)
            # four cameras in step: the spec's 0.2 s, at 1×, 2× and 4×
            self.assertEqual(out["tiles"], names)
            for label in ("1x", "2x", "4x", "end"):
                # moments 0.1 s apart until 50 show every tile's picture, for at
                # most 20 s (across a clip's end: until the clock is past it)
                self.assertGreaterEqual(len(out["sync_" + label]), 50 if label != "end" else 5, label)
                self.assertLessEqual(max(out["sync_" + label]), 200, label)
                for adv in out["advance_" + label]:
                    self.assertGreater(adv, 0, "a tile stands still at %s" % label)
            self.assertTrue(out["crossed_end"], "the clock never reached a clip's end")
            for r in out["rates_2x"]:
                self.assertGreaterEqual(r, 1)
            for dt in out["sync_step"]:
                self.assertLess(abs(dt - frame), 2)
            # both languages
            self.assertEqual(out["texts_vi"], {"nav": "Xem lại", "speed": "Tốc độ", "play": "Phát"})
            self.assertEqual(out["texts_en"], {"nav": "Playback", "speed": "Speed", "play": "Play",
                                               "span": "1 min"})
            self.assertEqual(out["span_text_vi"], "1 phút")
            for lang, text in (("vi", "mức hoạt động không khả dụng"), ("en", "activity unavailable")):
                act = out["activity_" + lang]
                self.assertEqual(act["a"], ["available", ""])
                self.assertEqual(act["b"], ["available", ""])
                self.assertEqual(act["d"], ["unavailable", text])
            self.assertTrue(out["kept_after_language"])
            # the wall's jump back
            self.assertEqual(out["back_text"], "Back 30 s")
            self.assertEqual(out["back_camera"], "a")
            self.assertLess(abs(out["back_t"] + 30000), 2000)
            self.assertLessEqual(out["back_clip_start"], 0)
            # a viewer: no markers, no error
            self.assertEqual(out["viewer_events"], 0)
            self.assertEqual(out["viewer_error_text"], "")
            for name in ("sync-vi", "vi", "en"):
                self.assertTrue(os.path.getsize("%s-%s.png" % (shot, name)) > 10000)
            d.stop()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
