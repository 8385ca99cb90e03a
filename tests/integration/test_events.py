"""
Events from other systems, against a real daemon recording camsim cameras
with auth on (one daemon for the file):

- POST /api/events: one event, a JSON array, NDJSON; an integrator token may
  post and do nothing else (403 everywhere else), a viewer may not post;
- bad input is 400 naming the field (and the element of a batch), and a bad
  batch stores nothing (the good elements before the bad one are not found);
- a source_id posted twice is stored once (the answer says duplicate);
- GET /api/events: full text (Vietnamese: "Luc Nam" finds "Lục Nam", "Dong"
  finds "Đồng"), combined with camera/district/site/type/start/end/limit; the
  system's own events are still there, with their fields;
- the clip URL of an event plays: fetched with a viewer token, it decodes
  clean with `ffmpeg -v error`, and it covers the configured pre/post roll;
- a batch of 400 events just under the 64 KiB body cap is taken whole;
- `vigilctl events post` / `events search` against the same daemon;
- /metrics counts posted events stored, duplicate and refused.
"""
import hashlib
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, decode_errors, rfc3339_to_unix, wait_for  # noqa: E402

TOKENS = {"viewer": "tok-viewer-7a1b", "investigator": "tok-police-2c3d",
          "admin": "tok-admin-4e5f", "integrator": "tok-anpr-6a7b"}
ROLES = {k: k for k in TOKENS}
NAMES = {"viewer": "ioc", "investigator": "police-ln", "admin": "ops", "integrator": "anpr-ln"}
CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


EXTRA = ("events: {pre_roll: 2s, post_roll: 3s}\n" + "auth:\n  tokens:\n" + "".join(
    '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (NAMES[k], ROLES[k], sha(TOKENS[k]))
    for k in TOKENS))


