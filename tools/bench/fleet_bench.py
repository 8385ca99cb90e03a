#!/usr/bin/env python3
"""
fleet_bench: what recording N cameras costs vigild, next to the obvious peer
(one `ffmpeg -c copy` segmenter per camera), on the same simulated fleet.

    tools/bench/fleet_bench.py --build build --cameras 40 --seconds 60
        [--warmup 15] [--bitrate 2] [--fps 25] [--gop 2] [--source ffmpeg|native]
        [--input FILE] [--no-peer] [--no-vigild] [--workdir DIR] [--keep]
        [--tick-ms 40] [--no-priority] [--perf-record FILE] [--no-table]

Run by hand (not part of `make test`); builds nothing: fleetsim and vigild come
from --build. Steps:

 1. The source: --input, or a clip encoded once and cached under
    <build>/bench-media/ (testsrc2 + temporal noise so x264 really spends the
    bitrate; --bitrate Mbit/s CBR-ish, --fps, IDR every --gop seconds, no B-frames).
 2. fleetsim serves it on N mounts (every camera the same stream, each session
    starting at an IDR, at real time).
 3. vigild records the N cameras (segment_seconds 60, pool and index in a temp
    dir). After --warmup seconds, CPU (utime+stime of all threads,
    /proc/PID/stat) is measured over --seconds; PSS (/proc/PID/smaps_rollup) is
    sampled every 5 s and averaged. Then fleetsim is told to drain (every session
    stops at its next IDR, so what was sent is whole GOPs), the recorder gets
    time to write it, vigild is stopped with SIGTERM (it closes its segments) and
    every segment is counted (video samples in moof/trun or moov/stsz).
 4. The same with the peer: fleetsim restarted, one
    `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60
     -segment_format mp4 -segment_format_options movflags=+frag_keyframe+empty_moov`
    per camera; CPU and PSS summed over the ffmpeg processes; stopped with
    SIGINT (ffmpeg finishes its files). The peer is skipped when it would not fit
    in MemAvailable (~20 MiB per process).

Prints a table per camera (vigild's CPU and PSS are one process's, divided
evenly over its cameras), a line per recorder and for fleetsim's own CPU, and
last:

    cameras=N vigild_cpu_pct=… ffmpeg_cpu_pct=… cpu_ratio=… vigild_pss_kib=… ffmpeg_pss_kib=… frames_lost=…

with CPU in % of one core per camera, PSS in KiB per camera, cpu_ratio =
vigild / ffmpeg, and frames_lost = vigild's frames sent minus written over
the whole fleet (frames fleetsim had to skip because the recorder did not read
them in time count as sent, and lost). Values that were not measured print as nan.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)



# ---- /proc sampling ----

def cpu_seconds(pid):
    """utime+stime of the whole process (all threads, live and exited), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Proc:
    """A child in its own session; stdout/stderr to a log file (stdout optionally kept)."""

    def __init__(self, argv, logpath, stdout_pipe=False, realtime=False):
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "wb")

        def to_realtime():
            try:
                os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
            except OSError:
                pass
        # Recorders stay in the bench's session (one autogroup for vigild and for all
        # the peer's ffmpegs alike, see main); fleetsim gets SCHED_RR.
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if stdout_pipe else self.logf,
                                  stderr=self.logf,
                                  preexec_fn=to_realtime if realtime else None)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.send(sig)
        rc = self.wait(timeout)
        self.logf.close()
        return rc

    def tail(self, n=2000):
        self.logf.flush()
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""


# ---- fMP4 sample counting (stdlib; cheaper than one ffprobe per file) ----

