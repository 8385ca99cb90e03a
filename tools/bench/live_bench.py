#!/usr/bin/env python3
"""
live_bench: what the live view costs and adds, on a simulated fleet.

    tools/bench/live_bench.py --build build --cameras 40 --seconds 20 --stalled 100
        [--bitrate 2] [--fps 25] [--gop 2] [--source native|ffmpeg] [--workdir DIR]

Run by hand (not part of `make test`). fleetsim serves N cameras (the same
generated clip as fleet_bench.py), vigild records them. Then:

 1. Latency: one live.mp4 viewer per camera for --seconds. For every video
    chunk the viewer receives after its first 2 s (the backlog from the
    newest keyframe is old by design), latency = time the chunk was whole at
    the client - the wall clock in its prft (what vigild says the frame's time
    is: its receive time, steered by the stream clock). So it is what vigild
    adds (read tick, one-frame hold, fan-out, HTTP) on loopback. p50/p99 over
    all cameras. vigild's CPU over the same window is compared with a window
    of the same length without viewers: the cost per viewer-stream.
 2. Stalled viewers: --stalled connections to cam1's live.mp4 that never read
    (4 KiB receive buffer). vigild's PSS is sampled every second before and
    during; then fleetsim drains (every session stops at its next IDR), vigild
    stops, and every camera's segment files are counted against what fleetsim
    sent: frames lost = sent - written.

 3. The peer, on a fleetsim of its own after vigild has stopped: what a site
    without a live fan-out runs for each viewer, one
    `ffmpeg -rtsp_transport tcp -i URL -c copy -f mp4 -movflags
     +frag_every_frame+empty_moov+default_base_moof pipe:1` per viewer-stream
    (a remux from the camera to a fragmented MP4 on a pipe, as restreamers do).
    Their CPU over --seconds, per viewer-stream, next to vigild's
    cpu_pct_per_viewer: peer_ratio = vigild / peer. --no-peer skips it.

Prints the figures and last one line:
    cameras=N p50_ms=… p99_ms=… cpu_pct_no_viewers=… cpu_pct_viewers=… cpu_pct_per_viewer=…
    stalled=M pss_before_kib=… pss_max_stalled_kib=… frames_lost=…
    peer_cpu_pct_per_viewer=… peer_ratio=…
"""
import argparse
import http.client
import os
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_bench as fb  # noqa: E402

NTP_UNIX = 2208988800