class Events(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("events")
        try:
            cls.cam = env.camsim(["n1:" + CAM, "t1:" + CAM])
            cams = [env.camera("n1", cls.cam.url("n1"), district="Lục Nam", site="security"),
                    env.camera("t1", cls.cam.url("t1"), district="Lục Nam", site="traffic")]
            cls.cfg = env.config(cams, segment_seconds=2, extra=EXTRA)
            cls.d = env.vigild(cls.cfg)
            cls.t0 = time.time()
            wait_for(lambda: len([s for s in env.segments(cls.cfg, "t1") if s["sha256"]]) >= 3,
                     60, what="t1 three segments")
        except Exception:
            env.close(keep_on_failure=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, method, path, who=None, body=None, headers=None):
        h = {"Authorization": "Bearer " + TOKENS[who]} if who else {}
        h.update(headers or {})
        st, hdrs, data = self.d.http(path, headers=h, method=method, body=body)
        js = data
        if data and hdrs.get("content-type", "").startswith("application/json"):
            js = json.loads(data)
        return st, js, hdrs

    def post(self, body, who="integrator", **kw):
        st, js, _ = self.req("POST", "/api/events", who, body, **kw)
        return st, js

    def search(self, query, who="investigator"):
        st, js, hdrs = self.req("GET", "/api/events?" + query, who)
        self.assertEqual(st, 200, js)
        return js, hdrs

    def ev(self, **kw):
        e = {"camera": "t1", "time": int(time.time()) - 5, "type": "anpr"}
        e.update(kw)
        return {k: v for k, v in e.items() if v is not None}

    def test_1_roles(self):
        st, js = self.post(self.ev(text="vai trò"))
        self.assertEqual(st, 201, js)
        self.assertIsInstance(js["id"], int)
        self.assertFalse(js["duplicate"])
        self.assertEqual(self.post(self.ev(), who="investigator")[0], 201)
        self.assertEqual(self.post(self.ev(), who="admin")[0], 201)
        # times: RFC 3339 with an offset, Unix seconds, Unix seconds with a fraction
        for t in ("2026-11-23T07:42:10.250+07:00", 1795394530, 1795394530.25):
            st, js = self.post(self.ev(time=t, text="thời điểm"))
            self.assertEqual(st, 201, (t, js))
        found, _ = self.search("q=thoi%20diem&start=0")
        self.assertEqual([e["time"] for e in found],
                         ["2026-11-23T00:42:10Z", "2026-11-23T00:42:10.250Z",
                          "2026-11-23T00:42:10.250Z"])
        self.assertEqual(self.post(self.ev(), who="viewer")[0], 403)
        self.assertEqual(self.post(self.ev(), who=None)[0], 401)
        # an integrator does nothing else
        for method, path in (("GET", "/api/events"), ("GET", "/api/cameras"),
                             ("GET", "/api/cameras/t1/recordings"), ("GET", "/api/locks"),
                             ("GET", "/api/cameras/t1/clip.mp4?start=0&end=1"),
                             ("POST", "/api/locks"), ("GET", "/metrics"),
                             ("GET", "/api/audit")):
            st, js, _ = self.req(method, path, "integrator", {} if method == "POST" else None)
            self.assertEqual(st, 403, (method, path, js))
        self.assertEqual(self.req("GET", "/api/events", "viewer")[0], 403)
        self.assertEqual(self.req("DELETE", "/api/events", "investigator")[0], 405)
        self.assertEqual(self.req("GET", "/api/events/3", "investigator")[0], 404)
        # posted_by names the token
        found, _ = self.search("q=vai%20tro")
        self.assertEqual([e["posted_by"] for e in found], [NAMES["integrator"]])

    def test_2_bad_input(self):
        now = int(time.time())
        cases = [
            ("time", self.ev(time=None)),
            ("time", self.ev(time="hôm qua")),
            ("time", self.ev(time=-1.5)),
            ("time", self.ev(time=True)),
            ("end", self.ev(end=now - 3600)),
            ("end", self.ev(end="x")),
            ("type", self.ev(type=None)),
            ("type", self.ev(type="")),
            ("type", self.ev(type="a" * 64)),
            ("type", self.ev(type=5)),
            ("camera", self.ev(camera="nope")),
            ("camera", self.ev(camera=None)),
            ("district", self.ev(district="Lục Nam")),
            ("site", self.ev(camera=None, site="mall")),
            ("district", self.ev(camera=None, district=7)),
            ("text", self.ev(text="x" * 4097)),
            ("text", self.ev(text=["a"])),
            ("attributes", self.ev(attributes=[1, 2])),
            ("attributes", self.ev(attributes={"k": "v" * 9000})),
            ("source_id", self.ev(source_id="")),
            ("colour", self.ev(colour="red")),
        ]
        for field, body in cases:
            st, js = self.post(body)
            self.assertEqual(st, 400, (field, body, js))
            self.assertEqual(js["field"], field, js)
            self.assertTrue(js["error"].startswith(field + ": "), js)
        st, js = self.post(b"{not json", headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400, js)
        self.assertIn("body", js["error"])
        st, js = self.post(b"", headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400, js)
        st, js = self.post([])
        self.assertEqual(st, 400, js)
        st, js = self.post([self.ev()] * 1001)
        self.assertEqual(st, 400, js)
        # queries: 400 naming the parameter
        for q, name in (("start=yesterday", "start"), ("end=x", "end"), ("limit=0", "limit"),
                        ("limit=abc", "limit"), ("limit=10001", "limit"), ("site=mall", "site"),
                        ("q=%20--%20*", "q"), ("start=100&end=50", "end")):
            st, js, _ = self.req("GET", "/api/events?" + q, "investigator")
            self.assertEqual(st, 400, (q, js))
            self.assertTrue(js["error"].startswith(name + ":"), (q, js))
        self.assertEqual(self.req("GET", "/api/events?camera=nope", "investigator")[0], 404)

    def test_3_batch_atomic(self):
        good = [self.ev(text="lô nguyên tử %d" % i, source_id="atomic-%d" % i) for i in range(3)]
        bad = good[:2] + [self.ev(time=None, text="lô nguyên tử hỏng")] + good[2:]
        st, js = self.post(bad)
        self.assertEqual(st, 400, js)
        self.assertEqual((js["index"], js["field"]), (2, "time"), js)
        self.assertTrue(js["error"].startswith("event 2: time: "), js)
        found, _ = self.search("q=nguyen%20tu")
        self.assertEqual(found, [])
        # NDJSON with a bad line: nothing either
        nd = "\n".join(json.dumps(e, ensure_ascii=False) for e in good) + "\n{oops\n"
        st, js = self.post(nd.encode(), headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 400, js)
        self.assertIn("event 3", js["error"])
        self.assertEqual(self.search("q=nguyen%20tu")[0], [])
        # the same batch, fixed, as NDJSON (blank lines and CRLF are fine)
        nd = "\r\n\r\n".join(json.dumps(e, ensure_ascii=False) for e in good) + "\r\n"
        st, js = self.post(nd.encode(), headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 201, js)
        self.assertEqual((js["stored"], js["duplicates"]), (3, 0), js)
        self.assertEqual(len(js["ids"]), 3)
        self.assertEqual(len(self.search("q=nguyen%20tu")[0]), 3)

    def test_4_duplicates(self):
        e = self.ev(text="trùng lặp", source_id="anpr-ln-000042")
        st, js = self.post(e)
        self.assertEqual(st, 201, js)
        first = js["id"]
        st, js = self.post(e)
        self.assertEqual(st, 200, js)
        self.assertEqual(js, {"id": None, "duplicate": True})
        st, js = self.post([e, self.ev(text="trùng lặp", source_id="anpr-ln-000043"),
                            self.ev(text="trùng lặp", source_id="anpr-ln-000043")])
        self.assertEqual(st, 201, js)
        self.assertEqual((js["stored"], js["duplicates"]), (1, 2), js)
        self.assertEqual(js["ids"][0], None)
        self.assertEqual(js["ids"][2], None)
        found, _ = self.search("q=trung%20lap")
        self.assertEqual(len(found), 2)
        self.assertEqual(found[0]["id"], first)
        self.assertEqual(found[0]["source_id"], "anpr-ln-000042")

    def test_5_search_vietnamese_and_filters(self):
        now = int(time.time())
        batch = [
            self.ev(time=now - 30, text="Xe 98A-123.45 vượt đèn đỏ tại Lục Nam",
                    attributes={"plate": "98A-123.45", "màu": "trắng"}),
            {"district": "Lục Nam", "site": "security", "time": now - 20, "end": now - 10,
             "type": "alarm", "text": "Báo động kho xã Đồng Phú"},
            {"district": "Yên Dũng", "time": now - 15, "type": "call_113",
             "text": "Tin báo 113 từ xã Đồng Việt"},
        ]
        st, js = self.post(batch)
        self.assertEqual(st, 201, js)
        ids = js["ids"]
        found, _ = self.search("q=Luc%20Nam")
        self.assertIn(ids[0], [e["id"] for e in found])
        self.assertNotIn(ids[1], [e["id"] for e in found])
        found, _ = self.search("q=Dong")
        self.assertEqual(sorted(e["id"] for e in found), sorted(ids[1:]))
        found, _ = self.search("q=%C4%90%E1%BB%93ng%20Ph%C3%BA")  # Đồng Phú
        self.assertEqual([e["id"] for e in found], [ids[1]])
        found, _ = self.search("q=98A-123.45")
        self.assertEqual([e["id"] for e in found], [ids[0]])
        a = found[0]
        self.assertEqual(a["attributes"], {"plate": "98A-123.45", "màu": "trắng"})
        self.assertEqual((a["camera"], a["district"], a["site"], a["type"]),
                         ("t1", "Lục Nam", "traffic", "anpr"))
        found, _ = self.search("q=trang")  # an attribute's value
        self.assertIn(ids[0], [e["id"] for e in found])
        # filters, with and without text
        found, _ = self.search("q=dong&district=Y%C3%AAn%20D%C5%A9ng")
        self.assertEqual([e["id"] for e in found], [ids[2]])
        found, _ = self.search("q=dong&site=security")
        self.assertEqual([e["id"] for e in found], [ids[1]])
        found, _ = self.search("type=alarm")
        self.assertEqual([e["id"] for e in found], [ids[1]])
        self.assertEqual(found[0]["end"][:4], found[0]["time"][:4])
        found, _ = self.search("q=dong&camera=t1")
        self.assertEqual(found, [])
        found, _ = self.search("q=dong&start=%d&end=%d" % (now - 25, now - 16))
        self.assertEqual([e["id"] for e in found], [ids[1]])
        found, hdrs = self.search("q=dong&limit=1")
        self.assertEqual([e["id"] for e in found], [ids[1]])
        self.assertEqual(hdrs.get("x-events-truncated"), "1")
        found, hdrs = self.search("q=dong&limit=2")
        self.assertNotIn("x-events-truncated", hdrs)
        # an area event gets a clip per camera of its area
        alarm = self.search("type=alarm")[0][0]
        self.assertEqual(sorted(c["camera"] for c in alarm["clips"]), ["n1"])
        call = self.search("type=call_113")[0][0]
        self.assertEqual(call["clips"], [])
        # the system's own events keep their fields, and are found by area
        online, _ = self.search("type=online&camera=n1&start=0")
        self.assertTrue(online, "no online event of n1")
        o = online[0]
        for k in ("id", "time", "camera", "type", "detail"):
            self.assertIn(k, o)
        self.assertIsInstance(o["detail"], str)
        self.assertIn("clip", o)
        area, _ = self.search("type=online&district=L%E1%BB%A5c%20Nam&site=security&start=0")
        self.assertEqual({e["camera"] for e in area}, {"n1"})
        # vigilctl events (the index directly) sees posted events too
        evs = self.env.events(self.cfg, "--camera", "t1")
        self.assertIn("anpr", [e["type"] for e in evs])

    def test_6_clip_plays(self):
        segs = [s for s in self.env.segments(self.cfg, "t1") if s["sha256"]]
        t = (rfc3339_to_unix(segs[1]["start"]) + rfc3339_to_unix(segs[-1]["end"])) / 2
        st, js = self.post(self.ev(time=int(t), text="kiểm tra đoạn phim"))
        self.assertEqual(st, 201, js)
        found, _ = self.search("q=kiem%20tra%20doan%20phim&start=0")
        self.assertEqual(len(found), 1)
        url = found[0]["clip"]
        self.assertTrue(url.startswith("/api/cameras/t1/clip.mp4?start="), url)
        st, hdrs, data = self.d.http(url, headers={"Authorization": "Bearer " +
                                                   TOKENS["viewer"]})
        self.assertEqual(st, 200, data[:200])
        clip = self.env.path("event-clip.mp4")
        with open(clip, "wb") as f:
            f.write(data)
        self.assertEqual(decode_errors(clip), "")
        # pre_roll 2 s, post_roll 3 s (the clip starts at the keyframe at or before)
        cs, ce = rfc3339_to_unix(hdrs["x-clip-start"]), rfc3339_to_unix(hdrs["x-clip-end"])
        self.assertLessEqual(cs, int(t) - 2 + 0.001)
        self.assertGreater(ce, int(t) + 1)

    def test_7_big_batch(self):
        # A batch just under the 64 KiB body cap (one cap for every route)
        now = int(time.time())
        batch = [self.ev(time=now - 60 + i % 50, text="lô lớn số %d" % i,
                         attributes={"plate": "98A-%03d.%02d" % (i, i % 100)},
                         source_id="big-%d" % i) for i in range(400)]
        nd = ("\n".join(json.dumps(e, ensure_ascii=False) for e in batch) + "\n").encode()
        self.assertLess(len(nd), 64 * 1024)
        self.assertGreater(len(nd), 48 * 1024)
        st, js = self.post(nd, headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 201, js)
        self.assertEqual(js["stored"], 400)
        found, _ = self.search("q=lon%20so&start=0")
        self.assertEqual(len(found), 400)
        found, _ = self.search("q=98A-123.23")
        self.assertEqual([e["source_id"] for e in found], ["big-123"])


    def test_7b_concurrent_posts(self):
        # 12 batches at once: each is stored whole (201) or refused whole with
        # Retry-After (503, more than 4 waiting for the index), never in part
        import threading
        now = int(time.time())
        results = [None] * 12

        def post(k):
            batch = [self.ev(time=now - 30 + i % 20, text="đồng thời %d" % k,
                             source_id="conc-%d-%d" % (k, i)) for i in range(300)]
            nd = ("\n".join(json.dumps(e, ensure_ascii=False) for e in batch) + "\n").encode()
            results[k] = self.req("POST", "/api/events", "integrator", nd,
                                  headers={"Content-Type": "application/x-ndjson"})
        ts = [threading.Thread(target=post, args=(k,)) for k in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        stored = 0
        for k, (st, js, hdrs) in enumerate(results):
            if st == 503:
                self.assertEqual(hdrs.get("retry-after"), "1", js)
                self.assertIn("event posts", js["error"])
            else:
                self.assertEqual((st, js["stored"]), (201, 300), js)
                stored += 1
            found, _ = self.search("q=dong%%20thoi%%20%d&start=0" % k)
            self.assertEqual(len(found), 300 if st == 201 else 0, (k, st))
        self.assertGreater(stored, 0)

    def test_8_vigilctl(self):
        url = "http://127.0.0.1:%d" % self.d.http_port
        api = ["--url", url, "--token"]
        nd = self.env.path("events.ndjson")
        now = int(time.time())
        with open(nd, "w") as f:
            for i in range(3):
                f.write(json.dumps(self.ev(time=now - i, text="dòng lệnh %d Hà Nội" % i,
                                           source_id="ctl-%d" % i), ensure_ascii=False) + "\n")
        r = self.env.vigilctl(self.cfg, "events", "post", nd, *api, TOKENS["integrator"])
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(o["stored"], o["duplicates"]) for o in out], [(3, 0)], r.stdout)
        r = self.env.vigilctl(self.cfg, "events", "post", nd, *api, TOKENS["integrator"])
        self.assertEqual(json.loads(r.stdout)["duplicates"], 3, r.stdout)
        r = self.env.vigilctl(self.cfg, "events", "search", "--q", "dong lenh ha noi",
                              "--camera", "t1", *api, TOKENS["investigator"])
        rows = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(sorted(o["source_id"] for o in rows), ["ctl-0", "ctl-1", "ctl-2"])
        self.assertTrue(all(o["clip"].startswith("/api/cameras/t1/clip.mp4?") for o in rows))
        # a refused post: exit 1 with the daemon's reason, nothing stored
        with open(nd, "w") as f:
            f.write(json.dumps(self.ev(text="dòng lệnh hỏng", source_id="ctl-x")) + "\n")
            f.write(json.dumps(self.ev(time=None, text="dòng lệnh hỏng")) + "\n")
        r = self.env.vigilctl(self.cfg, "events", "post", nd, *api, TOKENS["integrator"],
                              check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("event 1: time: required", r.stderr)
        r = self.env.vigilctl(self.cfg, "events", "search", "--q", "hong", *api,
                              TOKENS["investigator"])
        self.assertEqual(r.stdout, "")
        r = self.env.vigilctl(self.cfg, "events", "search", *api, TOKENS["integrator"],
                              check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)


    def test_9_metrics(self):
        # every earlier test posted: stored, duplicates and refused ones are counted
        st, text, _ = self.req("GET", "/metrics", "admin")
        self.assertEqual(st, 200)
        text = text.decode() if isinstance(text, bytes) else text
        got = {}
        for line in text.splitlines():
            if line.startswith("vigil_events_posted_total{"):
                got[line.split('"')[1]] = int(line.split()[-1])
        self.assertGreaterEqual(got.get("stored", 0), 400 + 3 + 3, got)
        self.assertGreaterEqual(got.get("duplicate", 0), 3 + 2 + 1, got)
        self.assertGreaterEqual(got.get("refused", 0), 5 + 2, got)


if __name__ == "__main__":
    vigiltest.main()
