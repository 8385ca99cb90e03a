"""
rtsps:// (source: native): the session runs through TLS and the camera's
certificate is checked. camsim (GStreamer rtsp-server) behind tls_proxy.py
is the camera, with a certificate for IP 127.0.0.1 signed by a CA made here
with the openssl CLI.
- tls_ca_file naming that CA: verified, recorded (Basic authentication over
  TLS is not "in the clear": no warning);
- no tls_ca_file (the system's CAs): refused, the reason logged;
- the same certificate at 127.0.0.2: the name does not match, refused;
- tls_verify: false at 127.0.0.2: recorded, and the opt-out logged.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, Proc, decode_errors, wait_for  # noqa: E402


def make_certs(d):
    def run(*argv):
        subprocess.run(["openssl"] + list(argv), check=True, capture_output=True)
    ca, cak = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    srv, srvk = os.path.join(d, "srv.pem"), os.path.join(d, "srv.key")
    csr, ext = os.path.join(d, "srv.csr"), os.path.join(d, "ext.cnf")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cak, "-out", ca,
        "-days", "2", "-subj", "/CN=vigil test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", srvk, "-out", csr,
        "-subj", "/CN=camera")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cak, "-CAcreateserial", "-out", srv,
        "-days", "2", "-extfile", ext)
    return ca, srv, srvk


class Tls(unittest.TestCase):
    def test_rtsps(self):
        env = self.env = Env("tls")
        ca, cert, key = make_certs(env.dir)
        cam = env.camsim(["c:codec=h264,user=u,password=Tls-Pass-9,auth=basic"])
        ports = {}
        for host in ("127.0.0.1", "127.0.0.2"):
            p = Proc([sys.executable, os.path.join(os.path.dirname(__file__), "tls_proxy.py"),
                      "--cert", cert, "--key", key, "--host", host,
                      "--target", "127.0.0.1:%d" % cam.port],
                     env.path("tls-%s.log" % host), stdout_pipe=True)
            env.procs.append(p)
            ports[host] = int(p.wait_stdout(r"^READY port=(\d+)", 10).group(1))

        def url(host):
            return "rtsps://%s:%d/c" % (host, ports[host])
        creds = {"username": "u", "password": "Tls-Pass-9"}
        cams = [
            env.camera("good", url("127.0.0.1"), tls_ca_file=ca, **creds),
            env.camera("nocas", url("127.0.0.1"), **creds),
            env.camera("wrongname", url("127.0.0.2"), tls_ca_file=ca, **creds),
            env.camera("noverify", url("127.0.0.2"), tls_verify=False, **creds),
        ]
        cfg = env.config(cams, segment_seconds=4)
        d = env.vigild(cfg)
        env.wait_online(cfg, ["good", "noverify"])
        for cid in ("nocas", "wrongname"):
            wait_for(lambda: any(e["type"] == "offline" for e in env.events(cfg, "--camera", cid)),
                     20, what="%s offline" % cid)
        log = d.log()
        self.assertIn("camera=good: rtsp: TLSv1.", log)
        self.assertIn("with 127.0.0.1, its certificate verified", log)
        self.assertRegex(log, r"camera=nocas: .*TLS: 127\.0\.0\.1's certificate: "
                              r"(self.signed certificate in certificate chain|unable to get "
                              r"local issuer certificate)")
        self.assertRegex(log, r"camera=wrongname: .*TLS: 127\.0\.0\.2's certificate: "
                              r"IP address mismatch")
        self.assertIn("camera=noverify: native: tls_verify: false", log)
        self.assertIn("its certificate NOT verified (tls_verify: false)", log)
        # Basic inside TLS is not in the clear
        self.assertNotIn("offers only Basic", log)
        self.assertNotIn("Tls-Pass-9", log)
        self.assertEqual(env.segments(cfg, "nocas"), [])
        self.assertEqual(env.segments(cfg, "wrongname"), [])
        # what came through TLS is a recording like any other
        segs = wait_for(lambda: [s for s in env.segments(cfg, "good") if s["sha256"]], 20,
                        what="a closed segment of good")
        path = os.path.join(env.path("pool0"), segs[0]["path"])
        self.assertEqual(decode_errors(path), "")
        self.assertTrue(d.alive())

    def tearDown(self):
        self.env.close()


if __name__ == "__main__":
    vigiltest.main()
