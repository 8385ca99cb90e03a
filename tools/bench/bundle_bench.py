#!/usr/bin/env python3
"""
Evidence export benchmark (run by hand, not a timed test): N replayed cameras
(tools/fleetsim, 720p H.264 with temporal noise at --bitrate Mbit/s) recorded
by vigild for --seconds, then one export of all of them over the whole
recording: the time POST /api/exports takes (it hashes every clip as served)
and the download of GET /api/exports/{id}/bundle.zip (size, throughput, and
vigild's peak RSS during it against its RSS before: a bundle streams, so the
difference stays at the download's two buffers whatever the clips' size).

    tools/bench/bundle_bench.py [--build build] [--cameras 4] [--seconds 90] [--bitrate 8]

The footage is fresh, so both reads come from the page cache.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=90)
    ap.add_argument("--bitrate", type=int, default=8, help="Mbit/s of the replayed clip")
    a = ap.parse_args()
    os.environ["VIGIL_BUILD"] = os.path.abspath(a.build)
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    import vigiltest  # noqa: E402 (reads VIGIL_BUILD)

    media = os.path.join(a.build, "bench-media", "bundle-%dM.mp4" % a.bitrate)
    if not os.path.exists(media):
        os.makedirs(os.path.dirname(media), exist_ok=True)
        b = "%dM" % a.bitrate
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=1280x720:rate=25,noise=alls=30:allf=t", "-c:v", "libx264",
                        "-preset", "ultrafast", "-b:v", b, "-maxrate", b, "-bufsize", b, "-g",
                        "50", "-pix_fmt", "yuv420p", "-t", "20", media], check=True)
    env = vigiltest.Env("bundle-bench")
    try:
        fs = vigiltest.FleetSim(env, media, a.cameras)
        ids = ["c%d" % i for i in range(1, a.cameras + 1)]
        cfg = env.config([env.camera(c, fs.url(i + 1)) for i, c in enumerate(ids)],
                         segment_seconds=10)
        d = env.vigild(cfg)
        d.wait_log(r"vigild: recording \d+ cameras")
        time.sleep(a.seconds)
        start = env.segments(cfg, ids[0])[0]["start"]
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
        t0 = time.monotonic()
        st, _, raw = d.http("/api/exports", method="POST", body={
            "cameras": ids, "start": start, "end": end, "reason": "bundle_bench"})
        t_export = time.monotonic() - t0
        if st != 201:
            raise SystemExit("export failed: %d %s" % (st, raw))
        m = json.loads(raw)["manifest"]
        clip_bytes = sum(c["bytes"] for cam in m["cameras"] for c in cam["clips"])
        pid = d.p.pid
        before = rss_kb(pid)
        peak = [before]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(pid))
                time.sleep(0.005)
        th = threading.Thread(target=watch)
        th.start()
        n = 0
        t0 = time.monotonic()
        with urllib.request.urlopen(d.url("/api/exports/%d/bundle.zip" % m["export"]),
                                    timeout=600) as r:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                n += len(b)
        t_bundle = time.monotonic() - t0
        done.set()
        th.join()
        print("%d cameras x %d s at %d Mbit/s: clips %.1f MB; POST /api/exports %.2f s "
              "(%.0f MB/s hashed); bundle.zip %.1f MB in %.2f s (%.0f MB/s); vigild RSS "
              "%d kB before, peak %d kB during (+%d kB)"
              % (a.cameras, a.seconds, a.bitrate, clip_bytes / 1e6, t_export,
                 clip_bytes / 1e6 / max(t_export, 1e-6), n / 1e6, t_bundle,
                 n / 1e6 / max(t_bundle, 1e-6), before, peak[0], peak[0] - before))
        d.stop()
    finally:
        env.close()


if __name__ == "__main__":
    main()
