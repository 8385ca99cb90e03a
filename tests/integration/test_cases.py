"""
Cases, against a real daemon recording camsim cameras with auth on:

- POST /api/cases by camera list and by district: every camera's footage is
  held by a lock in force naming the case; bad bodies are 400 naming the
  field, a viewer is refused (403), an unknown camera is 404;
- GET /api/cases lists open cases; GET /api/cases/{id} carries the cameras
  with their recorded runs and locks, the notes, the exports and the chain of
  custody: a clip downloaded from a case camera inside the range is in it,
  one from another camera is not;
- notes (POST /api/cases/{id}/notes), exports under the case (linked, signed,
  only the case's cameras, only inside its range);
- closing: another investigator is refused (403, audited), a reason is
  required, the creator closes it and its locks are released; a closed case
  takes no notes, exports or second close (409);
- `vigilctl case` create/list/show/note/close against the same daemon.
"""
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, decode_errors, wait_for  # noqa: E402

TOKENS = {"viewer": "tok-viewer-1b2c", "investigator": "tok-police-5d6e",
          "investigator2": "tok-police-9f0a", "admin": "tok-admin-3c4d"}
NAMES = {"viewer": "ioc", "investigator": "police-ln", "investigator2": "police-yd",
         "admin": "ops"}
ROLES = {"viewer": "viewer", "investigator": "investigator",
         "investigator2": "investigator", "admin": "admin"}
CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


AUTH = ("auth:\n  tokens:\n" + "".join(
    '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (NAMES[k], ROLES[k], sha(TOKENS[k]))
    for k in TOKENS))


