"""
The HTTP API of the real daemon: vigild records camsim cameras (H.264, and
H.265 + AAC) into short segments; while it keeps recording, the API lists the
cameras as recording with their live codec and size, shows the coverage as one
run, serves a clip across two segment boundaries that ffprobe/ffmpeg accept
(and Chromium plays), Range slices byte-exact, and a snapshot. vigild stops
cleanly (exit 0, ASan-clean in the sanitized build) with a download stalled.
"""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import (SLOW, Env, decode_errors, ffprobe, first_frame_is_key,  # noqa: E402
                       rfc3339_to_unix, wait_for)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%03dZ" % int((t % 1) * 1000)


class HttpDaemon(unittest.TestCase):
    def test_recording_daemon_serves_clips(self):
        env = Env("http-daemon")
        try:
            cam = env.camsim(["lobby:codec=h264", "gate:codec=h265,audio=aac"])
            cfg = env.config([env.camera("lobby", cam.url("lobby"), district="Lục Nam",
                                         site="one-stop-shop"),
                              env.camera("gate", cam.url("gate"), site="security")],
                             segment_seconds=3)
            d = env.vigild(cfg)

            def closed(c):
                try:
                    return [s for s in env.segments(cfg, c) if s.get("sha256")]
                except AssertionError:  # no index yet
                    return []
            wait_for(lambda: len(closed("lobby")) >= 3 and len(closed("gate")) >= 3, 60,
                     what="three closed segments per camera")

            st, h, body = d.http("/api/cameras")
            self.assertEqual(st, 200)
            cams = {c["id"]: c for c in json.loads(body)}
            self.assertEqual(cams["lobby"]["status"], "recording")
            self.assertEqual(cams["lobby"]["codec"], "h264")
            self.assertEqual(cams["gate"]["codec"], "hevc")
            self.assertEqual((cams["gate"]["width"], cams["gate"]["height"]), (640, 360))
            self.assertIsNotNone(cams["gate"]["last_frame_at"])
            st, h, body = d.http("/api/cameras?site=security")
            self.assertEqual([c["id"] for c in json.loads(body)], ["gate"])

            for c in ("lobby", "gate"):
                segs = closed(c)[:3]
                t0 = segs[0]["start_us"] / 1e6 if "start_us" in segs[0] else rfc3339_to_unix(segs[0]["start"])
                t3 = segs[2]["end_us"] / 1e6 if "end_us" in segs[2] else rfc3339_to_unix(segs[2]["end"])
                st, h, body = d.http("/api/cameras/%s/recordings?start=%s&end=%s" % (c, iso(t0), iso(t3)))
                rec = json.loads(body)
                self.assertEqual(len(rec["runs"]), 1, rec)
                a, b = t0 + 0.5, t3 - 0.5  # spans the two boundaries inside
                st, h, clip = d.http("/api/cameras/%s/clip.mp4?start=%s&end=%s" % (c, iso(a), iso(b)))
                self.assertEqual(st, 200, clip[:300])
                self.assertEqual(int(h["content-length"]), len(clip))
                path = env.path("%s.mp4" % c)
                with open(path, "wb") as f:
                    f.write(clip)
                info = ffprobe(path)
                self.assertAlmostEqual(float(info["format"]["duration"]), b - a, delta=1.6)
                self.assertEqual(decode_errors(path), "")
                self.assertTrue(first_frame_is_key(path))
                codecs = sorted(s["codec_name"] for s in info["streams"])
                self.assertEqual(codecs, ["h264"] if c == "lobby" else ["aac", "hevc"])
                n = len(clip)
                for rng, (x, y) in [("bytes=100-199999", (100, 199999)), ("bytes=-777", (n - 777, n - 1))]:
                    st, h2, part = d.http("/api/cameras/%s/clip.mp4?start=%s&end=%s" % (c, iso(a), iso(b)),
                                          headers={"Range": rng})
                    self.assertEqual((st, part), (206, clip[x:y + 1]))
                st, h, jpg = d.http("/api/cameras/%s/snapshot.jpg?at=%s" % (c, iso(a + 1)))
                self.assertEqual((st, jpg[:2]), (200, b"\xff\xd8"))

            # Stop with a download stalled on a client that does not read.
            segs = closed("lobby")
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", d.http_port))
            s.sendall(("GET /api/cameras/lobby/clip.mp4?start=%s&end=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (iso(rfc3339_to_unix(segs[0]["start"]) if "start" in segs[0] else segs[0]["start_us"] / 1e6),
                          iso(time.time()))).encode())
            self.assertIn(b"HTTP/1.1", s.recv(100))
            d.stop()
            self.assertLess(d.stop_seconds, 15 * SLOW)
            s.close()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
