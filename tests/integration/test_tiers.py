"""
Storage tiers, against a real daemon recording two camsim cameras into a fast
pool ("hot", move_to: archive, move_after: 3s) with an archive pool:

- closed segments move to the archive once they ended move_after ago: their
  rows point at the archive, their files are there and no longer in the fast
  pool, no *.moving file is left, and each still matches its SHA-256
  (vigilctl verify);
- a clip spanning both tiers is one clip that decodes clean; an export lists
  archived and fast segments alike;
- an archive that stops answering (its directory goes away) pauses moving
  with a pool_unreachable event and vigil_tier_archives_unreachable 1, while
  recording goes on; when it is back, moving resumes (pool_reachable);
- a move interrupted by a crash leaves one valid copy indexed: two journal
  states are made by hand (switched but source left; copied but not
  switched) and vigild settles both at start; and vigild killed with SIGKILL
  while moving, then restarted, leaves every row's file in place, no file in
  both pools and no *.moving file.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, decode_errors, segment_rows, wait_for  # noqa: E402

CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"


class Tiers(unittest.TestCase):
    def setUp(self):
        self.env = Env("tiers")
        self.ok = False
        self.hot = self.env.path("pool-hot")
        self.arch = self.env.path("pool-archive")
        self.cam = self.env.camsim(["a:" + CAM, "b:" + CAM])
        self.cams = [self.env.camera("a", self.cam.url("a")),
                     self.env.camera("b", self.cam.url("b"))]

    def tearDown(self):
        self.env.close(keep_on_failure=not self.ok)

    def config(self, move_after):
        return self.env.config(self.cams, segment_seconds=2, pools=[
            {"id": "hot", "path": self.hot, "move_to": "archive", "move_after": move_after,
             "move_rate": "64MiB"},
            {"id": "archive", "path": self.arch}],
            # the verifier walks both pools while segments move between them
            # and while the archive is away: neither is damage
            extra="scrub:\n  period: 3s\n  max_rate: 64MiB\n")

    def segs(self, cfg, cam):
        return [s for s in self.env.segments(cfg, cam) if s["sha256"]]

    def files(self, root, suffix=".mp4"):
        out = set()
        for d, _, fs in os.walk(root):
            for f in fs:
                if f.endswith(suffix):
                    out.add(os.path.relpath(os.path.join(d, f), root))
        return out

    def invariants(self, cfg, running=False):
        # A move in progress is seen in the pools (a .moving copy; for a moment
        # the file in both, until the source is unlinked): those are checked
        # with vigild stopped.
        if not running:
            hot, arch = self.files(self.hot), self.files(self.arch)
            self.assertEqual(hot & arch, set(), "a segment file in both pools")
            self.assertEqual(self.files(self.hot, ".moving") | self.files(self.arch, ".moving"),
                             set())
        for cam in ("a", "b"):
            # While vigild runs, a segment listed in the fast pool may move
            # between the listing and the look: it is then listed in the
            # archive, where its file is.
            missing = [s for s in self.segs(cfg, cam) if not os.path.exists(s["path"])]
            if missing:
                now = {s["start"]: s["path"] for s in self.segs(cfg, cam)}
                for s in missing:
                    self.assertTrue(os.path.exists(now.get(s["start"], s["path"])), s)
        r = self.env.vigilctl(cfg, "verify", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_1_move_clip_unreachable(self):
        env = self.env
        cfg = self.config("3s")
        d = env.vigild(cfg)

        def archived(cam):
            return [s for s in self.segs(cfg, cam) if s["path"].startswith(self.arch + "/")]
        wait_for(lambda: len(archived("a")) >= 3 and len(archived("b")) >= 2, 90,
                 what="segments moved to the archive")
        self.invariants(cfg, running=True)
        for s in archived("a"):
            rel = os.path.relpath(s["path"], self.arch)
            self.assertFalse(os.path.exists(os.path.join(self.hot, rel)), rel)

        # one clip over both tiers: a moment when a finished segment is still
        # in the fast pool (each waits there move_after, and a 2 s segment
        # closes while the one before may just have moved)
        def both_tiers():
            all_a = self.segs(cfg, "a")
            hot = [s for s in all_a if s["path"].startswith(self.hot + "/")]
            arch = [s for s in all_a if s["path"].startswith(self.arch + "/")]
            return (arch[0], hot) if arch and hot else None
        first, hot_a = wait_for(both_tiers, 30, step=0.2,
                                what="a finished segment of a in each tier")
        st, hdrs, data = d.http("/api/cameras/a/clip.mp4?start=%s&end=%s" % (
            first["start"], hot_a[-1]["end"]))
        self.assertEqual(st, 200, data[:200])
        self.assertNotIn("x-clip-truncated", hdrs)
        clip = env.path("both-tiers.mp4")
        with open(clip, "wb") as f:
            f.write(data)
        self.assertEqual(decode_errors(clip), "")

        # an export lists segments of both pools
        st, hdrs, data = d.http("/api/exports", method="POST", body={
            "cameras": ["a"], "start": first["start"], "end": hot_a[-1]["end"],
            "reason": "two tiers"})
        self.assertEqual(st, 201, data[:300])
        pools = {s["pool"] for c in json.loads(data)["manifest"]["cameras"] for s in c["segments"]}
        self.assertEqual(pools, {"hot", "archive"})

        # the archive goes away: moving pauses, recording goes on
        away = self.arch + ".away"
        os.rename(self.arch, away)
        wait_for(lambda: any(e["type"] == "pool_unreachable" for e in env.events(cfg)), 30,
                 what="pool_unreachable")
        st, _, body = d.http("/metrics")
        self.assertRegex(body.decode(), r"(?m)^vigil_tier_archives_unreachable 1$")
        n_hot = len([s for s in self.segs(cfg, "b") if s["path"].startswith(self.hot + "/")])
        wait_for(lambda: len([s for s in self.segs(cfg, "b")
                              if s["path"].startswith(self.hot + "/")]) >= n_hot + 3, 60,
                 what="recording to go on into the fast pool")
        self.assertFalse(os.path.exists(self.arch))  # nothing recreated it
        os.rename(away, self.arch)
        wait_for(lambda: any(e["type"] == "pool_reachable" for e in env.events(cfg)), 30,
                 what="pool_reachable")
        n_arch = len(archived("b"))
        wait_for(lambda: len(archived("b")) > n_arch, 60, what="moving to resume")
        st, _, body = d.http("/metrics")
        self.assertRegex(body.decode(), r"(?m)^vigil_tier_archives_unreachable 0$")
        moved = re.search(r"(?m)^vigil_tier_moved_segments_total (\d+)$", body.decode())
        self.assertGreaterEqual(int(moved.group(1)), 5)
        self.assertRegex(body.decode(), r'(?m)^vigil_scrub_segments_total\{result="ok"\} [1-9]')
        self.assertRegex(body.decode(), r'(?m)^vigil_scrub_segments_total\{result="damaged"\} 0$')
        self.assertEqual([e for e in env.events(cfg) if e["type"] == "segment_corrupt"], [])
        d.stop()
        self.invariants(cfg)
        self.ok = True

    def test_2_interrupted_moves(self):
        env = self.env
        cfg = self.config("2s")
        d = env.vigild(cfg)

        def archived(cam):
            return [s for s in self.segs(cfg, cam) if s["path"].startswith(self.arch + "/")]
        wait_for(lambda: len(archived("a")) >= 3, 90, what="segments moved to the archive")
        # SIGKILL while moving, then a restart: one valid copy of everything
        time.sleep(1.3)
        d.stop(signal.SIGKILL, expect=None)
        cfg_slow = self.config("1h")   # nothing moves on its own after this
        d = env.vigild(cfg_slow)
        d.wait_log(r"vigild: recording \d+ cameras", timeout=60)
        d.stop()
        self.invariants(cfg_slow)

        # two crash states made by hand, in the real index
        s1, s2 = archived("a")[:2]
        rel1 = os.path.relpath(s1["path"], self.arch)
        rel2 = os.path.relpath(s2["path"], self.arch)
        db = sqlite3.connect(env.path("index.db"))
        by_path = {p: i for i, p in segment_rows(db)}
        ids = {rel: by_path[rel] for rel in (rel1, rel2)}
        n_rows = db.execute("SELECT count(*) FROM segments").fetchone()[0]
        # s1: switched to the archive, the fast pool's source not yet unlinked
        os.makedirs(os.path.dirname(os.path.join(self.hot, rel1)), exist_ok=True)
        shutil.copyfile(s1["path"], os.path.join(self.hot, rel1))
        # s2: copied (and renamed) into the archive, the row not yet switched
        os.makedirs(os.path.dirname(os.path.join(self.hot, rel2)), exist_ok=True)
        shutil.copyfile(s2["path"], os.path.join(self.hot, rel2))
        shutil.copyfile(s2["path"], s2["path"] + ".moving")
        db.execute("UPDATE segments SET pool = 'hot' WHERE id = ?", (ids[rel2],))
        for rel in (rel1, rel2):
            db.execute("INSERT INTO moves (segment_id, from_pool, to_pool, path, started_us) "
                       "VALUES (?, 'hot', 'archive', ?, 0)", (ids[rel], rel))
        db.commit()
        db.close()

        d = env.vigild(cfg_slow)
        d.wait_log(r"vigild: recording \d+ cameras", timeout=60)
        d.wait_log(r"mover: 2 interrupted moves finished or undone", timeout=30)
        self.assertFalse(os.path.exists(os.path.join(self.hot, rel1)))   # s1: archive's copy
        self.assertTrue(os.path.exists(os.path.join(self.arch, rel1)))
        self.assertTrue(os.path.exists(os.path.join(self.hot, rel2)))    # s2: the source
        self.assertFalse(os.path.exists(os.path.join(self.arch, rel2)))
        db = sqlite3.connect("file:%s?mode=ro" % env.path("index.db"), uri=True)
        self.assertEqual(db.execute("SELECT count(*) FROM moves").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT pool FROM segments WHERE id = ?",
                                    (ids[rel1],)).fetchone()[0], "archive")
        self.assertEqual(db.execute("SELECT pool FROM segments WHERE id = ?",
                                    (ids[rel2],)).fetchone()[0], "hot")
        # no copy was indexed twice (the recording added rows since: compare the two)
        self.assertEqual(sum(1 for _, p in segment_rows(db) if p in (rel1, rel2)), 2)
        self.assertGreaterEqual(db.execute("SELECT count(*) FROM segments").fetchone()[0], n_rows)
        db.close()
        for s in (s1, s2):
            st, _, data = d.http("/api/cameras/a/clip.mp4?start=%s&end=%s" % (s["start"], s["end"]))
            self.assertEqual(st, 200)
            clip = env.path("settled-%d.mp4" % len(data))
            with open(clip, "wb") as f:
                f.write(data)
            self.assertEqual(decode_errors(clip), "")
        d.stop()
        self.invariants(cfg_slow)
        self.ok = True


if __name__ == "__main__":
    vigiltest.main()
