#!/usr/bin/env python3
"""
events_bench: how many posted events per second vigild indexes while it
records a fleet, and what that stream costs the recording.

    tools/bench/events_bench.py --build build --cameras 40 --seconds 60
        [--warmup 15] [--batch 200] [--singles 5] [--threads 2] [--rate 0]
        [--source native|ffmpeg] [--bitrate 2] [--workdir DIR] [--keep]

Run by hand (not part of `make test`); builds nothing. One vigild records N
cameras of tools/fleetsim (the clip, fleet and frame counting of
fleet_bench.py). After --warmup, vigild's CPU is measured over --seconds with
no events (window A), then over --seconds again while --threads HTTP clients
(keep-alive connections) post events as fast as they are answered (or at
--rate events/s in all): each round one NDJSON batch of --batch events, then
--singles single events; 5 % of the source_ids repeat an earlier one (the
duplicate path). Events carry Vietnamese text and ANPR-like attributes, on
random cameras. Then fleetsim drains, vigild stops, every segment's frames
are counted against what fleetsim sent, and a few searches are timed on the
index the stream left.

Last line:

    cameras=N events_per_s=… batch_events_per_s=… single_events_per_s=…
    vigild_cpu_pct_idle=… vigild_cpu_pct_events=… frames_lost=…

with vigild's CPU in % of one core per camera in each window.
"""
import argparse
import glob
import http.client
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_bench as fb  # noqa: E402

WORDS = ["Lục Nam", "Đồi Ngô", "Yên Dũng", "Đồng Phú", "ngã tư", "xe tải", "xe máy",
         "vượt đèn đỏ", "quá tốc độ", "đi ngược chiều", "báo động", "cửa kho", "trắng",
         "đen", "đỏ", "xanh"]


