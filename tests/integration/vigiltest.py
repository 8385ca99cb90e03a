"""
vigiltest: the shared harness of vigil's integration tests.

Every test starts real processes on loopback in a private temp directory:
camsim (GStreamer rtsp-server cameras), FFmpeg's own RTSP server, vigild and
vigilctl from the build tree, and checks real files with ffprobe/ffmpeg, the
real SQLite index and the real HTTP API. Python stdlib only.

    env = Env()                      # temp dir, cleaned up by env.close()
    cam = env.camsim(["cam1:codec=h264", "cam2:codec=h265,audio=aac"])
    cfg = env.config(cameras=[env.camera("cam1", cam.url("cam1"))])
    d = env.vigild(cfg)
    d.wait_log("recording")
    ...
    d.stop()                         # SIGTERM, asserts exit 0
"""
import atexit
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

BUILD = os.environ.get("VIGIL_BUILD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
SRC = os.environ.get("VIGIL_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
SANITIZED = os.environ.get("VIGIL_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE")
# Sanitized builds run slower; stretch waits, never loosen checks.
SLOW = 2.0 if SANITIZED else 1.0

VIGILD = os.path.join(BUILD, "daemon", "vigild")
VIGILCTL = os.path.join(BUILD, "tools", "vigilctl", "vigilctl")
CAMSIM = os.path.join(BUILD, "tools", "camsim", "camsim")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# CTest's SKIP_RETURN_CODE (tests/CMakeLists.txt): a test that could not run
# says so instead of passing.
SKIP = 77


def main(cleanup=None):
    """unittest.main for an integration test file: exit 0 when its tests ran and
    passed, 1 when one failed, SKIP when none ran or every one was skipped (a
    skip is only for what the machine cannot offer, e.g. root for a tmpfs; a
    package install-deps.sh declares is never a reason to skip).
    cleanup(ok), if given, runs before exiting."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    ok = r.wasSuccessful()
    if cleanup:
        cleanup(ok)
    if not ok:
        sys.exit(1)
    if r.testsRun == len(r.skipped):
        log("all %d test(s) skipped: reporting skipped (exit %d)" % (r.testsRun, SKIP))
        sys.exit(SKIP)
    sys.exit(0)


def closed_port():
    """(socket, port): a loopback port that refuses connections for as long as the
    socket is kept (bound, never listening), so no other process can take it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def wait_for(pred, timeout, step=0.2, what="condition"):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)"
                         % (timeout * SLOW, what, last))


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: a test runner killed by CTest's timeout takes its
    # servers and daemons with it instead of leaving them running.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Proc:
    """A child process whose stderr (and optionally stdout) is captured to a file
    and readable while it runs."""

    def __init__(self, argv, logpath, stdin=False, stdout_pipe=False, env=None):
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self.logf,
            stderr=self.logf, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self.lines = []
        self._cv = threading.Condition()
        if stdout_pipe:
            threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()

    def wait_stdout(self, pattern, timeout=20):
        rx = re.compile(pattern)
        deadline = time.time() + timeout * SLOW
        with self._cv:
            i = 0
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or self.p.poll() is not None and i >= len(self.lines):
                    raise AssertionError("%s: no stdout line matching %r (log %s:\n%s)" % (
                        self.argv[0], pattern, self.logpath, self.log()[-3000:]))
                self._cv.wait(min(left, 0.5))

    def log(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def kill_with(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        return self.p.returncode


class CamSim(Proc):
    """camsim on a port of its choosing (0) unless given one; it prints the port."""

    def __init__(self, env, mounts, port=0, extra=()):
        argv = [CAMSIM, "--port", str(port)]
        for m in mounts:
            argv += ["--mount", m]
        argv += list(extra)
        super().__init__(argv, env.path("camsim-%d.log" % len(env.procs)), stdin=True,
                         stdout_pipe=True)
        self.port = int(self.wait_stdout(r"^READY port=(\d+)", timeout=30).group(1))

    def url(self, name, user=None, password=None):
        cred = "%s:%s@" % (user, password) if user else ""
        return "rtsp://%s127.0.0.1:%d/%s" % (cred, self.port, name)

    def send(self, cmd, timeout=10):
        n = len(self.lines)
        self.p.stdin.write((cmd + "\n").encode())
        self.p.stdin.flush()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._cv:
                for line in self.lines[n:]:
                    if line.startswith("OK") or line.startswith("ERR"):
                        if line.startswith("ERR"):
                            raise AssertionError("camsim %r: %s" % (cmd, line))
                        return line
                self._cv.wait(0.2)
        raise AssertionError("camsim: no reply to %r" % cmd)


class FfmpegRtsp:
    """FFmpeg's own RTSP output. FFmpeg's RTSP muxer only publishes (ANNOUNCE/RECORD;
    it has no listen mode), so `ffmpeg -re -stream_loop -1 -i FILE -c copy -f rtsp URL`
    publishes into rtsp_relay.py, which serves FFmpeg's packets unchanged to vigild.
    stop_publisher() drops the 'camera' (players are disconnected, DESCRIBE gets 404);
    start_publisher() brings it back. freeze_timestamps: every RTP packet carries its
    stream's first timestamp (a camera whose clock stands still)."""

    def __init__(self, env, media, name="live", port=0, freeze_timestamps=False):
        self.env, self.media, self.name = env, media, name
        self.relay = Proc([sys.executable, os.path.join(os.path.dirname(__file__),
                                                        "rtsp_relay.py"),
                           "--port", str(port)] +
                          (["--freeze-timestamps"] if freeze_timestamps else []),
                          env.path("relay-%d.log" % len(env.procs)), stdout_pipe=True)
        env.procs.append(self.relay)
        self.port = int(self.relay.wait_stdout(r"^READY port=(\d+)", 10).group(1))
        self.pub = None
        self.start_publisher()

    def start_publisher(self):
        argv = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i",
                self.media, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", self.url()]
        self.pub = Proc(argv, self.env.path("ffmpeg-pub-%d.log" % self.port))
        self.env.procs.append(self.pub)
        wait_for(lambda: self.published(), 10, what="ffmpeg publishing to the relay")

    def published(self):
        r = subprocess.run(["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", "-timeout",
                            "2000000", "-show_entries", "stream=codec_name", "-of", "csv",
                            self.url()], capture_output=True, timeout=20)
        return r.returncode == 0

    def stop_publisher(self):
        if self.pub:
            self.pub.stop(signal.SIGKILL)
            self.pub = None

    def url(self):
        return "rtsp://127.0.0.1:%d/%s" % (self.port, self.name)

    def alive(self):
        return self.pub is not None and self.pub.alive()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def make_media(path, codec="h264", bframes=0, audio=None, seconds=10, size="640x360",
               fps=25, gop=50):
    """Encodes a test clip with FFmpeg (testsrc + optional sine)."""
    if os.path.exists(path):
        return path
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
            "testsrc=size=%s:rate=%d" % (size, fps)]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=%d" %
                 (8000 if audio in ("pcm_mulaw", "pcm_alaw") else 48000)]
    if codec == "h264":
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-bf", str(bframes)]
        if bframes:
            argv += ["-x264-params", "b-pyramid=none"]
    else:
        argv += ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                 "bframes=%d:log-level=error" % bframes, "-tag:v", "hvc1"]
    argv += ["-g", str(gop), "-pix_fmt", "yuv420p"]
    if audio == "aac":
        argv += ["-c:a", "aac", "-ac", "1"]
    elif audio:
        argv += ["-c:a", audio, "-ac", "1", "-ar", "8000"]
    argv += ["-t", str(seconds), "-f", "matroska" if audio and audio != "aac" else "mp4", path]
    subprocess.run(argv, check=True)
    return path


