#!/usr/bin/env python3
"""
rtsp_relay: lets tests record FFmpeg's own RTSP output.

FFmpeg's RTSP muxer only publishes (ANNOUNCE + RECORD) — it has no server
mode — so this relay accepts one FFmpeg publisher per path
(`ffmpeg ... -f rtsp -rtsp_transport tcp rtsp://127.0.0.1:P/NAME`) and serves
the publisher's SDP and RTP packets, byte for byte as FFmpeg packetized them,
to any number of players (DESCRIBE/SETUP/PLAY, TCP interleaved or UDP).
When the publisher goes away its players are disconnected, like a camera
that drops. Loopback only. Stdlib only.

With --freeze-timestamps every RTP packet a player gets carries its
stream's first timestamp: a broken (or hostile) camera whose clock never
advances, for the tests of what vigild holds for such a camera.

With --redirect NAME=URL a DESCRIBE of /NAME is answered 302 with that
Location (a camera that sends its clients elsewhere); --host binds another
loopback address (127.0.0.2: "another host" on one machine).

    python3 rtsp_relay.py --port 8554 [--host 127.0.0.1] [--freeze-timestamps]
                          [--redirect NAME=URL]...
"""
import argparse
import re
import socket
import socketserver
import sys
import threading

lock = threading.Lock()
streams = {}  # path -> Stream
freeze = False  # --freeze-timestamps
redirects = {}  # "/NAME" -> Location (--redirect)


class Stream:
    def __init__(self, sdp):
        self.sdp = sdp
        self.players = set()
        self.first_ts = {}  # interleaved channel -> first RTP timestamp (freeze)


def parse_request(rfile):
    line = rfile.readline()
    if not line:
        return None
    while line in (b"\r\n", b"\n"):
        line = rfile.readline()
        if not line:
            return None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line %r" % line)
    headers = {}
    while True:
        h = rfile.readline()
        if not h:
            return None
        h = h.decode("latin-1").strip()
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    n = int(headers.get("content-length", "0"))
    if n:
        body = rfile.read(n)
    return parts[0], parts[1], headers, body


