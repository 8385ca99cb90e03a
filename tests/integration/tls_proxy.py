#!/usr/bin/env python3
"""
tls_proxy: a TLS front for a plain RTSP server (camsim), as a camera that
speaks rtsps:// is: each connection's TLS is terminated here (Python's ssl,
the certificate and key given) and its bytes go both ways, unchanged, to
the target. Loopback only. Stdlib only.

    python3 tls_proxy.py --cert srv.pem --key srv.key --target 127.0.0.1:8554 \\
                         [--host 127.0.0.1] [--port 0]
Prints "READY port=N" once listening.
"""
import argparse
import socket
import ssl
import sys
import threading


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, ctx, target):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("handshake failed: %s" % e, file=sys.stderr, flush=True)
        conn.close()
        return
    try:
        up = socket.create_connection(target)
    except OSError:
        tls.close()
        return
    threading.Thread(target=pump, args=(up, tls), daemon=True).start()
    pump(tls, up)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--target", required=True, help="HOST:PORT of the plain server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    if not a.host.startswith("127."):
        ap.error("--host must be a loopback address")
    th, _, tp = a.target.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.host, a.port))
    srv.listen(16)
    print("READY port=%d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, ctx, (th, int(tp))), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
