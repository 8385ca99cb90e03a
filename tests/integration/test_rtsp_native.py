#!/usr/bin/env python3
"""Interop of the native RTSP client (ingest/rtsp, through rtsp_probe) with
GStreamer's rtsp-server (rtsp_native/gst_server.py), FFmpeg's RTP packetizers
behind a small RTSP front (rtsp_native/ff_server.py) and, when built, camsim.

For every codec (H.264, H.265, AAC, G.711 u-law and A-law), over interleaved
TCP and over UDP, with no auth, Basic and Digest: the session must play, the
video must have keyframes, and the dumped H.264/H.265 elementary streams and
audio must decode with ffmpeg without an error. Wrong or missing credentials
must end as auth_failed, a missing path as not_found, a closed port as
unreachable, a 302 must be followed, and a camera that stops sending must end
as stalled.
"""
import ctypes
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("VIGIL_SRC", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get("VIGIL_BUILD", os.path.join(SRC, "build"))
PROBE = os.path.join(BUILD, "ingest", "rtsp", "rtsp_probe")
CAMSIM = os.path.join(BUILD, "tools", "camsim", "camsim")
HERE = os.path.join(SRC, "tests", "integration", "rtsp_native")
SYS_PY = "/usr/bin/python3"  # python3-gi lives with the system interpreter

failures = []
procs = []
tmp = tempfile.mkdtemp(prefix="rtsp_native")


def closed_port():
    """(socket, port): bound, never listening, so connections are refused and no
    other process can take the port while the socket is kept."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def start(cmd, timeout=60):
    """Starts a server told to listen on port 0; returns the port it printed."""
    # the servers die with this test even when it is killed (PR_SET_PDEATHSIG)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=lambda: ctypes.CDLL("libc.so.6").prctl(1, 9))
    procs.append(p)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("READY port="):
            return int(line.split("=", 1)[1].split()[0])
    raise RuntimeError("server did not start: %s" % cmd)


def probe(url, udp=False, seconds=3, out=None, user=None, password=None):
    # generous setup timeout: servers start encoders on DESCRIBE, CI machines are busy
    cmd = [PROBE, url, "--seconds", str(seconds), "--timeout", "30000"]
    if udp:
        cmd.append("--udp")
    if out:
        cmd += ["--out", out]
    if user is not None:
        cmd += ["--user", user, "--pass", password]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        j = {"error": "no-json", "detail": r.stderr[-500:], "tracks": []}
    j["rc"] = r.returncode
    j["stderr"] = r.stderr
    return j


def decodes(path, codec):
    fmt = {"pcm_mulaw": ["-f", "mulaw", "-ar", "8000", "-ac", "1"],
           "pcm_alaw": ["-f", "alaw", "-ar", "8000", "-ac", "1"]}.get(codec, [])
    r = subprocess.run(["ffmpeg", "-v", "error"] + fmt + ["-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and not r.stderr.strip(), r.stderr[-300:]


EXT = {"h264": "h264", "hevc": "hevc", "aac": "aac", "pcm_mulaw": "ulaw", "pcm_alaw": "alaw"}


def check(name, cond, detail=""):
    print("%s %s %s" % ("ok  " if cond else "FAIL", name, detail if not cond else ""),
          flush=True)
    if not cond:
        failures.append(name)


def expect_play(name, url, codecs, udp=False, user=None, password=None, audio_optional=False,
                seconds=3):
    out = os.path.join(tmp, name.replace("/", "_"))
    j = probe(url, udp=udp, out=out, user=user, password=password, seconds=seconds)
    got = [t["codec"] for t in j["tracks"]]
    ok = j["rc"] == 0 and j["error"] == "" and got == codecs
    check(name + " plays", ok, json.dumps({k: j[k] for k in j if k != "stderr"}) + j["stderr"][-300:])
    if not ok:
        return
    for i, t in enumerate(j["tracks"]):
        video = t["codec"] in ("h264", "hevc")
        if not video and audio_optional and t["frames"] == 0:
            print("note %s track %d (%s): no audio frames (the server sent none)" % (name, i, t["codec"]))
            continue
        check("%s track %d (%s) frames" % (name, i, t["codec"]),
              t["frames"] >= (5 if video else 2) and (not video or t["keyframes"] >= 1),
              json.dumps(t))
        good, err = decodes("%s.%d.%s" % (out, i, EXT[t["codec"]]), t["codec"])
        check("%s track %d (%s) decodes" % (name, i, t["codec"]), good, err)


def expect_error(name, url, error, udp=False, user=None, password=None, seconds=3):
    j = probe(url, udp=udp, user=user, password=password, seconds=seconds)
    check(name + " -> " + error, j["error"] == error and j["rc"] == 1,
          "%s: %s" % (j["error"], j.get("detail")))


def suite(label, port_none, port_basic, port_digest, mounts):
    base = "rtsp://127.0.0.1:%d/" % port_none
    for mount, codecs in mounts:
        for udp in (False, True):
            expect_play("%s/%s/%s" % (label, mount, "udp" if udp else "tcp"), base + mount, codecs,
                        udp=udp)
    m0, c0 = mounts[0]
    m1, c1 = mounts[1]
    for auth, port in (("basic", port_basic), ("digest", port_digest)):
        expect_play("%s/%s/%s/tcp" % (label, auth, m0),
                    "rtsp://admin:secret@127.0.0.1:%d/%s" % (port, m0), c0)
        expect_play("%s/%s/%s/udp" % (label, auth, m1), "rtsp://127.0.0.1:%d/%s" % (port, m1), c1,
                    udp=True, user="admin", password="secret")
        expect_error("%s/%s/wrong-password" % (label, auth),
                     "rtsp://admin:nope@127.0.0.1:%d/%s" % (port, m0), "auth_failed")
        expect_error("%s/%s/no-credentials" % (label, auth),
                     "rtsp://127.0.0.1:%d/%s" % (port, m0), "auth_failed")
    expect_error(label + "/missing-path", base + "no-such-mount", "not_found")


def main():
    if not os.path.exists(PROBE):
        print("FAIL rtsp_probe not built at " + PROBE)
        return 1
    have_gst = subprocess.run([SYS_PY, "-c", "import gi; gi.require_version('GstRtspServer', "
                               "'1.0'); from gi.repository import GstRtspServer"],
                              capture_output=True).returncode == 0
    try:
        held, port = closed_port()
        expect_error("closed-port", "rtsp://127.0.0.1:%d/x" % port, "unreachable")
        held.close()

        # FFmpeg's packetizers (H.264 / H.265 FU, AAC-hbr, G.711) behind ff_server.py
        ports = [start([sys.executable, os.path.join(HERE, "ff_server.py"), "0", "--auth", auth])
                 for auth in ("none", "basic", "digest")]
        suite("ffmpeg", ports[0], ports[1], ports[2],
              [("h264aac", ["h264", "aac"]), ("h265pcma", ["hevc", "pcm_alaw"]),
               ("h265aac", ["hevc", "aac"]), ("h264pcmu", ["h264", "pcm_mulaw"])])
        expect_play("ffmpeg/redirect", "rtsp://127.0.0.1:%d/redirect" % ports[0], ["h264", "aac"])
        # the server drops a session that sends nothing for 5 s (timeout=4)
        expect_play("ffmpeg/keep-alive/tcp", "rtsp://127.0.0.1:%d/h264aac" % ports[0],
                    ["h264", "aac"], seconds=9)
        expect_play("ffmpeg/keep-alive/digest/udp", "rtsp://127.0.0.1:%d/h264pcmu" % ports[2],
                    ["h264", "pcm_mulaw"], udp=True, user="admin", password="secret", seconds=9)

        if have_gst:
            ports = [start([SYS_PY, os.path.join(HERE, "gst_server.py"), "0", "--auth", auth])
                     for auth in ("none", "basic", "digest")]
            suite("gstreamer", ports[0], ports[1], ports[2],
                  [("h264aac", ["h264", "aac"]), ("h265aac", ["hevc", "aac"]),
                   ("h264pcmu", ["h264", "pcm_mulaw"]), ("h264pcma", ["h264", "pcm_alaw"])])
        else:
            # python3-gi and the typelib are declared in install-deps.sh: a
            # machine without them is broken, not a reason to test less.
            print("FAIL gstreamer: python3-gi with GstRtspServer not available to " + SYS_PY)
            failures.append("gstreamer: no python3-gi/GstRtspServer")

        if os.path.exists(CAMSIM):
            port = start([CAMSIM, "--port", "0",
                   "--mount", "bf:codec=h264,bframes=2,audio=aac",
                   "--mount", "h5:codec=h265,audio=pcmu,auth=digest,user=cam,password=pw-h5",
                   "--mount", "st:codec=h264,audio=none,stall_after=1"])
            b = "rtsp://127.0.0.1:%d/" % port
            expect_play("camsim/bframes/tcp", b + "bf", ["h264", "aac"], audio_optional=True)
            expect_play("camsim/h265-digest/udp", "rtsp://cam:pw-h5@127.0.0.1:%d/h5" % port,
                        ["hevc", "pcm_mulaw"], udp=True, audio_optional=True)
            expect_error("camsim/stall", b + "st", "stalled", seconds=10)
        else:
            print("FAIL camsim: not built at " + CAMSIM)
            failures.append("camsim: not built")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