class Cases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("cases")
        try:
            cls.cam = env.camsim(["n1:" + CAM, "n2:" + CAM, "s1:" + CAM])
            cams = [env.camera("n1", cls.cam.url("n1"), district="Lục Nam"),
                    env.camera("n2", cls.cam.url("n2"), district="Lục Nam"),
                    env.camera("s1", cls.cam.url("s1"), district="Yên Dũng")]
            cls.cfg = env.config(cams, segment_seconds=2, extra=AUTH)
            cls.d = env.vigild(cls.cfg)
            for cid in ("n1", "n2", "s1"):
                wait_for(lambda: len([s for s in env.segments(cls.cfg, cid)
                                      if s["sha256"]]) >= 2, 60, what=cid + " two segments")
            segs = [s for s in env.segments(cls.cfg, "n1") if s["sha256"]]
            cls.start, cls.end = segs[0]["start"], segs[-1]["end"]
        except Exception:
            env.close(keep_on_failure=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, method, path, who=None, body=None):
        headers = {"Authorization": "Bearer " + TOKENS[who]} if who else {}
        st, hdrs, data = self.d.http(path, headers=headers, method=method, body=body)
        try:
            js = json.loads(data) if data and hdrs.get("content-type", "").startswith(
                "application/json") else data
        except ValueError:
            js = data
        return st, js

    def new_case(self, **over):
        body = {"title": "Vụ trộm xe máy ở Lục Nam", "reason": "Công an huyện yêu cầu",
                "start": self.start, "end": self.end, "cameras": ["n1", "n2"]}
        body.update(over)
        body = {k: v for k, v in body.items() if v is not None}
        st, c = self.req("POST", "/api/cases", "investigator", body)
        self.assertEqual(st, 201, c)
        return c

    def locks_in_force(self):
        st, locks = self.req("GET", "/api/locks", "investigator")
        self.assertEqual(st, 200, locks)
        return {l["id"]: l for l in locks}

    def test_1_create_validation(self):
        good = {"title": "t", "reason": "r", "start": self.start, "end": self.end,
                "cameras": ["n1"]}
        self.assertEqual(self.req("POST", "/api/cases", "viewer", good)[0], 403)
        self.assertEqual(self.req("GET", "/api/cases", "viewer")[0], 403)
        self.assertEqual(self.req("POST", "/api/cases", None, good)[0], 401)
        for field, bad in (("title", dict(good, title="")), ("reason", dict(good, reason=None)),
                           ("start", dict(good, start="yesterday")),
                           ("end", dict(good, end=self.start)),
                           ("title", dict(good, title="ạ" * 200)),
                           ("cameras", dict(good, cameras=[])),
                           ("cameras", dict(good, cameras=[3])),
                           ("district", dict(good, district="x"))):
            st, js = self.req("POST", "/api/cases", "investigator", bad)
            self.assertEqual(st, 400, (bad, js))
            self.assertIn(field, js["error"], (bad, js))
        st, js = self.req("POST", "/api/cases", "investigator", dict(good, cameras=["nope"]))
        self.assertEqual(st, 404, js)
        st, js = self.req("POST", "/api/cases", "investigator",
                          {k: v for k, v in good.items() if k != "cameras"} |
                          {"district": "Nowhere"})
        self.assertEqual(st, 404, js)
        self.assertEqual(self.req("GET", "/api/cases/999999", "investigator")[0], 404)
        self.assertEqual(self.req("GET", "/api/cases/abc", "investigator")[0], 404)
        self.assertEqual(self.req("POST", "/api/cases/1/bogus", "investigator", {})[0], 404)
        self.assertEqual(self.req("DELETE", "/api/cases", "investigator")[0], 405)

    def test_2_case_holds_views_notes_exports_close(self):
        c = self.new_case()
        self.assertEqual(c["status"], "open")
        self.assertEqual(c["ncameras"], 2)
        self.assertEqual(c["created_by"], NAMES["investigator"])
        cid = c["id"]

        # every camera held by a lock in force naming the case
        st, full = self.req("GET", "/api/cases/%d" % cid, "investigator")
        self.assertEqual(st, 200, full)
        self.assertEqual(sorted(x["id"] for x in full["cameras"]), ["n1", "n2"])
        locks = self.locks_in_force()
        for cam in full["cameras"]:
            self.assertIn(cam["lock"], locks, cam)
            lk = locks[cam["lock"]]
            self.assertEqual(lk["camera"], cam["id"])
            self.assertTrue(lk["reason"].startswith("case %d: " % cid), lk)
            self.assertIsNone(lk["until"])
            self.assertTrue(cam["runs"], cam)            # recorded runs in range
            self.assertGreater(cam["covered_seconds"], 1)
        self.assertEqual(len(full["locks"]), 2)

        # listed while open
        st, lst = self.req("GET", "/api/cases", "investigator")
        self.assertIn(cid, [x["id"] for x in lst])

        # a view of a case camera inside the range is in the chain of custody;
        # one of another camera is not
        q = "?start=%s&end=%s" % (self.start, self.end)
        for cam in ("n1", "s1"):
            st, hdrs, data = self.d.http("/api/cameras/%s/clip.mp4%s" % (cam, q), headers={
                "Authorization": "Bearer " + TOKENS["viewer"]})
            self.assertEqual(st, 200)
            clip = self.env.path("case-%s.mp4" % cam)
            with open(clip, "wb") as f:
                f.write(data)
            self.assertEqual(decode_errors(clip), "")

        # notes
        self.assertEqual(self.req("POST", "/api/cases/%d/notes" % cid, "viewer",
                                  {"text": "x"})[0], 403)
        self.assertEqual(self.req("POST", "/api/cases/%d/notes" % cid, "investigator",
                                  {"text": ""})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/%d/notes" % cid, "investigator", {})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/999999/notes", "investigator",
                                  {"text": "x"})[0], 404)
        st, note = self.req("POST", "/api/cases/%d/notes" % cid, "investigator2",
                            {"text": "Biển số 98A-123.45 đi qua lúc 07:42"})
        self.assertEqual(st, 201, note)
        self.assertEqual(note["author"], NAMES["investigator2"])

        # exports under the case: only its cameras, only inside its range
        self.assertEqual(self.req("POST", "/api/cases/%d/exports" % cid, "investigator",
                                  {"reason": "x", "cameras": ["s1"]})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/%d/exports" % cid, "investigator",
                                  {"reason": "x", "start": "2001-01-01T00:00:00Z",
                                   "end": "2001-01-01T00:01:00Z"})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/%d/exports" % cid, "investigator",
                                  {})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/%d/exports" % cid, "viewer",
                                  {"reason": "x"})[0], 403)
        st, ex = self.req("POST", "/api/cases/%d/exports" % cid, "investigator",
                          {"reason": "gửi Viện kiểm sát"})
        self.assertEqual(st, 201, ex)
        m = ex["manifest"]
        self.assertEqual(sorted(x["id"] for x in m["cameras"]), ["n1", "n2"])
        self.assertTrue(m["reason"].startswith("case %d: " % cid), m["reason"])
        st, _, raw = self.d.http("/api/exports/%d" % m["export"], headers={
            "Authorization": "Bearer " + TOKENS["investigator"]})
        self.assertEqual(st, 200)
        mf = self.env.path("case-export.json")
        with open(mf, "wb") as f:
            f.write(raw)
        r = self.env.vigilctl(self.cfg, "export-verify", mf, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        st, full = self.req("GET", "/api/cases/%d" % cid, "investigator")
        self.assertEqual(st, 200, full)
        self.assertEqual([e["id"] for e in full["exports"]], [m["export"]])
        self.assertEqual(full["exports"][0]["bundle"], "/api/exports/%d/bundle.zip" % m["export"])
        self.assertEqual([n["text"] for n in full["notes"]], [note["text"]])
        cust = full["custody"]
        acts = [(a["action"], a["camera"]) for a in cust]
        self.assertIn(("case_create", None), acts)
        self.assertIn(("clip", "n1"), acts)
        self.assertNotIn(("clip", "s1"), acts)
        self.assertIn(("case_note", None), acts)
        self.assertIn(("case_export", None), acts)
        self.assertIn(("case_view", None), acts)
        for a in cust:
            if a["action"].startswith("case"):
                self.assertEqual(json.loads(a["detail"])["case"], cid, a)

        # closing: the creator or an admin, with a reason
        st, js = self.req("POST", "/api/cases/%d/close" % cid, "investigator2",
                          {"reason": "không phải vụ của tôi"})
        self.assertEqual(st, 403, js)
        self.assertEqual(self.req("POST", "/api/cases/%d/close" % cid, "investigator", {})[0], 400)
        self.assertEqual(self.req("POST", "/api/cases/%d/close" % cid, "viewer",
                                  {"reason": "x"})[0], 403)
        held = [x["lock"] for x in full["cameras"]]
        st, closed = self.req("POST", "/api/cases/%d/close" % cid, "investigator",
                              {"reason": "đã chuyển hồ sơ"})
        self.assertEqual(st, 200, closed)
        self.assertEqual(closed["status"], "closed")
        self.assertEqual(sorted(closed["released_locks"]), sorted(held))
        in_force = self.locks_in_force()
        for lid in held:
            self.assertNotIn(lid, in_force)
        # the export's own locks are not the case's: they stay
        for lid in m["cameras"][0]["locks"]:
            self.assertIn(lid, in_force)
        self.assertEqual(self.req("POST", "/api/cases/%d/close" % cid, "investigator",
                                  {"reason": "again"})[0], 409)
        self.assertEqual(self.req("POST", "/api/cases/%d/notes" % cid, "investigator",
                                  {"text": "late"})[0], 409)
        self.assertEqual(self.req("POST", "/api/cases/%d/exports" % cid, "investigator",
                                  {"reason": "late"})[0], 409)
        st, lst = self.req("GET", "/api/cases", "investigator")
        self.assertNotIn(cid, [x["id"] for x in lst])
        st, lst = self.req("GET", "/api/cases?all=1", "investigator")
        self.assertIn(cid, [x["id"] for x in lst])
        # audit rows commit with the writer's next batch
        wait_for(lambda: "case_close_refused" in [
            a["action"] for a in self.req("GET", "/api/audit", "admin")[1]], 10,
            what="the refused close in the audit trail")

    def test_3_district_and_admin_close(self):
        c = self.new_case(cameras=None, district="Lục Nam")
        self.assertEqual(c["ncameras"], 2)
        st, full = self.req("GET", "/api/cases/%d" % c["id"], "investigator2")
        self.assertEqual(sorted(x["id"] for x in full["cameras"]), ["n1", "n2"])
        st, closed = self.req("POST", "/api/cases/%d/close" % c["id"], "admin",
                              {"reason": "admin closes a stale case"})
        self.assertEqual(st, 200, closed)
        self.assertEqual(closed["closed_by"], NAMES["admin"])
        self.assertEqual(len(closed["released_locks"]), 2)

    def test_4_vigilctl(self):
        tf = self.env.path("police.token")
        with open(tf, "w") as f:
            f.write(TOKENS["investigator"])
        base = ["--token-file", tf, "--url", self.d.url("")]
        r = self.env.vigilctl(self.cfg, "case", "create", "--title", "Cháy rừng Sơn Động",
                              "--reason", "Kiểm lâm", "--start", self.start, "--end", self.end,
                              "--district", "Yên Dũng", *base)
        c = json.loads(r.stdout)
        self.assertEqual(c["ncameras"], 1)
        r = self.env.vigilctl(self.cfg, "case", "list", *base)
        self.assertIn(c["id"], [json.loads(l)["id"] for l in r.stdout.splitlines()])
        self.env.vigilctl(self.cfg, "case", "note", str(c["id"]), "ghi chú", *base)
        r = self.env.vigilctl(self.cfg, "case", "show", str(c["id"]), *base)
        full = json.loads(r.stdout)
        self.assertEqual([n["text"] for n in full["notes"]], ["ghi chú"])
        self.assertEqual([x["id"] for x in full["cameras"]], ["s1"])
        r = self.env.vigilctl(self.cfg, "case", "close", str(c["id"]), *base, check=False)
        self.assertEqual(r.returncode, 2, r.stderr)   # --reason is required
        r = self.env.vigilctl(self.cfg, "case", "close", str(c["id"]), "--reason", "xong", *base)
        self.assertEqual(json.loads(r.stdout)["status"], "closed")
        r = self.env.vigilctl(self.cfg, "case", "close", str(c["id"]), "--reason", "xong", *base,
                              check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("409", r.stderr)
        # a viewer's token is refused, with the daemon's reason
        with open(tf, "w") as f:
            f.write(TOKENS["viewer"])
        r = self.env.vigilctl(self.cfg, "case", "list", *base, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)


if __name__ == "__main__":
    vigiltest.main()
