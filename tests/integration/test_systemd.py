"""
Issue 5, systemd: the unit CMake generates passes `systemd-analyze verify`,
`cmake --install` places unit, sysusers.d and tmpfiles.d, and vigild speaks the
notify protocol (READY=1 once cameras are started, STATUS= lines, WATCHDOG=1
pings at the interval systemd asks for) to a real notify socket.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, VIGILCTL, VIGILD, SLOW, wait_for  # noqa: E402


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env("systemd")
        cls.prefix = cls.env.path("prefix")
        cls.bld = cls.env.path("build")
        # Configure a tree for this prefix, so the unit names real installed paths.
        r = subprocess.run(["cmake", "-S", SRC, "-B", cls.bld,
                            "-DCMAKE_INSTALL_PREFIX=" + cls.prefix], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        os.makedirs(os.path.join(cls.prefix, "bin"))
        shutil.copy(VIGILD, os.path.join(cls.prefix, "bin"))
        shutil.copy(VIGILCTL, os.path.join(cls.prefix, "bin"))
        cls.unit = os.path.join(cls.bld, "systemd", "vigild.service")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_verify(self):
        r = subprocess.run(["systemd-analyze", "verify", self.unit], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "")

    def test_directives(self):
        text = open(self.unit).read()
        for d in ["Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                  "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/vigil",
                  "PrivateTmp=yes", "ProtectHome=yes", "User=vigil",
                  "ExecStart=%s/bin/vigild --config" % self.prefix]:
            self.assertIn(d, text)

    def test_install(self):
        dest = self.env.path("destdir")
        # Install from the real build tree into a staging root.
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"],
                           env=dict(os.environ, DESTDIR=dest), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for f in ["usr/lib/systemd/system/vigild.service", "usr/lib/sysusers.d/vigil.conf",
                  "usr/lib/tmpfiles.d/vigil.conf", "usr/bin/vigild", "usr/bin/vigilctl"]:
            self.assertTrue(os.path.exists(os.path.join(dest, f)), f)
        sysusers = open(os.path.join(dest, "usr/lib/sysusers.d/vigil.conf")).read()
        self.assertRegex(sysusers, r"(?m)^u vigil ")


class NotifyProtocol(unittest.TestCase):
    def test_ready_status_watchdog(self):
        env = Env("notify")
        try:
            sock_path = env.path("notify.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(sock_path)
            s.settimeout(0.5)
            cam = env.camsim(["cam1:codec=h264"])
            cfg = env.config([env.camera("cam1", cam.url("cam1"))])
            os.environ["NOTIFY_SOCKET"] = sock_path
            os.environ["WATCHDOG_USEC"] = "2000000"  # 2 s: pings expected every <= 1 s
            try:
                d = env.vigild(cfg)
            finally:
                del os.environ["NOTIFY_SOCKET"]
                del os.environ["WATCHDOG_USEC"]
            msgs = []
            deadline = time.time() + 8 * SLOW
            while time.time() < deadline:
                try:
                    msgs.append(s.recv(4096).decode())
                except socket.timeout:
                    pass
            text = "\n".join(msgs)
            self.assertRegex(text, r"(?m)^READY=1$")
            self.assertRegex(text, r"(?m)^STATUS=.+")
            pings = len(re.findall(r"(?m)^WATCHDOG=1$", text))
            self.assertGreaterEqual(pings, 4, text)
            d.kill_with(1)  # SIGHUP: reload is announced too
            wait_for(lambda: "RELOADING=1" in s.recv(4096).decode(), 5, what="RELOADING=1")
            d.stop()
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