class Poster(threading.Thread):
    """Posts rounds of (one NDJSON batch, some singles) on one keep-alive connection."""

    def __init__(self, port, a, tid, stop, rate_per_thread):
        super().__init__(daemon=True)
        self.port, self.a, self.tid, self.stop = port, a, tid, stop
        self.rate = rate_per_thread
        self.rng = random.Random(tid)
        self.seq = 0
        self.batch_events = self.single_events = self.duplicates = self.errors = 0
        self.single_lat = []
        self.batch_lat = []

    def event(self):
        self.seq += 1
        if self.seq > 20 and self.rng.random() < 0.05:
            sid = "t%d-%d" % (self.tid, self.rng.randrange(1, self.seq))  # a repeat
        else:
            sid = "t%d-%d" % (self.tid, self.seq)
        cam = "cam%d" % self.rng.randrange(1, self.a.cameras + 1)
        plate = "%02d%s-%03d.%02d" % (self.rng.randrange(10, 99), self.rng.choice("ABCDEFGH"),
                                      self.rng.randrange(1000), self.rng.randrange(100))
        return {"camera": cam, "time": time.time() - self.rng.random() * 5, "type": "anpr",
                "text": "Xe %s %s tại %s" % (plate, self.rng.choice(WORDS),
                                             self.rng.choice(WORDS)),
                "attributes": {"plate": plate, "color": self.rng.choice(WORDS[-4:]),
                               "speed": self.rng.randrange(20, 120)},
                "source_id": sid}

    def post(self, conn, body, ctype):
        t0 = time.perf_counter()
        conn.request("POST", "/api/events", body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status not in (200, 201):
            self.errors += 1
            if self.errors < 5:
                fb.log("post: %d %s" % (r.status, data[:200]))
            return None, dt
        return json.loads(data), dt

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        t_start = time.time()
        sent = 0
        while not self.stop.is_set():
            if self.a.batch > 0:
                evs = [self.event() for _ in range(self.a.batch)]
                body = ("\n".join(json.dumps(e, ensure_ascii=False) for e in evs) +
                        "\n").encode()
                js, dt = self.post(conn, body, "application/x-ndjson")
                if js:
                    self.batch_events += js["stored"]
                    self.duplicates += js["duplicates"]
                    self.batch_lat.append(dt)
            for _ in range(self.a.singles):
                js, dt = self.post(conn, json.dumps(self.event(), ensure_ascii=False).encode(),
                                   "application/json")
                if js:
                    self.single_events += not js["duplicate"]
                    self.duplicates += js["duplicate"]
                    self.single_lat.append(dt)
            sent += self.a.batch + self.a.singles
            if self.rate > 0:
                ahead = sent / self.rate - (time.time() - t_start)
                if ahead > 0:
                    self.stop.wait(ahead)
        conn.close()


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def window_cpu(pid, seconds, alive):
    c0, t0 = fb.cpu_seconds(pid), time.time()
    while time.time() - t0 < seconds:
        if not alive():
            raise SystemExit("vigild died")
        time.sleep(0.5)
    c1, wall = fb.cpu_seconds(pid), time.time() - t0
    return 100.0 * (c1 - c0) / wall, wall


def timed_get(port, path, n=5):
    best = None
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
            rows = json.loads(r.read())
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--cameras", "-n", type=int, default=40)
    ap.add_argument("--seconds", "-t", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--batch", type=int, default=200, help="events per NDJSON batch (0: singles only)")
    ap.add_argument("--singles", type=int, default=5, help="single posts after each batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rate", type=float, default=0, help="events/s in all (0: as fast as "
                    "vigild answers)")
    ap.add_argument("--bitrate", type=float, default=2.0)
    ap.add_argument("--fps", type=float, default=25)
    ap.add_argument("--gop", type=float, default=2.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--source", choices=("ffmpeg", "native"), default="native")
    ap.add_argument("--tick-ms", type=int, default=40)
    ap.add_argument("--no-priority", action="store_true")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    if not a.no_priority:
        fb.own_session()
    a.generated, a.input = True, fb.make_source(a.build, a.bitrate, a.fps, a.gop, a.size)
    workdir = a.workdir or tempfile.mkdtemp(prefix="events-bench-")
    os.makedirs(os.path.join(workdir, "pool0"), exist_ok=True)

    fleet = fb.Fleet(a, workdir, "vigild")
    cfg = os.path.join(workdir, "vigil.yaml")
    fb.write_config(cfg, a, fleet, workdir)
    vigild = fb.Proc([os.path.join(a.build, "daemon", "vigild"), "--config", cfg],
                     os.path.join(workdir, "vigild.log"))
    posters = []
    try:
        fb.log("vigild: %d cameras (source: %s), warm-up %gs, then %gs without events and "
               "%gs with" % (a.cameras, a.source, a.warmup, a.seconds, a.seconds))
        time.sleep(a.warmup)
        port = fb.http_port(vigild.logpath)
        if port is None:
            raise SystemExit("vigild is not listening:\n" + vigild.tail())
        idle_cpu, _ = window_cpu(vigild.pid, a.seconds, vigild.alive)
        stop = threading.Event()
        posters = [Poster(port, a, t + 1, stop, a.rate / a.threads) for t in range(a.threads)]
        for p in posters:
            p.start()
        ev_cpu, wall = window_cpu(vigild.pid, a.seconds, vigild.alive)
        stop.set()
        for p in posters:
            p.join(60)
        per, total = fleet.drain(a.gop)
        q_plate = timed_get(port, "/api/events?q=98A*&start=0&limit=10000")
        q_words = timed_get(port, "/api/events?q=Luc%20Nam%20do&camera=cam1&start=0")
        q_time = timed_get(port, "/api/events?type=anpr&limit=1000")
        rc = vigild.stop(signal.SIGTERM, timeout=120)
        if rc != 0:
            fb.log("vigild exited with %r:\n%s" % (rc, vigild.tail()))
    finally:
        if vigild.alive():
            vigild.p.kill()
        fleet.stop()
    sent = written = 0
    for i in range(1, a.cameras + 1):
        files = glob.glob(os.path.join(workdir, "pool0", "cam%d" % i, "**", "*.mp4"),
                          recursive=True)
        fr, _ = fb.count_dir(files)
        cs = per.get("cam%d" % i, {})
        sent += cs.get("frames_sent", 0) + cs.get("frames_skipped", 0)
        written += fr
    be = sum(p.batch_events for p in posters)
    se = sum(p.single_events for p in posters)
    dups = sum(p.duplicates for p in posters)
    errs = sum(p.errors for p in posters)
    slat = [x for p in posters for x in p.single_lat]
    blat = [x for p in posters for x in p.batch_lat]
    idx = os.path.join(workdir, "index.db")
    size = sum(os.path.getsize(idx + s) for s in ("", "-wal") if os.path.exists(idx + s))
    print("events: stored=%d (batched %d, single %d) duplicates=%d errors=%d in %.1fs; "
          "batch of %d p50=%.1fms p99=%.1fms; single p50=%.1fms p99=%.1fms" % (
              be + se, be, se, dups, errs, wall, a.batch, 1000 * (pct(blat, 50) or 0),
              1000 * (pct(blat, 99) or 0), 1000 * (pct(slat, 50) or 0),
              1000 * (pct(slat, 99) or 0)))
    print("vigild: cpu %.2f%% of a core without events, %.2f%% with (%.4f%% / %.4f%% per "
          "camera; %.3f ms of CPU per 1000 events); index %.1f MiB" % (
              idle_cpu, ev_cpu, idle_cpu / a.cameras, ev_cpu / a.cameras,
              (ev_cpu - idle_cpu) / 100.0 * wall / max(1, be + se) * 1e6,
              size / 1048576.0))
    print("search after the stream (best of 5): q=98A* %.1f ms (%d rows), "
          "q='Luc Nam do'&camera=cam1 %.1f ms (%d rows), type=anpr&limit=1000 %.1f ms (%d rows)"
          % (1000 * q_plate[0], q_plate[1], 1000 * q_words[0], q_words[1], 1000 * q_time[0],
             q_time[1]))
    print("recording: frames_sent=%d frames_written=%d frames_lost=%d; fleetsim "
          "behind_ms_max=%s late_ms_max=%s" % (
              sent, written, sent - written, total.get("behind_ms_max") if total else None,
              total.get("late_ms_max") if total else None))
    print("cameras=%d events_per_s=%.0f batch_events_per_s=%.0f single_events_per_s=%.0f "
          "vigild_cpu_pct_idle=%.4f vigild_cpu_pct_events=%.4f frames_lost=%d" % (
              a.cameras, (be + se) / wall, be / wall, se / wall, idle_cpu / a.cameras,
              ev_cpu / a.cameras, sent - written))
    sys.stdout.flush()
    if not a.keep and not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
