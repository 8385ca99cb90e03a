#!/usr/bin/env python3
"""
soak: does what vigild costs stay flat while retention turns its pool over and
over? Run by hand (hours), not part of `make test`.

    tools/bench/soak.py --build build --cameras 200 --hours 2
        [--bitrate 0.5] [--fps 25] [--gop 2] [--quota 2GiB] [--segment-seconds 10]
        [--interval 30] [--warmup 120] [--workdir DIR] [--png FILE] [--csv FILE]

fleetsim serves --cameras simulated cameras (fleet_bench's source clip, at real
time) and vigild records them into one pool whose quota (max_bytes) is small,
so retention deletes the oldest footage continuously: at 200 x 0.5 Mbit/s and
2 GiB the pool turns over every ~3 minutes, ~40 times in two hours.

Every --interval seconds it samples vigild: RSS and PSS, open file
descriptors, threads, CPU (% of one core per camera over the interval), the
index file and its WAL, the pool's bytes and segment rows, and the frames
received and written (/metrics). At the end fleetsim drains (every session
stops at an IDR), the frames fleetsim sent are compared with the frames
vigild received, vigild is stopped, and every segment left in the index is
hashed and compared with its indexed SHA-256.

Writes the samples as CSV, a PNG of the curves (matplotlib), and last:

    cameras=N hours=H turnovers=T rss_mib=A->B fds=A->B cpu_pct=A->B index_mib=A->B
    wal_mib_max=W frames_sent=S frames_received=R frames_written=W frames_lost=L
    segments_verified=V segments_bad=X

where A is the mean over the first quarter of the samples and B over the last
quarter (flat: B close to A), and frames_lost = sent - received.
"""
import argparse
import csv
import hashlib
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_bench as fb  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def status_val(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def fsize(p):
    try:
        return os.path.getsize(p)
    except OSError:
        return 0


def tree_bytes(root):
    n = 0
    for d, _, files in os.walk(root):
        for f in files:
            n += fsize(os.path.join(d, f))
    return n


def index_rows(path):
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM segments").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


def parse_bytes(s):
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
    low = s.lower()
    for u, m in units.items():
        if low.endswith(u):
            return int(float(low[:-len(u)]) * m)
    return int(s)


def write_config(path, a, fleet, workdir):
    lines = ['listen: "127.0.0.1:0"',
             'index: "%s"' % os.path.join(workdir, "index.db"),
             "segment_seconds: %d" % a.segment_seconds,
             "retention_days: 0",
             "storage:", "  pools:",
             "    - " + json.dumps({"id": "main", "path": os.path.join(workdir, "pool0"),
                                    "max_bytes": a.quota}),
             "cameras:"]
    for i in range(1, a.cameras + 1):
        lines.append("  - " + json.dumps({"id": "cam%d" % i, "url": fleet.url(i),
                                          "source": a.source}))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def verify_segments(index, pool):
    """Hashes every closed segment the index lists; (ok, bad paths)."""
    # imported here: vigiltest reads VIGIL_BUILD when first imported
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tests", "integration"))
    from vigiltest import segment_rows
    ok, bad = 0, []
    db = sqlite3.connect("file:%s?mode=ro" % index, uri=True)
    try:
        paths = dict(segment_rows(db, "open = 0 AND sha256 IS NOT NULL"))
        rows = [(paths[i], want) for i, want in db.execute(
            "SELECT id, sha256 FROM segments WHERE open = 0 AND sha256 IS NOT NULL")]
    finally:
        db.close()
    for rel, want in rows:
        p = os.path.join(pool, rel)
        h = hashlib.sha256()
        try:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            bad.append(p)
            continue
        if h.digest() == bytes(want):
            ok += 1
        else:
            bad.append(p)
    return ok, bad


def plot(rows, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [r["t_min"] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax[0][0].plot(t, [(r["rss_kib"] or 0) / 1024 for r in rows], label="RSS")
    ax[0][0].plot(t, [(r["pss_kib"] or 0) / 1024 for r in rows], label="PSS")
    ax[0][0].set_ylabel("vigild memory (MiB)")
    ax[0][0].legend()
    ax[0][1].plot(t, [r["fds"] for r in rows], label="open files")
    ax[0][1].plot(t, [r["threads"] for r in rows], label="threads")
    ax[0][1].set_ylabel("count")
    ax[0][1].legend()
    ax[1][0].plot(t, [r["cpu_pct_per_cam"] for r in rows])
    ax[1][0].set_ylabel("CPU per camera (% of a core)")
    ax[1][0].set_xlabel("minutes")
    ax[1][1].plot(t, [r["index_kib"] / 1024 for r in rows], label="index file")
    ax[1][1].plot(t, [r["wal_kib"] / 1024 for r in rows], label="WAL")
    ax[1][1].plot(t, [r["pool_mib"] / 1024 for r in rows], label="pool (GiB)")
    ax[1][1].set_ylabel("MiB (pool: GiB)")
    ax[1][1].set_xlabel("minutes")
    ax[1][1].legend()
    for a in ax.flat:
        a.grid(alpha=0.3)
        a.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def quarter_means(rows, key):
    q = max(1, len(rows) // 4)
    first = [r[key] for r in rows[:q] if r[key] is not None]
    last = [r[key] for r in rows[-q:] if r[key] is not None]

    def mean(v):
        return sum(v) / len(v) if v else float("nan")
    return mean(first), mean(last)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--cameras", type=int, default=200)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--bitrate", type=float, default=0.5, help="Mbit/s per camera")
    ap.add_argument("--fps", type=float, default=25)
    ap.add_argument("--gop", type=float, default=2)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--quota", default="2GiB")
    ap.add_argument("--segment-seconds", type=int, default=10)
    ap.add_argument("--interval", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=120)
    ap.add_argument("--source", default="native")
    ap.add_argument("--tick-ms", type=int, default=40)
    ap.add_argument("--no-priority", action="store_true")
    ap.add_argument("--workdir")
    ap.add_argument("--png")
    ap.add_argument("--csv")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.input = fb.make_source(a.build, a.bitrate, a.fps, a.gop, a.size)
    a.generated = True
    workdir = a.workdir or tempfile.mkdtemp(prefix="vigil-soak-")
    os.makedirs(os.path.join(workdir, "pool0"), exist_ok=True)
    png = os.path.abspath(a.png or os.path.join(workdir, "soak.png"))
    csvp = os.path.abspath(a.csv or os.path.join(workdir, "soak.csv"))
    fb.own_session()

    fleet = fb.Fleet(a, workdir, "soak")
    cfg = os.path.join(workdir, "vigil.yaml")
    write_config(cfg, a, fleet, workdir)
    index = os.path.join(workdir, "index.db")
    vigild = fb.Proc([os.path.join(a.build, "daemon", "vigild"), "--config", cfg],
                     os.path.join(workdir, "vigild.log"))
    log("soak: %d cameras at %g Mbit/s, quota %s, %g h, samples every %g s in %s" % (
        a.cameras, a.bitrate, a.quota, a.hours, a.interval, workdir))
    rows = []
    try:
        t_start = time.time()
        while time.time() - t_start < a.warmup:
            if not vigild.alive():
                raise SystemExit("vigild died during warm-up:\n" + vigild.tail())
            time.sleep(1)
        port = fb.http_port(vigild.logpath)
        t0 = time.time()
        c_prev, t_prev = fb.cpu_seconds(vigild.pid), t0
        end = t0 + a.hours * 3600
        while time.time() < end:
            time.sleep(max(0.0, min(a.interval, end - time.time())))
            if not vigild.alive():
                raise SystemExit("vigild died:\n" + vigild.tail())
            now = time.time()
            c = fb.cpu_seconds(vigild.pid)
            m = fb.scrape_metrics(port)
            row = {"t_min": round((now - t0) / 60, 2),
                   "rss_kib": status_val(vigild.pid, "VmRSS"), "pss_kib": fb.pss_kib(vigild.pid),
                   "fds": nfds(vigild.pid), "threads": status_val(vigild.pid, "Threads"),
                   "cpu_pct_per_cam": round(100 * (c - c_prev) / (now - t_prev) / a.cameras, 4),
                   "index_kib": fsize(index) // 1024, "wal_kib": fsize(index + "-wal") // 1024,
                   "pool_mib": tree_bytes(os.path.join(workdir, "pool0")) // (1 << 20),
                   "segments": index_rows(index),
                   "frames_received": sum(v.get("received", 0) for v in m.values()),
                   "frames_written": sum(v.get("written", 0) for v in m.values()),
                   "load": round(os.getloadavg()[0], 2)}
            rows.append(row)
            c_prev, t_prev = c, now
            log(" ".join("%s=%s" % kv for kv in row.items()))
            with open(csvp, "w", newline="") as f:  # kept current: a run cut short still has it
                w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(rows)
        per, _ = fleet.drain(a.gop)
        time.sleep(2)
        m = fb.scrape_metrics(port)
        rc = vigild.stop(signal.SIGTERM, timeout=120)
        if rc != 0:
            log("vigild exited with %r:\n%s" % (rc, vigild.tail()))
    finally:
        if vigild.alive():
            vigild.p.kill()
        fleet.stop()
    sent = sum(v.get("frames_sent", 0) + v.get("frames_skipped", 0) for v in per.values())
    received = sum(v.get("received", 0) for v in m.values())
    written = sum(v.get("written", 0) for v in m.values())
    ok, bad = verify_segments(index, os.path.join(workdir, "pool0"))
    with open(os.path.join(workdir, "vigild.log"), errors="replace") as f:
        vlog = f.read()
    quota = parse_bytes(a.quota)
    bytes_total = a.cameras * a.bitrate * 1e6 / 8 * a.hours * 3600
    plot(rows, png, "vigild soak: %d cameras, %g Mbit/s, quota %s, %g h" % (
        a.cameras, a.bitrate, a.quota, a.hours))
    r0, r1 = quarter_means(rows, "rss_kib")
    f0, f1 = quarter_means(rows, "fds")
    c0, c1 = quarter_means(rows, "cpu_pct_per_cam")
    i0, i1 = quarter_means(rows, "index_kib")
    log("csv: %s  png: %s  new runs: %d  reconnects: %d  bad segments: %s" % (
        csvp, png, vlog.count("discontinuity"), vlog.count("retrying in"), bad[:5]))
    print("cameras=%d hours=%g turnovers=%.1f rss_mib=%.1f->%.1f fds=%.0f->%.0f "
          "cpu_pct=%.4f->%.4f index_mib=%.1f->%.1f wal_mib_max=%.1f frames_sent=%d "
          "frames_received=%d frames_written=%d frames_lost=%d segments_verified=%d "
          "segments_bad=%d" % (
              a.cameras, a.hours, bytes_total / quota, r0 / 1024, r1 / 1024, f0, f1, c0, c1,
              i0 / 1024, i1 / 1024, max(r["wal_kib"] for r in rows) / 1024, sent, received,
              written, sent - received, ok, len(bad)))


if __name__ == "__main__":
    main()
