#!/usr/bin/env python3
"""
Recordings decode clean from every encoder shape, through both sources.

camsim serves one mount per (variant, source): H.264 with 1 or 4 slices per
picture, no / fixed / adaptive B-frames, parameter sets in-band before every
IDR or in the SDP only; H.265 likewise, B-frames included; and two busy
scenes (noise at 3 Mbit/s) whose GOPs are cut into several fragments by size.
Mounts of one variant share one encoder. One vigild records all of them at once, half the
cameras through libavformat (source: ffmpeg), half through the native client,
over TCP and UDP alternately, with 2 s segments so each camera rotates a few
times. Then camsim drains (every session stops before its next keyframe, the
connection stays open), vigild gets a moment to take what came and is stopped.

For every camera: every segment and a clip across a segment boundary decode
with `ffmpeg -v error` printing nothing, and the video frames in its segments
equal the access units camsim sent it (one session, no reconnect).
"""
import concurrent.futures
import os
import re
import struct
import sys
import time
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, SLOW, decode_errors, log, rfc3339_to_unix, wait_for  # noqa: E402

GOP = 25  # frames at 25 fps: a keyframe a second
BASE = "size=320x240,gop=%d,bitrate=300" % GOP
# (name, spec): slices, B-frames (none / fixed / adaptive), parameter sets
VARIANTS = [
    ("h264-s1-b0-ib", "codec=h264,slices=1,bframes=0,params=inband"),
    ("h264-s1-b0-sdp", "codec=h264,slices=1,bframes=0,params=sdp"),
    ("h264-s1-bf-ib", "codec=h264,slices=1,bframes=2,params=inband"),
    ("h264-s1-bf-sdp", "codec=h264,slices=1,bframes=2,params=sdp"),
    ("h264-s1-ba-ib", "codec=h264,slices=1,bframes=3,b_adapt=1,params=inband"),
    ("h264-s1-ba-sdp", "codec=h264,slices=1,bframes=3,b_adapt=1,params=sdp"),
    ("h264-s4-b0-ib", "codec=h264,slices=4,bframes=0,params=inband"),
    ("h264-s4-b0-sdp", "codec=h264,slices=4,bframes=0,params=sdp"),
    ("h264-s4-bf-ib", "codec=h264,slices=4,bframes=2,params=inband"),
    ("h264-s4-bf-sdp", "codec=h264,slices=4,bframes=2,params=sdp"),
    ("h264-s4-ba-ib", "codec=h264,slices=4,bframes=3,b_adapt=1,params=inband"),
    ("h264-s4-ba-sdp", "codec=h264,slices=4,bframes=3,b_adapt=1,params=sdp"),
    ("h265-s1-b0-sdp", "codec=h265,slices=1,bframes=0,params=sdp"),
    ("h265-s4-bf-ib", "codec=h265,slices=4,bframes=2,params=inband"),
    ("h265-s1-ba-ib", "codec=h265,slices=1,bframes=3,b_adapt=1,params=inband"),
    ("h265-s4-ba-sdp", "codec=h265,slices=4,bframes=3,b_adapt=1,params=sdp"),
    # Busy scenes: 2 s GOPs of ~750 KiB, so fragments are cut inside GOPs by size.
    ("h264-s1-ba-busy", "codec=h264,slices=1,bframes=3,b_adapt=1,params=inband,pattern=snow,"
                        "bitrate=3000,gop=50"),
    ("h265-s1-bf-busy", "codec=h265,slices=1,bframes=2,params=sdp,pattern=snow,bitrate=3000,"
                        "gop=50"),
]
SOURCES = ("native", "ffmpeg")
SEGMENT_SECONDS = 2
RECORD_SECONDS = 10


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def boxes(d, start, end):
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", d[start:start + 8])
        if size < 8 or start + size > end:
            raise AssertionError("bad box %r at %d" % (kind, start))
        yield kind, start + 8, start + size
        start += size


