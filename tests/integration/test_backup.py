"""
vigilctl backup: an online copy of the index, taken while two cameras record,
then restored in place of a lost index:

- the copy is a standalone SQLite file (no WAL), passes integrity_check, and
  holds the segments, the lock and the audit rows committed before it;
- vigild keeps recording during the backup (segments keep closing);
- after vigild is stopped and its index replaced by the copy, vigild starts on
  it, serves clips of footage from before the backup (decoding clean), the
  lock is in force again, and the segments recorded after the backup are
  indexed again from the files (reconciliation);
- a DEST in a directory that does not exist fails with exit 1 and a message,
  leaving nothing behind.
"""
import json
import os
import shutil
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, decode_errors, segment_rows, wait_for  # noqa: E402

CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"


class Backup(unittest.TestCase):
    def test_backup_and_restore(self):
        env = Env("backup")
        ok = False
        try:
            cam = env.camsim(["a:" + CAM, "b:" + CAM])
            cams = [env.camera("a", cam.url("a")), env.camera("b", cam.url("b"))]
            cfg = env.config(cams, segment_seconds=2)
            d = env.vigild(cfg)

            def closed(c):
                return [s for s in env.segments(cfg, c) if s["sha256"]]
            wait_for(lambda: len(closed("a")) >= 3 and len(closed("b")) >= 3, 60,
                     what="three segments per camera")
            before = closed("a")
            lock = json.loads(env.vigilctl(cfg, "lock", "a", before[0]["start"], before[1]["end"],
                                           "--reason", "vụ án 2026/118").stdout)
            dest = env.path("backup", "index-copy.db")
            os.makedirs(os.path.dirname(dest))
            r = env.vigilctl(cfg, "backup", dest)
            info = json.loads(r.stdout)
            self.assertEqual(info["backup"], dest)
            self.assertGreater(info["bytes"], 0)
            self.assertFalse(os.path.exists(dest + ".tmp"))
            self.assertFalse(os.path.exists(dest + "-wal"))

            db = sqlite3.connect("file:%s?mode=ro" % dest, uri=True)
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            in_copy = {p for _, p in segment_rows(db, "open = 0")}
            self.assertEqual(db.execute("SELECT count(*) FROM locks WHERE id = ?",
                                        (lock["id"],)).fetchone()[0], 1)
            db.close()
            for s in before:
                self.assertTrue(any(p.endswith(os.path.basename(s["path"])) for p in in_copy), s)

            # recording went on during and after the copy
            n_after = len(closed("a"))
            wait_for(lambda: len(closed("a")) >= n_after + 2, 30, what="two more segments")
            later = closed("a")[-1]
            d.stop()

            # the index is lost; the copy takes its place
            idx = env.path("index.db")
            self.assertTrue(os.path.exists(idx), "the test's config keeps the index at %s" % idx)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(idx + suffix):
                    os.unlink(idx + suffix)
            shutil.copyfile(dest, idx)
            d = env.vigild(cfg)
            d.wait_log(r"vigild: recording \d+ cameras", timeout=60)

            # footage from before the backup, and after it (indexed from its file)
            for seg in (before[0], later):
                st, hdrs, data = d.http("/api/cameras/a/clip.mp4?start=%s&end=%s" % (
                    seg["start"], seg["end"]))
                self.assertEqual(st, 200, data[:200])
                clip = env.path("restored-%s.mp4" % seg["start"].replace(":", ""))
                with open(clip, "wb") as f:
                    f.write(data)
                self.assertEqual(decode_errors(clip), "")
            locks = [json.loads(l) for l in env.vigilctl(cfg, "locks").stdout.splitlines()]
            self.assertIn(lock["id"], [l["id"] for l in locks])

            # a destination that cannot be written: exit 1, a message, nothing left
            bad = env.path("no-such-dir", "x.db")
            r = env.vigilctl(cfg, "backup", bad, check=False)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("backup", r.stderr)
            self.assertFalse(os.path.exists(bad + ".tmp"))
            d.stop()
            ok = True
        finally:
            env.close(keep_on_failure=not ok)


if __name__ == "__main__":
    vigiltest.main()
