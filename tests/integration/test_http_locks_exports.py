"""
Issues 3, 4, 5 on the HTTP side, against a real daemon recording camsim cameras
with auth on (a token of each role):

- evidence locks over HTTP: POST/GET/DELETE /api/locks, validation (400),
  unknown camera (404), viewer refused (403); lock_created/lock_released events
  naming the token and the reason; lock_create/lock_release audit rows;
- GET /api/events filters (camera, type, time range);
- the police incident query: GET /api/coverage by district (cameras without
  footage listed with no runs);
- evidence exports: POST /api/exports by district, the manifest's signature
  verified with `vigilctl export-verify` (libsodium) and by hand against the
  public key of GET /api/exports/public-key, every listed segment's SHA-256
  matches its file, the clip URLs download and decode, downloads with export=ID
  audited as "export", GET /api/exports/{id} returns the same bytes, and the
  export's locks are in force;
- a reload (POST /api/reload) changes what GET /api/cameras lists.
"""
import base64
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import (Env, decode_errors, rfc3339_to_unix, sha256_file,  # noqa: E402
                       wait_for)

import hashlib  # noqa: E402

TOKENS = {"viewer": "tok-viewer-0f3e", "investigator": "tok-police-7a21",
          "admin": "tok-admin-c9d4"}
NAMES = {"viewer": "ioc", "investigator": "police-hn", "admin": "ops"}
CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=500"


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


AUTH = ("auth:\n  tokens:\n" + "".join(
    '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (NAMES[r], r, sha(TOKENS[r]))
    for r in ("viewer", "investigator", "admin")))


