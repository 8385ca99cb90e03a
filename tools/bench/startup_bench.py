#!/usr/bin/env python3
"""
startup_bench: how long vigild takes to become ready on a province-sized pool.

Synthesizes the tree a full pool has (default 800 cameras x 30 days x 24 hour
directories, one small segment file each, and the matching closed rows in the
index), then measures the time from exec to READY=1 (sd_notify, on a socket of
its own) after a clean stop (SIGTERM) and after kill -9, and optionally the same
with another vigild binary (the code before the bounded walk) for the old figure.

    tools/bench/startup_bench.py --build build --workdir /var/tmp/sb
    tools/bench/startup_bench.py --build build --workdir /var/tmp/sb --reuse --old /tmp/old/vigild

The tree is kept in --workdir (--reuse skips building it again). The segment
files are empty: what is measured is the walk (readdir per directory, one index
query per hour directory), not the hashing of recovered files. Python stdlib
only; synthesize() is shared with tests/integration/test_storage_startup.py.
"""
import argparse
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HOUR_US = 3600 * 1000000
HERE = os.path.dirname(os.path.abspath(__file__))


def synthesize(pool_dir, index_path, cameras, hours, last_hour_us, pool_id="main",
               files_per_hour=1, prefix="synth"):
    """Creates cameras x hours hour directories ending with the hour starting at
    last_hour_us, files_per_hour empty segment files in each, and a closed row
    per file in the index (which vigild must have created), its path stored as
    vigild stores a file at the layout's path: ''. Returns the number of hour
    directories made."""
    # imported here: vigiltest reads VIGIL_BUILD when first imported
    sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
    from vigiltest import segment_relpath
    db = sqlite3.connect(index_path)
    db.execute("PRAGMA synchronous = OFF")
    next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM segments").fetchone()[0]
    rows = []
    step = HOUR_US // files_per_hour
    ndirs = 0
    for c in range(cameras):
        cam = "%s-%03d" % (prefix, c)
        for h in range(hours):
            hour = last_hour_us - (hours - 1 - h) * HOUR_US
            for k in range(files_per_hour):
                start = hour + k * step + 1000000
                path = os.path.join(pool_dir, segment_relpath(cam, start))
                if k == 0:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    ndirs += 1
                open(path, "wb").close()
                rows.append((next_id, cam, start, start + 1000000, start, pool_id, ""))
                next_id += 1
            if len(rows) >= 100000:
                db.executemany("INSERT INTO segments (id, camera, start_us, end_us, run_start_us, "
                               "pool, path, bytes, open, codec) VALUES (?,?,?,?,?,?,?,0,0,'h264')",
                               rows)
                rows = []
    db.executemany("INSERT INTO segments (id, camera, start_us, end_us, run_start_us, pool, path, "
                   "bytes, open, codec) VALUES (?,?,?,?,?,?,?,0,0,'h264')", rows)
    db.commit()
    db.close()
    return ndirs


def write_config(workdir):
    path = os.path.join(workdir, "vigil.yaml")
    with open(path, "w") as f:
        f.write('listen: "127.0.0.1:0"\nindex: "%s"\nsegment_seconds: 60\nstorage:\n  pools:\n'
                '    - {"id": "main", "path": "%s"}\ncameras: []\n'
                % (os.path.join(workdir, "index.db"), os.path.join(workdir, "pool0")))
    return path


DROP_CACHES = False


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Run:
    """One vigild from exec to READY=1, timed."""

    def __init__(self, vigild, cfg, workdir, name):
        if DROP_CACHES:
            drop_caches()
        self.sock_path = os.path.join(workdir, "notify-%s.sock" % name)
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.logpath = os.path.join(workdir, "vigild-%s.log" % name)
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path)
        self.t0 = time.monotonic()
        self.p = subprocess.Popen([vigild, "--config", cfg], stdout=subprocess.DEVNULL,
                                  stderr=open(self.logpath, "wb"), env=env)
        self.extends = 0

    def wait_ready(self, timeout):
        self.sock.settimeout(1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                if self.p.poll() is not None:
                    raise SystemExit("vigild exited %d: see %s" % (self.p.returncode, self.logpath))
                continue
            self.extends += msg.count("EXTEND_TIMEOUT_USEC=")
            if re.search(r"(?m)^READY=1$", msg):
                return time.monotonic() - self.t0
        raise SystemExit("no READY=1 within %d s: see %s" % (timeout, self.logpath))

    def walked(self):
        with open(self.logpath, errors="replace") as f:
            m = re.search(r"reconciled in (\d+) ms: (?:(\d+) of \d+ pools clean, (\d+) hour "
                          r"directories walked)?", f.read())
        if not m:
            return "?"
        return "%s ms%s" % (m.group(1), ", %s hour dirs walked" % m.group(3) if m.group(3) else "")

    def stop(self, sig):
        self.p.send_signal(sig)
        self.p.wait(120)
        self.sock.close()
        os.unlink(self.sock_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--cameras", type=int, default=800)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--files-per-hour", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="the tree in --workdir is already built")
    ap.add_argument("--old", help="another vigild binary to time too (every start walks all)")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--drop-caches", action="store_true",
                    help="sync and drop the page, dentry and inode caches before each timed "
                         "start (root): a start after a reboot, not one after a restart")
    a = ap.parse_args()
    global DROP_CACHES
    vigild = os.path.join(a.build, "daemon", "vigild")
    os.makedirs(a.workdir, exist_ok=True)
    cfg = write_config(a.workdir)
    if not a.reuse:
        # vigild creates the index and the pool's identity, then stops cleanly.
        r = Run(vigild, cfg, a.workdir, "create")
        r.wait_ready(60)
        r.stop(signal.SIGTERM)
        now_hour = int(time.time()) // 3600 * 3600 * 1000000
        t = time.monotonic()
        n = synthesize(os.path.join(a.workdir, "pool0"), os.path.join(a.workdir, "index.db"),
                       a.cameras, a.days * 24, now_hour - HOUR_US,
                       files_per_hour=a.files_per_hour)
        print("synthesized %d hour directories (%d files) in %.0f s" % (
            n, n * a.files_per_hour, time.monotonic() - t), flush=True)
        # The tree was added while vigild was stopped, as if recorded: its rows
        # match, so the clean-stop token still holds.
    DROP_CACHES = a.drop_caches
    rows = []
    # The first start follows a clean stop (SIGTERM); it is killed with -9, so
    # the second follows a crash; that one stops cleanly for the next run.
    for name, stop in (("after clean stop", signal.SIGKILL), ("after kill -9", signal.SIGTERM)):
        r = Run(vigild, cfg, a.workdir, name.replace(" ", "-"))
        ready = r.wait_ready(a.timeout)
        rows.append((name, ready, r.walked(), r.extends))
        r.stop(stop)
    if a.old:
        r = Run(a.old, cfg, a.workdir, "old")
        ready = r.wait_ready(a.timeout)
        rows.append(("old vigild (any stop)", ready, r.walked(), r.extends))
        r.stop(signal.SIGKILL)  # the old binary leaves no clean token
        DROP_CACHES = False
        r = Run(vigild, cfg, a.workdir, "after-old")
        r.wait_ready(a.timeout)
        r.stop(signal.SIGTERM)
    print("%-24s %10s  %-40s %s" % ("start", "ready_s", "reconciliation (vigild's log)",
                                    "EXTEND_TIMEOUT_USEC sent"))
    for name, ready, walked, ext in rows:
        print("%-24s %10.2f  %-40s %d" % (name, ready, walked, ext))


if __name__ == "__main__":
    sys.exit(main())
