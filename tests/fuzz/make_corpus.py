#!/usr/bin/env python3
"""Regenerates the RTP fuzz seeds in corpus/rtp_*: real packets from FFmpeg's
RTP packetizers (H.264 FU-A, H.265 FU, AAC) plus hand-built aggregates.
Seed format (fuzz_rtp_common.h): flags byte, then [u16 len][RTP packet]...
Also whole server sessions for fuzz_rtsp_client in corpus/rtsp_client.
Also fuzz_segmenter's seeds in corpus/segmenter, and hand-built seeds for the
UDP reorder window (corpus/rtp_reorder), redirect Locations
(corpus/rtsp_location) and the token parser (corpus/http_auth).
Run from tests/fuzz: python3 make_corpus.py [client|segmenter|protocol]"""
import os, socket, struct, subprocess, sys


def capture(args, n=40):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    port = s.getsockname()[1]
    p = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error"] + args +
                         ["-f", "rtp", "rtp://127.0.0.1:%d?pkt_size=300" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pkts = []
    try:
        while len(pkts) < n:
            pkts.append(s.recv(2048))
    except socket.timeout:
        pass
    p.kill()
    p.wait()
    return pkts


def seed(path, flags, pkts):
    with open(path, "wb") as f:
        f.write(bytes([flags]))
        for p in pkts:
            f.write(struct.pack(">H", len(p)) + p)


def rtp(seq, ts, marker, payload, pt=96):
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 0x1234) + payload


def main():
    vid = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-frames:v", "6"]
    for name, codec in (("rtp_h264", ["-c:v", "libx264", "-bsf:v", "dump_extra"]),
                        ("rtp_h265", ["-c:v", "libx265", "-x265-params", "log-level=none",
                                      "-bsf:v", "dump_extra"])):
        os.makedirs("corpus/" + name, exist_ok=True)
        pkts = capture(vid + codec)
        h = len(pkts) // 2
        seed("corpus/%s/ffmpeg_a" % name, 0, pkts[:h])
        seed("corpus/%s/ffmpeg_b" % name, 4 | 1, pkts[h:])
    os.makedirs("corpus/rtp_aac", exist_ok=True)
    pkts = capture(["-f", "lavfi", "-i", "sine=sample_rate=16000", "-t", "1", "-c:a", "aac"], 12)
    seed("corpus/rtp_aac/ffmpeg", 0, pkts)
    # two AUs in one packet; one AU in two fragments
    two = struct.pack(">HHH", 32, 3 << 3, 2 << 3) + b"\xa1\xa2\xa3\xb1\xb2"
    f1 = struct.pack(">HH", 16, 6 << 3) + b"\x01\x02\x03"
    f2 = struct.pack(">HH", 16, 6 << 3) + b"\x04\x05\x06"
    seed("corpus/rtp_aac/hand", 0, [rtp(1, 0, 1, two), rtp(2, 2048, 0, f1), rtp(3, 2048, 1, f2)])
    # H.264 STAP-A with SPS+PPS+IDR, FU-A; H.265 AP and FU
    sps, pps, idr = b"\x67\x42\xc0\x15\xda", b"\x68\xce\x3c\x80", b"\x65\x88\x84\x00\x33"
    stap = b"\x18" + b"".join(struct.pack(">H", len(x)) + x for x in (sps, pps, idr))
    fua = [b"\x7c\x85" + b"\x11" * 20, b"\x7c\x05" + b"\x22" * 20, b"\x7c\x45" + b"\x33" * 5]
    seed("corpus/rtp_h264/hand", 0, [rtp(1, 0, 1, stap)] +
         [rtp(2 + i, 3000, i == 2, p) for i, p in enumerate(fua)])
    vps, sps5, pps5 = b"\x40\x01\x0c\x01", b"\x42\x01\x01\x04", b"\x44\x01\xc0\x70"
    ap = b"\x60\x01" + b"".join(struct.pack(">H", len(x)) + x for x in (vps, sps5, pps5))
    fu = [b"\x62\x01\x93" + b"\x11" * 20, b"\x62\x01\x13" + b"\x22" * 20, b"\x62\x01\x53\x33"]
    seed("corpus/rtp_h265/hand", 0, [rtp(1, 0, 0, ap)] +
         [rtp(2 + i, 0, i == 2, p) for i, p in enumerate(fu)])