class LocksExports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("locks-exports")
        try:
            cls.cam = env.camsim(["n1:" + CAM, "n2:" + CAM, "s1:" + CAM])
            cls.cams = [env.camera("n1", cls.cam.url("n1"), district="North", site="traffic"),
                        env.camera("n2", cls.cam.url("n2"), district="North"),
                        env.camera("s1", cls.cam.url("s1"), district="South"),
                        # configured but never records: listed with no runs
                        env.camera("n3", "rtsp://127.0.0.1:9/none", district="North",
                                   enabled=False)]
            cls.cfg = env.config(cls.cams, segment_seconds=2, extra=AUTH)
            cls.d = env.vigild(cls.cfg)
            cls.d.wait_log(r"vigild: recording \d+ cameras")
            for cid in ("n1", "n2", "s1"):
                wait_for(lambda: len([s for s in env.segments(cls.cfg, cid)
                                      if s["sha256"]]) >= 3, 60, what=cid + " three segments")
        except Exception:
            env.close(keep_on_failure=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, method, path, role=None, body=None):
        headers = {"Authorization": "Bearer " + TOKENS[role]} if role else {}
        st, hdrs, data = self.d.http(path, headers=headers, method=method, body=body)
        try:
            js = json.loads(data) if data and hdrs.get("content-type", "").startswith(
                "application/json") else data
        except ValueError:
            js = data
        return st, js, data

    def audit(self):
        st, rows, _ = self.req("GET", "/api/audit", "admin")
        self.assertEqual(st, 200)
        return rows

    def closed(self, cid):
        return [s for s in self.env.segments(self.cfg, cid) if s["sha256"]]

    def test_1_locks(self):
        segs = self.closed("n1")
        start, end = segs[0]["start"], segs[1]["end"]
        # validation and access
        self.assertEqual(self.req("POST", "/api/locks", "viewer",
                                  {"camera": "n1", "start": start, "end": end,
                                   "reason": "x"})[0], 403)
        for bad in ({}, {"camera": "n1", "start": start, "end": end},
                    {"camera": "n1", "start": end, "end": start, "reason": "r"},
                    {"camera": "n1", "start": "yesterday", "end": end, "reason": "r"},
                    {"camera": "n1", "start": start, "end": end, "reason": "r",
                     "until": "2001-01-01T00:00:00Z"}):
            st, js, _ = self.req("POST", "/api/locks", "investigator", bad)
            self.assertEqual(st, 400, (bad, js))
            self.assertIn("error", js)
        st, _, _ = self.d.http("/api/locks", method="POST", body=b"{not json",
                               headers={"Authorization": "Bearer " + TOKENS["investigator"]})
        self.assertEqual(st, 400)
        st, js, _ = self.req("POST", "/api/locks", "investigator",
                             {"camera": "nope", "start": start, "end": end, "reason": "r"})
        self.assertEqual(st, 404)
        # create
        st, lock, _ = self.req("POST", "/api/locks", "investigator",
                               {"camera": "n1", "start": start, "end": end,
                                "reason": "case 2026-77 \"theft\""})
        self.assertEqual(st, 201, lock)
        for k in ("id", "camera", "start", "end", "reason", "created_by", "created", "until"):
            self.assertIn(k, lock)
        self.assertEqual(lock["created_by"], NAMES["investigator"])
        self.assertEqual(lock["camera"], "n1")
        self.assertIsNone(lock["until"])
        self.assertAlmostEqual(rfc3339_to_unix(lock["start"]), rfc3339_to_unix(start), 3)
        # list
        st, locks, _ = self.req("GET", "/api/locks?camera=n1", "investigator")
        self.assertEqual(st, 200)
        self.assertIn(lock["id"], [l["id"] for l in locks])
        self.assertEqual(self.req("GET", "/api/locks", "viewer")[0], 403)
        # release: a reason is required
        self.assertEqual(self.req("DELETE", "/api/locks/%d" % lock["id"], "investigator")[0], 400)
        self.assertEqual(self.req("DELETE", "/api/locks/%d" % lock["id"], "investigator",
                                  {"reason": ""})[0], 400)
        # release (with a reason), twice, unknown
        st, rel, _ = self.req("DELETE", "/api/locks/%d" % lock["id"], "investigator",
                              {"reason": "case closed"})
        self.assertEqual(st, 200, rel)
        self.assertEqual(rel["released_by"], NAMES["investigator"])
        self.assertEqual(self.req("DELETE", "/api/locks/%d" % lock["id"], "investigator",
                                  {"reason": "again"})[0], 409)
        self.assertEqual(self.req("DELETE", "/api/locks/999999", "investigator",
                                  {"reason": "x"})[0], 404)
        self.assertEqual(self.req("DELETE", "/api/locks/abc", "investigator")[0], 404)
        st, locks, _ = self.req("GET", "/api/locks?camera=n1", "investigator")
        self.assertNotIn(lock["id"], [l["id"] for l in locks])
        st, locks, _ = self.req("GET", "/api/locks?camera=n1&all=1", "investigator")
        self.assertIn(lock["id"], [l["id"] for l in locks])
        # events name who and why
        st, ev, _ = self.req("GET", "/api/events?camera=n1&type=lock_created&start=0",
                             "investigator")
        self.assertEqual(st, 200)
        mine = [e for e in ev if json.loads(e["detail"])["lock"] == lock["id"]]
        self.assertEqual(len(mine), 1, ev)
        det = json.loads(mine[0]["detail"])
        self.assertEqual(det["by"], NAMES["investigator"])
        self.assertIn("2026-77", det["reason"])
        st, ev, _ = self.req("GET", "/api/events?type=lock_released&start=0", "investigator")
        det = [json.loads(e["detail"]) for e in ev]
        self.assertTrue(any(d["lock"] == lock["id"] and d["by"] == NAMES["investigator"]
                            and d["reason"] == "case closed" for d in det), det)
        # audit rows
        rows = wait_for(lambda: [r for r in self.audit() if r["action"] in
                                 ("lock_create", "lock_release")
                                 and r["token"] == NAMES["investigator"]
                                 and json.loads(r["detail"]).get("lock") == lock["id"]]
                        if len([r for r in self.audit() if r["action"] in
                                ("lock_create", "lock_release")
                                and json.loads(r["detail"]).get("lock") == lock["id"]]) == 2
                        else None, 10, what="lock audit rows")
        self.assertEqual(sorted(r["action"] for r in rows), ["lock_create", "lock_release"])
        self.assertEqual([r["camera"] for r in rows], ["n1", "n1"])

    def test_2_events(self):
        st, ev, _ = self.req("GET", "/api/events?start=0", "investigator")
        self.assertEqual(st, 200)
        for e in ev:
            # a system event keeps its fields; one of a camera also offers the
            # clip around it (posted events have more: test_events.py)
            want = ["camera", "detail", "id", "time", "type"]
            self.assertEqual(sorted(e), sorted(want + ["clip"]) if e["camera"] else want)
        self.assertTrue(any(e["type"] == "online" for e in ev))
        st, ev, _ = self.req("GET", "/api/events?camera=s1&type=online&start=0", "investigator")
        self.assertEqual(st, 200)
        self.assertTrue(ev)
        self.assertTrue(all(e["camera"] == "s1" and e["type"] == "online" for e in ev))
        # a range before anything happened is empty
        st, ev, _ = self.req("GET", "/api/events?start=0&end=1000", "investigator")
        self.assertEqual((st, ev), (200, []))
        self.assertEqual(self.req("GET", "/api/events?start=bad", "investigator")[0], 400)
        self.assertEqual(self.req("GET", "/api/events?camera=zz", "investigator")[0], 404)
        self.assertEqual(self.req("GET", "/api/events", "viewer")[0], 403)

    def test_3_coverage(self):
        segs = self.closed("n1")
        start = segs[0]["start"]
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))
        st, cov, _ = self.req("GET", "/api/coverage?district=North&start=%s&end=%s"
                              % (start, end), "investigator")
        self.assertEqual(st, 200, cov)
        byid = {c["id"]: c for c in cov["cameras"]}
        self.assertEqual(sorted(byid), ["n1", "n2", "n3"])
        self.assertEqual(byid["n3"]["runs"], [])
        self.assertEqual(byid["n3"]["covered_seconds"], 0)
        self.assertEqual(byid["n1"]["site"], "traffic")
        for cid in ("n1", "n2"):
            self.assertTrue(byid[cid]["runs"])
            self.assertGreater(byid[cid]["covered_seconds"], 4)
        st, cov, _ = self.req("GET", "/api/coverage?district=North&site=traffic&start=%s&end=%s"
                              % (start, end), "investigator")
        self.assertEqual([c["id"] for c in cov["cameras"]], ["n1"])
        self.assertEqual(self.req("GET", "/api/coverage?district=North", "investigator")[0], 400)
        self.assertEqual(self.req("GET", "/api/coverage?district=North&start=%s&end=%s"
                                  % (start, end), "viewer")[0], 403)

    def test_4_export(self):
        n1, n2 = self.closed("n1"), self.closed("n2")
        start = max(n1[0]["start"], n2[0]["start"])
        end = min(n1[2]["end"], n2[2]["end"])
        body = {"district": "North", "start": start, "end": end,
                "reason": "incident 2026-0412: collision at the crossroads"}
        self.assertEqual(self.req("POST", "/api/exports", "viewer", body)[0], 403)
        self.assertEqual(self.req("POST", "/api/exports", "investigator",
                                  {"start": start, "end": end, "reason": "r"})[0], 400)
        self.assertEqual(self.req("POST", "/api/exports", "investigator",
                                  {"cameras": ["n1", "zz"], "start": start, "end": end,
                                   "reason": "r"})[0], 404)
        self.assertEqual(self.req("POST", "/api/exports", "investigator",
                                  {"district": "Nowhere", "start": start, "end": end,
                                   "reason": "r"})[0], 404)
        st, resp, raw = self.req("POST", "/api/exports", "investigator", body)
        self.assertEqual(st, 201, resp)
        m = resp["manifest"]
        self.assertEqual(m["created_by"], NAMES["investigator"])
        self.assertEqual(m["reason"], body["reason"])
        self.assertEqual(sorted(c["id"] for c in m["cameras"]), ["n1", "n2", "n3"])
        # the signed bytes are embedded verbatim; re-serializing gives the same bytes
        text = raw.decode()
        self.assertTrue(text.startswith('{"manifest":'))
        signed = text[len('{"manifest":'):text.rindex(',"signature":')]
        self.assertEqual(json.loads(signed), m)
        self.assertEqual(json.dumps(m, sort_keys=True, separators=(",", ":")), signed)
        st, pk, _ = self.req("GET", "/api/exports/public-key", "investigator")
        self.assertEqual(st, 200)
        self.assertEqual(pk["public_key"], m["public_key"])
        self.assertEqual(len(base64.b64decode(resp["signature"])), 64)
        keyfile = self.env.path("index.db.signing-key")
        self.assertEqual(os.stat(keyfile).st_mode & 0o777, 0o600)
        # vigilctl verifies with libsodium; a changed byte fails
        mf = self.env.path("export.json")
        with open(mf, "wb") as f:
            f.write(raw)
        r = self.env.vigilctl(self.cfg, "export-verify", mf)
        self.assertIn("valid", r.stdout)
        r = self.env.vigilctl(self.cfg, "export-verify", mf, "--public-key", pk["public_key"])
        self.assertEqual(r.returncode, 0)
        bad = self.env.path("export-bad.json")
        with open(bad, "wb") as f:
            f.write(raw.replace(b"collision", b"c0llision"))
        self.assertNotEqual(self.env.vigilctl(self.cfg, "export-verify", bad,
                                              check=False).returncode, 0)
        # GET returns the same bytes
        st, _, again = self.req("GET", "/api/exports/%d" % m["export"], "investigator")
        self.assertEqual((st, again), (200, raw))
        self.assertEqual(self.req("GET", "/api/exports/9999", "investigator")[0], 404)
        # segments: the files match their hashes; locks are in force
        pool = self.env.path("pool0")
        st, locks, _ = self.req("GET", "/api/locks", "investigator")
        active = {l["id"] for l in locks}
        for c in m["cameras"]:
            self.assertEqual(len(c["locks"]), 1)
            self.assertIn(c["locks"][0], active)
            if c["id"] == "n3":
                self.assertEqual((c["clips"], c["segments"]), ([], []))
                continue
            self.assertTrue(c["segments"])
            for s in c["segments"]:
                self.assertEqual(sha256_file(os.path.join(pool, s["path"])), s["sha256"])
                self.assertEqual(os.path.getsize(os.path.join(pool, s["path"])), s["bytes"])
            self.assertEqual(len(c["clips"]), 1, c["clips"])
            url = c["clips"][0]["url"]
            self.assertIn("export=%d" % m["export"], url)
            st, hdrs, data = self.d.http(url, headers={
                "Authorization": "Bearer " + TOKENS["investigator"]})
            self.assertEqual(st, 200)
            clip = self.env.path("export-%s.mp4" % c["id"])
            with open(clip, "wb") as f:
                f.write(data)
            self.assertEqual(decode_errors(clip), "")
        def exported():
            rows = [r for r in self.audit() if r["action"] == "export"]
            return rows if len(rows) >= 2 else None
        rows = wait_for(exported, 10, what="export downloads audited")
        self.assertEqual(sorted(r["camera"] for r in rows), ["n1", "n2"])
        self.assertTrue(all(json.loads(r["detail"])["export"] == m["export"] for r in rows))
        self.assertTrue(any(r["action"] == "export_create" and r["token"] == NAMES["investigator"]
                            for r in self.audit()))

    def test_5_reload_updates_cameras(self):
        st, cams, _ = self.req("GET", "/api/cameras", "viewer")
        self.assertEqual(sorted(c["id"] for c in cams), ["n1", "n2", "n3", "s1"])
        cams2 = self.cams[:3] + [self.env.camera("w1", "rtsp://127.0.0.1:9/none",
                                                  district="West", enabled=False)]
        self.env.config(cams2, segment_seconds=2, extra=AUTH)
        st, js, _ = self.req("POST", "/api/reload", "admin")
        self.assertEqual(st, 200, js)
        st, cams, _ = self.req("GET", "/api/cameras", "viewer")
        self.assertEqual(sorted(c["id"] for c in cams), ["n1", "n2", "s1", "w1"])
        st, cams, _ = self.req("GET", "/api/cameras?district=West", "viewer")
        self.assertEqual([c["id"] for c in cams], ["w1"])
        # the tokens of the new config still work, and a lock on the new camera is accepted
        now = int(time.time())
        st, _, _ = self.req("POST", "/api/locks", "investigator",
                            {"camera": "w1", "start": now - 60, "end": now, "reason": "r"})
        self.assertEqual(st, 201)


if __name__ == "__main__":
    vigiltest.main()
