"""
camsim, the simulated camera fleet, checked from the outside: FFmpeg's RTSP client
(ffprobe/ffmpeg) and a small raw RTSP/RTP reader written here, against one camsim
process with a mount per behaviour. Every other integration test stands on camsim,
so this one pins down its contract: codecs and audio, B-frames, Basic and Digest
auth per mount, shared encoders, keyframe starts and real-time RTP clocks for late
joiners, and the faults (drop, drop_every, stall incl. RTCP, stall_after,
down/up), the stdin control protocol and how the process ends.

Python stdlib only; VIGIL_BUILD names the build tree.
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vigiltest  # noqa: E402

BUILD = os.environ.get("VIGIL_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
CAMSIM = os.path.join(BUILD, "tools", "camsim", "camsim")
TMP = tempfile.mkdtemp(prefix="camsim-test-")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Camsim:
    """camsim with stdout read line by line on a thread and stderr in a file."""

    def __init__(self, args, name="camsim"):
        self.logpath = os.path.join(TMP, name + ".log")
        self.logf = open(self.logpath, "wb")
        self.p = subprocess.Popen([CAMSIM, "--port", "0"] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.logf,
                                  start_new_session=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()
        m = self.wait_line(r"^READY port=(\d+)$", 30)
        self.port = int(m.group(1))

    def _reader(self):
        for raw in self.p.stdout:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pattern, timeout, start=0):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                if time.time() > deadline or self.p.poll() is not None:
                    raise AssertionError("camsim: no line %r; stdout %r; log:\n%s" % (
                        pattern, self.lines, self.log()[-2000:]))
                self.cv.wait(0.2)

    def send(self, cmd):
        n = len(self.lines)
        self.p.stdin.write((cmd + "\n").encode())
        self.p.stdin.flush()
        return self.wait_line(r"^(OK|ERR)\b.*", 10, start=n).group(0)

    def url(self, name, cred=""):
        return "rtsp://%s127.0.0.1:%d/%s" % (cred + "@" if cred else "", self.port, name)

    def log(self):
        self.logf.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if not self.p.stdin.closed:
            try:
                self.p.stdin.close()
            except BrokenPipeError:
                pass
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        self.logf.close()
        return self.p.returncode


def run(argv, timeout=30):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def ffprobe(url, *extra, timeout=30):
    return run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp"] + list(extra) +
               ["-of", "json", url], timeout)


def streams(url):
    rc, out, err = ffprobe(url, "-show_streams")
    if rc != 0:
        raise AssertionError("ffprobe %s failed: %s" % (url, err))
    return json.loads(out)["streams"]


def parallel(fns):
    """Runs the callables on threads; returns their results in order (re-raises)."""
    res = [None] * len(fns)

    def one(i):
        try:
            res[i] = fns[i]()
        except BaseException as e:  # noqa: B902 - handed back to the caller
            res[i] = e
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in res:
        if isinstance(r, BaseException):
            raise r
    return res


class RtspReader:
    """A minimal RTSP client (TCP interleaved) to see exactly what is on the wire."""

    def __init__(self, port, path, auth_header=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = bytearray()
        self.cseq = 0
        self.session = None
        self.base = "rtsp://127.0.0.1:%d/%s" % (port, path)
        self.auth_header = auth_header

    def _fill(self, timeout):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return False
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d
        return True

    def request(self, method, url, extra=""):
        self.cseq += 1
        h = "%s %s RTSP/1.0\r\nCSeq: %d\r\n" % (method, url, self.cseq)
        if self.session:
            h += "Session: %s\r\n" % self.session
        if self.auth_header:
            h += "Authorization: %s\r\n" % self.auth_header
        self.s.sendall((h + extra + "\r\n").encode())
        deadline = time.time() + 15
        while b"\r\n\r\n" not in self.buf:
            if time.time() > deadline:
                raise AssertionError("no reply to " + method)
            self._fill(1)
        i = self.buf.index(b"\r\n\r\n")
        lines = self.buf[:i].decode().split("\r\n")
        del self.buf[:i + 4]
        hdrs = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(hdrs.get("content-length", ["0"])[0])
        while len(self.buf) < n:
            self._fill(1)
        body = self.buf[:n].decode()
        del self.buf[:n]
        if "session" in hdrs:
            self.session = hdrs["session"][0].split(";")[0]
        return int(lines[0].split()[1]), hdrs, body

    def play(self):
        st, _, sdp = self.request("DESCRIBE", self.base, "Accept: application/sdp\r\n")
        assert st == 200, st
        ctrls = re.findall(r"^a=control:(stream=\d+)", sdp, re.M)
        for i, c in enumerate(ctrls):
            st, _, _ = self.request("SETUP", self.base + "/" + c,
                                    "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n"
                                    % (2 * i, 2 * i + 1))
            assert st == 200, st
        st, _, _ = self.request("PLAY", self.base, "Range: npt=0-\r\n")
        assert st == 200, st
        return sdp

    def packets(self, seconds):
        """Yields (time, channel, payload) of interleaved packets for `seconds`;
        stops early (no exception) on EOF and sets self.eof."""
        self.eof = False
        end = time.time() + seconds
        while True:
            while len(self.buf) >= 4 and self.buf[0] == 0x24:
                n = int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < 4 + n:
                    break
                ch, pkt = self.buf[1], bytes(self.buf[4:4 + n])
                del self.buf[:4 + n]
                yield time.time(), ch, pkt
            if self.buf and self.buf[0] != 0x24:
                raise AssertionError("unexpected bytes %r" % bytes(self.buf[:16]))
            left = end - time.time()
            if left <= 0:
                return
            try:
                self._fill(min(left, 0.2))
            except (EOFError, ConnectionResetError):
                self.eof = True
                return

    def close(self):
        self.s.close()


def first_nal(pkts):
    """Type of the first H.264 NAL unit in a list of RTP packets that is not an
    access unit delimiter (9) or SEI (6)."""
    for p in pkts:
        t = h264_nal_type(p)
        if t not in (6, 9):
            return t
    return None


def h264_nal_type(rtp):
    """Type of the (first) NAL unit an H.264 RTP payload carries."""
    cc = rtp[0] & 0x0F
    off = 12 + 4 * cc
    if rtp[0] & 0x10:  # header extension
        off += 4 + 4 * int.from_bytes(rtp[off + 2:off + 4], "big")
    p = rtp[off:]
    t = p[0] & 0x1F
    if t == 28:  # FU-A
        return p[1] & 0x1F
    if t == 24:  # STAP-A: first aggregated NAL
        return p[3] & 0x1F
    return t


class Camsim1(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cam = Camsim([
            "--mount", "h264",
            "--mount", "h265aac:codec=h265,audio=aac,size=320x180",
            "--mount", "pcmu:audio=pcmu",
            "--mount", "bf:bframes=2,size=320x180",
            "--mount", "dig:user=u,password=p4ss",
            "--mount", "bas:user=u,password=p4ss,auth=basic",
            "--mount", "dropper:drop_every=3",
            "--mount", "staller:stall_after=2",
            "--mount", "ctl",
            "--cameras", "3", "--prefix", "fleet", "--default", "codec=h264",
        ])

    @classmethod
    def tearDownClass(cls):
        rc = cls.cam.stop()
        if rc != 0:
            log(cls.cam.log()[-3000:])
        assert rc == 0, "camsim exit status %r" % rc

    def test_01_codecs_and_audio(self):
        h264, h265aac, pcmu = parallel([lambda: streams(self.cam.url("h264")),
                                        lambda: streams(self.cam.url("h265aac")),
                                        lambda: streams(self.cam.url("pcmu"))])
        self.assertEqual([(s["codec_name"], s["width"], s["height"]) for s in h264],
                         [("h264", 640, 360)])
        self.assertEqual([s["codec_name"] for s in h265aac], ["hevc", "aac"])
        self.assertEqual((h265aac[0]["width"], h265aac[0]["height"]), (320, 180))
        self.assertEqual(h265aac[1]["sample_rate"], "16000")
        self.assertEqual([s["codec_name"] for s in pcmu], ["h264", "pcm_mulaw"])
        self.assertEqual(pcmu[1]["sample_rate"], "8000")

    def test_02_concurrent_mounts_share_one_encoder(self):
        names = ["h264", "fleet1", "fleet2", "fleet3"]

        def read(n):
            return run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                        self.cam.url(n), "-t", "3", "-c", "copy", "-f", "framemd5", "-"], 60)
        results = parallel([lambda n=n: read(n) for n in names])
        for n, (rc, out, err) in zip(names, results):
            self.assertEqual(rc, 0, "%s: %s" % (n, err))
            frames = [ln for ln in out.splitlines() if ln and not ln.startswith("#")]
            self.assertGreaterEqual(len(frames), 50, n)  # 3 s at 25 fps, give or take
        # All default-spec mounts (h264, fleet1..3, dig, bas, ctl, ...) use one encoder.
        lines = re.findall(r"encoder (h264,bframes=0,640x360@25,1000kbps,gop=50): videotestsrc",
                           self.cam.log())
        self.assertEqual(len(lines), 1)

    def test_03_keyframe_start_and_realtime_rtp_clock(self):
        # Two late joiners, a second apart: each starts with SPS/PPS/IDR, and its RTP
        # clock counts whole 25 fps frames at 90 kHz, never ahead of the wall clock.
        # (Not "exactly real time": on a starved machine the encoder falls behind.)
        def session():
            r = RtspReader(self.cam.port, "fleet2")
            try:
                r.play()
                return [(t, p) for t, ch, p in r.packets(3) if ch == 0]
            finally:
                r.close()
        for pkts in parallel([session, lambda: (time.sleep(1), session())[1]]):
            self.assertTrue(pkts)
            self.assertIn(first_nal([p for _, p in pkts]), (5, 7), "not started at a keyframe")
            ts0 = int.from_bytes(pkts[0][1][4:8], "big")
            rel = [(int.from_bytes(p[4:8], "big") - ts0) % (1 << 32) for _, p in pkts]
            self.assertEqual(rel, sorted(rel), "RTP time went backwards (no B-frames here)")
            self.assertEqual({r % 3600 for r in rel}, {0}, "not whole frames at 90 kHz")
            wall = pkts[-1][0] - pkts[0][0]
            self.assertGreater(rel[-1], 90000 // 2)
            self.assertLess(rel[-1] / 90000.0, wall + 0.5, "RTP clock ahead of real time")

    def test_04_bframes(self):
        rc, out, err = ffprobe(self.cam.url("bf"), "-select_streams", "v", "-show_frames",
                               "-show_entries", "frame=pict_type,key_frame",
                               "-read_intervals", "%+2")
        self.assertEqual(rc, 0, err)
        frames = json.loads(out)["frames"]
        types = "".join(f["pict_type"] for f in frames)
        self.assertEqual(types[0], "I")
        self.assertEqual(frames[0]["key_frame"], 1)
        self.assertIn("B", types)
        self.assertNotIn("B", "".join(
            f["pict_type"] for f in json.loads(ffprobe(
                self.cam.url("h264"), "-select_streams", "v", "-show_frames", "-show_entries",
                "frame=pict_type", "-read_intervals", "%+1")[1])["frames"]))

    def test_05_auth(self):
        def probe(name, cred=""):
            return ffprobe(self.cam.url(name, cred), "-show_streams")
        (rc1, _, e1), (rc2, out2, e2), (rc3, _, e3), (rc4, _, e4), (rc5, out5, e5) = parallel([
            lambda: probe("dig"), lambda: probe("dig", "u:p4ss"), lambda: probe("dig", "u:bad"),
            lambda: probe("bas"), lambda: probe("bas", "u:p4ss")])
        for rc, e in ((rc1, e1), (rc3, e3), (rc4, e4)):
            self.assertNotEqual(rc, 0)
            self.assertIn("401", e)
        self.assertEqual(rc2, 0, e2)
        self.assertEqual(rc5, 0, e5)
        self.assertEqual(json.loads(out2)["streams"][0]["codec_name"], "h264")
        # The challenge offers exactly the mount's method.
        for name, scheme in (("dig", "Digest"), ("bas", "Basic")):
            r = RtspReader(self.cam.port, name)
            st, hdrs, _ = r.request("DESCRIBE", r.base)
            r.close()
            self.assertEqual(st, 401)
            self.assertEqual([h.split()[0] for h in hdrs["www-authenticate"]], [scheme])
        # Without credentials the open mounts stay open.
        r = RtspReader(self.cam.port, "h264")
        self.assertEqual(r.request("DESCRIBE", r.base)[0], 200)
        r.close()

    def test_06_down_up(self):
        self.assertEqual(self.cam.send("down ctl"), "OK down ctl 0")
        rc, _, err = ffprobe(self.cam.url("ctl"), "-show_streams")
        self.assertNotEqual(rc, 0)
        self.assertIn("404", err)
        self.assertEqual(self.cam.send("up ctl"), "OK up ctl")
        self.assertEqual(streams(self.cam.url("ctl"))[0]["codec_name"], "h264")

    def test_07_drop_every(self):
        t = time.time()
        rc, _, err = run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                          self.cam.url("dropper"), "-c", "copy", "-f", "null", "-"], 20)
        took = time.time() - t
        self.assertGreater(took, 0.5)
        self.assertLess(took, 12)  # drop_every=3 plus at most a GOP to start

    def test_08_drop_and_stall_commands(self):
        # drop: a reading ffmpeg is disconnected at once.
        ff = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                               "-i", self.cam.url("ctl"), "-c", "copy", "-f", "null", "-"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while self.cam.send("clients ctl") != "OK clients ctl 1":
                self.assertLess(time.time(), deadline, "ffmpeg never connected")
                time.sleep(0.2)
            time.sleep(1)
            self.assertEqual(self.cam.send("drop ctl"), "OK drop ctl 1")
            ff.wait(8)
        finally:
            if ff.poll() is None:
                ff.kill()
                ff.wait()

        # stall: media and RTCP stop, the connection stays open; resume restarts the
        # same session at a keyframe.
        r = RtspReader(self.cam.port, "ctl")
        self.addCleanup(r.close)
        r.play()
        self.assertTrue(any(ch == 0 for _, ch, _ in r.packets(1.5)))
        self.assertEqual(self.cam.send("stall ctl"), "OK stall ctl")
        list(r.packets(0.3))  # what was already on its way
        silent = list(r.packets(6))  # longer than an RTCP interval
        self.assertFalse(r.eof, "stall closed the connection")
        self.assertEqual(silent, [])
        self.assertEqual(self.cam.send("resume ctl"), "OK resume ctl")
        back = []
        for _, ch, p in r.packets(5):
            if ch == 0:
                back.append(p)
                if h264_nal_type(p) not in (6, 9):
                    break
        self.assertTrue(back, "no media after resume")
        self.assertIn(first_nal(back), (5, 7))
        r.close()

    def test_09_ffmpeg_gives_up_on_stalls(self):
        # ffmpeg with a 3 s I/O timeout gives up on a camera stalled by command and on
        # one that stalls by itself (stall_after=2); both checked at once.
        def stalled_by_command():
            ff = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                                   "-timeout", "3000000", "-i", self.cam.url("ctl"), "-c", "copy",
                                   "-f", "null", "-"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                time.sleep(3)
                self.assertIsNone(ff.poll(), "ffmpeg stopped before the stall")
                self.cam.send("stall ctl")
                _, err = ff.communicate(timeout=15)
                self.assertIn("timed out", err.decode(errors="replace").lower())
            finally:
                if ff.poll() is None:
                    ff.kill()
                    ff.wait()
                self.cam.send("resume ctl")

        def stall_after():
            t = time.time()
            rc, _, err = run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                              "-timeout", "3000000", "-i", self.cam.url("staller"), "-c", "copy",
                              "-f", "null", "-"], 30)
            took = time.time() - t
            self.assertIn("timed out", err.lower())
            self.assertGreater(took, 2 + 3)  # streamed 2 s, then at least the 3 s timeout
            self.assertLess(took, 20)
        parallel([stalled_by_command, stall_after])
        # Every new session gets its own stall_after budget.
        self.assertEqual(streams(self.cam.url("staller"))[0]["codec_name"], "h264")

    def test_10_control_errors(self):
        self.assertTrue(self.cam.send("bogus").startswith("ERR"))
        self.assertTrue(self.cam.send("stall nosuch").startswith("ERR"))
        self.assertTrue(self.cam.send("stall").startswith("ERR"))
        self.assertEqual(self.cam.send("clients h264"), "OK clients h264 0")


class CamsimLifecycle(unittest.TestCase):
    def test_stdin_eof_is_not_exit_then_sigterm(self):
        c = Camsim(["--mount", "x:size=160x96"], name="eof")
        try:
            c.p.stdin.close()
            time.sleep(1.5)
            self.assertIsNone(c.p.poll(), "camsim exited on stdin EOF")
            self.assertEqual(streams(c.url("x"))[0]["width"], 160)
        finally:
            self.assertEqual(c.stop(), 0)

    def test_quit(self):
        c = Camsim(["--mount", "x:size=160x96"], name="quit")
        self.assertEqual(c.send("quit"), "OK quit")
        self.assertEqual(c.p.wait(10), 0)
        c.stop()

    def test_exits_when_parent_dies(self):
        # A shell starts camsim in the background and exits a second later: camsim,
        # now an orphan, must stop by itself (a killed test runner must not leak
        # encoders).
        out = os.path.join(TMP, "orphan.out")
        rc, pid, _ = run(["sh", "-c", "'%s' --port 0 --mount x:size=160x96 </dev/null >'%s' "
                          "2>'%s' & echo $!; sleep 1" % (CAMSIM, out, out + ".log")], 10)
        pid = int(pid)

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().split(")")[-1].split()[0] == "Z"
            except FileNotFoundError:
                return True
        deadline = time.time() + 10
        while not gone():
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                self.fail("orphaned camsim still running")
            time.sleep(0.2)
        with open(out + ".log") as f:
            self.assertIn("parent process", f.read())

    def test_bad_arguments(self):
        for args in (["--mount", "x:codec=vp9"], ["--mount", "x:nokey=1"],
                     ["--mount", "x", "--mount", "x"], [], ["--mount", "x:size=641x360"]):
            rc, out, err = run([CAMSIM, "--port", "0"] + args, 10)
            self.assertNotEqual(rc, 0, args)
            self.assertNotIn("READY", out)


if __name__ == "__main__":
    if not os.access(CAMSIM, os.X_OK):
        log("camsim not built at %s" % CAMSIM)
        sys.exit(1)
    def cleanup(ok):
        if ok:
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            log("camsim logs kept in %s" % TMP)
    vigiltest.main(cleanup)