FLEETSIM = os.path.join(BUILD, "tools", "fleetsim", "fleetsim")


class FleetSim(Proc):
    """tools/fleetsim serving cameras cam1..camN from one file, on a port of its own."""
    def __init__(self, env, media, cameras):
        self.stats = env.path("fleetsim-stats.json")
        super().__init__([FLEETSIM, "--input", media, "--cameras", str(cameras), "--port", "0",
                          "--stats", self.stats], env.path("fleetsim.log"), stdout_pipe=True)
        env.procs.append(self)
        self.port = int(self.wait_stdout(r"^READY port=(\d+) ", 30).group(1))

    def url(self, i):
        return "rtsp://127.0.0.1:%d/cam%d" % (self.port, i)

    def read_stats(self):
        with open(self.stats) as f:
            return {o["camera"]: o for o in map(json.loads, filter(str.strip, f))
                    if "camera" in o}


class Daemon(Proc):
    def __init__(self, env, cfg, args=()):
        self.env, self.cfg = env, cfg
        self._http_port = None
        argv = [VIGILD, "--config", cfg] + list(args)
        aenv = dict(os.environ)
        aenv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        aenv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        super().__init__(argv, env.path("vigild-%d.log" % len(env.procs)), env=aenv)

    def wait_log(self, pattern, timeout=20):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, what="vigild log %r" % pattern)

    @property
    def http_port(self):
        """The port vigild's HTTP listener bound (the configs listen on port 0),
        as it logs it once listening."""
        if self._http_port is None:
            m = self.wait_log(r"serve: listening on \S+ \(port (\d+)\)")
            self._http_port = int(m.group(1))
        return self._http_port

    def stop(self, sig=signal.SIGTERM, timeout=15, expect=0):
        t0 = time.time()
        rc = super().stop(sig, timeout)
        self.stop_seconds = time.time() - t0
        if expect is not None:
            assert rc == expect, "vigild exit %r (expected %r); log:\n%s" % (
                rc, expect, self.log()[-4000:])
        return rc

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def http(self, path, headers=None, method="GET", body=None):
        """Returns (status, headers dict lowercased, body bytes)."""
        return http_request(self.url(path), headers=headers, method=method, body=body)


