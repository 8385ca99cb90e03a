#!/usr/bin/env python3
"""A minimal RTSP server whose media come from FFmpeg's RTP packetizers.

FFmpeg has no RTSP server of its own (its RTSP muxer only publishes), so for
the native client's interop tests this script plays the server part: each
DESCRIBE starts `ffmpeg -re ... -f rtp` for the mount, serves the SDP FFmpeg
wrote (with control URLs added), and after PLAY relays FFmpeg's RTP and RTCP
packets unchanged to the client, interleaved on the RTSP connection or over
UDP. Auth: none, Basic, or Digest with qop=auth. The session timeout is 4 s
and a session without a request for 5 s is dropped, so keep-alive is tested.

Usage: ff_server.py PORT [--auth none|basic|digest] [--user U] [--pass P]
Mounts: /h264aac /h265aac /h264pcmu /h265pcma, and /redirect (302 to /h264aac).
Prints "READY port=P".
"""
import argparse
import base64
import hashlib
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

VIDEO = {"h264": ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15"],
         "h265": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                  "keyint=15:log-level=none"]}
AUDIO = {"aac": (["-c:a", "aac"], 16000), "pcmu": (["-c:a", "pcm_mulaw"], 8000),
         "pcma": (["-c:a", "pcm_alaw"], 8000)}
MOUNTS = {"h264aac": ("h264", "aac"), "h265aac": ("h265", "aac"),
          "h264pcmu": ("h264", "pcmu"), "h265pcma": ("h265", "pcma")}

ARGS = None
SESSION_TIMEOUT = 4  # short, so the tests see the client's keep-alive at work


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class Media:
    """One ffmpeg process and the UDP sockets that receive its RTP/RTCP."""

    def __init__(self, mount):
        v, a = MOUNTS[mount]
        self.socks = []  # [(rtp, rtcp)] per track
        ports = []
        for _ in range(2):
            pair = []
            for _k in range(2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                pair.append(s)
            self.socks.append(pair)
            ports.append((pair[0].getsockname()[1], pair[1].getsockname()[1]))
        self.dir = tempfile.mkdtemp(prefix="ffsrv")
        sdp = os.path.join(self.dir, "s.sdp")
        ac, rate = AUDIO[a]
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
               "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
               "-f", "lavfi", "-i", "sine=sample_rate=%d" % rate, "-t", "60",
               "-map", "0:v"] + VIDEO[v] + ["-flags", "+global_header", "-f", "rtp",
               "rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200" % ports[0],
               "-map", "1:a"] + ac + ["-ac", "1", "-f", "rtp",
               "rtp://127.0.0.1:%d?rtcpport=%d" % ports[1], "-sdp_file", sdp]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline and not (os.path.exists(sdp) and os.path.getsize(sdp) > 0):
            time.sleep(0.05)
        time.sleep(0.1)
        text = open(sdp).read().replace("\r\n", "\n")
        out, track = [], -1
        for line in text.split("\n"):
            if not line:
                continue
            if line.startswith("m="):
                if track < 0:
                    out.append("a=control:*")
                track += 1
                f = line.split(" ")
                f[1] = "0"
                line = " ".join(f)
                out.append(line)
                out.append("a=control:trackID=%d" % track)
                continue
            if line.startswith("c="):
                line = "c=IN IP4 0.0.0.0"
            out.append(line)
        self.sdp = "\r\n".join(out) + "\r\n"

    def close(self):
        self.proc.kill()
        self.proc.wait()
        for pair in self.socks:
            for s in pair:
                s.close()


