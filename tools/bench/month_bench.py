#!/usr/bin/env python3
"""
month_bench: what the index costs once it holds a month, not a minute. Run by
hand (minutes), not part of `make test`.

    tools/bench/month_bench.py --build build [--cameras 40] [--days 30]
        [--per-district 20] [--requests 200] [--cold 20] [--clip-minutes 60] [--workdir DIR]
        [--keep] [--reuse] [--queries-only] [--old BUILD [--rounds N]]

1. `vigil-bench synth` fills an index as the recorder would have over --days
   for --cameras (one-minute segments at 2 Mbit/s, GOP 2 s cut in 256 KiB
   fragments, a run per day, 48 events per camera-day, half of them ANPR reads
   with a plate): the index file's size per camera-month.
2. Into the same index, `vigil-bench import` adds --clip-minutes of real
   footage (one encoded minute copied per segment) for one more camera.
3. `vigil-bench serve` (the HTTP server of vigild, no recording) answers, over
   one keep-alive connection: /api/coverage for one district over one hour,
   /api/cameras/{id}/recordings over one day, /api/events for one camera over
   one day and a full-text /api/events?q=PLATE, each at a random time of the
   month: p50/p99 warm (--requests each, after 20 warm-up requests), and cold
   (--cold each, the page cache dropped before every request; needs root).
   First the client's own floor, timed the same way: GET /healthz, which the
   server answers on its loop thread from memory; a query's figure minus the
   floor is what the server's work on it costs. Also the server's CPU time
   (all its threads) and context switches per request over each warm block,
   which the box's other load does not inflate as it does the p99. With --old
   BUILD, the same requests are first sent to that build's vigil-bench and
   this one's, in alternating order --rounds times each (before/after figures
   of one sitting).
   --queries-only stops here; with --keep, a later --reuse run skips steps 1
   and 2 (the month is kept until a step that lets vigild write to it).
4. The clip: time to first byte and throughput of the --clip-minutes clip
   (`vigil-bench clip`).
5. Start-up of the real vigild on that index (cameras disabled, nothing
   deleted for age): exec to READY=1 after a clean stop and after kill -9
   (startup_bench's Run), page cache warm, then (with --cold, as root) with
   the caches dropped before each start.
6. A retention pass on the month: vigild started with nothing expiring and
   --ingest fleetsim cameras (2 Mbit/s, native) recording, 10 s sampled as a
   baseline, then reloaded (SIGHUP) with retention_days --retention-days (the
   oldest days - --retention-days days of every camera expire at once; the
   synthesized rows have no files, so what is timed is the index side and the
   unlink attempts). Sampled every 50 ms while it runs:
   vigil_pool_segments_deleted_total (segments deleted per second), the size
   of index.db-wal, vigil_index_commit_latency_max_seconds (the writer's
   longest commit since start; SQLite's automatic checkpoints run inside
   commits, so it is also the longest checkpoint stall),
   vigil_loop_stall_max_seconds (the event loop's longest lateness since
   start) and the time GET /healthz takes to answer (the loop's
   responsiveness while retention and the writer work); and the
   frames the ingest cameras lost (vigild's dropped frames, fleetsim's skipped
   ones).
7. --size-breakdown: where the bytes of the index go (SQLite's dbstat).

Last line:

    cameras=N days=D index_mib_per_camera_month=S floor_p99_ms=… coverage_p99_ms=…
    recordings_p99_ms=… events_p99_ms=… search_p99_ms=… (cold: …) clip_ttfb_ms=…
    clip_MBps=… ready_clean_s=… ready_kill9_s=… retention_segments_per_s=… wal_max_mib=…
    commit_max_ms=… healthz_max_ms=… loop_stall_max_ms=…

With --queries-only, the last line is p50 and p99 warm of the floor and the four
queries.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_bench  # noqa: E402
import startup_bench  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def iso(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us / 1e6))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metric_sum(text, name, label=""):
    return sum(float(v) for v in re.findall(
        r"(?m)^%s\{[^}]*%s[^}]*\} (\S+)$" % (name, re.escape(label)), text))


def retention_pass(vigild, write_cfg, work, index, port, fleet, quiet_s=10, timeout_s=900):
    """Starts vigild on write_cfg(0) (nothing expires; with fleet, its cameras
    recording), samples 10 s as a baseline, then reloads it on
    write_cfg(retention_days) so the next age pass expires part of the month,
    and samples every 50 ms until nothing more is deleted for quiet_s.
    Returns a dict of figures."""
    cfg = write_cfg(False)
    r = startup_bench.Run(vigild, cfg, work, "retention")
    r.wait_ready(600)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(path):
        dt, _, body = timed_get(conn, path)
        return dt, body.decode(errors="replace")

    if fleet:
        deadline = time.monotonic() + 60
        while metric_sum(get("/metrics")[1], "vigil_camera_recording", 'camera="ing') < fleet:
            if time.monotonic() > deadline:
                raise SystemExit("the ingest cameras did not start recording")
            time.sleep(0.5)
        time.sleep(5)

    def sample(until_quiet, seconds):
        out = {"deleted": 0, "t_first": None, "t_last": None, "wal_max": 0, "commit_max": 0.0,
               "loop_max": float("nan"), "probes": []}
        m0 = get("/metrics")[1]
        d0 = metric_sum(m0, "vigil_pool_segments_deleted_total")
        drop0 = metric_sum(m0, "vigil_camera_frames_dropped_total", 'camera="ing')
        t_prev = t0 = time.monotonic()
        while time.monotonic() < t0 + (timeout_s if until_quiet else seconds):
            dt, _ = get("/healthz")
            out["probes"].append(dt)
            _, m = get("/metrics")
            n = metric_sum(m, "vigil_pool_segments_deleted_total") - d0
            c = re.search(r"(?m)^vigil_index_commit_latency_max_seconds (\S+)$", m) or \
                re.search(r"(?m)^vigil_index_commit_latency_seconds (\S+)$", m)
            if c:
                out["commit_max"] = max(out["commit_max"], float(c.group(1)) * 1000)
            lm = re.search(r"(?m)^vigil_loop_stall_max_seconds (\S+)$", m)
            if lm:
                out["loop_max"] = float(lm.group(1)) * 1000
            try:
                out["wal_max"] = max(out["wal_max"], os.path.getsize(index + "-wal"))
            except OSError:
                pass
            now = time.monotonic()
            if n > out["deleted"]:
                if out["t_first"] is None:
                    out["t_first"] = t_prev  # it started after the sample before
                out["deleted"], out["t_last"] = n, now
            t_prev = now
            if until_quiet and out["t_last"] is not None and now - out["t_last"] > quiet_s:
                break
            time.sleep(0.05)
        out["dropped"] = metric_sum(get("/metrics")[1], "vigil_camera_frames_dropped_total",
                                    'camera="ing') - drop0
        return out

    base = sample(False, 10)
    with open(cfg, "w") as f:
        f.write(open(write_cfg(True)).read())
    r.p.send_signal(signal.SIGHUP)
    ret = sample(True, 0)
    conn.close()
    r.stop(signal.SIGTERM)
    secs = ((ret["t_last"] - ret["t_first"]) if ret["t_first"] is not None else 0) or float("nan")
    return {"deleted": ret["deleted"], "seconds": secs, "per_s": ret["deleted"] / secs,
            "wal_max_mib": ret["wal_max"] / (1 << 20), "commit_max_ms": ret["commit_max"],
            "healthz_max_ms": max(ret["probes"]), "healthz_p99_ms": pct(ret["probes"], 99),
            "probes": len(ret["probes"]), "dropped": ret["dropped"],
            "base_healthz_max_ms": max(base["probes"]), "base_commit_max_ms": base["commit_max"],
            "base_wal_max_mib": base["wal_max"] / (1 << 20), "base_dropped": base["dropped"],
            "loop_max_ms": ret["loop_max"], "base_loop_max_ms": base["loop_max"]}


def timed_get(conn, path):
    """GET path on a kept-alive connection: (milliseconds, status, body)."""
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return (time.perf_counter() - t) * 1000, r.status, body


QUERIES = ("floor", "coverage", "recordings", "events", "search")


def load_average():
    return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def server_cpu(pid):
    """CPU time (s) and context switches of every thread of pid so far: the
    server's own cost, which the box's other load does not inflate the way it
    does latencies (/proc/PID/task/*/schedstat, in ns, and status)."""
    cpu = switches = 0
    tasks = "/proc/%d/task" % pid
    for t in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, t, "schedstat")) as f:
                cpu += int(f.read().split()[0])
            with open(os.path.join(tasks, t, "status")) as f:
                switches += sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)
        except OSError:
            pass  # a thread that just ended
    return cpu / 1e9, switches


def serve(bench, cfg):
    """`bench serve` on cfg: (process, port)."""
    srv = subprocess.Popen([bench, "serve", "--config", cfg, "--listen", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return srv, int(srv.stdout.readline().split()[1])


class Month:
    """The four queries of step 3 at random times of the month, and the
    client's own floor: GET /healthz, answered on the server's loop thread
    from memory (no worker, no index), timed the same way over the same
    connection, so what a query costs beyond it is the server's work."""

    def __init__(self, a, cams, end_us, plates):
        self.a, self.cams, self.end_us, self.plates = a, cams, end_us, plates
        self.month0 = end_us - a.days * 86400 * 1000000

    def latencies(self, port, pid, cold_n, prefix=""):
        a, cams, rng = self.a, self.cams, random.Random(7)  # the same requests every run

        def rand_t(span_s):
            return self.month0 + rng.randrange(0, a.days * 86400 - span_s) * 1000000

        def q_floor():
            return "/healthz"

        def q_coverage():
            t = rand_t(3600)
            return "/api/coverage?district=d%d&start=%s&end=%s" % (
                rng.randrange(max(1, a.cameras // a.per_district)), iso(t), iso(t + 3600e6))

        def q_recordings():
            t = rand_t(86400)
            return "/api/cameras/%s/recordings?start=%s&end=%s" % (rng.choice(cams), iso(t),
                                                                   iso(t + 86400e6))

        def q_events():
            t = rand_t(86400)
            return "/api/events?camera=%s&start=%s&end=%s" % (rng.choice(cams), iso(t),
                                                              iso(t + 86400e6))

        def q_search():
            return "/api/events?q=%s&start=%s&end=%s&limit=50" % (
                rng.choice(self.plates).replace(" ", "+"), iso(self.month0), iso(self.end_us))

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def get(path):
            dt, status, body = timed_get(conn, path)
            if status != 200:
                raise SystemExit("%s: HTTP %d %s" % (path, status, body[:200]))
            return dt

        res = {}
        for name, q in zip(QUERIES, (q_floor, q_coverage, q_recordings, q_events, q_search)):
            for _ in range(20):
                get(q())
            cpu0, sw0 = server_cpu(pid)
            warm = [get(q()) for _ in range(a.requests)]
            cpu1, sw1 = server_cpu(pid)
            cold = []
            if cold_n and name != "floor" and drop_caches():
                for _ in range(cold_n):
                    drop_caches()
                    cold.append(get(q()))
            res[name] = (warm, cold, (cpu1 - cpu0) * 1000 / a.requests,
                         (sw1 - sw0) / a.requests)
            log("%s%-10s warm p50 %.2f ms p99 %.2f ms, server CPU %.3f ms and %.1f context "
                "switches a request%s" % (
                prefix, name, pct(warm, 50), pct(warm, 99), res[name][2], res[name][3],
                "   cold p50 %.1f ms p99 %.1f ms" % (pct(cold, 50), pct(cold, 99)) if cold
                else ""))
        conn.close()
        return res


def make_month(a, bench, build, index, pool, marker):
    """Steps 1 and 2: the synthesized month and the clip's real footage in
    index (a fresh file) and pool. (end_us, segments, bytes, MiB per
    camera-month, the clip's start in s, the clip's files)."""
    for f in (marker, index, index + "-wal", index + "-shm"):
        if os.path.exists(f):
            os.unlink(f)
    shutil.rmtree(pool, ignore_errors=True)
    os.makedirs(pool)
    with open(os.path.join(pool, ".vigil-pool"), "w") as f:
        f.write("vigil-pool main\n")
    end_us = int(time.time()) // 86400 * 86400 * 1000000

    # 1. the month
    t0 = time.time()
    out = subprocess.run([bench, "synth", "--index", index, "--cameras", str(a.cameras),
                          "--days", str(a.days), "--cameras-per-district", str(a.per_district),
                          "--end", str(end_us // 1000000), "--gop-jitter", str(a.gop_jitter)]
                         + (["--ungrouped"] if a.ungrouped else []),
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"segments (\d+) fragments (\d+) events (\d+) bytes (\d+) entries (\d+)", out)
    nseg, nfrag, nev, size, nentries = (int(x) for x in m.groups())
    per_cm = size / (a.cameras * a.days / 30) / (1 << 20)
    log("synth: %d segments, %d fragments in %d table entries, %d events, %.1f MiB in %.0f s: "
        "%.2f MiB per camera-month" % (nseg, nfrag, nentries, nev, size / (1 << 20),
                                       time.time() - t0, per_cm))
    if a.size_breakdown:
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % index, uri=True)
        for name, nbytes in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name "
                                       "ORDER BY 2 DESC LIMIT 8"):
            log("  %-24s %8.2f MiB per camera-month" % (
                name, nbytes / (a.cameras * a.days / 30) / (1 << 20)))
        db.close()

    # 2. real footage for the clip
    media = os.path.join(build, "test-media", "bench-720p-4M.mp4")
    if not os.path.exists(media):
        os.makedirs(os.path.dirname(media), exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc=size=1280x720:rate=25", "-f", "lavfi", "-i",
                        "sine=sample_rate=48000", "-vf", "noise=alls=20:allf=t", "-c:v",
                        "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M",
                        "-bufsize", "4M", "-g", "50", "-c:a", "aac", "-t", "60", "-movflags",
                        "+frag_keyframe+empty_moov+default_base_moof", media + ".tmp.mp4"],
                       check=True)
        os.rename(media + ".tmp.mp4", media)
    os.makedirs(os.path.join(pool, "clipcam"))
    files = []
    for i in range(a.clip_minutes):
        dst = os.path.join(pool, "clipcam", "%03d.mp4" % i)
        shutil.copyfile(media, dst)
        files.append(dst)
    clip_t0 = end_us // 1000000 - 2 * 86400
    subprocess.run([bench, "import", "--index", index, "--pool", "main", "--pool-path", pool,
                    "--camera", "clipcam", "--start", str(clip_t0), "--audio", "aac", "--size",
                    "1280x720"] + files, check=True, stdout=subprocess.DEVNULL)
    return end_us, nseg, size, per_cm, clip_t0, files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--cameras", type=int, default=40)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-district", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--cold", type=int, default=20)
    ap.add_argument("--clip-minutes", type=int, default=60)
    ap.add_argument("--retention-days", type=int, default=25)
    ap.add_argument("--ingest", type=int, default=10,
                    help="fleetsim cameras recording during the retention pass (0: none)")
    ap.add_argument("--size-breakdown", action="store_true")
    ap.add_argument("--gop-jitter", type=float, default=0.15,
                    help="each GOP's bytes vary by up to this share of the mean")
    ap.add_argument("--ungrouped", action="store_true",
                    help="store every fragment, not one entry a GOP (the earlier tables)")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="use the month a --keep run left in --workdir (same --cameras, --days, "
                    "--per-district and --clip-minutes) instead of synthesizing it again")
    ap.add_argument("--queries-only", action="store_true",
                    help="steps 1-3 only (the retention pass changes the index; this keeps it "
                    "reusable)")
    ap.add_argument("--old", metavar="BUILD",
                    help="another build (its tools/bench/vigil-bench) to time the queries of "
                    "step 3 with, back to back with this one on the same index")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --old: old and new this many times each, alternating")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    bench = os.path.join(build, "tools", "bench", "vigil-bench")
    work = a.workdir or tempfile.mkdtemp(prefix="vigil-month-")
    os.makedirs(work, exist_ok=True)
    index = os.path.join(work, "index.db")
    pool = os.path.join(work, "pool0")
    # What a --keep run made, for --reuse; removed before anything changes the
    # index (the retention pass).
    marker = os.path.join(work, "month.json")
    shape = {"cameras": a.cameras, "days": a.days, "per_district": a.per_district,
             "clip_minutes": a.clip_minutes}
    made = None
    if a.reuse:
        try:
            with open(marker) as f:
                made = json.load(f)
        except (OSError, ValueError):
            raise SystemExit("--reuse: no month in %s (run with --keep first)" % work)
        if any(made.get(k) != v for k, v in shape.items()):
            raise SystemExit("--reuse: the month in %s was made with %s" % (work, made))
    if made:
        end_us, nseg, size = made["end_us"], made["segments"], made["bytes"]
        per_cm = size / (a.cameras * a.days / 30) / (1 << 20)
        log("reusing the month in %s: %d segments, %.2f MiB per camera-month" % (work, nseg,
                                                                               per_cm))
        clip_t0 = end_us // 1000000 - 2 * 86400
        files = [os.path.join(pool, "clipcam", "%03d.mp4" % i) for i in range(a.clip_minutes)]
    else:
        end_us, nseg, size, per_cm, clip_t0, files = make_month(a, bench, build, index, pool,
                                                                marker)
        with open(marker, "w") as f:
            json.dump(dict(shape, end_us=end_us, segments=nseg, bytes=size), f)

    # 3. the server on that index
    cams = ["d%d-c%d" % (c // a.per_district, c % a.per_district) for c in range(a.cameras)]
    cfg = os.path.join(work, "vigil.yaml")
    with open(cfg, "w") as f:
        f.write('listen: "127.0.0.1:0"\nindex: "%s"\nstorage:\n  pools:\n    - {id: main, path: '
                '"%s"}\ncameras:\n' % (index, pool))
        for c in cams + ["clipcam"]:
            f.write('  - {id: %s, url: "rtsp://127.0.0.1:9/none", enabled: false, district: %s}\n'
                    % (c, c.split("-")[0] if c != "clipcam" else "clip"))
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % index, uri=True)
    plates = [r[0] for r in db.execute("SELECT text FROM events WHERE text IS NOT NULL "
                                       "ORDER BY id")]
    plates = random.Random(7).sample(plates, min(500, len(plates)))
    db.close()
    month = Month(a, cams, end_us, plates)
    if a.old:
        # The same queries (same seed) against both servers, back to back, in
        # alternating order so a change in the box's load falls on both.
        old_bench = os.path.join(os.path.abspath(a.old), "tools", "bench", "vigil-bench")
        runs = {"old": [], "new": []}
        for rnd in range(a.rounds):
            for who in (("old", "new") if rnd % 2 == 0 else ("new", "old")):
                log("-- %s (%s), round %d, %s" % (who, old_bench if who == "old" else bench,
                                                  rnd + 1, load_average()))
                srv, port = serve(old_bench if who == "old" else bench, cfg)
                runs[who].append(month.latencies(port, srv.pid, 0, prefix=who + " "))
                srv.terminate()
                srv.wait()
        for who in ("old", "new"):
            log("%s, pooled over %d round(s):" % (who, a.rounds))
            for name in QUERIES:
                warm = [x for r in runs[who] for x in r[name][0]]
                cpu = sum(r[name][2] for r in runs[who]) / a.rounds
                log("  %-10s warm p50 %.2f ms p99 %.2f ms, server CPU %.3f ms a request" % (
                    name, pct(warm, 50), pct(warm, 99), cpu))
    srv = None
    if a.old and a.queries_only:
        res = {n: ([x for r in runs["new"] for x in r[n][0]], [],
                   sum(r[n][2] for r in runs["new"]) / a.rounds) for n in QUERIES}
    else:
        srv, port = serve(bench, cfg)
        res = month.latencies(port, srv.pid, a.cold)
    if a.queries_only:
        if srv:
            srv.terminate()
            srv.wait()
        print("cameras=%d days=%d %s" % (a.cameras, a.days, " ".join(
            "%s_p50_ms=%.2f %s_p99_ms=%.2f %s_cpu_ms=%.3f" % (
                n, pct(res[n][0], 50), n, pct(res[n][0], 99), n, res[n][2]) for n in QUERIES)))
        return

    # 4. the clip
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    url = "http://127.0.0.1:%d/api/cameras/clipcam/clip.mp4?start=%d&end=%d" % (
        port, clip_t0, clip_t0 + a.clip_minutes * 60)
    rows = clip_bench.run_clients(bench, url, 5)
    srv.terminate()
    srv.wait()
    ttfb = sorted(r[1] for r in rows)[len(rows) // 2]
    thr = sorted(r[3] for r in rows)[len(rows) // 2]
    log("clip %d min (%d bytes): ttfb %.1f ms, %.0f MB/s (medians of 5)" % (
        a.clip_minutes, rows[0][0], ttfb, thr))

    # 5. start-up of vigild on the month; from here vigild writes the index (its
    # start-ups, the retention pass): it is no longer the month --reuse expects.
    os.unlink(marker)
    vigild = os.path.join(build, "daemon", "vigild")
    port = free_port()

    def vigild_config(retention_days):
        path = os.path.join(work, "vigild.yaml")
        with open(path, "w") as f:
            # No scrubbing: the synthesized rows have no files, and every one
            # the verifier reached would be a finding (an event and an audit
            # row), a flood of writes no real pool makes.
            f.write('listen: "127.0.0.1:%d"\nindex: "%s"\nretention_days: %d\nscrub: {period: 0}\n'
                    'storage:\n  pools:\n    - {id: main, path: "%s"}\ncameras:\n'
                    % (port, index, retention_days, pool))
            for c in cams + ["clipcam"]:
                f.write('  - {id: %s, url: "rtsp://127.0.0.1:9/none", enabled: false}\n' % c)
        return path

    cfg = vigild_config(0)
    first = startup_bench.Run(vigild, cfg, work, "first")  # no clean-stop token yet
    first.wait_ready(600)
    first.stop(signal.SIGTERM)

    def starts():
        r = startup_bench.Run(vigild, cfg, work, "clean")
        clean = r.wait_ready(600)
        r.stop(signal.SIGKILL)
        r = startup_bench.Run(vigild, cfg, work, "kill9")
        kill9 = r.wait_ready(600)
        r.stop(signal.SIGTERM)
        return clean, kill9

    ready_clean, ready_kill9 = starts()
    log("start-up to READY=1: %.2f s after a clean stop, %.2f s after kill -9 (first start "
        "%s)" % (ready_clean, ready_kill9, first.walked()))
    if a.cold and drop_caches():
        startup_bench.DROP_CACHES = True  # each start as after a reboot
        cold_clean, cold_kill9 = starts()
        startup_bench.DROP_CACHES = False
        log("  with the page cache dropped before each: %.2f s and %.2f s" % (cold_clean,
                                                                          cold_kill9))

    # 6. a retention pass on the month, with --ingest cameras recording meanwhile
    fleet = None
    fleetsim = os.path.join(build, "tools", "fleetsim", "fleetsim")
    if a.ingest and os.path.exists(fleetsim):
        import fleet_bench
        import types
        src = fleet_bench.make_source(build, 2, 25, 2, "1280x720")
        fleet = fleet_bench.Fleet(types.SimpleNamespace(
            build=build, input=src, cameras=a.ingest, tick_ms=40, generated=False,
            no_priority=False), work, "month")

    def retention_config(expire):
        path = vigild_config(a.retention_days if expire else 0)
        if fleet:
            with open(path, "a") as f:
                for i in range(1, a.ingest + 1):
                    f.write('  - {id: ing%d, url: "%s", source: native}\n' % (i, fleet.url(i)))
        return path

    ret = retention_pass(vigild, retention_config, work, index, port,
                         a.ingest if fleet else 0)
    skipped = 0
    if fleet:
        _, total = fleet.drain(2)
        skipped = total.get("frames_skipped", 0) if total else 0
        fleet.stop()
    log("retention (retention_days %d): %d segments deleted in %.1f s: %.0f segments/s; WAL "
        "max %.1f MiB; longest commit %.1f ms; /healthz max %.1f ms (p99 %.1f ms) over %d "
        "probes" % (a.retention_days, ret["deleted"], ret["seconds"], ret["per_s"],
                    ret["wal_max_mib"], ret["commit_max_ms"], ret["healthz_max_ms"],
                    ret["healthz_p99_ms"], ret["probes"]))
    log("  the loop's longest stall since start (vigil_loop_stall_max_seconds): %.1f ms at the "
        "end of the pass, %.1f ms before it" % (ret["loop_max_ms"], ret["base_loop_max_ms"]))
    log("  the 10 s before it: WAL max %.1f MiB; longest commit %.1f ms; /healthz max %.1f ms"
        % (ret["base_wal_max_mib"], ret["base_commit_max_ms"], ret["base_healthz_max_ms"]))
    if fleet:
        log("  ingest: %d cameras recording; frames dropped by vigild %d during the pass, %d in "
            "the 10 s before; frames fleetsim had to skip (recorder not reading), whole run: %d"
            % (a.ingest, ret["dropped"], ret["base_dropped"], skipped))

    def c99(name):
        return "%.1f" % pct(res[name][1], 99) if res[name][1] else "nan"
    print("cameras=%d days=%d segments=%d index_mib_per_camera_month=%.2f floor_p99_ms=%.2f "
          "coverage_p99_ms=%.2f "
          "recordings_p99_ms=%.2f events_p99_ms=%.2f search_p99_ms=%.2f cold_p99_ms=%s/%s/%s/%s "
          "clip_ttfb_ms=%.1f clip_MBps=%.0f ready_clean_s=%.2f ready_kill9_s=%.2f "
          "retention_segments_per_s=%.0f wal_max_mib=%.1f commit_max_ms=%.1f "
          "healthz_max_ms=%.1f loop_stall_max_ms=%.1f" % (
              a.cameras, a.days, nseg, per_cm, pct(res["floor"][0], 99),
              pct(res["coverage"][0], 99),
              pct(res["recordings"][0], 99), pct(res["events"][0], 99), pct(res["search"][0], 99),
              c99("coverage"), c99("recordings"), c99("events"), c99("search"), ttfb, thr,
              ready_clean, ready_kill9, ret["per_s"], ret["wal_max_mib"], ret["commit_max_ms"],
              ret["healthz_max_ms"], ret["loop_max_ms"]))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