def video_frames(path):
    """Video samples in a fragmented MP4: the trun sample counts of the video
    track (read here rather than by one more ffprobe per file: the matrix checks
    hundreds of files)."""
    with open(path, "rb") as f:
        d = f.read()
    video_id, n = None, 0
    for kind, b, e in boxes(d, 0, len(d)):
        if kind == b"moov":
            for k2, b2, e2 in boxes(d, b, e):
                if k2 != b"trak":
                    continue
                tid, handler = None, None
                for k3, b3, e3 in boxes(d, b2, e2):
                    if k3 == b"tkhd":
                        tid = struct.unpack(">I", d[b3 + (20 if d[b3] == 1 else 12):][:4])[0]
                    elif k3 == b"mdia":
                        for k4, b4, e4 in boxes(d, b3, e3):
                            if k4 == b"hdlr":
                                handler = d[b4 + 8:b4 + 12]
                if handler == b"vide":
                    video_id = tid
        elif kind == b"moof":
            for k2, b2, e2 in boxes(d, b, e):
                if k2 != b"traf":
                    continue
                tid = None
                for k3, b3, e3 in boxes(d, b2, e2):
                    if k3 == b"tfhd":
                        tid = struct.unpack(">I", d[b3 + 4:b3 + 8])[0]
                    elif k3 == b"trun" and tid == video_id:
                        n += struct.unpack(">I", d[b3 + 4:b3 + 8])[0]
    assert video_id is not None, "%s: no video track" % path
    return n


class RecordMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("matrix")
        cls.cams = []  # (camera id, variant name, source, transport)
        mounts = []
        for i, (name, spec) in enumerate(VARIANTS):
            for j, src in enumerate(SOURCES):
                cid = "%s-%s" % (name, src)
                mounts.append("%s:%s,%s" % (cid, BASE, spec))
                cls.cams.append((cid, name, src, "tcp" if (i + j) % 2 == 0 else "udp"))
        cls.sim = env.camsim(mounts)
        cfg_cams = [env.camera(cid, cls.sim.url(cid), source=src, transport=tr)
                    for cid, _, src, tr in cls.cams]
        cls.cfg = env.config(cfg_cams, segment_seconds=SEGMENT_SECONDS)
        cls.d = env.vigild(cls.cfg)
        env.wait_online(cls.cfg, [c[0] for c in cls.cams])
        time.sleep(RECORD_SECONDS)
        # Clips across the boundaries of closed segments, while recording goes on
        # (after the drain it would take long enough, under a sanitizer, for the
        # silent sessions to count as stalled).
        cls.clips = cls.fetch_clips({cid: env.segments(cls.cfg, cid) for cid, *_ in cls.cams})
        for cid, *_ in cls.cams:
            cls.sim.send("drain %s" % cid)
        # Every session stops before its next keyframe (within a GOP). A camera
        # whose session never drains (one that was reconnected leaves a session
        # that cannot) is named, with what camsim and vigild said of it, and
        # test_frames_written_equal_frames_sent fails on it alone.
        try:
            wait_for(lambda: all(s["drained"] >= s["sessions"]
                                 for s in cls.camsim_stats().values()),
                     20, step=0.5, what="camsim to drain every session")
        except AssertionError as e:
            log(str(e))
            for cid, s in cls.camsim_stats().items():
                if s["drained"] < s["sessions"]:
                    log("not drained: %s %r" % (cid, s))
                    for who, text in (("camsim", cls.sim.log()), ("vigild", cls.d.log())):
                        lines = [ln for ln in text.splitlines() if cid in ln]
                        log("  %s said of it (%d lines):\n    %s"
                            % (who, len(lines), "\n    ".join(lines[-15:])))
        # What was sent arrives (UDP, the native client's 200 ms reads), then the
        # stop writes what is buffered; libavformat's parser gives back the
        # picture it held when the stop interrupts its read.
        time.sleep(2 * SLOW)
        cls.rc = cls.d.stop()
        cls.sent = cls.camsim_stats()  # after the stop: a reconnection would show
        cls.segs = {cid: env.segments(cls.cfg, cid) for cid, *_ in cls.cams}
        cls.results = cls.check_all()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    @classmethod
    def check_segment(cls, cid, seg):
        return cid, seg["path"], decode_errors(seg["path"]), video_frames(seg["path"])

    @classmethod
    def camsim_stats(cls):
        out = {}
        for cid, *_ in cls.cams:
            m = re.match(r"OK stats \S+ sessions=(\d+) frames=(\d+) drained=(\d+)",
                         cls.sim.send("stats %s" % cid))
            out[cid] = {"sessions": int(m.group(1)), "frames": int(m.group(2)),
                        "drained": int(m.group(3))}
        return out

    @classmethod
    def fetch_clips(cls, segs):
        """{camera: [(path, http status)]}: from the middle of each closed segment
        to the middle of the next one."""
        clips = {}
        for cid, *_ in cls.cams:
            closed = [s for s in segs[cid] if s.get("sha256")]
            for a, b in zip(closed, closed[1:]):
                if a["end"] != b["start"]:
                    continue
                t0 = (rfc3339_to_unix(a["start"]) + rfc3339_to_unix(a["end"])) / 2
                t1 = (rfc3339_to_unix(b["start"]) + rfc3339_to_unix(b["end"])) / 2
                st, _, body = cls.d.http("/api/cameras/%s/clip.mp4?start=%s&end=%s"
                                         % (cid, iso(t0), iso(t1)))
                path = cls.env.path("clip-%s-%d.mp4" % (cid, len(clips.get(cid, []))))
                with open(path, "wb") as f:
                    f.write(body)
                clips.setdefault(cid, []).append((path, st))
        return clips

    @classmethod
    def check_all(cls):
        out = {"segments": {}, "clips": {}}
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            segs = [ex.submit(cls.check_segment, cid, s)
                    for cid, *_ in cls.cams for s in cls.segs[cid]]
            clips = [(cid, path, st, ex.submit(decode_errors, path) if st == 200 else None)
                     for cid, c in cls.clips.items() for path, st in c]
            for f in segs:
                cid, path, err, n = f.result()
                out["segments"].setdefault(cid, []).append((path, err, n))
            for cid, path, st, f in clips:
                err = f.result() if f else "HTTP %d" % st
                out["clips"].setdefault(cid, []).append((path, err))
        return out

    def test_exit_clean(self):
        self.assertEqual(self.rc, 0)

    def test_segments_decode_clean(self):
        for cid, name, src, tr in self.cams:
            segs = self.results["segments"].get(cid, [])
            bad = [(os.path.basename(p), e) for p, e, _ in segs if e]
            log("%-22s %-6s %s: %d segments, %d bad" % (name, src, tr, len(segs), len(bad)))
            with self.subTest(camera=cid):
                self.assertGreaterEqual(len(segs), 3, "no rotation")
                self.assertEqual(bad, [])

    def test_clips_across_boundaries_decode_clean(self):
        for cid, name, src, tr in self.cams:
            clips = self.results["clips"].get(cid, [])
            bad = [(os.path.basename(p), e) for p, e in clips if e]
            log("%-22s %-6s %s: %d clips, %d bad" % (name, src, tr, len(clips), len(bad)))
            with self.subTest(camera=cid):
                self.assertGreaterEqual(len(clips), 1)
                self.assertEqual(bad, [])

    def test_frames_written_equal_frames_sent(self):
        for cid, name, src, tr in self.cams:
            sent = self.sent[cid]
            written = sum(n for _, _, n in self.results["segments"].get(cid, []))
            log("%-22s %-6s %s: sent %d frames (%d sessions), written %d" % (
                name, src, tr, sent["frames"], sent["sessions"], written))
            with self.subTest(camera=cid):
                self.assertEqual(sent["sessions"], 1, "reconnected")
                self.assertGreaterEqual(sent["frames"], (RECORD_SECONDS - 1) * 25)
                self.assertEqual(written, sent["frames"])


if __name__ == "__main__":
    vigiltest.main()
