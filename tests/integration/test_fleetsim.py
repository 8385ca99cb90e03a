#!/usr/bin/env python3
"""
fleetsim (tools/fleetsim): the camera fleet for scale benchmarks.

Three mounts recorded by FFmpeg's RTSP client: H.264 at the source's size,
decodes without an error, starts at a keyframe, timestamps keep increasing
across the loop point (the recording is longer than the source), stats count
the frames sent. Then the RTSP edges (OPTIONS, 404, UDP refused with 461,
GET_PARAMETER, TEARDOWN), SIGUSR1 stats, the drain (a client gets whole GOPs and
exactly what the stats say was sent), and a smoke run of
tools/bench/fleet_bench.py (format of its last line only: it is not a timed test).
"""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from vigiltest import (BUILD, SRC, VIGILD, Env, Proc, decode_errors, ffprobe,  # noqa: E402
                       first_frame_is_key, log, packet_times, wait_for)

FLEETSIM = os.path.join(BUILD, "tools", "fleetsim", "fleetsim")
SOURCE_SECONDS = 4
GOP = 25


class FleetSim(Proc):
    def __init__(self, env, media, cameras, extra=()):
        self.stats = env.path("fleetsim-stats.json")
        super().__init__([FLEETSIM, "--input", media, "--cameras", str(cameras), "--port", "0",
                          "--stats", self.stats] + list(extra),
                         env.path("fleetsim.log"), stdout_pipe=True)
        env.procs.append(self)
        m = self.wait_stdout(r"^READY port=(\d+) cameras=(\d+) .*frames=(\d+) width=(\d+) "
                             r"height=(\d+)", 30)
        self.port = int(m.group(1))
        self.frames = int(m.group(3))
        self.size = (int(m.group(4)), int(m.group(5)))

    def url(self, i):
        return "rtsp://127.0.0.1:%d/cam%d" % (self.port, i)

    def read_stats(self):
        with open(self.stats) as f:
            return [json.loads(line) for line in f if line.strip()]


