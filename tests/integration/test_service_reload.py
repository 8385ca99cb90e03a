"""
Issue 5, hot reload under recording: SIGHUP with a config that adds a camera
(through a cameras.d drop-in), removes one, changes one's URL and renames
another, while two untouched cameras record 2 s segments. The untouched
cameras' consecutive segments must stay contiguous across the reload
(|next.start - prev.end| <= one frame), the removed camera's footage stays
queryable, the added one records. Then a broken config is refused: file:line
in the log, the daemon keeps recording on the old config, and
`vigilctl config check` reports the same error and exits non-zero.
"""
import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, SLOW, rfc3339_to_unix, wait_for  # noqa: E402

FRAME = 1 / 25.0


class Reload(unittest.TestCase):
    def test_reload_under_recording(self):
        env = Env("svc-reload")
        try:
            self.run_reload(env)
        except Exception:
            env.close(keep_on_failure=True)
            raise
        env.close()

    def write(self, path, text):
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    def run_reload(self, env):
        cam = env.camsim(["keep1", "keep2", "chg_a", "chg_b", "gone", "new"])
        dropins = env.path("cameras.d")
        os.makedirs(dropins)
        include = 'include: "%s/*.yaml"\n' % dropins
        self.write(os.path.join(dropins, "keep.yaml"),
                   "cameras:\n  - " + json.dumps({"id": "keep2", "url": cam.url("keep2")}) + "\n")
        main = [env.camera("keep1", cam.url("keep1"), name="Keep one"),
                env.camera("chg", cam.url("chg_a")),
                env.camera("gone", cam.url("gone"))]
        cfg = env.config(main, segment_seconds=2, extra=include)
        d = env.vigild(cfg)
        d.wait_log(r"vigild: recording \d+ cameras")
        for cid in ("keep1", "keep2", "chg", "gone"):
            wait_for(lambda: len(env.segments(cfg, cid)) >= 2, 40, what=cid + " recording")

        # The reload: keep1 renamed (no restart), keep2 untouched (drop-in),
        # chg to another URL (restart), gone removed, new added by a drop-in.
        t_reload = time.time()
        env.config([env.camera("keep1", cam.url("keep1"), name="Keep one, renamed",
                               district="Lục Nam"),
                    env.camera("chg", cam.url("chg_b"))], segment_seconds=2, extra=include)
        self.write(os.path.join(dropins, "new.yaml"),
                   "cameras:\n  - " + json.dumps({"id": "new", "url": cam.url("new")}) + "\n")
        st, _, body = d.http("/api/reload")
        self.assertEqual((st, json.loads(body)), (200, {"last": None}))
        d.kill_with(signal.SIGHUP)
        d.wait_log(r"config reloaded: added 1, removed 1, restarted 1, unchanged 2")
        # What it changed is kept for GET /api/reload, SIGHUP's too.
        st, _, body = d.http("/api/reload")
        self.assertEqual(st, 200, body)
        last = json.loads(body)["last"]
        self.assertEqual((last["ok"], last["who"], last["reason"]), (True, "daemon", None), last)
        self.assertEqual(last["cameras"], {"added": ["new"], "changed": ["chg"],
                                           "removed": ["gone"],
                                           "unchanged": ["keep1", "keep2"]})
        self.assertEqual(last["sections"], [])
        self.assertLessEqual(abs(rfc3339_to_unix(last["time"]) - time.time()), 60)
        wait_for(lambda: len(env.segments(cfg, "new")) >= 2, 40, what="new recording")
        wait_for(lambda: sum(1 for s in env.segments(cfg, "keep1")
                             if rfc3339_to_unix(s["start"]) > t_reload) >= 3, 40,
                 what="keep1 records on after the reload")

        # POST /api/reload answers the same, here other settings only.
        env.config([env.camera("keep1", cam.url("keep1"), name="Keep one, renamed",
                               district="Lục Nam"),
                    env.camera("chg", cam.url("chg_b"))], segment_seconds=2,
                   extra=include + "retention_days: 7\n")
        st, _, body = d.http("/api/reload", method="POST", body={})
        self.assertEqual(st, 200, body)
        ans = json.loads(body)
        self.assertEqual((ans["ok"], ans["who"]), (True, "anonymous"), ans)
        self.assertEqual(ans["cameras"], {"added": [], "changed": [], "removed": [],
                                          "unchanged": ["keep1", "chg", "keep2", "new"]})
        self.assertEqual(ans["sections"], ["retention_days"])
        self.assertEqual(json.loads(d.http("/api/reload")[2])["last"], ans)

        # A broken config is refused and the daemon carries on.
        with open(cfg) as f:
            good = f.read()
        q = env.path("query.yaml")  # vigilctl's queries read a good copy meanwhile
        self.write(q, good)
        lines = good.splitlines()
        bad_line = len(lines) + 1
        self.write(cfg, good + "  - {id: BAD-ID, url: \"rtsp://127.0.0.1:1/x\"}\n")
        r = env.vigilctl(cfg, "config", "check", check=False)
        self.assertEqual(r.returncode, 1)
        where = "%s:%d:" % (cfg, bad_line)
        self.assertIn(where, r.stderr)
        n_before = len(env.segments(q, "keep2"))
        d.kill_with(signal.SIGHUP)
        m = d.wait_log(r"<3>reload refused: (\S+:\d+:) ")
        self.assertEqual(m.group(1), where)
        last = json.loads(d.http("/api/reload")[2])["last"]
        self.assertEqual((last["ok"], last["who"], last["cameras"], last["sections"]),
                         (False, "daemon", None, None), last)
        self.assertTrue(last["reason"].startswith(where), last)
        st, _, body = d.http("/api/reload", method="POST", body={})
        self.assertEqual(st, 422, body)
        ans = json.loads(body)
        self.assertEqual((ans["ok"], ans["who"]), (False, "anonymous"), ans)
        self.assertTrue(ans["error"].startswith(where), ans)
        self.assertEqual(ans["reason"], ans["error"])
        wait_for(lambda: len(env.segments(q, "keep2")) >= n_before + 2, 30,
                 what="keep2 records on after a refused reload")
        self.assertTrue(d.alive())
        self.write(cfg, good)

        t_stop = time.time()
        d.stop()
        log = d.log()

        # Untouched cameras: contiguous across the reloads.
        for cid in ("keep1", "keep2"):
            segs = env.segments(cfg, cid)
            self.assertGreaterEqual(len(segs), 6, cid)
            for a, b in zip(segs, segs[1:]):
                gap = rfc3339_to_unix(b["start"]) - rfc3339_to_unix(a["end"])
                self.assertLessEqual(abs(gap), FRAME + 1e-3,
                                     "%s: %s -> %s" % (cid, a["end"], b["start"]))
            self.assertGreater(rfc3339_to_unix(segs[-1]["end"]), t_stop - 4 * SLOW)
        # Removed: stopped at the reload, footage still there.
        gone = env.segments(cfg, "gone")
        self.assertGreaterEqual(len(gone), 2)
        self.assertLess(rfc3339_to_unix(gone[-1]["end"]), t_reload + 5 * SLOW)
        # Changed: recorded before and after, and the old session (stopped off
        # the loop thread) had closed its segment before the new one opened
        # one: never two sessions of a camera writing at once.
        chg = env.segments(cfg, "chg")
        self.assertTrue(any(rfc3339_to_unix(s["start"]) > t_reload for s in chg))
        chg.sort(key=lambda s: rfc3339_to_unix(s["start"]))
        for a, b in zip(chg, chg[1:]):
            self.assertGreaterEqual(rfc3339_to_unix(b["start"]), rfc3339_to_unix(a["end"]) - 1e-3,
                                    "chg: %s -> %s" % (a["end"], b["start"]))
        # Events and audit.
        types = [e["type"] for e in env.events(cfg)]
        self.assertIn("config_reloaded", types)
        self.assertIn("config_reload_failed", types)
        audit = [json.loads(l) for l in env.vigilctl(cfg, "audit").stdout.splitlines()]
        acts = [(a["token"], a["action"]) for a in audit]
        self.assertIn(("daemon", "config_reload"), acts)
        # The trail keeps which cameras and settings each reload changed.
        details = [a["detail"] for a in audit if a["action"] == "config_reload"]
        self.assertIn("added 1, removed 1, restarted 1, unchanged 2; added: new; changed: chg; "
                      "removed: gone", details)
        self.assertIn("added 0, removed 0, restarted 0, unchanged 4; settings: retention_days",
                      details)
        self.assertIn(("daemon", "config_reload_failed"), acts)
        self.assertNotRegex(log, r"ERROR: AddressSanitizer|runtime error")


if __name__ == "__main__":
    vigiltest.main()
