"""
The console's Investigations view in a real browser (Debian chromium driven
by playwright-core) against a real vigild recording camsim cameras, auth on,
console zone Asia/Ho_Chi_Minh:

- a viewer signed in is told the view needs an investigator (no errors);
- an investigator picks a district and a range typed in the console's zone
  (sent to the API in UTC): the district's cameras are listed as recorded,
  each with its activity; the other district's camera is not;
- events posted through the API: "Luc Nam" finds the accented "Lục Nam"
  event of the district only, the plate 98A-123.45 finds its event, and a
  result opens #/playback at the camera a few seconds before the event;
- a case opened from the cameras, exported, its bundle downloaded through
  the page's link (a download, the session cookie, no token in any URL) and
  verified exactly as VERIFY.txt says, with sha256sum and openssl; a note
  added; the chain of custody shows the case's history; closing releases the
  locks; the list of cases shows it closed;
- Vietnamese first, then English; screenshots next to the test log.
"""
import datetime
import hashlib
import json
import os
import sys
import time
import unittest
import urllib.parse
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, ed25519_fingerprint, log, sha256_file, verify_steps, wait_for  # noqa: E402

TOKENS = {"viewer": "inv-viewer-token-4e5f6a", "investigator": "inv-police-token-7b8c9d"}
NAMES = {"viewer": "ioc", "investigator": "police-ln"}
CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=400"
# ln1: a still scene with an object moving 3-7 s of every 10 s (activity);
# ln2: strict CBR, every picture the same size ("activity unavailable")
MOVING = CAM + ",rc=vbr,motion=3-7,cycle=10"
CBR = CAM + ",rc=cbr"
ZONE = datetime.timezone(datetime.timedelta(hours=7))  # Asia/Ho_Chi_Minh, no DST


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def zone_local(t):
    return datetime.datetime.fromtimestamp(t, ZONE).strftime("%Y-%m-%dT%H:%M:%S")


