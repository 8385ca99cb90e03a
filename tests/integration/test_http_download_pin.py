"""
Issue 4 item 5 / issue 3 item 6, end to end: retention deleting footage while
a download of it is in progress.

A client with a tiny receive buffer (SO_RCVBUF 4 KiB) starts downloading a clip
of the oldest segments of a quota pool and reads it slowly, a few KB at a time.
The clip (~6 MB: a noisy 6 Mbit/s stream relayed from FFmpeg) is larger than
what loopback socket buffers hold (the sender's grows to ~4 MiB), so serve
keeps the download (and its pins) open until the client has read it. Recording goes on and retention must delete old footage to hold the
quota. While the download is in progress:
  - retention skips the pinned segments (retention_delete events report
    skipped_pinned > 0) and deletes others; the clip's files and rows stay;
  - /healthz reports the download and its pinned segments;
  - an evidence lock made over HTTP protects its range the same way.
When the client has read everything: the body is complete, byte-for-byte equal
to a second (fast) download made while pinned, and decodes cleanly; the
segments are then deleted by the next passes (and the lock's after release).
"""
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import BUILD, Env, SLOW, decode_errors, log, wait_for  # noqa: E402

NSEG = 4  # segments in the slow clip (2-3 s, 1.5-2.4 MB each)


def unix(t):
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def noisy_media():
    """20 s of 640x360 H.264 at ~6 Mbit/s (noise does not compress), cached."""
    path = os.path.join(BUILD, "test-media", "noise-6M.mp4")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=640x360:rate=25", "-vf", "noise=alls=40:allf=t",
                        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-maxrate",
                        "6M", "-bufsize", "3M", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
                        "-t", "20", path + ".tmp.mp4"], check=True)
        os.rename(path + ".tmp.mp4", path)
    return path


