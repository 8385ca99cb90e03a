#!/usr/bin/env python3
"""
Clip benchmark (issue #3, not a timed test): time to first byte and throughput
of GET clip.mp4 for a long clip (default 1 hour of 720p H.264 + AAC at
4 Mbit/s, ~1.8 GB in 60 one-minute segments) served from the page cache,
first by the HTTP server alone (vigil-bench serve), then by vigild while it
records N camsim cameras.

    tools/bench/clip_bench.py [--build build] [--minutes 60] [--cameras 8] [--repeat 5]

The footage is one encoded minute copied N times (distinct files, so the page
cache holds N minutes) and indexed back to back as one run; each download is
one HTTP/1.1 GET over loopback read by vigil-bench's C client, which discards
the body and reports the time to the first byte and the mean throughput.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))


def run_clients(bench, url, repeat):
    out = subprocess.run([bench, "clip", url, "--repeat", str(repeat)], capture_output=True,
                         text=True, timeout=600)
    rows = []
    for line in out.stdout.splitlines():
        m = re.search(r"bytes (\d+).*ttfb_ms ([\d.]+) total_s ([\d.]+) throughput_MBps ([\d.]+)", line)
        if m:
            rows.append((int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))))
    if not rows:
        raise SystemExit("client failed: %s %s" % (out.stdout, out.stderr))
    return rows


def report(title, rows):
    ttfb = sorted(r[1] for r in rows)
    thr = sorted(r[3] for r in rows)
    print("%-38s bytes %d  ttfb ms min/median/max %.1f/%.1f/%.1f  MB/s min/median/max %.0f/%.0f/%.0f"
          % (title, rows[0][0], ttfb[0], ttfb[len(ttfb) // 2], ttfb[-1], thr[0], thr[len(thr) // 2], thr[-1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("VIGIL_BUILD", os.path.join(SRC, "build")))
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.environ["VIGIL_BUILD"] = os.path.abspath(a.build)
    import vigiltest  # noqa: E402 (reads VIGIL_BUILD)
    bench = os.path.join(a.build, "tools", "bench", "vigil-bench")

    env = vigiltest.Env("clip-bench")
    try:
        cache = os.path.join(a.build, "test-media", "bench-720p-4M.mp4")
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        if not os.path.exists(cache):
            print("encoding one minute of 720p (cached in %s)..." % cache, flush=True)
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                            "testsrc=size=1280x720:rate=25", "-f", "lavfi", "-i",
                            "sine=sample_rate=48000", "-vf", "noise=alls=20:allf=t", "-c:v",
                            "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M",
                            "-bufsize", "4M", "-g", "50", "-c:a", "aac", "-t", "60", "-movflags",
                            "+frag_keyframe+empty_moov+default_base_moof", cache + ".tmp.mp4"],
                           check=True)
            os.rename(cache + ".tmp.mp4", cache)
        pool = env.path("pool0")
        os.makedirs(os.path.join(pool, "bench"))
        with open(os.path.join(pool, ".vigil-pool"), "w") as f:
            f.write("vigil-pool main\n")
        files = []
        for i in range(a.minutes):
            dst = os.path.join(pool, "bench", "%03d.mp4" % i)
            shutil.copyfile(cache, dst)
            files.append(dst)
        t0 = int(time.time()) - 24 * 3600
        index = env.path("index.db")
        subprocess.run([bench, "import", "--index", index, "--pool", "main", "--pool-path", pool,
                        "--camera", "bench", "--start", str(t0), "--audio", "aac", "--size",
                        "1280x720"] + files, check=True, stdout=subprocess.DEVNULL)
        url_path = "/api/cameras/bench/clip.mp4?start=%d&end=%d" % (t0, t0 + a.minutes * 60)
        for f in files:  # into the page cache
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        cams = [env.camera("bench", "rtsp://127.0.0.1:9/none", enabled=False)]

        # 1. The HTTP server alone.
        cfg = env.config(cams, pools=[{"id": "main", "path": pool}])
        srv = subprocess.Popen([bench, "serve", "--config", cfg, "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(srv.stdout.readline().split()[1])
        rows = run_clients(bench, "http://127.0.0.1:%d%s" % (port, url_path), a.repeat)
        srv.terminate()
        srv.wait()
        srv.stdout.close()
        print("load average before: %s" % open("/proc/loadavg").read().strip())
        report("%d min clip, server only" % a.minutes, rows)

        # 2. vigild recording N cameras meanwhile.
        if a.cameras > 0:
            sim = env.camsim(["c%d:codec=h264" % i for i in range(a.cameras)])
            cams += [env.camera("c%d" % i, sim.url("c%d" % i)) for i in range(a.cameras)]
            cfg = env.config(cams, pools=[{"id": "main", "path": pool}], segment_seconds=10,
                             name="vigil-rec.yaml")
            d = env.vigild(cfg)
            vigiltest.wait_for(lambda: d.log().count("online") >= 1 or "recording" in d.log(), 30,
                               what="vigild recording")
            time.sleep(5)
            rows = run_clients(bench, d.url(url_path), a.repeat)
            print("load average: %s" % open("/proc/loadavg").read().strip())
            report("%d min clip, vigild + %d cameras" % (a.minutes, a.cameras), rows)
            d.stop()
    finally:
        if not a.keep:
            env.close()
            shutil.rmtree(env.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