class Investigate(unittest.TestCase):
    def test_investigation_in_the_browser(self):
        env = Env("browser-investigate")
        auth = "auth:\n  tokens:\n" + "".join(
            '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (NAMES[r], r, sha(TOKENS[r]))
            for r in TOKENS)
        try:
            cam = env.camsim(["ln1:" + MOVING, "ln2:" + CBR, "yt1:" + CAM])
            cams = [env.camera("ln1", cam.url("ln1"), name="Ngã tư Đồi Ngô", district="Lục Nam",
                               site="security"),
                    env.camera("ln2", cam.url("ln2"), name="Chợ Lục Nam", district="Lục Nam",
                               site="traffic"),
                    env.camera("yt1", cam.url("yt1"), name="Cầu Bố Hạ", district="Yên Thế",
                               site="traffic")]
            cfg = env.config(cams, segment_seconds=4, extra=auth + (
                'web: "%s"\nconsole:\n  timezone: Asia/Ho_Chi_Minh\n' % os.path.join(SRC, "web")))
            d = env.vigild(cfg)
            for cid in ("ln1", "ln2", "yt1"):
                wait_for(lambda: len([s for s in env.segments(cfg, cid) if s["sha256"]]) >= 2,
                         60, what=cid + " two closed segments")

            def req(method, path, body=None, who="investigator"):
                st, hdrs, data = d.http(path, method=method, body=body, headers={
                    "Authorization": "Bearer " + TOKENS[who]})
                return st, data

            # the activity index has seen ln1 move and ln2 as CBR
            def activity():
                st, data = req("GET", "/api/activity/search?district=%s&start=%s&end=%s" % (
                    urllib.parse.quote("Lục Nam"), rfc3339(time.time() - 3600),
                    rfc3339(time.time() + 60)))
                a = json.loads(data)
                return ("ln1" in [i["camera"] for i in a["intervals"]] and
                        "ln2" in [u["camera"] for u in a["unavailable"]])
            wait_for(activity, 60, step=1, what="ln1's activity and ln2 unavailable")

            now = int(time.time())
            ev_time = now - 6
            events = [
                {"camera": "ln1", "time": rfc3339(ev_time), "type": "anpr",
                 "text": "98A-123.45 qua ngã tư Đồi Ngô, Lục Nam",
                 "attributes": {"plate": "98A-123.45"}, "source_id": "anpr-ln-000042"},
                {"camera": "ln2", "time": rfc3339(now - 4), "type": "note",
                 "text": "Người đi bộ băng qua đường ở Đồng Phú"},
                # an event of the district itself, offered on its cameras
                {"district": "Lục Nam", "time": rfc3339(now - 5), "type": "alarm",
                 "text": "Báo động đột nhập kho hàng"},
                # the other district's camera: not in a search of Lục Nam
                {"camera": "yt1", "time": rfc3339(now - 3), "type": "note",
                 "text": "Xe tải đi về Lục Nam"},
            ]
            st, data = req("POST", "/api/events", events)
            self.assertEqual(st, 201, data)
            ids = json.loads(data)["ids"]

            start = min(vigiltest.rfc3339_to_unix(env.segments(cfg, c)[0]["start"])
                        for c in ("ln1", "ln2"))
            start = int(start) + 1
            end = now + 30
            params = {"investigator": TOKENS["investigator"], "viewer": TOKENS["viewer"],
                      "district": "Lục Nam", "start": zone_local(start), "end": zone_local(end),
                      "search": "Luc Nam", "plate": "98A-123.45", "area_search": "bao dong",
                      "title": "Vụ va chạm ở ngã tư Đồi Ngô", "reason": "Công an huyện Lục Nam yêu cầu",
                      "export_reason": "gửi Viện kiểm sát", "note": "Biển số 98A-123.45 đi qua lúc sáng",
                      "close_reason": "đã chuyển hồ sơ", "slow": vigiltest.SLOW}
            shot = os.path.join(BUILD, "investigate-screenshot")
            bundle = env.path("downloaded-bundle.zip")
            rc, out, err = browser.run("investigate.mjs", d.url(""), shot, bundle,
                                       json.dumps(params), timeout=180 * vigiltest.SLOW)
            log("investigate: %s" % json.dumps(out, ensure_ascii=False))
            self.assertEqual(rc, 0, "%s\n%s" % (out, err))

            self.assertIn("investigator", out["viewer_text"])
            # the range was typed in Asia/Ho_Chi_Minh and asked in UTC
            self.assertIn("start=%s" % rfc3339(start), out["coverage_url"])
            self.assertIn("end=%s" % rfc3339(end), out["coverage_url"])
            self.assertIn("district=Lục Nam", out["coverage_url"])
            self.assertEqual(sorted(c["camera"] for c in out["coverage"]), ["ln1", "ln2"])
            for c in out["coverage"]:
                self.assertTrue(c["picked"], c)
            self.assertEqual({c["camera"]: c["activity"] for c in out["coverage"]},
                             {"ln1": "strip", "ln2": "không có dữ liệu chuyển động"})
            self.assertIn("ln1", out["intervals"])
            self.assertNotIn("ln2", out["intervals"])
            self.assertIn("2/2 camera", out["summary_vi"])

            self.assertEqual([r["id"] for r in out["plate_results"]], [ids[0]])
            self.assertEqual([r["id"] for r in out["search_results"]], [ids[0]])
            row = out["search_results"][0]
            self.assertIn("Ngã tư Đồi Ngô", row["cells"][1])
            self.assertEqual(row["cells"][2], "anpr")
            self.assertIn("98A-123.45 qua ngã tư Đồi Ngô, Lục Nam", row["cells"][3])
            # the event's time in the console's zone
            self.assertEqual(row["cells"][0],
                             datetime.datetime.fromtimestamp(ev_time, ZONE).strftime("%Y-%m-%d %H:%M:%S"))
            want = "#/playback?camera=ln1&t=%s" % rfc3339(ev_time - 5)
            self.assertEqual(row["href"], want)
            self.assertEqual(out["playback_hash"], want)
            self.assertEqual(out["playback_view"], "playback")
            # the district's own event: played on each of its cameras
            self.assertEqual([r["id"] for r in out["area_results"]], [ids[2]])
            row = out["area_results"][0]
            self.assertEqual((row["cells"][2], row["cells"][3]), ("alarm", "Báo động đột nhập kho hàng"))
            self.assertEqual(sorted(row["hrefs"][1:]), ["#/playback?camera=%s&t=%s" % (c, rfc3339(now - 10))
                                                        for c in ("ln1", "ln2")])

            case_id = int(out["case_hash"].split("case=")[1])
            self.assertEqual(sorted(out["case_cameras"]), ["ln1", "ln2"])
            self.assertEqual(out["case_locks"], ["0", "0"])  # in force
            self.assertEqual(len(out["exports"]), 1)
            eid = out["exports"][0]["id"]
            self.assertEqual(out["exports"][0]["bundle"], "/api/exports/%d/bundle.zip" % eid)
            self.assertIsNone(out["download_failure"])
            self.assertEqual(out["download_name"], "export-%d.zip" % eid)
            self.verify_bundle(env, req, bundle, eid)

            self.assertEqual(out["notes"], [params["note"]])
            for action in ("case_create", "case_view", "case_export", "case_note"):
                self.assertIn(action, out["custody"])
            self.assertIn("case_close", out["custody_after_close"])
            self.assertEqual(out["closed_locks"], ["1", "1"])  # released
            self.assertEqual(out["headings_vi"][0], "Camera")
            self.assertIn("Chuỗi lưu giữ chứng cứ", out["headings_vi"])
            self.assertIn("Chain of custody", out["headings_en"])
            self.assertEqual(out["bundle_text_en"], "Download evidence bundle (.zip)")
            listed = {c["id"]: c["cells"] for c in out["cases"]}
            self.assertIn(case_id, listed)
            self.assertIn("closed", listed[case_id])
            self.assertTrue(out["summary_en"].startswith("2 of 2 cameras recorded"), out["summary_en"])
            self.assertEqual(out["unknown_case"], "Error: no such case")
            self.assertEqual(out["page_errors"], [])
            self.assertEqual(out["token_in_urls"], [])
            # the case as the API tells it
            st, data = req("GET", "/api/cases/%d" % case_id)
            self.assertEqual(st, 200, data)
            c = json.loads(data)
            self.assertEqual((c["status"], c["title"]), ("closed", params["title"]))
            self.assertEqual([x["id"] for x in c["exports"]], [eid])
            for part in ("search-vi", "case-vi", "case-en", "en"):
                self.assertGreater(os.path.getsize("%s-%s.png" % (shot, part)), 10000, part)
            d.stop()
        finally:
            env.close()

    def verify_bundle(self, env, req, path, eid):
        """The downloaded bundle checked as test_http_export_bundle checks one:
        its members, the published key's fingerprint in VERIFY.txt and the
        note's sha256sum/openssl steps run exactly as written."""
        st, data = req("GET", "/api/exports/%d/bundle.zip" % eid)
        self.assertEqual(st, 200)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)  # the same bytes the API serves
        top = env.path("bundle-%d" % eid)
        with zipfile.ZipFile(path) as z:
            self.assertIsNone(z.testzip())
            names = z.namelist()
            z.extractall(top)
        d = os.path.join(top, "export-%d" % eid)
        for n in ("VERIFY.txt", "manifest.json", "manifest.sig", "export.json",
                  "public_key.pem", "SHA256SUMS", "SHA256SUMS.sig"):
            self.assertIn("export-%d/%s" % (eid, n), names)
        st, raw = req("GET", "/api/exports/%d" % eid)
        m = json.loads(raw)["manifest"]
        self.assertEqual(sorted(x["id"] for x in m["cameras"]), ["ln1", "ln2"])
        clips = sorted(n for n in names if n.endswith(".mp4"))
        self.assertEqual(sorted(sha256_file(os.path.join(top, n)) for n in clips),
                         sorted(c["sha256"] for cam in m["cameras"] for c in cam["clips"]))
        st, pkjs = req("GET", "/api/exports/public-key")
        fpr = ed25519_fingerprint(json.loads(pkjs)["public_key"])
        note, steps, run_steps = verify_steps(d)
        self.assertIn(fpr, note)
        self.assertEqual(len(steps), 4, note)
        for cmd in steps:
            self.assertIn(cmd.split()[0], ("openssl", "sha256sum"), cmd)
        res = run_steps()
        for cmd, rc, output in res:
            self.assertEqual(rc, 0, (cmd, output))
        self.assertEqual(res[0][2].split()[0], fpr)
        self.assertIn("Verified Successfully", res[1][2])
        log("bundle of export %d downloaded through the page: %d bytes, %d clips, verified"
            % (eid, os.path.getsize(path), len(clips)))


if __name__ == "__main__":
    vigiltest.main()
