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


    def test_limits_and_credentials(self):
        text = open(self.unit).read()
        for d in ["MemoryMax=", "TasksMax=", "LimitCORE=0",
                  "LoadCredential=vigil:/etc/vigil/credentials", "SystemCallFilter=@system-service",
                  "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "PrivateTmp=yes"]:
            self.assertIn(d, text)
        tmpfiles = open(os.path.join(SRC, "systemd", "vigil.tmpfiles")).read()
        self.assertRegex(tmpfiles, r"(?m)^d /etc/vigil/credentials 0700 root root")

    def test_security_exposure(self):
        """systemd-analyze's own verdict on the unit as installed: every cheap
        hardening is on, so what is left is what a recorder needs (the network,
        a group-readable umask for its operators, the host's root)."""
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                            self.unit], capture_output=True, text=True)
        out = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for vigild.service: (\d+\.\d+)", out)
        self.assertTrue(m, out)
        vigiltest.log("systemd-analyze security exposure:", m.group(1))
        self.assertLessEqual(float(m.group(1)), 1.1, out)
        for setting in ["SystemCallFilter=~@privileged", "SystemCallFilter=~@resources",
                        "PrivateMounts=", "ProcSubset=", "PrivateUsers=", "NoNewPrivileges=",
                        "ProtectSystem=", "PrivateTmp=", "CapabilityBoundingSet=~CAP_SYS_ADMIN"]:
            line = [x for x in out.splitlines() if x.split()[1:2] == [setting]]
            self.assertTrue(line, "%s not rated:\n%s" % (setting, out))
            self.assertTrue(line[0].startswith("\u2713"), line[0])


class Credentials(unittest.TestCase):
    def test_camera_password_from_credentials_directory(self):
        """The camera's password comes from $CREDENTIALS_DIRECTORY (what systemd's
        LoadCredential= provides): a camera that refuses anyone else records."""
        env = Env("credentials")
        try:
            secret = "cred-Secret-" + os.urandom(6).hex()
            cam = env.camsim(["locked:codec=h264,user=u,password=" + secret])
            creds = env.path("credentials")
            os.makedirs(creds, mode=0o700)
            # as the unit's LoadCredential=vigil:/etc/vigil/credentials names it
            with open(os.path.join(creds, "vigil_cam12"), "w") as f:
                f.write(secret + "\n")
            cfg = env.config([env.camera("cam12", cam.url("locked"), username="u",
                                         password_credential="cam12")])
            # An operator's shell has no $CREDENTIALS_DIRECTORY: vigilctl needs no
            # camera secret and says so; vigild refuses to start without it.
            r = subprocess.run([VIGILCTL, "--config", cfg, "config", "check"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("credentials not read", r.stderr)
            d = env.vigild(cfg, wait=False)
            d.p.wait(20 * SLOW)
            self.assertEqual(d.p.returncode, 2, d.log())
            self.assertIn("password_credential 'cam12': no $CREDENTIALS_DIRECTORY", d.log())
            os.environ["CREDENTIALS_DIRECTORY"] = creds
            try:
                d = env.vigild(cfg)
            finally:
                del os.environ["CREDENTIALS_DIRECTORY"]
            env.wait_online(cfg, ["cam12"])
            wait_for(lambda: env.segments(cfg, "cam12"), 20 * SLOW, what="a segment")
            d.stop()
            self.assertNotIn(secret, d.log())
        finally:
            env.close()


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