def _boxes(buf, start, end):
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack(">I4s", buf[i:i + 8])
        hdr = 8
        if size == 1:
            if i + 16 > end:
                return
            size = struct.unpack(">Q", buf[i + 8:i + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            return  # truncated box (a file cut short): stop here
        yield typ, i + hdr, i + size
        i += size


def count_video_samples(path):
    """Video samples in an MP4 (fragmented or not): sum of trun sample_count of the
    video track's fragments whose mdat is whole, plus stsz sample_count in moov."""
    with open(path, "rb") as f:
        buf = f.read()
    video_ids, n, pending = set(), 0, 0
    for typ, s, e in _boxes(buf, 0, len(buf)):
        if typ == b"moov":
            for t2, s2, e2 in _boxes(buf, s, e):
                if t2 != b"trak":
                    continue
                tid, is_video, stsz = None, False, 0
                for t3, s3, e3 in _boxes(buf, s2, e2):
                    if t3 == b"tkhd":
                        ver = buf[s3]
                        tid = struct.unpack(">I", buf[s3 + (20 if ver == 1 else 12):][:4])[0]
                    elif t3 == b"mdia":
                        for t4, s4, e4 in _boxes(buf, s3, e3):
                            if t4 == b"hdlr" and buf[s4 + 8:s4 + 12] == b"vide":
                                is_video = True
                            elif t4 == b"minf":
                                for t5, s5, e5 in _boxes(buf, s4, e4):
                                    if t5 != b"stbl":
                                        continue
                                    for t6, s6, e6 in _boxes(buf, s5, e5):
                                        if t6 == b"stsz":
                                            stsz = struct.unpack(">I", buf[s6 + 8:s6 + 12])[0]
                if is_video:
                    video_ids.add(tid)
                    n += stsz
        elif typ == b"mdat":
            n += pending  # a fragment counts once its media data is whole
            pending = 0
        elif typ == b"moof":
            pending = 0
            for t2, s2, e2 in _boxes(buf, s, e):
                if t2 != b"traf":
                    continue
                tid, cnt = None, 0
                for t3, s3, e3 in _boxes(buf, s2, e2):
                    if t3 == b"tfhd":
                        tid = struct.unpack(">I", buf[s3 + 4:s3 + 8])[0]
                    elif t3 == b"trun":
                        cnt += struct.unpack(">I", buf[s3 + 4:s3 + 8])[0]
                if tid in video_ids or not video_ids:
                    pending += cnt
    return n


def count_dir(paths):
    frames = nbytes = 0
    for p in paths:
        try:
            nbytes += os.path.getsize(p)
            frames += count_video_samples(p)
        except OSError:
            pass
    return frames, nbytes


# ---- the pieces ----

def make_source(build, mbps, fps, gop, size, seconds=20):
    cache = os.path.join(build, "bench-media")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, "fleet_%s_%gM_%gfps_gop%g.mp4" % (size, mbps, fps, gop))
    if os.path.exists(path):
        return path
    log("encoding the source clip %s (once) ..." % path)
    kbps = int(mbps * 1000)
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
            "testsrc2=size=%s:rate=%g" % (size, fps), "-vf", "noise=alls=10:allf=t",
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "%dk" % kbps,
            "-maxrate", "%dk" % kbps, "-bufsize", "%dk" % (kbps // 2),
            "-g", str(int(round(gop * fps))), "-keyint_min", str(int(round(gop * fps))),
            "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-t", str(seconds),
            path + ".tmp.mp4"]
    subprocess.run(argv, check=True)
    os.rename(path + ".tmp.mp4", path)
    return path


class Fleet:
    def __init__(self, a, workdir, tag):
        self.stats = os.path.join(workdir, "fleetsim-%s.json" % tag)
        argv = [os.path.join(a.build, "tools", "fleetsim", "fleetsim"), "--input", a.input,
                "--cameras", str(a.cameras), "--port", "0", "--stats", self.stats,
                "--tick-ms", str(a.tick_ms)]
        if a.generated:  # a clip of ours must have the bitrate asked for
            argv += ["--bitrate-check", str(a.bitrate)]
        # The cameras are not on the recorder's machine: a starved simulator would send
        # late bursts and the recorder would be blamed for the gaps. So it runs SCHED_RR
        # (needs root; --no-priority or without root it is an ordinary process).
        self.proc = Proc(argv, os.path.join(workdir, "fleetsim-%s.log" % tag), stdout_pipe=True,
                         realtime=not a.no_priority)
        line = self.proc.p.stdout.readline().decode()
        if not line.startswith("READY port="):
            raise SystemExit("fleetsim did not start:\n" + self.proc.tail())
        self.ready = line.strip()
        # it listens on a port of its choosing and says which
        self.port = int(self.ready.split()[1].split("=")[1])

    def url(self, i):
        return "rtsp://127.0.0.1:%d/cam%d" % (self.port, i)

    def read_stats(self):
        per, total = {}, None
        for _ in range(20):
            try:
                with open(self.stats) as f:
                    for line in f:
                        o = json.loads(line)
                        if "camera" in o:
                            per[o["camera"]] = o
                        else:
                            total = o
                return per, total
            except (OSError, ValueError):
                time.sleep(0.1)
        return per, total

    def drain(self, gop):
        """Every session stops at its next IDR; waits for that and for the stats file."""
        self.proc.send(signal.SIGUSR2)
        time.sleep(gop + 1.5)
        return self.read_stats()

    def stop(self):
        self.proc.stop()


def measure(pids_fn, warmup, seconds, label, alive_fn, perf=None):
    """Waits warmup, then measures CPU over seconds (sum over pids_fn()), sampling PSS
    every 5 s. Returns (cpu per pid dict, wall seconds, mean pss per pid dict, perf proc)."""
    t_end_warm = time.time() + warmup
    while time.time() < t_end_warm:
        if not alive_fn():
            raise SystemExit("%s died during warm-up" % label)
        time.sleep(0.5)
    pids = pids_fn()
    c0 = {p: cpu_seconds(p) for p in pids}
    t0 = time.time()
    perf_proc = None
    if perf:
        perf_proc = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-o", perf, "-p",
                                      ",".join(str(p) for p in pids), "--", "sleep",
                                      str(seconds)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pss = {p: [] for p in pids}
    next_pss = t0
    while time.time() - t0 < seconds:
        if time.time() >= next_pss:
            for p in pids:
                v = pss_kib(p)
                if v is not None:
                    pss[p].append(v)
            next_pss += 5
        time.sleep(min(0.5, max(0.0, seconds - (time.time() - t0))))
    c1 = {p: cpu_seconds(p) for p in pids}
    wall = time.time() - t0
    if perf_proc:
        perf_proc.wait()
    cpu = {p: (c1[p] - c0[p]) if c0[p] is not None and c1[p] is not None else None
           for p in pids}
    mean_pss = {p: (sum(v) / len(v) if v else None) for p, v in pss.items()}
    return cpu, wall, mean_pss


def write_config(path, a, fleet, workdir):
    lines = ['listen: "127.0.0.1:0"',  # vigild logs the port it got
             'index: "%s"' % os.path.join(workdir, "index.db"),
             "segment_seconds: 60",
             "retention_days: 0",
             "storage:", "  pools:",
             "    - " + json.dumps(dict({"id": "main", "path": os.path.join(workdir, "pool0")},
                                   **({} if a.sync_ms is None else {"sync_ms": a.sync_ms}))),
             "cameras:"]
    for i in range(1, a.cameras + 1):
        lines.append("  - " + json.dumps({"id": "cam%d" % i, "url": fleet.url(i),
                                          "source": a.source}))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def http_port(logpath):
    """The port vigild's HTTP listener got (it logs it once listening), or None."""
    import re
    try:
        with open(logpath, errors="replace") as f:
            m = re.search(r"serve: listening on \S+ \(port (\d+)\)", f.read())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def scrape_metrics(port):
    """Per-camera frames received/written from vigild's /metrics, when it serves them
    (tells frames lost in ingest from frames lost at stop); {} otherwise."""
    import re
    import urllib.request
    out = {}
    if port is None:
        return out
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode(errors="replace")
    except Exception:
        return out
    rx = re.compile(r'^vigil_camera_frames_(received|written)_total\{[^}]*camera="([^"]+)"'
                    r'[^}]*\}\s+([0-9.e+]+)', re.M)
    for kind, cam, v in rx.findall(text):
        out.setdefault(cam, {})[kind] = int(float(v))
    # the syncer's work (fdatasyncs of open segments) on the pool
    for name, key in (("vigil_pool_syncs_total", "syncs"),
                      ("vigil_pool_sync_seconds_total", "seconds"),
                      ("vigil_pool_sync_interval_seconds", "interval")):
        m = re.search(r'^%s\{pool="main"\}\s+(\S+)$' % name, text, re.M)
        if m:
            out.setdefault("_sync", {})[key] = float(m.group(1))
    return out


def run_vigild(a, workdir):
    fleet = Fleet(a, workdir, "vigild")
    cfg = os.path.join(workdir, "vigil.yaml")
    write_config(cfg, a, fleet, workdir)
    os.makedirs(os.path.join(workdir, "pool0"), exist_ok=True)
    vigild = Proc([os.path.join(a.build, "daemon", "vigild"), "--config", cfg],
                  os.path.join(workdir, "vigild.log"))
    log("vigild: %d cameras (source: %s), warm-up %gs, measuring %gs" % (
        a.cameras, a.source, a.warmup, a.seconds))
    try:
        fs0 = cpu_seconds(fleet.proc.pid)
        cpu, wall, pss = measure(lambda: [vigild.pid], a.warmup, a.seconds, "vigild",
                                 vigild.alive, perf=a.perf_record)
        fs1 = cpu_seconds(fleet.proc.pid)
        per, total = fleet.drain(a.gop)
        metrics = scrape_metrics(http_port(vigild.logpath))
        rc = vigild.stop(signal.SIGTERM, timeout=120)
        if rc != 0:
            log("vigild exited with %r; log tail:\n%s" % (rc, vigild.tail()))
    finally:
        if vigild.alive():
            vigild.p.kill()
        fleet.stop()
    try:
        with open(vigild.logpath, errors="replace") as f:
            vlog = f.read()
    except OSError:
        vlog = ""
    res = {"cpu": cpu[vigild.pid], "wall": wall, "pss": pss[vigild.pid],
           "new_runs": vlog.count("discontinuity"), "reconnects": vlog.count("retrying in"),
           "late_ms": total.get("late_ms_max") if total else None,
           "behind_ms": total.get("behind_ms_max") if total else None,
           "load": os.getloadavg()[0],
           "fleetsim_cpu": (fs1 - fs0) if fs0 is not None and fs1 is not None else None,
           "cams": {}, "skipped": total.get("frames_skipped", 0) if total else 0,
           "sync": metrics.get("_sync")}
    for i in range(1, a.cameras + 1):
        files = glob.glob(os.path.join(workdir, "pool0", "cam%d" % i, "**", "*.mp4"),
                          recursive=True)
        fr, by = count_dir(files)
        # Frames fleetsim skipped because the recorder did not read them in time are
        # frames a camera would have dropped: sent for the accounting, and lost.
        cs = per.get("cam%d" % i, {})
        sent = cs.get("frames_sent", 0) + cs.get("frames_skipped", 0)
        m = metrics.get("cam%d" % i, {})
        res["cams"][i] = {"sent": sent, "written": fr, "bytes": by, "files": len(files),
                          "received": m.get("received"), "written_before_stop": m.get("written")}
    if not a.keep:
        shutil.rmtree(os.path.join(workdir, "pool0"), ignore_errors=True)
    return res


def run_peer(a, workdir):
    fleet = Fleet(a, workdir, "peer")
    outdir = os.path.join(workdir, "peer")
    procs = {}
    try:
        for i in range(1, a.cameras + 1):
            d = os.path.join(outdir, "cam%d" % i)
            os.makedirs(d, exist_ok=True)
            # -timeout: once fleetsim drains, 3 s of silence end the input cleanly and
            # ffmpeg writes its last fragment (on a signal it aborts that write).
            argv = ["ffmpeg", "-nostdin", "-v", "error", "-timeout", "3000000",
                    "-rtsp_transport", "tcp",
                    "-i", fleet.url(i), "-c", "copy", "-f", "segment", "-segment_time", "60",
                    "-segment_format", "mp4", "-segment_format_options",
                    "movflags=+frag_keyframe+empty_moov", "-reset_timestamps", "1",
                    os.path.join(d, "%05d.mp4")]
            procs[i] = Proc(argv, os.path.join(d, "ffmpeg.log"))
            if a.cameras > 20:
                time.sleep(0.02)  # do not start hundreds of demuxers in the same instant
        log("peer: %d ffmpeg -c copy segmenters, warm-up %gs, measuring %gs" % (
            a.cameras, a.warmup, a.seconds))
        fs0 = cpu_seconds(fleet.proc.pid)
        cpu, wall, pss = measure(lambda: [p.pid for p in procs.values()], a.warmup, a.seconds,
                                 "ffmpeg", lambda: any(p.alive() for p in procs.values()))
        fs1 = cpu_seconds(fleet.proc.pid)
        per, total = fleet.drain(a.gop)
        deadline = time.time() + 15 + a.cameras * 0.05
        for i, p in procs.items():
            rc = p.wait(max(1.0, deadline - time.time()))  # kills what is still running
            p.logf.close()
            if rc != 0:
                log("ffmpeg cam%d exited with %r: %s" % (i, rc, p.tail(500)))
    finally:
        for p in procs.values():
            if p.alive():
                p.p.kill()
                p.p.wait()
        fleet.stop()
    res = {"wall": wall, "fleetsim_cpu": (fs1 - fs0) if fs0 is not None and fs1 is not None
           else None, "cams": {}, "skipped": total.get("frames_skipped", 0) if total else 0,
           "late_ms": total.get("late_ms_max") if total else None,
           "behind_ms": total.get("behind_ms_max") if total else None,
           "load": os.getloadavg()[0]}
    for i, p in procs.items():
        files = glob.glob(os.path.join(outdir, "cam%d" % i, "*.mp4"))
        fr, by = count_dir(files)
        cs = per.get("cam%d" % i, {})
        sent = cs.get("frames_sent", 0) + cs.get("frames_skipped", 0)
        res["cams"][i] = {"sent": sent, "written": fr, "bytes": by, "cpu": cpu.get(p.pid),
                          "pss": pss.get(p.pid), "files": len(files)}
    if not a.keep:
        shutil.rmtree(outdir, ignore_errors=True)
    return res


def own_session():
    """On a shared machine other people's work would starve the recorder under test
    (Linux gives every session an equal share: sched_autogroup). So the bench runs in
    a session of its own, vigild and every peer ffmpeg inherit it (the two recorders
    are treated alike), and as root that session's autogroup gets nice -10: roughly a
    machine of their own. Re-executes itself when it cannot start a session."""
    try:
        os.setsid()
    except OSError:
        if os.environ.get("FLEET_BENCH_SESSION"):
            return
        env = dict(os.environ, FLEET_BENCH_SESSION="1")
        p = subprocess.Popen([sys.executable] + sys.argv, env=env, start_new_session=True)
        try:
            sys.exit(p.wait())
        except KeyboardInterrupt:
            p.send_signal(signal.SIGINT)
            sys.exit(p.wait())
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write("-10")
    except OSError:
        pass


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def fmt(v, spec):
    return "nan" if v is None else format(v, spec)


def div(a, b):
    return None if a is None or b in (None, 0) else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="build tree with fleetsim and vigild")
    ap.add_argument("--cameras", "-n", type=int, default=40)
    ap.add_argument("--seconds", "-t", type=float, default=60, help="measurement window")
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--bitrate", type=float, default=2.0, help="Mbit/s of the source")
    ap.add_argument("--fps", type=float, default=25)
    ap.add_argument("--gop", type=float, default=2.0, help="seconds between IDRs")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--input", help="H.264 source instead of the generated clip")
    ap.add_argument("--source", choices=("ffmpeg", "native"), default="ffmpeg",
                    help="vigild's ingest path for every camera")
    ap.add_argument("--tick-ms", type=int, default=40, help="fleetsim send period")
    ap.add_argument("--no-priority", action="store_true",
                    help="run fleetsim as an ordinary process and leave the bench's "
                    "autogroup nice alone")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-vigild", action="store_true")
    ap.add_argument("--workdir", help="where recordings go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep recordings and logs")
    ap.add_argument("--perf-record", metavar="FILE",
                    help="perf record -g vigild during the measurement window")
    ap.add_argument("--no-table", action="store_true", help="omit the per-camera table")
    ap.add_argument("--sync-ms", type=int, default=None,
                    help="the pool's sync_ms (fdatasync of open segments; 0: at close only; "
                         "default: vigild's, 1000)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    if not a.no_priority:
        own_session()
    for exe in (os.path.join(a.build, "tools", "fleetsim", "fleetsim"),) + (
            () if a.no_vigild else (os.path.join(a.build, "daemon", "vigild"),)):
        if not os.access(exe, os.X_OK):
            raise SystemExit("missing %s (build it first)" % exe)
    a.generated = not a.input
    a.input = os.path.abspath(a.input) if a.input else make_source(
        a.build, a.bitrate, a.fps, a.gop, a.size)
    workdir = a.workdir or tempfile.mkdtemp(prefix="fleet-bench-")
    os.makedirs(workdir, exist_ok=True)
    t_start = time.time()

    vg = None if a.no_vigild else run_vigild(a, workdir)
    peer = None
    if not a.no_peer:
        need = a.cameras * 20 * 1024
        if need > mem_available_kib() * 0.8:
            log("peer skipped: %d ffmpeg processes need ~%d MiB, MemAvailable is %d MiB" % (
                a.cameras, need // 1024, mem_available_kib() // 1024))
        else:
            peer = run_peer(a, workdir)

    n = a.cameras
    core = lambda sec, wall: None if sec is None else 100.0 * sec / wall
    v_cpu = div(core(vg["cpu"], vg["wall"]), n) if vg else None
    v_pss = div(vg["pss"], n) if vg else None
    f_cpu = f_pss = None
    if peer:
        cpus = [c["cpu"] for c in peer["cams"].values() if c["cpu"] is not None]
        psss = [c["pss"] for c in peer["cams"].values() if c["pss"] is not None]
        f_cpu = core(sum(cpus), peer["wall"]) / len(cpus) if cpus else None
        f_pss = sum(psss) / len(psss) if psss else None

    if not a.no_table:
        print("%-8s | %9s %10s %7s %7s %5s %11s | %9s %10s %7s %7s %5s %11s | %6s %6s" % (
            "camera", "vg_cpu%", "vg_pss_kib", "sent", "written", "lost", "bytes",
            "ff_cpu%", "ff_pss_kib", "sent", "written", "lost", "bytes", "cpu_r", "pss_r"))
        for i in range(1, n + 1):
            v = vg["cams"][i] if vg else {}
            f = peer["cams"][i] if peer else {}
            fc = core(f.get("cpu"), peer["wall"]) if peer else None
            print("%-8s | %9s %10s %7s %7s %5s %11s | %9s %10s %7s %7s %5s %11s | %6s %6s" % (
                "cam%d" % i, fmt(v_cpu, ".4f"), fmt(v_pss, ".0f"),
                v.get("sent", "-"), v.get("written", "-"),
                v["sent"] - v["written"] if v else "-", v.get("bytes", "-"),
                fmt(fc, ".4f"), fmt(f.get("pss"), ".0f"),
                f.get("sent", "-"), f.get("written", "-"),
                f["sent"] - f["written"] if f else "-", f.get("bytes", "-"),
                fmt(div(v_cpu, fc), ".3f"), fmt(div(v_pss, f.get("pss")), ".3f")))
    v_lost = None
    for name, r in (("vigild", vg), ("ffmpeg", peer)):
        if not r:
            continue
        sent = sum(c["sent"] for c in r["cams"].values())
        written = sum(c["written"] for c in r["cams"].values())
        nbytes = sum(c["bytes"] for c in r["cams"].values())
        if name == "vigild":
            v_lost = sent - written
            rx = [c["received"] for c in r["cams"].values() if c.get("received") is not None]
            wb = [c["written_before_stop"] for c in r["cams"].values()
                  if c.get("written_before_stop") is not None]
            if rx:
                print("vigild /metrics after the drain, before SIGTERM: frames_received=%d "
                      "frames_written=%d (of %d sent)" % (sum(rx), sum(wb), sent))
            if r.get("sync"):
                y = r["sync"]
                print("vigild syncer: sync_ms=%d, %d fdatasyncs of open segments in %.3f s "
                      "of its thread (%s ms each)" % (
                          y.get("interval", 0) * 1000, y.get("syncs", 0), y.get("seconds", 0),
                          fmt(div(1000 * y.get("seconds", 0), y.get("syncs") or None), ".3f")))
            tot_cpu, tot_pss = core(r["cpu"], r["wall"]), r["pss"]
        else:
            tot_cpu = f_cpu * n if f_cpu is not None else None
            tot_pss = f_pss * n if f_pss is not None else None
        print("%s: cpu=%s%% of a core (%s%% per camera) pss=%s MiB (%s KiB per camera) "
              "frames_sent=%d frames_written=%d frames_lost=%d bytes_written=%d "
              "fleetsim_cpu=%s%% of a core (%s%% per camera, %d frames skipped)" % (
                  name, fmt(tot_cpu, ".2f"), fmt(div(tot_cpu, n), ".4f"),
                  fmt(div(tot_pss, 1024), ".1f"), fmt(div(tot_pss, n), ".0f"),
                  sent, written, sent - written, nbytes,
                  fmt(core(r["fleetsim_cpu"], r["wall"]), ".2f"),
                  fmt(div(core(r["fleetsim_cpu"], r["wall"]), n), ".4f"), r["skipped"]))
        print("%s: fleetsim late_ms_max=%s (its timer's worst lateness: the simulator "
              "starved), behind_ms_max=%s (worst session backlog: a reader not keeping up), "
              "load average %.1f at the end%s" % (
                  name, r.get("late_ms"), r.get("behind_ms"), r["load"],
                  "" if name != "vigild" else ", vigild log: %d timestamp discontinuities "
                  "(new runs), %d reconnects" % (r["new_runs"], r["reconnects"])))
    print("bench: source=%s input=%s tick_ms=%d warmup=%gs seconds=%gs wall=%.0fs workdir=%s" % (
        a.source, os.path.basename(a.input), a.tick_ms, a.warmup, a.seconds,
        time.time() - t_start, workdir if a.keep or a.workdir else "(removed)"))
    print("cameras=%d vigild_cpu_pct=%s ffmpeg_cpu_pct=%s cpu_ratio=%s vigild_pss_kib=%s "
          "ffmpeg_pss_kib=%s frames_lost=%s" % (
              n, fmt(v_cpu, ".4f"), fmt(f_cpu, ".4f"), fmt(div(v_cpu, f_cpu), ".3f"),
              fmt(v_pss, ".0f"), fmt(f_pss, ".0f"), "nan" if v_lost is None else v_lost))
    sys.stdout.flush()
    if not a.keep and not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
