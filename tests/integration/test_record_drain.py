#!/usr/bin/env python3
"""
Frames sent == frames written, through a drain and a SIGTERM (source: ffmpeg).

fleetsim serves two cameras; vigild records them with libavformat's RTSP
client for a few seconds; fleetsim drains (every session stops at its next IDR
and the connection stays open, so what was sent is whole GOPs), vigild gets
time to take what came, then SIGTERM. Every video frame fleetsim sent must be
in the segment files (ffprobe counts the packets), the last one included, and
the index must cover them. Two frames are at stake at the edges: libavformat
gives a session's first picture (its first IDR) no timestamp, and without it
the whole first GOP was lost; and its H.264 parser holds the last picture
until the stop request interrupts the read and flushes it.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import (BUILD, FleetSim, Env, Proc, decode_errors, log, rfc3339_to_unix,  # noqa: E402
                       wait_for)

CAMERAS = 2
GOP = 25       # frames, at 25 fps: 1 s
RECORD_SECONDS = 7


def video_frames(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets", "-of", "json", path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(json.loads(r.stdout)["streams"][0]["nb_read_packets"])


class RecordDrain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("drain")
        media = env.media("fleetsim-src.mp4", seconds=4, size="640x360", gop=GOP)
        cls.fs = FleetSim(env, media, CAMERAS)
        cls.ids = ["cam%d" % i for i in range(1, CAMERAS + 1)]
        cams = [env.camera(cid, cls.fs.url(i), source="ffmpeg")
                for i, cid in enumerate(cls.ids, 1)]
        cls.cfg = env.config(cams, segment_seconds=60)
        cls.d = env.vigild(cls.cfg)
        env.wait_online(cls.cfg, cls.ids)
        time.sleep(RECORD_SECONDS)
        cls.fs.kill_with(signal.SIGUSR2)
        # The drain ends within a GOP. Then the sessions stay silent for 5.5-6.5 s:
        # more than half vigild's 10 s stall limit (the picture libavformat's parser
        # held back comes out of the interrupted read looking like a stall's flush)
        # and less than the limit (no stall, no reconnect).
        time.sleep(GOP / 25.0 + 5.5)
        cls.sent = cls.fs.read_stats()
        cls.rc = cls.d.stop()
        cls.log = cls.d.log()
        cls.segs = {cid: env.segments(cls.cfg, cid) for cid in cls.ids}

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_exit_clean(self):
        self.assertEqual(self.rc, 0)
        self.assertNotIn("offline", [e["type"] for e in self.env.events(self.cfg)])

    def test_every_frame_sent_is_written(self):
        for i, cid in enumerate(self.ids, 1):
            st = self.sent[cid]
            sent = st["frames_sent"] + st["frames_skipped"]
            written = sum(video_frames(s["path"]) for s in self.segs[cid])
            log("%s: sent %d frames (%d sessions), written %d in %d segments" % (
                cid, sent, st["sessions"], written, len(self.segs[cid])))
            with self.subTest(camera=cid):
                self.assertEqual(st["sessions"], 1, st)
                self.assertGreaterEqual(sent, (RECORD_SECONDS - 1) * 25, st)
                self.assertEqual(sent % GOP, 0, "fleetsim drained mid-GOP: %r" % st)
                self.assertEqual(written, sent, "frames lost at the stop")

    def test_index_covers_the_frames(self):
        for cid in self.ids:
            segs = self.segs[cid]
            with self.subTest(camera=cid):
                self.assertTrue(segs)
                st = self.sent[cid]
                sent = st["frames_sent"] + st["frames_skipped"]
                for s in segs:
                    self.assertIsNotNone(s["sha256"], "segment left open")
                    self.assertEqual(os.path.getsize(s["path"]), s["bytes"])
                    self.assertEqual(decode_errors(s["path"]), "")
                total = sum(rfc3339_to_unix(s["end"]) - rfc3339_to_unix(s["start"])
                            for s in segs)
                self.assertAlmostEqual(total, sent / 25.0, delta=0.1)


if __name__ == "__main__":
    vigiltest.main()