class Conn(threading.Thread):
    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.media = None
        self.transport = {}  # track -> ("tcp", ch) | ("udp", (host, port), (host, port+1), sock)
        self.playing = False
        self.nonce = os.urandom(8).hex()
        self.lock = threading.Lock()
        self.last_request = time.time()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def reply(self, cseq, status, headers=(), body=b""):
        h = "RTSP/1.0 %s\r\nCSeq: %s\r\n" % (status, cseq)
        for k, v in headers:
            h += "%s: %s\r\n" % (k, v)
        if body:
            h += "Content-Length: %d\r\n" % len(body)
        self.send((h + "\r\n").encode() + body)

    def authorized(self, method, hdrs):
        if ARGS.auth == "none":
            return True
        a = hdrs.get("authorization", "")
        if ARGS.auth == "basic":
            want = base64.b64encode(("%s:%s" % (ARGS.user, ARGS.password)).encode()).decode()
            return a == "Basic " + want
        if not a.startswith("Digest "):
            return False
        p = {}
        for part in a[7:].split(","):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                p[k] = v.strip('"')
        ha1 = md5("%s:vigil:%s" % (ARGS.user, ARGS.password))
        ha2 = md5("%s:%s" % (method, p.get("uri", "")))
        want = md5("%s:%s:%s:%s:auth:%s" % (ha1, self.nonce, p.get("nc", ""),
                                            p.get("cnonce", ""), ha2))
        return p.get("username") == ARGS.user and p.get("nonce") == self.nonce and \
            p.get("qop") == "auth" and p.get("response") == want

    def challenge(self):
        if ARGS.auth == "basic":
            return 'Basic realm="vigil"'
        return 'Digest realm="vigil", nonce="%s", qop="auth", algorithm=MD5' % self.nonce

    def relay(self):
        socks = {}
        for i, pair in enumerate(self.media.socks):
            socks[pair[0]] = (i, 0)
            socks[pair[1]] = (i, 1)
        while self.media and self.playing:
            if time.time() - self.last_request > SESSION_TIMEOUT + 1:
                # no keep-alive: the session expires, as on a camera
                self.playing = False
                self.sock.shutdown(socket.SHUT_RDWR)
                return
            r, _, _ = select.select(list(socks), [], [], 0.2)
            for s in r:
                try:
                    pkt = s.recv(65536)
                except OSError:
                    return
                i, rtcp = socks[s]
                t = self.transport.get(i)
                if not t:
                    continue
                try:
                    if t[0] == "tcp":
                        ch = t[1] + rtcp
                        self.send(b"$" + bytes([ch]) + len(pkt).to_bytes(2, "big") + pkt)
                    else:
                        t[3].sendto(pkt, t[1 + rtcp])
                except OSError:
                    self.playing = False
                    return

    def run(self):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = self.sock.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode(errors="replace").split("\r\n")
                method, url, _ = lines[0].split(" ", 2)
                hdrs = {}
                for l in lines[1:]:
                    if ":" in l:
                        k, v = l.split(":", 1)
                        hdrs[k.strip().lower()] = v.strip()
                self.last_request = time.time()
                self.handle(method, url, hdrs)
        except (OSError, ValueError):
            pass
        finally:
            self.playing = False
            if self.media:
                self.media.close()
                self.media = None
            self.sock.close()

    def handle(self, method, url, hdrs):
        cseq = hdrs.get("cseq", "0")
        if method == "OPTIONS":
            self.reply(cseq, "200 OK", [("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, "
                                                   "GET_PARAMETER")])
            return
        if not self.authorized(method, hdrs):
            self.reply(cseq, "401 Unauthorized", [("WWW-Authenticate", self.challenge())])
            return
        path = url.split("://", 1)[-1].split("/", 1)[-1] if "/" in url.split("://", 1)[-1] else ""
        if method == "DESCRIBE":
            mount = path.strip("/")
            if mount == "redirect":
                host = url.split("://", 1)[1].split("/", 1)[0]
                self.reply(cseq, "302 Moved Temporarily",
                           [("Location", "rtsp://%s/h264aac" % host)])
                return
            if mount not in MOUNTS:
                self.reply(cseq, "404 Not Found")
                return
            if self.media:
                self.media.close()
            self.media = Media(mount)
            self.reply(cseq, "200 OK", [("Content-Type", "application/sdp"),
                                        ("Content-Base", url.rstrip("/") + "/")],
                       self.media.sdp.encode())
        elif method == "SETUP":
            track = int(path.rsplit("trackID=", 1)[-1]) if "trackID=" in path else 0
            tr = hdrs.get("transport", "")
            if "interleaved=" in tr:
                ch = int(tr.split("interleaved=")[1].split("-")[0].split(";")[0])
                self.transport[track] = ("tcp", ch)
                rt = "RTP/AVP/TCP;unicast;interleaved=%d-%d" % (ch, ch + 1)
            else:
                cp = int(tr.split("client_port=")[1].split("-")[0].split(";")[0])
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                sp = s.getsockname()[1]
                self.transport[track] = ("udp", ("127.0.0.1", cp), ("127.0.0.1", cp + 1), s)
                rt = "RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d" % (cp, cp + 1, sp, sp)
            self.reply(cseq, "200 OK", [("Transport", rt), ("Session", "4242;timeout=%d" % SESSION_TIMEOUT)])
        elif method == "PLAY":
            self.playing = True
            threading.Thread(target=self.relay, daemon=True).start()
            self.reply(cseq, "200 OK", [("Session", "4242"), ("Range", "npt=0.000-")])
        elif method == "GET_PARAMETER":
            self.reply(cseq, "200 OK", [("Session", "4242")])
        elif method == "TEARDOWN":
            self.playing = False
            self.reply(cseq, "200 OK")
        else:
            self.reply(cseq, "501 Not Implemented")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--pass", dest="password", default="secret")
    ARGS = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", ARGS.port))
    ls.listen(16)
    # PORT 0: the kernel picks it; the test reads it from here
    print("READY port=%d" % ls.getsockname()[1], flush=True)
    while True:
        s, _ = ls.accept()
        Conn(s).start()


if __name__ == "__main__":
    sys.exit(main())
