"""
Evidence exports a court can check without vigil, against a real daemon
recording camsim cameras (auth on):

- the newest footage is signed too: a segment still being written is listed
  with the SHA-256 of its committed prefix ("bytes" long), which the file's
  first bytes match; closed segments with their file's hash and fsync_failed;
- each clip's SHA-256 and size are in the manifest and are those of the bytes
  GET .../clip.mp4 serves, now and after the open segment has closed;
- GET /api/exports/{id}/bundle.zip: the clips, the manifest, its signature,
  the public key and a VERIFY note; the note's commands, run exactly as
  written with sha256sum and openssl on the extracted bundle, pass, and fail
  once one byte of a clip is changed; wrong role and unknown export refused;
- the manifest carries each camera's clock evidence (its runs, slew, receive
  offset, camera time from RTCP sender reports).
"""
import hashlib
import json
import os
import re
import shutil
import sys
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, ed25519_fingerprint, log, sha256_file, verify_steps, wait_for  # noqa: E402

TOKENS = {"viewer": "tok-view-51aa", "investigator": "tok-inv-93bf", "admin": "tok-adm-77c1"}
NAMES = {"viewer": "ioc", "investigator": "police-bg", "admin": "ops"}
CAM = "codec=h264,size=320x180,fps=25,gop=25,bitrate=500"


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


AUTH = ("auth:\n  tokens:\n" + "".join(
    '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (NAMES[r], r, sha(TOKENS[r]))
    for r in ("viewer", "investigator", "admin")))


def prefix_sha256(path, n):
    with open(path, "rb") as f:
        data = f.read(n)
    assert len(data) == n, (path, len(data), n)
    return hashlib.sha256(data).hexdigest()


class ExportBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("export-bundle")
        try:
            cls.cam = env.camsim(["b1:" + CAM, "b2:" + CAM])
            cams = [env.camera("b1", cls.cam.url("b1"), district="Bac Giang"),
                    env.camera("b2", cls.cam.url("b2"), district="Bac Giang")]
            # 4-s segments: the newest one holds a committed fragment most of the time
            cls.cfg = env.config(cams, segment_seconds=4, extra=AUTH)
            cls.d = env.vigild(cls.cfg)
            cls.d.wait_log(r"vigild: recording \d+ cameras")
            for cid in ("b1", "b2"):
                wait_for(lambda: len([s for s in env.segments(cls.cfg, cid)
                                      if s["sha256"]]) >= 2, 60, what=cid + " two segments")
            cls.export = None
        except Exception:
            env.close(keep_on_failure=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, method, path, role="investigator", body=None):
        headers = {"Authorization": "Bearer " + TOKENS[role]} if role else {}
        return self.d.http(path, headers=headers, method=method, body=body)

    def make_export(self):
        """An export up to a few seconds from now: each camera's newest
        segment is still open when the manifest is built."""
        if ExportBundle.export:
            return ExportBundle.export
        segs = [s for s in self.env.segments(self.cfg, "b1") if s["sha256"]]
        start = segs[0]["start"]

        def growing():
            # each camera's newest segment open with a fragment committed
            for cid in ("b1", "b2"):
                newest = self.env.segments(self.cfg, cid)[-1]
                if newest["sha256"] or newest["end"] == newest["start"]:
                    return False
            return True
        wait_for(growing, 20, step=0.1, what="open segments with a committed fragment")
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        st, _, raw = self.req("POST", "/api/exports", body={
            "cameras": ["b1", "b2"], "start": start, "end": end,
            "reason": "vụ 2026/118: va chạm tại ngã tư"})
        self.assertEqual(st, 201, raw)
        ExportBundle.export = (json.loads(raw), raw)
        return ExportBundle.export

    def test_1_newest_footage_signed(self):
        resp, raw = self.make_export()
        m = resp["manifest"]
        pool = self.env.path("pool0")
        nopen = 0
        for c in m["cameras"]:
            self.assertTrue(c["segments"], c)
            for s in c["segments"]:
                path = os.path.join(pool, s["path"])
                self.assertIsNotNone(s["sha256"], s)
                self.assertIs(s["fsync_failed"], False)
                if s["open"]:
                    nopen += 1
                    self.assertEqual(s["sha256_of"], "committed_prefix")
                    self.assertGreater(s["bytes"], 0)
                    # the prefix never changes, whether or not the file has grown since
                    self.assertEqual(prefix_sha256(path, s["bytes"]), s["sha256"])
                else:
                    self.assertEqual(s["sha256_of"], "file")
                    self.assertEqual(sha256_file(path), s["sha256"])
                    self.assertEqual(os.path.getsize(path), s["bytes"])
        self.assertGreaterEqual(nopen, 1, json.dumps(m, indent=1)[:3000])
        # every clip: its hash and size are those of the bytes served, now and
        # once the segments that were open have closed
        for when in ("now", "later"):
            if when == "later":
                time.sleep(4)
            for c in m["cameras"]:
                self.assertTrue(c["clips"])
                for clip in c["clips"]:
                    st, hdrs, data = self.req("GET", clip["url"])
                    self.assertEqual(st, 200)
                    self.assertEqual(len(data), clip["bytes"], (when, clip))
                    self.assertEqual(hashlib.sha256(data).hexdigest(), clip["sha256"],
                                     (when, clip))
        log("export %d: %d open segments signed by prefix" % (m["export"], nopen))

    def test_2_bundle_verifies_with_standard_tools(self):
        resp, raw = self.make_export()
        m = resp["manifest"]
        eid = m["export"]
        url = "/api/exports/%d/bundle.zip" % eid
        self.assertEqual(self.req("GET", url, "viewer")[0], 403)
        self.assertEqual(self.req("GET", url, None)[0], 401)
        self.assertEqual(self.req("GET", "/api/exports/99999/bundle.zip")[0], 404)
        self.assertEqual(self.req("GET", "/api/exports/x1/bundle.zip")[0], 404)
        self.assertEqual(self.req("POST", url, body={})[0], 405)
        t0 = time.monotonic()
        st, hdrs, data = self.req("GET", url)
        secs = time.monotonic() - t0
        self.assertEqual(st, 200, data[:300])
        self.assertEqual(hdrs["content-type"], "application/zip")
        self.assertEqual(int(hdrs["content-length"]), len(data))
        log("bundle of export %d: %d bytes in %.3f s (%.1f MB/s)"
            % (eid, len(data), secs, len(data) / 1e6 / max(secs, 1e-6)))
        # the same bytes every time (deterministic signatures and layout)
        self.assertEqual(self.req("GET", url)[2], data)
        # HEAD: the length without the body
        st, hdrs, body = self.req("HEAD", url)
        self.assertEqual((st, int(hdrs["content-length"]), body), (200, len(data), b""))

        top = self.env.path("bundle-%d" % eid)
        shutil.rmtree(top, ignore_errors=True)
        zpath = top + ".zip"
        with open(zpath, "wb") as f:
            f.write(data)
        with zipfile.ZipFile(zpath) as z:
            self.assertIsNone(z.testzip())  # every member's CRC-32
            names = z.namelist()
            z.extractall(top)
        d = os.path.join(top, "export-%d" % eid)
        for n in ("VERIFY.txt", "manifest.json", "manifest.sig", "export.json",
                  "public_key.pem", "SHA256SUMS", "SHA256SUMS.sig"):
            self.assertIn("export-%d/%s" % (eid, n), names)
        # the manifest in the bundle is the signed one, and lists the clips it holds
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            signed = f.read()
        self.assertEqual(raw.decode()[len('{"manifest":'):raw.decode().rindex(',"signature":')]
                         .encode(), signed)
        clips = sorted(n for n in names if n.endswith(".mp4"))
        want = sorted(c["sha256"] for cam in m["cameras"] for c in cam["clips"])
        got = sorted(sha256_file(os.path.join(top, n)) for n in clips)
        self.assertEqual(got, want)
        # the public key is the one the API publishes
        st, _, pkjs = self.req("GET", "/api/exports/public-key")
        fpr = ed25519_fingerprint(json.loads(pkjs)["public_key"])

        note, steps, run_steps = verify_steps(d)
        self.assertIn(fpr, note)
        self.assertEqual(len(steps), 4, note)
        for cmd in steps:
            self.assertTrue(cmd.split()[0] in ("openssl", "sha256sum"), cmd)
        res = run_steps()
        for cmd, rc, out in res:
            self.assertEqual(rc, 0, (cmd, out))
        self.assertEqual(res[0][2].split()[0], fpr)
        self.assertIn("Verified Successfully", res[1][2])

        # one byte of one clip changed: the checksum step fails, naming it
        victim = os.path.join(top, clips[0])
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x01]))
        res = run_steps()
        self.assertEqual([rc for _, rc, _ in res[:3]], [0, 0, 0])
        self.assertNotEqual(res[3][1], 0)
        self.assertIn(os.path.basename(victim) + ": FAILED", res[3][2])
        # one byte of the manifest changed: its signature fails
        mf = os.path.join(d, "manifest.json")
        with open(mf, "rb") as f:
            text = f.read()
        with open(mf, "wb") as f:
            f.write(text.replace(b'"reason"', b'"reas0n"', 1))
        res = run_steps()
        self.assertNotEqual(res[1][1], 0, res[1])
        self.assertNotEqual(res[3][1], 0)
        # the download is audited
        wait_for(lambda: any(a["action"] == "export_bundle" and json.loads(a["detail"])
                             .get("export") == eid for a in self.audit()), 10,
                 what="export_bundle audit row")

    def test_3_clock_evidence(self):
        # a fresh export once the runs have gone through a few segment
        # boundaries (where their clock figures are stored), from the runs'
        # beginnings to now
        segs = [s for s in self.env.segments(self.cfg, "b2") if s["sha256"]]
        n0 = len(segs)
        wait_for(lambda: len([s for s in self.env.segments(self.cfg, "b2") if s["sha256"]])
                 >= n0 + 1, 30, what="another closed segment")
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
        # from inside both cameras' first segments
        start = max(vigiltest.rfc3339_to_unix(self.env.segments(self.cfg, c)[0]["end"])
                    for c in ("b1", "b2")) - 0.5
        st, _, raw = self.req("POST", "/api/exports", body={
            "cameras": ["b1", "b2"], "end": end, "reason": "clock evidence",
            "start": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(start)))
            + ".%06dZ" % round((start % 1) * 1e6)})
        self.assertEqual(st, 201, raw)
        m = json.loads(raw)["manifest"]
        for cam in m["cameras"]:
            clk = cam["clock"]
            self.assertEqual(clk["max_slew_ppm"], 500)
            self.assertTrue(clk["runs"], cam)
            first = clk["runs"][0]
            # the run that covers the export's start began at or before it
            self.assertLessEqual(vigiltest.rfc3339_to_unix(first["start"]), start)
            self.assertEqual(first["cause"], "start")
            # one camsim run, no discontinuity in the range
            self.assertEqual(clk["discontinuities"], [])
            for run in clk["runs"]:
                self.assertLessEqual(abs(run["slew_us"]), 500 * 1e-6 * 1e6 * 3600)
                self.assertGreaterEqual(vigiltest.rfc3339_to_unix(run["as_of"]),
                                        vigiltest.rfc3339_to_unix(run["start"]))
            last = clk["runs"][-1]
            self.assertIsNotNone(last["receive_offset_us"], last)
            # camsim's RTP sessions send RTCP sender reports: the camera's clock
            # (this host's, through GStreamer) against vigild's time for its frames
            cc = last["camera_clock"]
            self.assertIsNotNone(cc, last)
            self.assertEqual(cc["source"], "rtcp_sender_reports")
            self.assertGreater(cc["frames"], 0)
            self.assertLessEqual(cc["min_offset_us"], cc["offset_us"])
            self.assertLessEqual(cc["offset_us"], cc["max_offset_us"])
            log("%s: camera clock - vigild %d us (min %d, max %d over %d frames), receive "
                "offset %s us, slew %d us" % (cam["id"], cc["offset_us"], cc["min_offset_us"],
                                              cc["max_offset_us"], cc["frames"],
                                              last["receive_offset_us"], last["slew_us"]))
            # the same clock on one host: within a second
            self.assertLess(abs(cc["offset_us"]), 1000000)

    def audit(self):
        st, hdrs, data = self.req("GET", "/api/audit", "admin")
        self.assertEqual(st, 200, data)
        return json.loads(data)


if __name__ == "__main__":
    vigiltest.main()
