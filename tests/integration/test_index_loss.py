"""
Losing the index must not lose the evidence, and no state of the index file
stops recording (real vigild, real camsim RTSP, real SQLite files).

- lost index: the index file and its signing key are deleted while a lock
  protects old footage. vigild keeps recording on a stand-in index, says
  what is wrong and what fixes it (log, /healthz), leaves the configured path
  alone, holds age retention back (the locked footage and unlocked old
  footage both stay) and brings the key back from its copy in the pool.
  `vigild --rebuild-index` rebuilds from all the footage, restores the lock
  (same id and reason; without it, age retention would now delete the locked
  footage), the signed export (GET /api/exports/{id} answers the same bytes)
  and keeps the key (same public key), and says the audit trail is lost; the next start is healthy and age retention deletes the unlocked old
  footage only. (The key is back at its place from
  the degraded start on: it is kept outside the index.)
- damaged index: garbage bytes, then a file cut short. vigild does not exit:
  it records on, and /healthz and the log name the problem and the fix; the
  damaged file is left untouched until the rebuild, which keeps it aside.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, SLOW, log, segment_relpath, wait_for  # noqa: E402

CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=500"
DAY = 86400


def mp4s(pool):
    out = set()
    for root, _dirs, files in os.walk(pool):
        if "quarantine" in root:
            continue
        out.update(os.path.relpath(os.path.join(root, f), pool) for f in files
                   if f.endswith(".mp4"))
    return out


def old_relpath(cam, t):
    """The pool-relative path of a segment starting at Unix time t (seconds)."""
    return segment_relpath(cam, int(t) * 1000000)


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class IndexLoss(unittest.TestCase):
    def setUp(self):
        self.env = Env("indexloss")
        self.ok = False
        self.cam = self.env.camsim(["cam0:" + CAM])
        self.pool = self.env.path("pool0")
        self.index = self.env.path("index.db")
        # cam9 records nothing: it holds the "old" footage planted by the
        # test (a start walks only recent hours; the rebuild walks all).
        cams = [Env.camera("cam0", self.cam.url("cam0"), retention_days=1),
                Env.camera("cam9", self.cam.url("cam9"), retention_days=1, enabled=False)]
        self.cfg = self.env.config(cams, segment_seconds=2)

    def tearDown(self):
        self.env.close(keep_on_failure=not self.ok)

    def closed_segment(self):
        segs = wait_for(lambda: [s for s in self.env.segments(self.cfg, "cam0") if s["sha256"]],
                        30 * SLOW, what="a closed segment")
        return os.path.join(self.pool, segs[0]["path"])

    def plant(self, src, t):
        """Copies a recorded segment to where one of cam9 started at t would be."""
        dst = os.path.join(self.pool, old_relpath("cam9", t))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        return dst

    def degraded_start(self, problem):
        """Starts vigild on a lost/damaged index; checks it says so and records."""
        t0 = time.time()
        d = self.env.vigild(self.cfg, wait=False)
        m = d.wait_log(r"INDEX DEGRADED: (.*)", timeout=30 * SLOW)
        log("degraded start says:", m.group(0)[:400])
        self.assertIn("--rebuild-index", m.group(0))
        st, _h, body = d.http("/healthz")
        self.assertEqual(st, 200)
        h = json.loads(body)["index"]
        self.assertEqual(h["state"], "degraded")
        self.assertIn(problem, h["problem"])
        self.assertIn("vigild --config %s --rebuild-index" % self.cfg, h["fix"])
        # Recording goes on: files that were not there before appear and grow.
        before = mp4s(self.pool)
        wait_for(lambda: len(mp4s(self.pool) - before) >= 2 and d.alive(), 30 * SLOW,
                 what="new segments while degraded")
        self.assertTrue(d.alive(), d.log()[-3000:])
        newest = max(mp4s(self.pool) - before)
        self.assertGreater(os.path.getmtime(os.path.join(self.pool, newest)), t0)
        return d

    def test_lost_index_keeps_locks_and_key(self):
        env = self.env
        now = time.time()
        locked_t = int(now - 3 * DAY) // 3600 * 3600 + 600   # an hour 3 days ago, :10
        unlocked_t = locked_t - 2 * 3600
        d = env.vigild(self.cfg)
        env.wait_online(self.cfg, ["cam0"])
        src = self.closed_segment()
        lock = json.loads(env.vigilctl(self.cfg, "lock", "cam9", rfc3339(locked_t - 60),
                                       rfc3339(locked_t + 60), "--reason",
                                       "vụ án 2026/118 — cướp giật").stdout)
        st, _h, body = d.http("/api/exports/public-key")
        self.assertEqual(st, 200)
        pubkey = json.loads(body)["public_key"]
        seg = [x for x in env.segments(self.cfg, "cam0") if x["sha256"]][0]
        st, _h, exported = d.http("/api/exports", method="POST", body={
            "cameras": ["cam0"], "start": seg["start"], "end": seg["end"],
            "reason": "case 2026/118: handed to the police"})
        self.assertEqual(st, 201, exported)
        export_id = json.loads(exported)["manifest"]["export"]
        with open(self.index + ".signing-key", "rb") as f:
            key = f.read()
        d.stop()
        # The mirrors are beside the footage.
        self.assertTrue(os.path.exists(os.path.join(self.pool, ".vigil-locks")))
        self.assertTrue(os.path.exists(os.path.join(self.pool, ".vigil-exports",
                                                    "%d.json" % export_id)))
        with open(os.path.join(self.pool, ".vigil-signing-key"), "rb") as f:
            self.assertEqual(f.read(), key)

        # Old footage: one file under the lock, one not (cam9, retention 1 day).
        locked = self.plant(src, locked_t)
        unlocked = self.plant(src, unlocked_t)

        # The index and its key are lost (a disk, a careless rm).
        for p in glob.glob(self.index + "*"):
            os.unlink(p)
        d = self.degraded_start("is missing")
        # Retention ran meanwhile (a pass a second, age at the first) and
        # deleted nothing: neither the formerly locked footage nor the rest.
        time.sleep(3)
        self.assertTrue(os.path.exists(locked), "formerly locked footage deleted")
        self.assertTrue(os.path.exists(unlocked), "old footage deleted while locks unsure")
        self.assertFalse(os.path.exists(self.index), "the lost index was silently re-created")
        self.assertRegex(d.log(), r"retention deletes nothing for age")
        # The key, lost with the index, came back from its copy in the pool.
        self.assertRegex(d.log(), r"restored the export signing key .* from its copy")
        st, _h, body = d.http("/api/exports/public-key")
        self.assertEqual(json.loads(body)["public_key"], pubkey, "signing key regenerated")
        st, _h, body = d.http("/api/locks")
        self.assertIn(lock["id"], [x["id"] for x in json.loads(body)])
        d.stop()

        # The explicit rebuild.
        t0 = time.time()
        r = subprocess.run([vigiltest.VIGILD, "--config", self.cfg, "--rebuild-index"],
                           capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        log("rebuild took %.1f s; says: %s" % (time.time() - t0, "\n".join(
            l for l in out.splitlines() if "rebuilt" in l or "restored" in l)))
        self.assertEqual(r.returncode, 0, out[-3000:])
        self.assertRegex(out, r"index rebuilt at .*LOST: the audit trail")
        # The case's lock and the export's lock.
        self.assertRegex(out, r"restored 2 of the 2 evidence locks")
        self.assertRegex(out, r"1 signed export manifests restored")
        # Every file was indexed, the planted old ones too (a full walk).
        self.assertIn(old_relpath("cam9", locked_t), out)
        self.assertIn(old_relpath("cam9", unlocked_t), out)
        with open(self.index + ".signing-key", "rb") as f:
            self.assertEqual(f.read(), key, "the rebuilt index has another signing key")

        d = env.vigild(self.cfg)
        d.wait_log("vigild: recording")
        st, _h, body = d.http("/healthz")
        self.assertEqual(json.loads(body)["index"], {"state": "ok"})
        locks = [json.loads(l) for l in env.vigilctl(self.cfg, "locks").stdout.splitlines()
                 if l.strip()]
        got = [x for x in locks if x["id"] == lock["id"]]
        self.assertEqual(len(got), 1, locks)
        self.assertEqual(got[0]["reason"], "vụ án 2026/118 — cướp giật")
        st, _h, body = d.http("/api/exports/public-key")
        self.assertEqual(json.loads(body)["public_key"], pubkey)
        # The export answers the very bytes that were signed and handed out.
        st, _h, again = d.http("/api/exports/%d" % export_id)
        self.assertEqual((st, again), (200, exported))
        # Retention works again, and the restored lock holds.
        wait_for(lambda: not os.path.exists(unlocked), 30 * SLOW,
                 what="age retention after the rebuild")
        self.assertTrue(os.path.exists(locked), "locked footage deleted after the rebuild")
        ev = [e["type"] for e in env.events(self.cfg)]
        self.assertIn("index_rebuilt", ev)
        self.assertIn("lock_restored", ev)
        d.stop()
        self.ok = True

    def test_damaged_index_keeps_recording(self):
        env = self.env
        d = env.vigild(self.cfg)
        env.wait_online(self.cfg, ["cam0"])
        self.closed_segment()
        d.stop()
        with open(self.index, "wb") as f:
            f.write(os.urandom(64 * 1024))
        for p in glob.glob(self.index + "-*"):
            os.unlink(p)
        with open(self.index, "rb") as f:
            garbage = f.read()
        d = self.degraded_start("not an SQLite database")
        time.sleep(2)
        self.assertTrue(d.alive(), "vigild exited on a damaged index:\n" + d.log()[-3000:])
        d.stop()
        with open(self.index, "rb") as f:
            self.assertEqual(f.read(), garbage, "the damaged index was changed")

        r = subprocess.run([vigiltest.VIGILD, "--config", self.cfg, "--rebuild-index"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr)[-3000:])
        kept = glob.glob(self.index + ".damaged-*")
        self.assertEqual(len(kept), 1)
        with open(kept[0], "rb") as f:
            self.assertEqual(f.read(), garbage)
        d = env.vigild(self.cfg)
        d.wait_log("vigild: recording")
        self.assertGreater(len(env.segments(self.cfg, "cam0")), 2)
        d.stop()

        # A file cut short (its header promises pages it no longer has).
        size = os.path.getsize(self.index)
        self.assertFalse(os.path.exists(self.index + "-wal") and
                         os.path.getsize(self.index + "-wal"))
        with open(self.index, "r+b") as f:
            f.truncate(size // 2)
        d = self.degraded_start("truncated")
        d.stop()
        self.ok = True


if __name__ == "__main__":
    vigiltest.main()