def client_seeds():
    """Whole sessions as a server would send them (answers without CSeq)."""
    os.makedirs("corpus/rtsp_client", exist_ok=True)
    sdp = open("../unit/ingest/rtsp/data/gst_h264aac.sdp", "rb").read()
    ok = b"RTSP/1.0 200 OK\r\n"
    s = ok + b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER\r\n\r\n"
    s += ok + b"Content-Base: rtsp://127.0.0.1:554/cam/\r\nContent-Length: %d\r\n\r\n" % len(sdp) + sdp
    for ch in (0, 2):
        s += ok + b"Session: 1234;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n\r\n" % (ch, ch + 1)
    s += ok + b"Session: 1234\r\nRTP-Info: url=stream=0;seq=1;rtptime=0\r\n\r\n"
    data = open("corpus/rtp_h264/hand", "rb").read()[1:]
    o = 0
    while o + 2 <= len(data):
        n = struct.unpack(">H", data[o:o + 2])[0]
        s += b"$\x00" + struct.pack(">H", n) + data[o + 2:o + 2 + n]
        o += 2 + n
    aac = open("corpus/rtp_aac/hand", "rb").read()[1:]
    n = struct.unpack(">H", aac[:2])[0]
    s += b"$\x02" + struct.pack(">H", n) + aac[2:2 + n]
    open("corpus/rtsp_client/session_h264aac", "wb").write(s)
    auth = b"RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n\r\n"
    open("corpus/rtsp_client/auth_then_session", "wb").write(auth + s)


def segmenter_seeds():
    """fuzz_segmenter's seeds (format in fuzz_segmenter.c): a sane H.264
    camera, one whose timestamps stand still, audio stamped far ahead."""
    os.makedirs("corpus/segmenter", exist_ok=True)
    sps_pps = b"\0\0\0\1\x67\x42\xc0\x1e\xd9\x01\x40\x7b\x20" + b"\0\0\0\1\x68\xce\x3c\x80"
    idr = sps_pps + b"\0\0\0\1\x65\x88\x84" + bytes(range(256)) * 8
    p = b"\0\0\0\1\x41\x9a\x02" + bytes(range(200))

    def rec(flags, dpts, drecv, rep, data):
        return struct.pack(">BhHBH", flags, dpts, drecv, rep, len(data)) + data

    gop = rec(2, 3600, 400, 0, idr) + rec(0, 3600, 400, 48, p)
    seeds = {
        "sane": b"\0" + gop * 4,
        "stuck": b"\0" + rec(2, 0, 400, 0, idr) + rec(0, 0, 400, 255, p * 60) * 3 + gop,
        "audio_ahead": b"\2" + rec(1, 30000, 10, 0, bytes(100)) + gop +
                       rec(1, 0, 0, 255, bytes(300)) * 9 + gop,
        "g711_runs": b"\x08" + gop + rec(1, 160, 200, 20, bytes(160)) + rec(8, 3600, 400, 0, b"") +
                     gop + rec(16, 0, 0, 0, b"") + gop,
    }
    for name, data in seeds.items():
        with open("corpus/segmenter/" + name, "wb") as f:
            f.write(data)


def reorder_seed(window, delay, ops):
    """fuzz_rtp_reorder's format: window, delay, then ops: ("push", seq, payload),
    ("wait", ms), ("pop",), ("flush",), ("raw", bytes)."""
    out = bytes([window, delay])
    for op in ops:
        if op[0] == "push":
            out += b"\x00" + struct.pack(">HB", op[1], len(op[2])) + op[2]
        elif op[0] == "wait":
            out += b"\x01" + bytes([op[1]])
        elif op[0] == "pop":
            out += b"\x02"
        elif op[0] == "flush":
            out += b"\x06"
        elif op[0] == "raw":
            out += b"\x03" + bytes([len(op[1])]) + op[1]
    return out