def live_reader(port, cam, seconds, out):
    """Reads cam's live.mp4 for seconds; appends (latency s) of each video chunk
    that arrived after the first 2 s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/cameras/%s/live.mp4" % cam)
    r = conn.getresponse()
    if r.status != 200:
        return
    buf = bytearray()
    t0 = time.time()
    pending = None  # (wall) of a video prft whose chunk is not whole yet
    while time.time() - t0 < seconds:
        b = r.read1(1 << 16)
        if not b:
            break
        now = time.time()
        buf += b
        i = 0
        while i + 8 <= len(buf):
            size, typ = struct.unpack(">I4s", buf[i:i + 8])
            if size < 8 or i + size > len(buf):
                break
            if typ == b"prft":
                track, ntp = struct.unpack(">IQ", buf[i + 12:i + 24])
                pending = (ntp >> 32) - NTP_UNIX + (ntp & 0xffffffff) / 2.0 ** 32 \
                    if track == 1 else None
            elif typ == b"mdat" and pending is not None:
                if now - t0 > 2:
                    out.append(now - pending)
                pending = None
            i += size
        del buf[:i]
    conn.close()


def stalled(port, cam):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /api/cameras/%s/live.mp4 HTTP/1.1\r\nHost: x\r\n\r\n" % cam).encode())
    return s


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--cameras", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--stalled", type=int, default=100)
    ap.add_argument("--stalled-seconds", type=float, default=25)
    ap.add_argument("--bitrate", type=float, default=2)
    ap.add_argument("--fps", type=float, default=25)
    ap.add_argument("--gop", type=float, default=2)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--source", default="native")
    ap.add_argument("--workdir")
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.input = fb.make_source(a.build, a.bitrate, a.fps, a.gop, a.size)
    a.generated, a.tick_ms, a.no_priority = True, 40, True  # a shared machine: no SCHED_RR
    workdir = a.workdir or tempfile.mkdtemp(prefix="live-bench-")
    os.makedirs(workdir, exist_ok=True)
    fleet = fb.Fleet(a, workdir, "live")
    cfg = os.path.join(workdir, "vigil.yaml")
    fb.write_config(cfg, a, fleet, workdir)
    os.makedirs(os.path.join(workdir, "pool0"), exist_ok=True)
    vigild = fb.Proc([os.path.join(a.build, "daemon", "vigild"), "--config", cfg],
                     os.path.join(workdir, "vigild.log"))
    res = {}
    try:
        port = None
        while port is None:
            time.sleep(0.5)
            port = fb.http_port(vigild.logpath)
        time.sleep(8)  # every camera online and past its first fragment
        c0 = fb.cpu_seconds(vigild.pid)
        time.sleep(a.seconds)
        cpu_idle = (fb.cpu_seconds(vigild.pid) - c0) / a.seconds * 100
        lat = []
        outs = [[] for _ in range(a.cameras)]
        th = [threading.Thread(target=live_reader, args=(port, "cam%d" % (i + 1), a.seconds + 2,
                                                         outs[i])) for i in range(a.cameras)]
        for t in th:
            t.start()
        time.sleep(2)
        c0 = fb.cpu_seconds(vigild.pid)
        time.sleep(a.seconds)
        cpu_live = (fb.cpu_seconds(vigild.pid) - c0) / a.seconds * 100
        for t in th:
            t.join()
        for o in outs:
            lat += o
        res.update(p50_ms=pct(lat, 0.5) * 1000, p99_ms=pct(lat, 0.99) * 1000, chunks=len(lat),
                   cpu_idle=cpu_idle, cpu_live=cpu_live,
                   cpu_per_viewer=(cpu_live - cpu_idle) / a.cameras)
        fb.log("latency: %d chunks from %d viewers: p50 %.0f ms, p99 %.0f ms; vigild CPU "
               "%.2f %% of a core without viewers, %.2f %% with one per camera" % (
                   len(lat), a.cameras, res["p50_ms"], res["p99_ms"], cpu_idle, cpu_live))
        time.sleep(2)
        pss_before = fb.pss_kib(vigild.pid)
        socks = [stalled(port, "cam1") for _ in range(a.stalled)]
        pss = []
        t0 = time.time()
        while time.time() - t0 < a.stalled_seconds:
            pss.append(fb.pss_kib(vigild.pid))
            time.sleep(1)
        res.update(pss_before=pss_before, pss_max=max(pss), pss_last=pss[-1])
        fb.log("stalled: %d viewers on cam1: PSS %d KiB before, max %d KiB, last %d KiB" % (
            a.stalled, pss_before, max(pss), pss[-1]))
        per, total = fleet.drain(a.gop)
        rc = vigild.stop(signal.SIGTERM, timeout=120)
        for s in socks:
            s.close()
        if rc != 0:
            fb.log("vigild exited with %r:\n%s" % (rc, vigild.tail()))
    finally:
        if vigild.alive():
            vigild.p.kill()
        fleet.stop()
    import glob
    lost = 0
    for i in range(1, a.cameras + 1):
        files = glob.glob(os.path.join(workdir, "pool0", "cam%d" % i, "**", "*.mp4"),
                          recursive=True)
        fr, _ = fb.count_dir(files)
        cs = per.get("cam%d" % i, {})
        lost += cs.get("frames_sent", 0) + cs.get("frames_skipped", 0) - fr
    with open(vigild.logpath, errors="replace") as f:
        cut = f.read().count("has not read for")
    fb.log("frames lost over the fleet: %d; stalled viewers disconnected: %d" % (lost, cut))
    peer = float("nan") if a.no_peer else run_peer(a, workdir)
    ratio = res["cpu_per_viewer"] / peer if peer == peer and peer > 0 else float("nan")
    print("cameras=%d p50_ms=%.0f p99_ms=%.0f cpu_pct_no_viewers=%.2f cpu_pct_viewers=%.2f "
          "cpu_pct_per_viewer=%.3f stalled=%d pss_before_kib=%d pss_max_stalled_kib=%d "
          "frames_lost=%d peer_cpu_pct_per_viewer=%.3f peer_ratio=%.3f" % (
              a.cameras, res["p50_ms"], res["p99_ms"], res["cpu_idle"], res["cpu_live"],
              res["cpu_per_viewer"], a.stalled, res["pss_before"], res["pss_max"], lost,
              peer, ratio))


def run_peer(a, workdir):
    """One ffmpeg remuxer per viewer-stream on a fleet of its own: CPU in % of
    a core per viewer-stream over --seconds, after a few seconds of warm-up."""
    fleet = fb.Fleet(a, workdir, "peer")
    procs = []
    try:
        for i in range(1, a.cameras + 1):
            argv = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                    "-i", fleet.url(i), "-c", "copy", "-f", "mp4", "-movflags",
                    "+frag_every_frame+empty_moov+default_base_moof", "pipe:1"]
            procs.append(fb.Proc(argv, os.devnull))
        cpu, wall, _ = fb.measure(lambda: [p.pid for p in procs], 5, a.seconds, "ffmpeg",
                                  lambda: any(p.alive() for p in procs))
    finally:
        for p in procs:
            if p.alive():
                p.p.kill()
                p.p.wait()
        fleet.stop()
    total = sum(v for v in cpu.values() if v is not None)
    per = total / wall * 100 / a.cameras
    fb.log("peer: %d ffmpeg remuxers (one per viewer-stream): %.3f %% of a core each" % (
        a.cameras, per))
    return per


if __name__ == "__main__":
    main()