def path_of(url):
    m = re.match(r"rtsp://[^/]+(/[^?]*)", url)
    p = m.group(1) if m else url
    return p


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        self.wlock = threading.Lock()
        self.session = "%08x" % (id(self) & 0xFFFFFFFF)
        self.publish_path = None
        self.play_stream = None
        self.channels = {}  # publisher: interleaved channel -> stream index
        self.out_map = {}   # player: stream index -> ("tcp", ch) | ("udp", addr)
        self.udp = None

    def reply(self, cseq, code=200, reason="OK", headers=None, body=b""):
        lines = ["RTSP/1.0 %d %s" % (code, reason), "CSeq: %s" % cseq,
                 "Server: vigil-test-relay"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        if body:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        with self.wlock:
            self.wfile.write(data)
            self.wfile.flush()

    def send_rtp(self, index, is_rtcp, payload):
        dest = self.out_map.get(index)
        if not dest:
            return
        try:
            if dest[0] == "tcp":
                ch = dest[1] + (1 if is_rtcp else 0)
                with self.wlock:
                    self.wfile.write(b"$" + bytes([ch]) + len(payload).to_bytes(2, "big")
                                     + payload)
                    self.wfile.flush()
            else:
                host, port = dest[1]
                self.udp.sendto(payload, (host, port + (1 if is_rtcp else 0)))
        except OSError:
            pass

    def handle(self):
        try:
            self.loop()
        except (OSError, ValueError):
            pass
        finally:
            with lock:
                if self.publish_path and streams.get(self.publish_path):
                    st = streams.pop(self.publish_path)
                    for p in list(st.players):
                        try:
                            p.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                if self.play_stream:
                    self.play_stream.players.discard(self)
            if self.udp:
                self.udp.close()

    def loop(self):
        while True:
            c = self.rfile.peek(1)[:1]
            if not c:
                return
            if c == b"$":
                hdr = self.rfile.read(4)
                if len(hdr) < 4:
                    return
                ch, n = hdr[1], int.from_bytes(hdr[2:4], "big")
                payload = self.rfile.read(n)
                if self.publish_path and ch in self.channels:
                    index = self.channels[ch]
                    with lock:
                        st = streams.get(self.publish_path)
                        players = list(st.players) if st else []
                    if freeze and st and ch % 2 == 0 and len(payload) >= 12:
                        ts = st.first_ts.setdefault(ch, payload[4:8])
                        payload = payload[:4] + ts + payload[8:]
                    for p in players:
                        p.send_rtp(index, ch % 2 == 1, payload)
                continue
            req = parse_request(self.rfile)
            if req is None:
                return
            self.dispatch(*req)

    def dispatch(self, method, url, h, body):
        cseq = h.get("cseq", "0")
        path = path_of(url)
        if method == "OPTIONS":
            self.reply(cseq, headers={"Public": "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, "
                                      "RECORD, TEARDOWN, GET_PARAMETER"})
        elif method == "ANNOUNCE":
            with lock:
                streams[path] = Stream(body.decode("utf-8", "replace"))
            self.publish_path = path
            self.reply(cseq)
        elif method == "SETUP":
            m = re.search(r"(?:streamid=|trackID=)(\d+)\s*$", path)
            index = int(m.group(1)) if m else 0
            tr = h.get("transport", "")
            if self.publish_path:
                mi = re.search(r"interleaved=(\d+)-(\d+)", tr)
                if not mi:
                    self.reply(cseq, 461, "Unsupported Transport")
                    return
                self.channels[int(mi.group(1))] = index
                self.channels[int(mi.group(2))] = index
                self.reply(cseq, headers={"Transport": tr, "Session": self.session})
                return
            base = re.sub(r"/(?:streamid=|trackID=)\d+$", "", path)
            with lock:
                st = streams.get(base)
            if not st:
                self.reply(cseq, 404, "Not Found")
                return
            self.play_stream = st
            mi = re.search(r"interleaved=(\d+)-(\d+)", tr)
            mc = re.search(r"client_port=(\d+)-(\d+)", tr)
            if mi:
                self.out_map[index] = ("tcp", int(mi.group(1)))
                rt = "RTP/AVP/TCP;unicast;interleaved=%s-%s" % (mi.group(1), mi.group(2))
            elif mc:
                if not self.udp:
                    self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self.udp.bind(("127.0.0.1", 0))
                sp = self.udp.getsockname()[1]
                self.out_map[index] = ("udp", ("127.0.0.1", int(mc.group(1))))
                rt = "RTP/AVP;unicast;client_port=%s-%s;server_port=%d-%d" % (
                    mc.group(1), mc.group(2), sp, sp + 1)
            else:
                self.reply(cseq, 461, "Unsupported Transport")
                return
            self.reply(cseq, headers={"Transport": rt, "Session": self.session + ";timeout=60"})
        elif method == "DESCRIBE" and path in redirects:
            self.reply(cseq, 302, "Moved Temporarily", headers={"Location": redirects[path]})
        elif method == "DESCRIBE":
            with lock:
                st = streams.get(path)
            if not st:
                self.reply(cseq, 404, "Not Found")
                return
            self.reply(cseq, headers={"Content-Type": "application/sdp",
                                      "Content-Base": url.rstrip("/") + "/"},
                       body=st.sdp.encode())
        elif method == "RECORD":
            self.reply(cseq, headers={"Session": self.session})
        elif method == "PLAY":
            self.reply(cseq, headers={"Session": self.session, "Range": "npt=0.000-"})
            with lock:
                if self.play_stream:
                    self.play_stream.players.add(self)
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self.reply(cseq, headers={"Session": self.session})
        elif method == "TEARDOWN":
            self.reply(cseq)
            raise ValueError("teardown")
        else:
            self.reply(cseq, 501, "Not Implemented")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--freeze-timestamps", action="store_true")
    ap.add_argument("--redirect", action="append", default=[], metavar="NAME=URL")
    a = ap.parse_args()
    global freeze
    freeze = a.freeze_timestamps
    for r in a.redirect:
        name, _, url = r.partition("=")
        redirects["/" + name.lstrip("/")] = url
    if not a.host.startswith("127."):
        ap.error("--host must be a loopback address")
    srv = Server((a.host, a.port), Handler)
    # with --port 0 the kernel picks the port; the caller reads it from here
    print("READY port=%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
