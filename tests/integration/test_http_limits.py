"""
Hostile HTTP clients against a real daemon with authentication on: a request
body past the 64 KiB cap is refused with 413 before the daemon reads it (an
anonymous 1 MiB upload, announced by Content-Length or sent chunked), a body
under the cap still reaches authentication (401), and an "Upgrade: h2c"
request is answered over HTTP/1.1 (no HTTP/2 upgrade surface).
"""
import hashlib
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env  # noqa: E402

MIB = 1 << 20


def exchange(port, head, body=b"", chunked=False):
    """Sends head and body on a raw socket (tolerating the server closing it
    early, as it may once it has refused) and returns the status code."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head)
        try:
            if chunked:
                for i in range(0, len(body), 16384):
                    part = body[i:i + 16384]
                    s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                s.sendall(b"0\r\n\r\n")
            else:
                s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        while b"\r\n" not in data:
            try:
                got = s.recv(4096)
            except ConnectionResetError:
                break
            if not got:
                break
            data += got
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        vigiltest.log("%s -> %s" % (head.split(b"\r\n", 1)[0].decode(), line))
        return int(line.split()[1]) if line.startswith("HTTP/") else None
    finally:
        s.close()


class Limits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("http-limits")
        auth = ('auth:\n  tokens:\n    - {name: ops, role: admin, token_sha256: "%s"}\n'
                % hashlib.sha256(b"tok-admin-limits").hexdigest())
        cls.cfg = env.config([], extra=auth)
        cls.d = env.vigild(cls.cfg)
        cls.port = cls.d.http_port

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close()

    def post(self, n, chunked=False):
        head = b"POST /api/locks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % n
        return exchange(self.port, head, b"x" * n, chunked)

    def test_body_over_cap_413(self):
        self.assertEqual(self.post(MIB), 413)
        self.assertEqual(self.post(64 * 1024 + 1), 413)
        self.assertEqual(self.post(MIB, chunked=True), 413)
        self.assertTrue(self.d.alive())

    def test_body_under_cap_reaches_auth(self):
        self.assertEqual(self.post(1000), 401)

    def test_no_h2c_upgrade(self):
        st = exchange(self.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                      b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        self.assertEqual(st, 200)


if __name__ == "__main__":
    vigiltest.main()
