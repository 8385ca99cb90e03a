"""
Caps on concurrent footage work against a real daemon, over real HTTP, while a
camera records (http.max_downloads: 2, http.max_downloads_per_token: 1):
  - a download held open by a client that reads slowly keeps its token's slot:
    the same token's next clip is 429 with Retry-After, another token's is 200;
  - with both slots held, a third token's clip is 503 with Retry-After;
  - once a slow client goes away its slot is free again (the refused token's
    clip is then 200 and complete);
  - a burst of snapshots from one token (max_snapshots_per_token: 1) answers
    only 200 or 429 with Retry-After;
  - a snapshot of a frame with more pixels than http.snapshot_max_pixels is
    400 (the cap lowered by a reload to one pixel under the camera's frame),
    and at the cap it is 200;
and the camera keeps recording throughout.
"""
import concurrent.futures
import hashlib
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, SLOW, http_request, log, wait_for  # noqa: E402
from test_http_download_pin import noisy_media  # noqa: E402  (a 6 Mbit/s 640x360 stream)

TOKENS = {"ops": "admin", "alice": "viewer", "bob": "viewer", "carol": "viewer"}
PIXELS = 640 * 360  # noisy_media()'s frame


def secret(name):
    return "tok-%s-concurrency" % name


def auth(name):
    return {"Authorization": "Bearer " + secret(name)}


def extra(max_pixels):
    lines = ["auth:", "  tokens:"]
    for name, role in TOKENS.items():
        lines.append('    - {name: %s, role: %s, token_sha256: "%s"}'
                     % (name, role, hashlib.sha256(secret(name).encode()).hexdigest()))
    lines += ["http:", "  max_downloads: 2", "  max_downloads_per_token: 1",
              "  max_snapshots: 4", "  max_snapshots_per_token: 1",
              "  snapshot_max_pixels: %d" % max_pixels]
    return "\n".join(lines) + "\n"


def slow_get(port, path, token):
    """A GET with a 4 KiB receive buffer that reads only the headers: the
    download stays in progress while the clip is larger than the socket
    buffers. Returns (sock, status, headers)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
               % (path, secret(token))).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "connection closed before the headers"
        buf += chunk
    lines = buf.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return s, int(lines[0].split()[1]), hdrs


class Concurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("http-conc")
        cls.src = env.ffmpeg_rtsp(noisy_media())
        cam = [env.camera("c0", cls.src.url(), source="ffmpeg")]
        cls.cfg = env.config(cam, segment_seconds=2, extra=extra(PIXELS))
        cls.d = env.vigild(cls.cfg)
        cls.port = cls.d.http_port
        cls.cam = cam
        cls.d.wait_log("recording")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close()

    def get(self, path, token, method="GET"):
        return http_request(self.d.url(path), headers=auth(token), method=method, timeout=60)

    def closed_segments(self):
        return [s for s in self.env.segments(self.cfg, "c0") if s["sha256"]]

    def test_caps(self):
        # A clip of at least 6 MiB (more than loopback's socket buffers hold).
        def big_clip():
            segs = self.closed_segments()
            if not segs:
                return None
            path = "/api/cameras/c0/clip.mp4?start=%s&end=%s" % (segs[0]["start"],
                                                                segs[-1]["end"])
            st, h, _ = self.get(path, "ops", method="HEAD")
            return path if st == 200 and int(h["content-length"]) > 6 << 20 else None
        path = wait_for(big_clip, 90 * SLOW, what="6 MiB of footage")
        recorded = len(self.closed_segments())

        a, st, h = slow_get(self.port, path, "alice")
        self.assertEqual(st, 200)
        st, h, body = self.get(path, "alice")
        log("alice's second clip: %d %s %s" % (st, h.get("retry-after"), body[:80]))
        self.assertEqual(st, 429)
        self.assertTrue(int(h["retry-after"]) > 0)
        b, st, _ = slow_get(self.port, path, "bob")
        self.assertEqual(st, 200)
        st, h, body = self.get(path, "carol")
        log("carol's clip with both slots held: %d %s %s" % (st, h.get("retry-after"), body[:80]))
        self.assertEqual(st, 503)
        self.assertTrue(int(h["retry-after"]) > 0)
        hz = json.loads(self.get("/healthz", "ops")[2])
        self.assertEqual(hz["downloads"], 2)

        # alice goes away: her slot is given back once the download is freed.
        a.close()
        wait_for(lambda: json.loads(self.get("/healthz", "ops")[2])["downloads"] == 1,
                 30 * SLOW, what="alice's download to end")
        st, h, body = self.get(path, "carol")
        self.assertEqual(st, 200)
        self.assertEqual(len(body), int(h["content-length"]))
        b.close()

        # Snapshots: one token's burst is served or refused with 429, nothing else.
        at = self.closed_segments()[-1]["start"]
        snap = "/api/cameras/c0/snapshot.jpg?at=%s" % at
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            res = list(ex.map(lambda _: self.get(snap, "alice"), range(8)))
        codes = sorted(r[0] for r in res)
        log("snapshot burst: %s" % codes)
        self.assertIn(200, codes)
        for st, h, _ in res:
            self.assertIn(st, (200, 429))
            if st == 429:
                self.assertTrue(int(h["retry-after"]) > 0)
        # At the cap a frame is served; one pixel under it, refused with 400.
        st, h, body = self.get(snap, "bob")
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(h["content-type"], "image/jpeg")
        self.env.config(self.cam, segment_seconds=2, extra=extra(PIXELS - 1))
        st, _, body = self.get("/api/reload", "ops", method="POST")
        self.assertEqual(st, 200, body)
        st, _, body = self.get(snap, "bob")
        log("snapshot over the pixel cap: %d %s" % (st, body[:120]))
        self.assertEqual(st, 400)
        self.assertIn(b"snapshot_max_pixels", body)

        # The camera recorded throughout.
        wait_for(lambda: len(self.closed_segments()) > recorded + 2, 30 * SLOW,
                 what="recording to go on")
        self.assertTrue(self.d.alive())


if __name__ == "__main__":
    vigiltest.main()