def slow_get(port, path):
    """Starts a GET with a tiny receive buffer; returns (sock, headers dict, first body bytes)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
               % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "connection closed before the headers"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 200"), lines[0]
    hdrs = {k.strip().lower(): v.strip() for k, v in
            (l.split(":", 1) for l in lines[1:])}
    return s, hdrs, body


class DownloadPin(unittest.TestCase):
    def setUp(self):
        self.env = Env("dl-pin")
        self.ok = False

    def tearDown(self):
        self.env.close(keep_on_failure=not self.ok)

    def events(self, typ):
        st, _, data = self.d.http("/api/events?start=0&type=" + typ)
        self.assertEqual(st, 200)
        return json.loads(data)

    def healthz(self):
        return json.loads(self.d.http("/healthz")[2])

    def test_delete_during_slow_download(self):
        env = self.env
        pool = env.path("qpool")
        src = env.ffmpeg_rtsp(noisy_media())
        # source: ffmpeg, the path this test was measured on: through FFmpeg's
        # relay on a loaded machine the native source was seen starting new runs
        # at segment boundaries, which would end the clip at a gap.
        self.cfg = env.config([env.camera("c0", src.url(), source="ffmpeg")], segment_seconds=2,
                              # room for NSEG + 3 closed segments of up to 2.4 MB
                              # and the open one, so retention starts after them
                              pools=[{"id": "q", "path": pool, "max_bytes": "20MiB"}])
        self.d = env.vigild(self.cfg)
        self.d.wait_log("recording")
        # The clip must cover NSEG whole segments: take them from one run (each
        # starting where the previous ended), as a new run (a reconnect, a
        # timestamp jump on a loaded machine) would end the clip at the gap.
        def window():
            segs = [s for s in env.segments(self.cfg, "c0") if s["sha256"]]
            for i in range(len(segs) - NSEG - 1):
                w = segs[i:i + NSEG]
                if all(abs(unix(a["end"]) - unix(b["start"])) < 0.05 for a, b in zip(w, w[1:])):
                    return segs[i:i + NSEG + 2]
            return None
        segs = wait_for(window, 90, what="%d contiguous closed segments and 2 more" % NSEG)
        clip_segs, locked = segs[:NSEG], segs[NSEG:NSEG + 2]
        clip_bytes = sum(s["bytes"] for s in clip_segs)
        log("clip: %d segments, %d bytes" % (NSEG, clip_bytes))
        # an evidence lock over HTTP on the two segments after the clip
        st, _, data = self.d.http("/api/locks", method="POST", body={
            "camera": "c0", "start": locked[0]["start"], "end": locked[1]["end"],
            "reason": "case 88: keep"})
        self.assertEqual(st, 201, data)
        lock = json.loads(data)
        self.assertEqual(lock["created_by"], "anonymous")

        path = "/api/cameras/c0/clip.mp4?start=%s&end=%s" % (clip_segs[0]["start"],
                                                            clip_segs[-1]["end"])
        sock, hdrs, body = slow_get(self.d.http_port, path)
        length = int(hdrs["content-length"])
        self.assertGreater(length, 5 << 20)
        # Read slowly until retention has had to skip the pinned segments.
        t0, skipped = time.time(), None
        while time.time() - t0 < 60 * SLOW:
            body += sock.recv(2048)
            time.sleep(0.25)
            ev = [json.loads(e["detail"]) for e in self.events("retention_delete")]
            skipped = [e for e in ev if e["skipped_pinned"] > 0]
            if skipped:
                break
        self.assertTrue(skipped, "retention never had to skip a pinned segment")
        self.assertLess(len(body), length, "the client must still be downloading")
        h = self.healthz()
        log("retention skipped pinned segments after %.1f s, %d/%d bytes read; healthz %s"
            % (time.time() - t0, len(body), length, h))
        self.assertGreaterEqual(h["downloads"], 1)
        self.assertGreaterEqual(h["pinned_segments"], NSEG)
        # Retention did delete something else, but none of the clip's or the locked segments.
        self.assertTrue(any(e["segments"] > 0 for e in ev))
        now = env.segments(self.cfg, "c0")
        starts = {s["start"] for s in now}
        for s in clip_segs + locked:
            self.assertIn(s["start"], starts, "a pinned/locked segment's row was deleted")
            self.assertTrue(os.path.exists(s["path"]), s["path"])
        # A second, fast download while pinned: the reference bytes.
        with urllib.request.urlopen(self.d.url(path), timeout=60) as r:
            ref = r.read()
        self.assertEqual(len(ref), length)
        # Keep reading slowly a little longer while retention keeps running.
        for _ in range(int(8 / 0.25)):
            body += sock.recv(2048)
            time.sleep(0.25)
        for s in clip_segs:
            self.assertTrue(os.path.exists(s["path"]), s["path"])
        # Then the rest, at full speed.
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        sock.close()
        self.assertEqual(len(body), length)
        self.assertEqual(body, ref, "the slow download differs from the reference")
        clip = env.path("slow.mp4")
        with open(clip, "wb") as f:
            f.write(body)
        self.assertEqual(decode_errors(clip), "")
        # Unpinned now: the next passes delete the clip's segments (rows and files).
        wait_for(lambda: self.healthz()["pinned_segments"] == 0, 10, what="pins released")
        wait_for(lambda: not os.path.exists(clip_segs[0]["path"]), 30, what="unpinned deleted")
        starts = {s["start"] for s in env.segments(self.cfg, "c0")}
        self.assertNotIn(clip_segs[0]["start"], starts)
        # The locked ones are still there until the lock is released.
        for s in locked:
            self.assertTrue(os.path.exists(s["path"]), s["path"])
        st, _, _ = self.d.http("/api/locks/%d" % lock["id"], method="DELETE",
                               body={"reason": "case closed"})
        self.assertEqual(st, 200)
        wait_for(lambda: not os.path.exists(locked[0]["path"]), 30, what="released deleted")
        self.d.stop()
        self.ok = True


if __name__ == "__main__":
    vigiltest.main()
