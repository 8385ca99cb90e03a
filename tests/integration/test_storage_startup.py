"""
Start-up at scale, end to end on a small synthesized tree (the same generator
as tools/bench/startup_bench.py): after a clean stop vigild walks no hour
directory at all; after kill -9 it walks only each camera's last hours (and
still recovers the open segment and indexes a file whose row never committed);
while it reconciles it asks systemd for more start time (EXTEND_TIMEOUT_USEC)
before READY=1; `vigild --reconcile-full` walks everything and finds a file
copied by hand into an old hour.
"""
import os
import re
import shutil
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import SRC, Env, SLOW, segment_relpath, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tools", "bench"))
import startup_bench  # noqa: E402

CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=500"
SYNTH_CAMERAS, SYNTH_HOURS = 8, 48
RECONCILED = r"reconciled in \d+ ms: (\d+) of 1 pools clean, (\d+) hour directories walked"


def start(env, cfg, sock_path):
    os.environ["NOTIFY_SOCKET"] = sock_path
    try:
        return env.vigild(cfg)
    finally:
        del os.environ["NOTIFY_SOCKET"]


def notify_messages(sock, until):
    """Datagrams until one carries `until` (a line), in order."""
    msgs = []
    deadline = time.time() + 30 * SLOW
    while time.time() < deadline:
        try:
            msgs.append(sock.recv(4096).decode())
        except socket.timeout:
            continue
        if re.search(r"(?m)^%s$" % re.escape(until), msgs[-1]):
            return msgs
    raise AssertionError("no %s among %r" % (until, msgs))


class StartupWalk(unittest.TestCase):
    def test_clean_and_crash_restart(self):
        env = Env("startup")
        ok = False
        try:
            sock_path = env.path("notify.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(sock_path)
            sock.settimeout(0.5)
            cam = env.camsim(["cam1:" + CAM])
            cfg = env.config([env.camera("cam1", cam.url("cam1"))], segment_seconds=4)
            pool = env.path("pool0")
            d = env.vigild(cfg)
            env.wait_online(cfg, ["cam1"])
            wait_for(lambda: len(env.segments(cfg, "cam1")) >= 2, 20, what="two segments")
            d.stop()  # clean: the index and the pool hold the same token

            # Weeks of other cameras, recorded "while we were away": rows and files agree.
            now_hour = int(time.time()) // 3600 * 3600 * 1000000
            ndirs = startup_bench.synthesize(pool, env.path("index.db"), SYNTH_CAMERAS,
                                             SYNTH_HOURS, now_hour - startup_bench.HOUR_US)
            self.assertEqual(ndirs, SYNTH_CAMERAS * SYNTH_HOURS)
            # A file copied in by hand in an old hour: a bounded start does not see it.
            old = segment_relpath("synth-000", now_hour - 30 * startup_bench.HOUR_US + 7 * 1000000)
            seg = env.segments(cfg, "cam1")[0]
            shutil.copy(seg["path"], os.path.join(pool, old))

            # 1. After the clean stop: ready without walking anything.
            d = start(env, cfg, sock_path)
            m = d.wait_log(RECONCILED)
            self.assertEqual((m.group(1), m.group(2)), ("1", "0"), m.group(0))
            notify_messages(sock, "READY=1")
            env.wait_online(cfg, ["cam1"], since=time.time() - 1)
            n0 = len(env.segments(cfg, "cam1"))
            wait_for(lambda: len(env.segments(cfg, "cam1")) > n0, 20, what="a new segment")
            time.sleep(1.5)  # into the next segment: an open one at the kill
            d.stop(signal.SIGKILL, expect=-signal.SIGKILL)
            # A segment whose row never committed (the begin was queued, not written).
            cam1 = env.segments(cfg, "cam1")
            last = cam1[-1]
            uncommitted = segment_relpath("cam1", int(time.time() * 1000000) + 5 * 1000000)
            os.makedirs(os.path.dirname(os.path.join(pool, uncommitted)), exist_ok=True)
            shutil.copy(cam1[0]["path"], os.path.join(pool, uncommitted))

            # 2. After kill -9: only the last hours of each camera are walked.
            d = start(env, cfg, sock_path)
            m = d.wait_log(RECONCILED)
            walked = int(m.group(2))
            self.assertEqual(m.group(1), "0")
            # Each camera from its latest row less an hour: at most 3 hour
            # directories (the hour boundary may fall in between), never the 48.
            self.assertGreaterEqual(walked, SYNTH_CAMERAS)
            self.assertLessEqual(walked, 3 * (SYNTH_CAMERAS + 1), m.group(0))
            msgs = notify_messages(sock, "READY=1")
            extend = [i for i, x in enumerate(msgs) if "EXTEND_TIMEOUT_USEC=" in x]
            self.assertTrue(extend, msgs)
            self.assertRegex(msgs[extend[0]], r"(?m)^STATUS=reconciling storage")
            log = d.log()
            self.assertIn("segment_recovered", log)  # the open segment at the kill
            self.assertRegex(log, r"segment_indexed .*%s" % re.escape(uncommitted))
            self.assertNotIn(old, log)
            self.assertTrue(any(s["path"].endswith(uncommitted)
                                for s in env.segments(cfg, "cam1")))
            self.assertTrue(any(s["start"] == last["start"] for s in env.segments(cfg, "cam1")))
            d.stop()

            # 3. And clean again after that.
            d = start(env, cfg, sock_path)
            m = d.wait_log(RECONCILED)
            self.assertEqual((m.group(1), m.group(2)), ("1", "0"), m.group(0))
            d.stop()

            # 4. Asked for (footage copied in by hand): every hour directory.
            d = env.vigild(cfg, args=["--reconcile-full"])
            m = d.wait_log(RECONCILED)
            self.assertGreaterEqual(int(m.group(2)), ndirs + 1, m.group(0))
            self.assertRegex(d.log(), r"segment_indexed .*%s" % re.escape(old))
            d.stop()

            # 5. A stop asked for while it starts (systemd's stop during a long
            # reconciliation) is a clean stop, not a death by SIGTERM that
            # leaves the pools to be walked again. The notify socket is kept
            # full, so vigild's first progress report waits inside the
            # reconciliation until the signal has arrived.
            sock.setblocking(False)
            try:
                while sock.recv(4096):  # what the starts above said
                    pass
            except BlockingIOError:
                sock.settimeout(0.5)
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            filler.connect(sock_path)
            filler.setblocking(False)
            try:
                while True:
                    filler.send(b"FILLER=1")
            except BlockingIOError:
                pass
            d = start(env, cfg, sock_path)
            main_wchan = "/proc/%d/wchan" % d.p.pid
            wait_for(lambda: open(main_wchan).read() == "unix_wait_for_peer", 20 * SLOW,
                     what="vigild waiting on the full notify socket")
            d.p.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            notify_messages(sock, "STOPPING=1")  # drained: vigild goes on, then stops
            filler.close()
            self.assertEqual(d.stop(), 0)
            self.assertIn("SIGTERM: stopping", d.log())
            d = start(env, cfg, sock_path)
            m = d.wait_log(RECONCILED)
            self.assertEqual((m.group(1), m.group(2)), ("1", "0"), m.group(0))
            d.stop()
            ok = True
        finally:
            env.close(keep_on_failure=not ok)


if __name__ == "__main__":
    vigiltest.main()