def rtsp(sock, method, url, headers=""):
    """Sends one request, returns (status, headers text, body)."""
    sock.sendall(("%s %s RTSP/1.0\r\nCSeq: 7\r\n%s\r\n" % (method, url, headers)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(1)
        if not d:
            return None, "", ""
        buf += d
    head = buf.decode()
    m = re.search(r"Content-Length:\s*(\d+)", head, re.I)
    body = b""
    while m and len(body) < int(m.group(1)):
        body += sock.recv(int(m.group(1)) - len(body))
    assert "CSeq: 7" in head, head
    return int(head.split()[1]), head, body.decode()


def check_recordings(env, fs):
    procs, outs = [], []
    for i in (1, 2, 3):
        out = env.path("rec%d.mp4" % i)
        outs.append(out)
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-rtsp_transport", "tcp", "-i", fs.url(i),
             "-t", str(SOURCE_SECONDS + 2), "-c", "copy", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    for out in outs:
        info = ffprobe(out)
        v = [s for s in info["streams"] if s["codec_type"] == "video"]
        assert len(v) == 1 and v[0]["codec_name"] == "h264", info["streams"]
        assert (v[0]["width"], v[0]["height"]) == fs.size, v[0]
        assert decode_errors(out) == "", decode_errors(out)
        assert first_frame_is_key(out), out
        pts, dts = packet_times(out)
        assert all(b > a for a, b in zip(dts, dts[1:])), "dts not increasing in %s" % out
        assert sorted(pts) == sorted(set(pts)), "duplicate pts in %s" % out
        span = max(pts) - min(pts)
        assert span > SOURCE_SECONDS + 1, "recording spans %.2f s: no loop?" % span
        assert len(pts) >= (SOURCE_SECONDS + 1.5) * 25, len(pts)
        log("%s: %d frames over %.2f s, clean" % (os.path.basename(out), len(pts), span))
    # the stats file is rewritten every second: wait for the one that has the sessions
    def stats():
        st = {o["camera"]: o for o in fs.read_stats() if "camera" in o}
        return st if all(st.get("cam%d" % i, {}).get("frames_sent", 0) >=
                         (SOURCE_SECONDS + 1.5) * 25 for i in (1, 2, 3)) else None
    st = wait_for(stats, 10, what="fleetsim stats with the three sessions' frames")
    for i in (1, 2, 3):
        c = st["cam%d" % i]
        assert c["sessions"] >= 1 and c["frames_sent"] >= (SOURCE_SECONDS + 1.5) * 25, c
        assert c["bytes_sent"] > 0 and c["frames_skipped"] == 0, c


def check_rtsp_edges(fs):
    with socket.create_connection(("127.0.0.1", fs.port), timeout=10) as s:
        code, head, _ = rtsp(s, "OPTIONS", fs.url(1))
        assert code == 200 and "DESCRIBE" in head and "GET_PARAMETER" in head, head
        code, _, _ = rtsp(s, "DESCRIBE", fs.url(4))
        assert code == 404, code
        code, _, _ = rtsp(s, "DESCRIBE", "rtsp://127.0.0.1:%d/other" % fs.port)
        assert code == 404, code
        code, head, sdp = rtsp(s, "DESCRIBE", fs.url(2))
        assert code == 200 and "Content-Base: %s/" % fs.url(2) in head, head
        assert "a=rtpmap:96 H264/90000" in sdp and "sprop-parameter-sets=" in sdp, sdp
        assert "packetization-mode=1" in sdp, sdp
        code, _, _ = rtsp(s, "SETUP", fs.url(2) + "/trackID=0",
                          "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n")
        assert code == 461, code
        code, head, _ = rtsp(s, "SETUP", fs.url(2) + "/trackID=0",
                             "Transport: RTP/AVP/TCP;unicast;interleaved=2-3\r\n")
        assert code == 200 and "interleaved=2-3" in head, head
        code, _, _ = rtsp(s, "GET_PARAMETER", fs.url(2))
        assert code == 200
        code, _, _ = rtsp(s, "TEARDOWN", fs.url(2))
        assert code == 200
        s.settimeout(5)
        assert s.recv(1) == b"", "connection not closed after TEARDOWN"


def read_frames(sock, until):
    """Reads interleaved RTP until `until()` says stop; returns (frames, idrs, first nal,
    seq gaps)."""
    buf, frames, idrs, first, gaps, last_seq = b"", 0, 0, None, 0, None
    while not until():
        r, _, _ = select.select([sock], [], [], 0.2)
        if r:
            d = sock.recv(1 << 16)
            if not d:
                break
            buf += d
        while len(buf) >= 4:
            assert buf[0:1] == b"$", buf[:8]
            n = struct.unpack(">H", buf[2:4])[0]
            if len(buf) < 4 + n:
                break
            p, buf = buf[4:4 + n], buf[4 + n:]
            seq = struct.unpack(">H", p[2:4])[0]
            if last_seq is not None and seq != (last_seq + 1) & 0xFFFF:
                gaps += 1
            last_seq = seq
            nal = p[12] & 0x1F
            if first is None:
                first = nal
            if nal == 7:
                idrs += 1
            if p[1] & 0x80:
                frames += 1
    return frames, idrs, first, gaps


def check_drain(fs):
    with socket.create_connection(("127.0.0.1", fs.port), timeout=10) as s:
        assert rtsp(s, "SETUP", fs.url(3) + "/trackID=0",
                    "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")[0] == 200
        before = {o["camera"]: o for o in fs.read_stats() if "camera" in o}["cam3"]
        assert rtsp(s, "PLAY", fs.url(3))[0] == 200
        t0 = time.time()
        f1, i1, first, g1 = read_frames(s, lambda: time.time() - t0 > 2.5)
        fs.kill_with(signal.SIGUSR2)
        quiet = [time.time()]

        def done():
            return time.time() - quiet[0] > 2.5
        f2, i2, _, g2 = read_frames(s, done)
        frames = f1 + f2
        assert first == 7, "session did not start with SPS (IDR): NAL %r" % first
        assert g1 + g2 == 0, "sequence gaps"
        assert frames % GOP == 0 and frames >= GOP, "drained at %d frames" % frames
        assert i1 + i2 == frames // GOP, (i1 + i2, frames)
        # the stats file is rewritten every second: wait for one written after the drain
        def drained():
            a = {o["camera"]: o for o in fs.read_stats() if "camera" in o}["cam3"]
            return a if a["frames_sent"] - before["frames_sent"] >= frames else None
        after = wait_for(drained, 10, what="fleetsim stats after the drain")
        assert after["frames_sent"] - before["frames_sent"] == frames, (before, after, frames)
        log("drain: %d frames (%d GOPs), matches the stats" % (frames, frames // GOP))


def check_bench(env, media):
    """The bench script runs and its last line has the documented shape."""
    assert os.access(VIGILD, os.X_OK), "vigild not built at %s" % VIGILD
    bench = os.path.join(SRC, "tools", "bench", "fleet_bench.py")
    t0 = time.time()
    r = subprocess.run([sys.executable, bench, "--build", BUILD, "--cameras", "3", "--seconds",
                        "6", "--warmup", "4", "--gop", "1", "--input", media,
                        "--workdir", env.path("bench")],
                       capture_output=True, text=True, timeout=240)
    log(r.stdout[-1500:] + r.stderr[-1500:])
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    num = r"(-?[0-9.]+|nan)"
    m = re.fullmatch(r"cameras=3 vigild_cpu_pct=%s ffmpeg_cpu_pct=%s cpu_ratio=%s "
                     r"vigild_pss_kib=%s ffmpeg_pss_kib=%s frames_lost=%s" % ((num,) * 6), last)
    assert m, last
    vals = [float(x) for x in m.groups()]
    assert vals[0] >= 0 and vals[3] > 0, last
    log("bench smoke: %.0f s, %s" % (time.time() - t0, last))


def main():
    env = Env("fleetsim")
    ok = False
    try:
        media = env.media("fleetsim-src.mp4", seconds=SOURCE_SECONDS, size="640x360", gop=GOP)
        fs = FleetSim(env, media, 3)
        assert fs.frames == SOURCE_SECONDS * 25 and fs.size == (640, 360)
        check_recordings(env, fs)
        check_rtsp_edges(fs)
        n = len(fs.lines)
        fs.kill_with(signal.SIGUSR1)
        wait_for(lambda: any('"camera":"cam3"' in l for l in fs.lines[n:]), 10,
                 what="SIGUSR1 stats on stdout")
        check_drain(fs)
        assert fs.stop() == 0, fs.log()
        check_bench(env, media)
        ok = True
    finally:
        env.close(keep_on_failure=not ok)
    print("PASS")


if __name__ == "__main__":
    main()
