#!/usr/bin/env python3
"""
Live view: GET /api/cameras/{id}/live.mp4 against a real daemon and real
cameras (camsim: H.264 through libavformat, H.265+AAC and H.264+G.711 through
the native client; G.711 goes live as AAC, encoded as it arrives). The stream is read as a client would, cut at its last whole box and
checked with ffprobe/ffmpeg; every moof must follow a prft whose NTP wall
clock increases and lies shortly before the client received the chunk; a
camera reconnect ends the response cleanly and the viewer gets a new stream
by reconnecting; access is the clips' (401 without or with a wrong token,
header or access_token=); each session is audited and counted in /metrics.

A second daemon records two fleetsim cameras (one per ingest path) while 20
viewers per camera open live.mp4 and never read: every frame the simulator
sent is still in the segment files (a drain, as in test_record_drain), and
the stalled viewers are disconnected.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import FleetSim, BUILD, Env, Proc, decode_errors, ffprobe, log, wait_for  # noqa: E402

NTP_UNIX = 2208988800
TOKENS = {"viewer": "tok-live-viewer-31c9", "admin": "tok-live-admin-77ad"}


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def boxes(data):
    """Top-level boxes [(type, offset, size)] that are complete."""
    out, i = [], 0
    while i + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        if size < 8 or i + size > len(data):
            break
        out.append((typ.decode("latin-1"), i, size))
        i += size
    return out


def prft(data, off):
    """(track, wall clock in Unix seconds, media time) of the prft box at off."""
    version = data[off + 8]
    track, ntp = struct.unpack(">IQ", data[off + 12:off + 24])
    media = (struct.unpack(">Q", data[off + 24:off + 32])[0] if version == 1
             else struct.unpack(">I", data[off + 24:off + 28])[0])
    return track, (ntp >> 32) - NTP_UNIX + (ntp & 0xffffffff) / 2.0 ** 32, media


class LiveRead:
    """One live.mp4 response read for a while, with the time each byte arrived."""

    def __init__(self, port, path, seconds, headers=None, stop_at_eof=True):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.data = bytearray()
        self.arrivals = []  # (end offset, time)
        self.eof = False
        self.clean_end = False
        if self.status != 200:
            self.data += self.resp.read()
            self.conn.close()
            return
        t0 = time.time()
        while time.time() - t0 < seconds:
            try:
                b = self.resp.read1(1 << 16)
            except http.client.IncompleteRead:
                self.eof = True  # ended without the last chunk: not clean
                break
            if not b:
                self.eof = self.clean_end = True
                break
            self.data += b
            self.arrivals.append((len(self.data), time.time()))
        self.conn.close()

    def arrived(self, end):
        for e, t in self.arrivals:
            if e >= end:
                return t
        return None

    def whole(self):
        """The bytes up to the last whole fragment (a moof needs its mdat)."""
        bx = [b for b in boxes(self.data) if b[0] in ("moov", "mdat")]
        return bytes(self.data[:bx[-1][1] + bx[-1][2]]) if bx else b""

    def chunks(self):
        """[(track, wall, media, received)] per prft + moof + mdat chunk."""
        bx = boxes(self.data)
        out = []
        for i, (t, off, size) in enumerate(bx):
            if t == "prft" and i + 2 < len(bx) and bx[i + 1][0] == "moof":
                end = bx[i + 2][1] + bx[i + 2][2]
                out.append(prft(self.data, off) + (self.arrived(end),))
        return out


class Live(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("live")
        cls.cam = env.camsim(["h264:codec=h264", "h265:codec=h265,audio=aac",
                              "dual:codec=h264", "dual-sub:codec=h264,size=320x180",
                              "g711:codec=h264,audio=pcmu"])
        auth = ("auth:\n  tokens:\n"
                '    - {name: wall-1, role: viewer, token_sha256: "%s"}\n'
                '    - {name: ops, role: admin, token_sha256: "%s"}\n'
                % (sha(TOKENS["viewer"]), sha(TOKENS["admin"])))
        cls.cfg = env.config([
            env.camera("h264", cls.cam.url("h264")),
            env.camera("h265", cls.cam.url("h265"), source="native"),
            env.camera("dual", cls.cam.url("dual"), sub_url=cls.cam.url("dual-sub"),
                       source="native"),
            env.camera("g711", cls.cam.url("g711"), source="native"),
        ], segment_seconds=4, extra=auth)
        cls.d = env.vigild(cls.cfg)
        env.wait_online(cls.cfg, ["h264", "h265", "dual", "g711"])
        cls.files = {}

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def read(self, cam, seconds, token="viewer", query=""):
        return LiveRead(self.d.http_port, "/api/cameras/%s/live.mp4%s" % (cam, query), seconds,
                        headers={"Authorization": "Bearer " + TOKENS[token]})

    def save(self, name, data):
        path = self.env.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def check_stream(self, cam, want):
        lr = self.read(cam, 4)
        self.assertEqual(lr.status, 200)
        self.assertEqual(lr.headers.get("content-type"), "video/mp4")
        self.assertEqual(lr.headers.get("transfer-encoding"), "chunked")
        self.assertFalse(lr.eof, "the response ended while the camera was recording")
        bx = [b[0] for b in boxes(lr.data)]
        self.assertEqual(bx[:2], ["ftyp", "moov"])
        # every fragment is prft + moof + mdat
        for i in range(2, len(bx) - 2, 3):
            self.assertEqual(bx[i:i + 3], ["prft", "moof", "mdat"], i)
        path = self.save(cam + ".mp4", lr.whole())
        streams = sorted(s["codec_name"] for s in ffprobe(path)["streams"])
        self.assertEqual(streams, want)
        self.assertEqual(decode_errors(path), "")
        # it starts at a keyframe and holds at least the 4 s asked (it starts
        # at the newest keyframe, so often more)
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "packet=pts_time,flags", "-of", "json", path],
                           capture_output=True, text=True, timeout=60)
        pk = json.loads(r.stdout)["packets"]
        self.assertTrue(pk[0]["flags"].startswith("K"), pk[0])
        self.assertGreaterEqual(float(pk[-1]["pts_time"]) - float(pk[0]["pts_time"]), 3.0)
        return lr

    def test_h264_ffprobe(self):
        self.check_stream("h264", ["h264"])

    def test_h265_aac_ffprobe(self):
        self.check_stream("h265", ["aac", "hevc"])

    def test_g711_aac_ffprobe(self):
        """A G.711 camera's live view carries its audio as AAC, from the
        run's first picture on and as it arrives."""
        lr = self.check_stream("g711", ["aac", "h264"])
        path = self.env.path("g711.mp4")
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_type,sample_rate:packet=stream_index,pts_time",
                            "-of", "json", path], capture_output=True, text=True, timeout=60)
        info = json.loads(r.stdout)
        kinds = [s["codec_type"] for s in info["streams"]]
        a_idx, v_idx = kinds.index("audio"), kinds.index("video")
        self.assertEqual(info["streams"][a_idx]["sample_rate"], "8000")
        apts = [float(p["pts_time"]) for p in info["packets"] if p["stream_index"] == a_idx]
        vpts = [float(p["pts_time"]) for p in info["packets"] if p["stream_index"] == v_idx]
        # the audio track covers the video's (a Media Source player plays
        # only where both are buffered): it starts with the first picture,
        # or a little before when the viewer joined a run at a later
        # keyframe (an AAC frame is published after the pictures it spans)
        self.assertLess(apts[0] - min(vpts), 0.2, (apts[:3], vpts[:3]))
        self.assertGreater(apts[0] - min(vpts), -1.0, (apts[:3], vpts[:3]))
        self.assertLess(max(vpts) - apts[-1], 1.0, (apts[-3:], vpts[-3:]))
        ch = lr.chunks()
        audio = [c for c in ch if c[0] == 2]
        medias = [c[2] for c in audio]
        self.assertEqual(medias, sorted(medias))
        self.assertEqual(len(set(medias)), len(medias))
        # after the backlog, 8 kHz in 1024-sample frames: ~7.8 a second keep
        # coming, each soon after vigild had its last sample
        t0 = lr.arrivals[0][1]
        late = [c for c in audio if c[3] and c[3] - t0 > 1.0]
        self.assertGreater(len(late), 12)
        lag = sorted(c[3] - c[1] for c in late)
        log("g711: %d audio chunks, %d of them more than 1 s into the read, prft -> receive "
            "p50 %.0f ms" % (len(audio), len(late), lag[len(lag) // 2] * 1000))
        self.assertLess(lag[len(lag) // 2], 1.5)

    def test_sub_stream(self):
        """sub_url: ?stream=sub is the low-resolution stream, the main one is
        the recorded one, and the sub stream is not recorded."""
        sizes = {}
        for stream in ("main", "sub"):
            lr = self.read("dual", 3, query="?stream=" + stream)
            self.assertEqual(lr.status, 200, stream)
            path = self.save("dual-%s.mp4" % stream, lr.whole())
            v = [s for s in ffprobe(path)["streams"] if s["codec_type"] == "video"][0]
            sizes[stream] = (v["width"], v["height"])
            self.assertEqual(decode_errors(path), "")
        self.assertEqual(sizes, {"main": (640, 360), "sub": (320, 180)})
        segs = wait_for(lambda: self.env.segments(self.cfg, "dual"), 20, what="dual's segments")
        for s in segs[:3]:
            v = [x for x in ffprobe(s["path"])["streams"] if x["codec_type"] == "video"][0]
            self.assertEqual((v["width"], v["height"]), (640, 360), s["path"])
        # a camera without sub_url has no sub stream
        lr = self.read("h264", 1, query="?stream=sub")
        self.assertEqual(lr.status, 404)

    def test_prft_increasing_and_recent(self):
        for cam in ("h264", "h265"):
            lr = self.read(cam, 3)
            ch = lr.chunks()
            self.assertGreater(len(ch), 40, cam)
            video = [c for c in ch if c[0] == 1]
            walls = [c[1] for c in video]
            medias = [c[2] for c in video]
            self.assertEqual(walls, sorted(walls), cam)
            self.assertEqual(len(set(walls)), len(walls), cam)
            self.assertEqual(medias, sorted(medias), cam)
            # frames that arrive after the backlog (from the newest keyframe)
            # reach the client soon after vigild got them
            late = [c[3] - c[1] for c in video if c[3] and c[3] - lr.arrivals[0][1] > 0.5]
            self.assertTrue(late, cam)
            late.sort()
            p50 = late[len(late) // 2]
            log("%s: %d chunks, prft -> receive p50 %.0f ms, max %.0f ms" % (
                cam, len(ch), p50 * 1000, late[-1] * 1000))
            self.assertGreater(late[0], -0.5, "prft in the future")
            self.assertLess(p50, 1.5, cam)

    def test_head(self):
        st, h, body = self.d.http("/api/cameras/h264/live.mp4", method="HEAD",
                                  headers={"Authorization": "Bearer " + TOKENS["viewer"]})
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "video/mp4")
        self.assertEqual(body, b"")

    def test_access_like_clips(self):
        now = int(time.time())
        clip = "/api/cameras/h264/clip.mp4?start=%d&end=%d" % (now - 3, now - 1)
        live = "/api/cameras/h264/live.mp4"
        for hdr in ({}, {"Authorization": "Bearer wrong"}):
            for path in (clip, live):
                st, _, _ = self.d.http(path, headers=hdr, method="HEAD")
                self.assertEqual(st, 401, (path, hdr))
        lr = LiveRead(self.d.http_port, live + "?access_token=" + TOKENS["viewer"], 1)
        self.assertEqual(lr.status, 200)
        self.assertTrue(lr.data.startswith(lr.data[:4] + b"ftyp"))
        st, _, _ = self.d.http(live + "?access_token=nope", method="HEAD")
        self.assertEqual(st, 401)
        st, _, _ = self.d.http("/api/cameras/nosuch/live.mp4", method="HEAD",
                               headers={"Authorization": "Bearer " + TOKENS["viewer"]})
        self.assertEqual(st, 404)
        st, _, _ = self.d.http(live + "?stream=third", method="HEAD",
                               headers={"Authorization": "Bearer " + TOKENS["viewer"]})
        self.assertEqual(st, 400)

    def test_zz_audit_and_metrics(self):
        self.read("h264", 1)
        adm = {"Authorization": "Bearer " + TOKENS["admin"]}

        def rows():
            st, _, body = self.d.http("/api/audit?camera=h264", headers=adm)
            self.assertEqual(st, 200)
            return [r for r in json.loads(body) if r["action"] == "live"]
        wait_for(lambda: rows(), 10, what="a live audit row")
        r = rows()[-1]
        self.assertEqual(r["token"], "wall-1")
        self.assertEqual(r["camera"], "h264")
        self.assertIn("main", json.dumps(r))
        self.assertLess(r["start"], r["end"])
        st, _, body = self.d.http("/metrics", headers=adm)
        text = body.decode()
        for name in ("vigil_live_viewers", "vigil_live_sessions_total",
                     "vigil_live_frames_skipped_total", "vigil_live_bytes_sent_total"):
            self.assertRegex(text, r'(?m)^%s\{camera="h264",stream="main"\} \d+$' % name)
        sent = int(re.search(r'(?m)^vigil_live_bytes_sent_total\{camera="h264",stream="main"\} '
                             r'(\d+)$', text).group(1))
        self.assertGreater(sent, 100000)

    def test_zz_reconnect(self):
        """A camera reconnect ends the response cleanly; reconnecting gives a
        new stream (init segment first) that plays."""
        import threading
        res = {}

        def viewer():
            res["lr"] = self.read("h264", 20)
        t = threading.Thread(target=viewer)
        t.start()
        time.sleep(2)
        self.cam.send("drop h264")
        t.join(30)
        lr = res["lr"]
        self.assertTrue(lr.clean_end, "the response did not end cleanly at the reconnect")
        self.assertEqual(decode_errors(self.save("before.mp4", lr.whole())), "")
        again = None
        deadline = time.time() + 30
        while time.time() < deadline:
            again = self.read("h264", 3)
            if again.status == 200 and len(boxes(again.data)) > 10:
                break
            time.sleep(0.5)
        self.assertEqual([b[0] for b in boxes(again.data)][:2], ["ftyp", "moov"])
        path = self.save("after.mp4", again.whole())
        self.assertEqual(decode_errors(path), "")
        self.assertEqual([s["codec_name"] for s in ffprobe(path)["streams"]], ["h264"])


def video_frames(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets", "-of", "json", path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(json.loads(r.stdout)["streams"][0]["nb_read_packets"])


def stalled_viewer(port, cam):
    """Opens live.mp4 and never reads (a small receive buffer fills at once)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /api/cameras/%s/live.mp4 HTTP/1.1\r\nHost: x\r\n\r\n" % cam).encode())
    return s


class StalledViewers(unittest.TestCase):
    GOP = 25
    RECORD_SECONDS = 12
    VIEWERS = 20

    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("live-stall")
        media = env.media("fleetsim-src.mp4", seconds=4, size="640x360", gop=cls.GOP)
        cls.fs = FleetSim(env, media, 2)
        cls.ids = ["ff", "native"]
        cams = [env.camera("ff", cls.fs.url(1), source="ffmpeg"),
                env.camera("native", cls.fs.url(2), source="native")]
        cls.cfg = env.config(cams, segment_seconds=60)
        cls.d = env.vigild(cls.cfg)
        env.wait_online(cls.cfg, cls.ids)
        socks = [stalled_viewer(cls.d.http_port, cid) for cid in cls.ids
                 for _ in range(cls.VIEWERS)]
        # one viewer that reads, to see the feed keep going for the others
        cls.reader = LiveRead(cls.d.http_port, "/api/cameras/native/live.mp4", 3)
        time.sleep(cls.RECORD_SECONDS - 3)
        # a viewer is cut off 10 s after its socket's buffers filled up
        wait_for(lambda: cls.d.log().count("has not read for") >= len(socks), 40,
                 what="the stalled viewers to be disconnected")
        _, _, body = cls.d.http("/metrics")
        cls.metrics = body.decode()
        cls.fs.kill_with(signal.SIGUSR2)  # drain: whole GOPs, connections stay open
        time.sleep(cls.GOP / 25.0 + 5.5)
        cls.sent = cls.fs.read_stats()
        cls.open_after = []
        for s in socks:
            s.setblocking(False)
            try:
                while True:
                    b = s.recv(1 << 20)
                    if not b:
                        break
            except BlockingIOError:
                cls.open_after.append(s)  # still open: not disconnected
            except OSError:
                pass
            s.close()
        cls.rc = cls.d.stop()
        cls.log = cls.d.log()
        cls.segs = {cid: env.segments(cls.cfg, cid) for cid in cls.ids}

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_exit_clean(self):
        self.assertEqual(self.rc, 0)

    def test_every_frame_sent_is_written(self):
        for i, cid in enumerate(self.ids, 1):
            st = self.sent["cam%d" % i]
            sent = st["frames_sent"] + st["frames_skipped"]
            written = sum(video_frames(s["path"]) for s in self.segs[cid])
            log("%s: sent %d frames, written %d, with %d stalled viewers" % (
                cid, sent, written, self.VIEWERS))
            with self.subTest(camera=cid):
                self.assertEqual(st["sessions"], 1, st)
                self.assertGreaterEqual(sent, (self.RECORD_SECONDS - 1) * 25, st)
                self.assertEqual(written, sent, "frames lost with stalled viewers")

    def test_reader_was_served(self):
        self.assertEqual(self.reader.status, 200)
        self.assertGreater(len(self.reader.chunks()), 40)

    def test_stalled_viewers_disconnected(self):
        self.assertEqual(self.open_after, [])
        self.assertIn("has not read for", self.log)
        for cid in self.ids:
            self.assertRegex(self.metrics, r'(?m)^vigil_live_sessions_total\{camera="%s",'
                                           r'stream="main"\} %d$' % (cid, self.VIEWERS +
                                                                    (cid == "native")))


if __name__ == "__main__":
    vigiltest.main()