def http_request(url, headers=None, method="GET", body=None, timeout=30):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if isinstance(body, (dict, list)):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class Env:
    def __init__(self, name="vigil"):
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=os.environ.get("VIGIL_TMP"))
        self.procs = []
        atexit.register(self._kill_all)

    def _kill_all(self):
        for p in self.procs:
            if p.alive():
                p.p.kill()

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def camsim(self, mounts, **kw):
        c = CamSim(self, mounts, **kw)
        self.procs.append(c)
        return c

    def ffmpeg_rtsp(self, media, **kw):
        return FfmpegRtsp(self, media, **kw)

    def media(self, name, **kw):
        """A test clip, cached across tests of one build tree (encoding costs CPU)."""
        cache = os.path.join(BUILD, "test-media")
        os.makedirs(cache, exist_ok=True)
        return make_media(os.path.join(cache, name), **kw)

    @staticmethod
    def camera(cid, url, **kw):
        c = {"id": cid, "url": url}
        c.update(kw)
        return c

    def config(self, cameras, segment_seconds=10, pools=None, extra="", name="vigil.yaml",
               listen=None):
        pools = pools or [{"id": "main", "path": self.path("pool0")}]
        lines = ['listen: "%s"' % (listen or "127.0.0.1:0"),
                 'index: "%s"' % self.path("index.db"),
                 "segment_seconds: %d" % segment_seconds,
                 "storage:", "  pools:"]
        for p in pools:
            lines.append("    - " + json.dumps(p))
        if cameras:
            lines.append("cameras:")
            for c in cameras:
                lines.append("  - " + json.dumps(c, ensure_ascii=False))
        else:
            lines.append("cameras: []")
        path = self.path(name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        return path

    def vigild(self, cfg, args=(), wait=True):
        """Starts vigild; with wait, returns once its index exists (or fails if it exits)."""
        d = Daemon(self, cfg, args)
        self.procs.append(d)
        if wait:
            def ready():
                if not d.alive():
                    return True
                return subprocess.run([VIGILCTL, "--config", cfg, "events", "--start", "0",
                                       "--end", "1"], capture_output=True).returncode == 0
            wait_for(ready, 20, what="vigild's index to be readable")
            assert d.alive(), "vigild exited %r:\n%s" % (d.p.returncode, d.log()[-3000:])
        return d

    def vigilctl(self, cfg, *args, check=True):
        r = subprocess.run([VIGILCTL, "--config", cfg] + list(args), capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("vigilctl %s: exit %d\n%s" % (args, r.returncode, r.stderr))
        return r

    def segments(self, cfg, camera, *args):
        r = self.vigilctl(cfg, "segments", camera, *args)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def events(self, cfg, *args):
        r = self.vigilctl(cfg, "events", *args)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def wait_online(self, cfg, cameras, timeout=30, since=None):
        """Waits until each camera has an `online` event (each gets `timeout` s);
        with since (Unix time), one at or after it: after a restart the index
        still holds the previous run's."""
        def fresh(e):
            if since is None:
                return True
            t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            return t.timestamp() >= since - 0.5
        for cid in cameras:
            wait_for(lambda: any(e["type"] == "online" and fresh(e)
                                 for e in self.events(cfg, "--camera", cid)),
                     timeout, what="%s online" % cid)

    def close(self, keep_on_failure=False):
        for p in reversed(self.procs):
            if p.alive():
                p.p.kill()
                p.p.wait()
        if keep_on_failure or os.environ.get("VIGIL_KEEP"):
            log("test files kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- media checks ----

def ffprobe(path, *extra):
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_format",
                        "-show_streams"] + list(extra) + [path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "ffprobe %s: %s" % (path, r.stderr)
    return json.loads(r.stdout)


def decode_errors(path):
    """What `ffmpeg -v error -i FILE -f null -` prints (must be nothing)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    return (r.stderr + ("" if r.returncode == 0 else "exit %d" % r.returncode)).strip()


def first_frame_is_key(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals",
                        "%+#1", "-show_frames", "-show_entries", "frame=key_frame,pict_type",
                        "-of", "json", path], capture_output=True, text=True, timeout=60)
    frames = json.loads(r.stdout).get("frames", [])
    return bool(frames) and frames[0].get("key_frame") == 1


def packet_times(path, stream="v:0"):
    """(pts, dts) lists in seconds, in file order."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                        "packet=pts_time,dts_time", "-of", "json", path],
                       capture_output=True, text=True, timeout=60)
    pk = json.loads(r.stdout).get("packets", [])
    return ([float(p["pts_time"]) for p in pk if "pts_time" in p],
            [float(p["dts_time"]) for p in pk if "dts_time" in p])


def ed25519_fingerprint(pk_b64):
    """SHA-256 of an Ed25519 public key's DER (SubjectPublicKeyInfo): the
    fingerprint an export bundle's VERIFY.txt prints."""
    import base64
    import hashlib
    der = bytes.fromhex("302a300506032b6570032100") + base64.b64decode(pk_b64)
    return hashlib.sha256(der).hexdigest()


def verify_steps(d):
    """The steps of d/VERIFY.txt (its `$ ` lines) and a function that runs them
    exactly as written, in d, returning [(command, exit code, output)]."""
    with open(os.path.join(d, "VERIFY.txt")) as f:
        note = f.read()
    steps = [l[2:] for l in note.splitlines() if l.startswith("$ ")]

    def run():
        out = []
        for cmd in steps:
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=d,
                               capture_output=True, text=True)
            out.append((cmd, r.returncode, r.stdout + r.stderr))
        return out
    return note, steps, run


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rfc3339_to_unix(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def segment_relpath(camera, start_us):
    """A segment file's path relative to its pool, from its camera and start
    (UTC): the layout vigild names files with (vg_segment_relpath(),
    common/layout.c)."""
    sec, us = divmod(start_us, 1000000)
    t = time.gmtime(sec)
    return "%s/%04d/%02d/%02d/%02d/%04d%02d%02dT%02d%02d%02d.%06dZ.mp4" % (
        camera, t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_year, t.tm_mon, t.tm_mday,
        t.tm_hour, t.tm_min, t.tm_sec, us)


def segment_rows(db, where="1", params=()):
    """[(id, relative path)] of the segment rows WHERE where of db (an open
    sqlite3 connection to an index), the path as vigild reads it: a row stores
    '' when its file is at the layout's path (segment_relpath())."""
    return [(i, p or segment_relpath(c, s)) for i, c, s, p in db.execute(
        "SELECT id, camera, start_us, path FROM segments WHERE " + where, params)]
