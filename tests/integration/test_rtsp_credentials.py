"""
Camera credentials (source: native) go only where they belong, and as safely
as the camera allows:
- a redirect (RTSP 302) to another host does not take the credentials along:
  that host gets none, and asking for them is an auth failure that says so
  (the redirect to the same host keeps them and records);
- Basic authentication, which sends the password in the clear, is used only
  when the camera offers nothing better, and that is logged once per camera,
  not at every reconnect; a Digest camera logs nothing of the kind.
camsim (GStreamer rtsp-server, Basic or Digest per mount) is the camera;
rtsp_relay.py --redirect is the redirecting one, on 127.0.0.1 and 127.0.0.2.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, Proc, wait_for  # noqa: E402


class Credentials(unittest.TestCase):
    def test_redirect_and_basic(self):
        env = self.env = Env("creds")
        cam = env.camsim(["digest:codec=h264,user=u,password=Right-Pass-7,auth=digest",
                          "basic:codec=h264,user=u,password=Right-Pass-7,auth=basic"])
        target = cam.url("digest")
        relays = {}
        for host in ("127.0.0.1", "127.0.0.2"):
            r = Proc([sys.executable, os.path.join(os.path.dirname(__file__), "rtsp_relay.py"),
                      "--port", "0", "--host", host, "--redirect", "moved=" + target],
                     env.path("relay-%s.log" % host), stdout_pipe=True)
            env.procs.append(r)
            relays[host] = int(r.wait_stdout(r"^READY port=(\d+)", 10).group(1))
        cams = [
            # 127.0.0.1 -> 127.0.0.1: same host, the credentials follow
            env.camera("same", "rtsp://127.0.0.1:%d/moved" % relays["127.0.0.1"],
                       username="u", password="Right-Pass-7"),
            # 127.0.0.2 -> 127.0.0.1: another host, they do not
            env.camera("away", "rtsp://127.0.0.2:%d/moved" % relays["127.0.0.2"],
                       username="u", password="Right-Pass-7"),
            env.camera("basic", cam.url("basic"), username="u", password="Right-Pass-7"),
            env.camera("digest", target, username="u", password="Right-Pass-7"),
        ]
        cfg = env.config(cams, segment_seconds=5)
        d = env.vigild(cfg)
        env.wait_online(cfg, ["same", "basic", "digest"])

        wait_for(lambda: any(e["type"] == "offline" and e["detail"] == "auth_failed"
                             for e in env.events(cfg, "--camera", "away")), 20,
                 what="away offline auth_failed")
        log = d.log()
        self.assertIn("camera=away: rtsp: redirected from 127.0.0.2 to another host, "
                      "127.0.0.1: its credentials are not sent there", log)
        self.assertIn("401 and no credentials (not sent to the host redirected to)", log)
        self.assertNotIn("camera=same: rtsp: redirected from", log)
        self.assertNotIn("Right-Pass-7", log)

        # Basic: once per camera, across a reconnect
        basic = "camera=basic: rtsp: the camera offers only Basic authentication"
        wait_for(lambda: basic in d.log(), 10, what="the Basic warning")
        n_online = sum(e["type"] == "online" for e in env.events(cfg, "--camera", "basic"))
        cam.send("drop basic")
        wait_for(lambda: sum(e["type"] == "online" for e in env.events(cfg, "--camera", "basic"))
                 > n_online, 30, what="basic back online")
        log = d.log()
        self.assertEqual(log.count(basic), 1)
        self.assertNotIn("camera=digest: rtsp: the camera offers only Basic", log)
        self.assertNotIn("camera=same: rtsp: the camera offers only Basic", log)
        self.assertTrue(d.alive())

    def tearDown(self):
        self.env.close()


if __name__ == "__main__":
    vigiltest.main()
