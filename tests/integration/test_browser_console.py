"""
The web console in a real browser (Debian chromium driven by playwright-core):
vigild serves the console and the API, camsim feeds two cameras; the camera
list renders, a camera's coverage timeline shows its recording, its clip plays
in a <video> element and seeks. A screenshot is kept next to the test log.

And what `make run` shows: the demo's own config (demo/vigil.yaml and its
drop-ins, only ports and the run directory moved) with camsim started with
scripts/run-demo.sh's mounts serves the console, which lists every demo
camera and a recording for each enabled one within 30 s of vigild's start.
"""
import glob
import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, log, wait_for  # noqa: E402


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

    def test_demo_shows_cameras_with_recordings(self):
        demo = os.path.join(SRC, "demo")
        with open(os.path.join(SRC, "scripts", "run-demo.sh")) as f:
            script = f.read()
        with open(os.path.join(demo, "vigil.yaml")) as f:
            main_cfg = f.read()
        listen = re.search(r'^listen:\s*"([^"]+)"', main_cfg, re.M).group(1)
        # What `make run` prints is where the demo config serves the console.
        self.assertIn("http://%s/" % listen, script)
        self.assertRegex(main_cfg, r"(?m)^web:\s*\S")
        mounts = re.findall(r'--mount "([^"]+)"', script)
        self.assertGreater(len(mounts), 0)
        env = Env("demo")
        try:
            cam = env.camsim(mounts)
            # The demo's files, with camsim's and vigild's ports moved and
            # relative paths (run/, web) still meaning what they mean in demo/.
            root = env.path("demo")
            shutil.copytree(demo, root, ignore=shutil.ignore_patterns("run"))
            shutil.copytree(os.path.join(SRC, "web"), env.path("web"))
            for path in [os.path.join(root, "vigil.yaml")] + glob.glob(
                    os.path.join(root, "cameras.d", "*.yaml")):
                with open(path) as f:
                    text = f.read()
                text = text.replace(listen, "127.0.0.1:0")
                text = text.replace("127.0.0.1:8554", "127.0.0.1:%d" % cam.port)
                with open(path, "w") as f:
                    f.write(text)
            cfg = os.path.join(root, "vigil.yaml")
            ids, disabled = [], []
            for path in [cfg] + sorted(glob.glob(os.path.join(root, "cameras.d", "*.yaml"))):
                with open(path) as f:
                    for block in re.split(r"(?m)^  - ", f.read())[1:]:
                        cid = re.match(r"id:\s*(\S+)", block).group(1)
                        ids.append(cid)
                        if re.search(r"(?m)^\s*enabled:\s*false", block):
                            disabled.append(cid)
            t0 = time.time()
            d = env.vigild(cfg)
            shot = os.path.join(BUILD, "demo-console-screenshot.png")
            rc, out, err = browser.run("demo.mjs", d.url(""), ",".join(ids), ",".join(disabled),
                                       int((t0 + 30) * 1000), shot, timeout=90)
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))
            self.assertEqual(sorted(out["listed"]), sorted(ids))
            enabled = sorted(set(ids) - set(disabled))
            self.assertEqual(sorted(out["with_runs"]), enabled,
                             "cameras without a recording 30 s after start: %s" %
                             sorted(set(enabled) - set(out["with_runs"])))
            self.assertEqual(out["page_errors"], [])
            # The wall `make run` opens onto: a tile per enabled camera (up
            # to its layout's size), each one's video advancing.
            self.assertTrue(out["wall_tiles"])
            self.assertTrue(set(out["wall_tiles"]) <= set(enabled), out["wall_tiles"])
            self.assertTrue(all(a > 0.5 for a in out["wall_advanced"]), out["wall_advanced"])
            log("demo: the wall plays %d tiles live (advanced %s s in 2 s)" % (
                len(out["wall_tiles"]), ", ".join("%.1f" % a for a in out["wall_advanced"])))
            log("demo: %d cameras listed, recordings of %d shown %.1f s after start at most" % (
                len(out["listed"]), len(out["with_runs"]),
                max(out["with_runs"].values()) / 1000 - t0))
            d.stop()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