def protocol_seeds():
    """Seeds for the reorder window, redirect Locations and tokens (no ffmpeg)."""
    for d in ("rtp_reorder", "rtsp_location", "http_auth"):
        os.makedirs("corpus/" + d, exist_ok=True)
    p = lambda seq, n=20: ("push", seq, bytes([seq & 0xff]) * n)
    seeds = {
        # in order; swapped pairs; a hole given up on after the delay
        "in_order": reorder_seed(16, 25, [p(i) for i in range(10)] + [("pop",)]),
        "swapped": reorder_seed(16, 25, [p(1), p(0), p(3), p(2), ("pop",), p(5), p(4),
                                         ("wait", 10), ("pop",), ("flush",)]),
        "hole": reorder_seed(8, 25, [p(10), p(12), p(13), ("wait", 50), ("pop",),
                                     p(11), ("pop",), ("flush",)]),
        # wrap-around of the 16-bit number, a duplicate, a late one
        "wrap": reorder_seed(32, 25, [p(65533), p(65535), p(65534), p(0), p(0), p(1),
                                      ("pop",), p(65530), ("pop",), ("flush",)]),
        # a full window, then a sender restart (many packets far behind)
        "full_restart": reorder_seed(4, 200, [p(100 + i) for i in (0, 2, 3, 4, 5, 6)] +
                                     [("pop",)] + [p(7 + i) for i in range(8)] +
                                     [("pop",), ("flush",)]),
        "raw": reorder_seed(8, 25, [("raw", b"\x80\x60\x00\x05" + b"\x00" * 8 + b"abc"),
                                    ("raw", b"\x00" * 12), ("raw", b"\x80"), ("pop",)]),
    }
    for name, data in seeds.items():
        open("corpus/rtp_reorder/" + name, "wb").write(data)
    locs = {
        "plain": b"rtsp://10.1.2.3:554/Streaming/Channels/101",
        "userinfo": b"rtsp://admin:p%40ss@cam.example:8554/live?channel=1",
        "ipv6": b"rtsp://[fe80::1%25eth0]:10554/stream1",
        "ipv6_userinfo": b"rtsp://u@[::1]/a/b/",
        "no_port": b"rtsp://camera/",
        "relative": b"/other/path",
        "rtsps": b"rtsps://10.0.0.1:322/x",
        "two_at": b"rtsp://a@b@c:1/",
        "bad_port": b"rtsp://h:65536/",
    }
    for name, data in locs.items():
        open("corpus/rtsp_location/" + name, "wb").write(data)
    # byte 0: need (mod 5) | 8 header present | 16 lower-case scheme; then
    # header value NUL query string
    auths = {
        "bearer_admin": b"\x0b" + b"Bearer s3cret-admin\x00",
        "bearer_tabs": b"\x09" + b"bearer\t\t s3cret-viewer \t\x00",
        "query": b"\x02" + b"\x00start=1&access_token=s3cret-investigator&end=2",
        "query_pct": b"\x01" + b"\x00access_token=s3cret%2Dviewer",
        "integrator": b"\x0c" + b"Bearer s3cret-integrator\x00",
        "wrong": b"\x0b" + b"Bearer s3cret-nope\x00access_token=s3cret-admin",
        "basic": b"\x0a" + b"Basic dXNlcjpwYXNz\x00",
        "path": b"\x00GET\x00/api/cameras/c1/clip.mp4?access_token=x",
    }
    for name, data in auths.items():
        open("corpus/http_auth/" + name, "wb").write(data)


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        sys.exit(client_seeds())  # from the committed seeds, no ffmpeg needed
    if len(sys.argv) > 1 and sys.argv[1] == "segmenter":
        sys.exit(segmenter_seeds())  # hand-built, no ffmpeg needed
    if len(sys.argv) > 1 and sys.argv[1] == "protocol":
        sys.exit(protocol_seeds())  # hand-built, no ffmpeg needed
    main()
    client_seeds()
    segmenter_seeds()
    protocol_seeds()
