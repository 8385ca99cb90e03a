"""
G.711 audio end to end: cameras that send PCMU (camsim's GStreamer pipeline,
and FFmpeg's own RTSP output relayed unchanged) record for ~20 s in 5 s
segments; the segmenter stores their audio as AAC-LC. Every segment must hold
H.264 + AAC (a camera may send no audio in its first seconds, so the first
segment may lack it), decode without a message, last what the index says, and
keep the audio in step with the video with strictly increasing pts.
"""
import json
import os
import subprocess
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import (Env, decode_errors, ffprobe, first_frame_is_key,  # noqa: E402
                       packet_times, rfc3339_to_unix, wait_for)

RECORD_SECONDS = 20
SEGMENT_SECONDS = 5
AAC_FRAME_8K = 1024 / 8000.0


def spans(path):
    """{codec_type: (codec_name, start, end)} in seconds: the first sample's
    presentation time and the end of the last one (its pts plus duration),
    read from the packets. ffprobe's stream "duration" of a fragmented MP4 is
    the track's end time, not its length, so start + duration overstates the
    end of a track that starts late."""
    out = {}
    codecs = {st["index"]: (st["codec_type"], st["codec_name"]) for st in ffprobe(path)["streams"]}
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "packet=stream_index,pts_time,duration_time", "-of", "json", path],
                       capture_output=True, text=True, timeout=60)
    for p in json.loads(r.stdout).get("packets", []):
        kind, codec = codecs[p["stream_index"]]
        t = float(p["pts_time"])
        end = t + float(p.get("duration_time", 0))
        _, s0, e0 = out.get(kind, (codec, t, end))
        out[kind] = (codec, min(s0, t), max(e0, end))
    return out


class RecordG711(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("g711")
        cls.cam = env.camsim(["pcmu:codec=h264,audio=pcmu"])
        media = env.media("ff-h264-pcmu.mkv", codec="h264", audio="pcm_mulaw", seconds=12)
        cls.ff = env.ffmpeg_rtsp(media, name="ffpcmu")
        # G.711 through both sources: FFmpeg's client is opt-in since native is
        # the default, so the two cameras that test it say so.
        cams = [
            env.camera("gst-pcmu", cls.cam.url("pcmu"), source="ffmpeg"),
            env.camera("gst-pcmu-native", cls.cam.url("pcmu"), source="native"),
            env.camera("ff-pcmu", cls.ff.url(), source="ffmpeg"),
        ]
        cls.ids = [c["id"] for c in cams]
        cls.cfg = env.config(cams, segment_seconds=SEGMENT_SECONDS)
        cls.d = env.vigild(cls.cfg)
        t0 = time.time()
        env.wait_online(cls.cfg, cls.ids)
        time.sleep(max(0, RECORD_SECONDS - (time.time() - t0)))
        cls.rc = cls.d.stop()
        cls.log = cls.d.log()
        cls.segs = {cid: env.segments(cls.cfg, cid) for cid in cls.ids}
        for cid in cls.ids:
            for s in cls.segs[cid]:
                print("%s %s %.3f s %s" % (cid, os.path.basename(s["path"]),
                                           rfc3339_to_unix(s["end"]) - rfc3339_to_unix(s["start"]),
                                           spans(s["path"])), file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_exit_clean(self):
        self.assertEqual(self.rc, 0)

    def test_conversion_logged_once(self):
        for cid in ("gst-pcmu", "ff-pcmu"):
            lines = [l for l in self.log.splitlines()
                     if "camera=%s:" % cid in l and "storing pcm_mulaw audio as AAC" in l]
            self.assertEqual(len(lines), 1, cid)
        self.assertNotIn("recording video only", self.log)
        self.assertNotIn("AAC encoding failed", self.log)

    def test_segments_match_index(self):
        for cid in self.ids:
            self.assertGreaterEqual(len(self.segs[cid]), 3, cid)
            for s in self.segs[cid]:
                p = s["path"]
                with self.subTest(camera=cid, path=p):
                    self.assertEqual(decode_errors(p), "")
                    self.assertTrue(first_frame_is_key(p))
                    dur = float(ffprobe(p)["format"]["duration"])
                    indexed = rfc3339_to_unix(s["end"]) - rfc3339_to_unix(s["start"])
                    self.assertLessEqual(abs(dur - indexed), 0.25,
                                         "ffprobe %.3f s vs index %.3f s" % (dur, indexed))

    def check_audio(self, cid):
        segs = self.segs[cid]
        for i, s in enumerate(segs):
            p = s["path"]
            with self.subTest(camera=cid, path=p):
                sp = spans(p)
                self.assertEqual(sp["video"][0], "h264")
                if i == 0 and "audio" not in sp:
                    print("note %s: first segment without audio" % cid, file=sys.stderr)
                    continue
                self.assertIn("audio", sp, "no audio in segment %d" % i)
                self.assertEqual(sp["audio"][0], "aac")
                _, vs, ve = sp["video"]
                _, as_, ae = sp["audio"]
                # In step: the audio ends with the video, to within the AAC frame
                # that straddles the cut (a frame starting before the boundary
                # goes with it whole). The last segment, cut by SIGTERM, may
                # miss audio still on its way.
                if i < len(segs) - 1:
                    self.assertLessEqual(abs(ae - ve), AAC_FRAME_8K + 0.01,
                                         "audio ends %.3f, video %.3f" % (ae, ve))
                    if i > 0:
                        self.assertLessEqual(abs((ae - as_) - (ve - vs)), AAC_FRAME_8K + 0.01,
                                             "audio %.3f s, video %.3f s" % (ae - as_, ve - vs))
                pts, dts = packet_times(p, "a:0")
                self.assertTrue(pts)
                self.assertTrue(all(b > a for a, b in zip(pts, pts[1:])),
                                "audio pts not strictly increasing")
                # No hole: every AAC frame follows the previous one (the first
                # sample of a file is stretched back to its start by the muxer).
                gaps = [(a, b) for a, b in zip(pts[1:], pts[2:]) if b - a > AAC_FRAME_8K + 0.001]
                self.assertEqual(gaps, [], "holes in the audio (first packets %s)" % pts[:4])

    def test_audio_gstreamer_ffmpeg_source(self):
        self.check_audio("gst-pcmu")

    def test_audio_ffmpeg_relay(self):
        self.check_audio("ff-pcmu")

    def test_audio_native_source(self):
        self.check_audio("gst-pcmu-native")

    def test_native_video_still_recorded(self):
        for s in self.segs["gst-pcmu-native"]:
            self.assertEqual(spans(s["path"])["video"][0], "h264")

    def test_index_audio_codec(self):
        # What the files hold: "aac" for the converted cameras, not "pcm_mulaw".
        db = sqlite3.connect("file:%s?mode=ro" % self.env.path("index.db"), uri=True)
        try:
            rows = db.execute("SELECT camera, audio_codec, count(*) FROM segments "
                              "GROUP BY camera, audio_codec").fetchall()
        finally:
            db.close()
        got = {(c, a) for c, a, _ in rows}
        self.assertEqual(got, {("gst-pcmu", "aac"), ("ff-pcmu", "aac"),
                               ("gst-pcmu-native", "aac")}, rows)

    def test_segments_contiguous(self):
        for cid in self.ids:
            segs = self.segs[cid]
            for a, b in zip(segs, segs[1:]):
                gap = rfc3339_to_unix(b["start"]) - rfc3339_to_unix(a["end"])
                self.assertLessEqual(abs(gap), 1 / 25.0 + 0.001, cid)


if __name__ == "__main__":
    vigiltest.main()
