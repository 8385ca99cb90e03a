"""
A camera whose timestamps never advance (FFmpeg's RTSP output through
rtsp_relay.py --freeze-timestamps: every RTP packet carries its stream's
first timestamp), at ~8 Mbit/s, next to a sane camera. No fragment can be
cut by time, so vigild once queued all of it: ~1 MB a second, until memory
ran out. Now what it holds for the camera stays under the segmenter's cap
(6 MiB), the daemon's RSS stays bounded, the stuck camera's pictures still
go to disk (a new run each time the cap is reached), and the sane camera
keeps recording.
"""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import BUILD, SANITIZED, Env, log, rfc3339_to_unix, wait_for  # noqa: E402

CAP = 6 * 1024 * 1024
SECONDS = 45


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def metric(body, name, camera):
    m = re.search(r'^%s\{camera="%s"\} (\S+)$' % (name, camera), body, re.M)
    return float(m.group(1)) if m else None


class Hostile(unittest.TestCase):
    def test_stuck_timestamps_bounded(self):
        env = self.env = Env("hostile")
        cache = os.path.join(BUILD, "test-media")
        os.makedirs(cache, exist_ok=True)
        noisy = os.path.join(cache, "noise-8m.mp4")
        if not os.path.exists(noisy):  # ~1 MB a second of pictures
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc2=size=640x360:rate=25,noise=alls=40:allf=t", "-t", "10",
                            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M",
                            "-maxrate", "8M", "-bufsize", "8M", "-g", "50", "-bf", "0",
                            "-pix_fmt", "yuv420p", noisy], check=True)
        sane = env.media("h264.mp4")
        stuck = env.ffmpeg_rtsp(noisy, name="stuck", freeze_timestamps=True)
        good = env.ffmpeg_rtsp(sane, name="good")
        cfg = env.config([env.camera("stuck", stuck.url()), env.camera("good", good.url())],
                         segment_seconds=5)
        d = env.vigild(cfg)
        env.wait_online(cfg, ["good"])
        t0 = time.time()
        rss0 = rss_kib(d.p.pid)
        peak_rss, peak_q, overflows = rss0, 0.0, 0.0
        while time.time() - t0 < SECONDS:
            _, _, body = d.http("/metrics")
            body = body.decode()
            q = metric(body, "vigil_camera_queued_bytes", "stuck")
            o = metric(body, "vigil_camera_queue_overflows_total", "stuck")
            self.assertIsNotNone(q, "no vigil_camera_queued_bytes for the stuck camera")
            peak_q, overflows = max(peak_q, q), o
            peak_rss = max(peak_rss, rss_kib(d.p.pid))
            time.sleep(0.5)
        log("stuck camera at ~8 Mbit/s for %d s: vigild RSS %.1f MiB at start, peak %.1f MiB "
            "(+%.1f MiB); held at most %.2f MiB for it; %d overflows" %
            (SECONDS, rss0 / 1024, peak_rss / 1024, (peak_rss - rss0) / 1024,
             peak_q / 2**20, overflows))
        self.assertIn("timestamps not advancing", d.log())
        self.assertGreaterEqual(overflows, 2)
        # what the segmenter holds: the cap plus the picture that crossed it
        self.assertLessEqual(peak_q, CAP + 1024 * 1024)
        if not SANITIZED:  # ASan's quarantine keeps freed memory resident
            # ~45 MB arrived in the time; unbounded, the queue alone would hold it
            self.assertLess(peak_rss - rss0, 24 * 1024)
        # its pictures went to disk, in files of their own
        self.assertGreaterEqual(len(env.segments(cfg, "stuck")), 2)
        # the other camera kept recording all along
        segs = env.segments(cfg, "good")
        self.assertTrue(segs)
        self.assertGreater(rfc3339_to_unix(segs[-1]["end"]), time.time() - 12)
        self.assertTrue(d.alive())

    def tearDown(self):
        self.env.close()


if __name__ == "__main__":
    vigiltest.main()
