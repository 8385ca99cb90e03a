"""
The console's Administration view in a real browser (Debian chromium driven by
playwright-core, tests/browser/admin.mjs) against a real vigild with auth:
two cameras, one fed by camsim and one pointed at a dead port. A viewer is
told the page is for administrators. An admin sees both cameras with their
status (the dead one offline, with its reason), filters by status, releases a
lock created through the API with a reason, filters the audit trail by action
and finds the release, then edits the config file and presses reload: the page
says which camera was added; a broken config is refused with its reason while
the cameras keep recording. Vietnamese and English render, nothing is asked of
another origin, no console errors. Screenshots are kept in the build directory.
"""
import hashlib
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import browser  # noqa: E402
import vigiltest  # noqa: E402
from vigiltest import BUILD, SRC, Env, closed_port, log, wait_for  # noqa: E402

ADMIN = "admin-console-token-0123456789"
VIEWER = "viewer-console-token-0123456789"
REASON = "Vụ việc 17 đã khép lại"


def auth_section():
    return "auth:\n  tokens:\n" + "".join(
        '    - {name: %s, role: %s, token_sha256: "%s"}\n'
        % (n, r, hashlib.sha256(t.encode()).hexdigest())
        for n, r, t in (("ops", "admin", ADMIN), ("watch", "viewer", VIEWER)))


class Admin(unittest.TestCase):
    def test_console_names_no_other_origin(self):
        # The CSP would block it anyway; the console must not even try: no
        # absolute URL, protocol-relative URL or remote @import in web/.
        bad = re.compile(r"(?i)\b(?:https?|wss?|ftp):|(?<![:\w])//[a-z0-9-]+\.[a-z0-9.-]+/|@import\s+url")
        found = []
        for top, _, files in os.walk(os.path.join(SRC, "web")):
            for name in files:
                path = os.path.join(top, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        if bad.search(line):
                            found.append("%s:%d: %s" % (os.path.relpath(path, SRC), n, line.strip()))
        self.assertEqual(found, [])

    def test_admin_view(self):
        env = Env("browser-admin")
        try:
            self.run_admin(env)
        except Exception:
            env.close(keep_on_failure=True)
            raise
        env.close()

    def run_admin(self, env):
        cam = env.camsim(["lobby:codec=h264", "yard:codec=h264"])
        sock, port = closed_port()  # kept until the end: nothing else takes the port
        self.addCleanup(sock.close)
        dead = "rtsp://127.0.0.1:%d/gone" % port
        extra = ('web: "%s"\nconsole:\n  timezone: Asia/Ho_Chi_Minh\n' % os.path.join(SRC, "web")
                 + auth_section())
        cams = [env.camera("lobby", cam.url("lobby"), name="Sảnh", district="Lục Nam",
                           site="one-stop-shop"),
                env.camera("gate", dead, name="Cổng", district="Yên Thế", site="security")]
        cfg = env.config(cams, segment_seconds=2, extra=extra)
        # What the page's reload presses will find in the file.
        added = env.config(cams + [env.camera("yard", cam.url("yard"), district="Lục Nam")],
                           segment_seconds=2, extra=extra, name="added.yaml")
        with open(added) as f:
            added_text = f.read()
        broken = env.path("broken.yaml")
        with open(broken, "w") as f:
            f.write(added_text.replace('"id": "yard"', '"id": "Bad Id"'))

        d = env.vigild(cfg)
        env.wait_online(cfg, ["lobby"])
        hdr = {"Authorization": "Bearer " + ADMIN}

        def cameras():
            return {c["id"]: c for c in json.loads(d.http("/api/cameras", headers=hdr)[2])}
        wait_for(lambda: cameras()["gate"]["reason"], 30, what="gate offline with a reason")
        now = time.time()
        st, _, body = d.http("/api/locks", headers=hdr, method="POST", body={
            "camera": "lobby", "start": int(now - 60), "end": int(now), "reason": "Vụ việc 17"})
        self.assertEqual(st, 201, body)
        lock = json.loads(body)["id"]

        shot = os.path.join(BUILD, "admin-screenshot")
        rc, out, err = browser.run("admin.mjs", d.url(""), ADMIN, VIEWER, lock, cfg, added, broken,
                                   "yard", REASON, shot, timeout=150)
        log("admin: %s" % json.dumps(out, ensure_ascii=False)[:3000])
        self.assertEqual(rc, 0, "%s\n%s" % (out, err))

        # A viewer is told, in Vietnamese.
        self.assertIn("quản trị", out["denied_vi"])
        self.assertIn("viewer", out["denied_vi"])
        # Health: both cameras, the right status, the dead one's reason.
        for rows, lang in ((out["health_vi"], "vi"), (out["health_en"], "en")):
            by = {r["id"]: r for r in rows}
            self.assertEqual(sorted(by), ["gate", "lobby"], lang)
            self.assertEqual(by["lobby"]["status"], "recording")
            self.assertEqual(by["gate"]["status"], "offline")
            self.assertTrue(by["gate"]["cells"][2].strip(), by["gate"])
            self.assertEqual(by["lobby"]["cells"][7], "main")  # pool
        by = {r["id"]: r for r in out["health_vi"]}
        self.assertEqual(by["gate"]["cells"][1], "mất kết nối")
        self.assertEqual(by["lobby"]["cells"][1], "đang ghi")
        self.assertRegex(by["lobby"]["cells"][3], r"^\d+ kbit/s$")
        self.assertRegex(by["lobby"]["cells"][5], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertIn("Lục Nam", by["lobby"]["cells"][8])
        self.assertIn("Asia/Ho_Chi_Minh", out["zone"])
        by = {r["id"]: r for r in out["health_en"]}
        self.assertEqual(by["gate"]["cells"][1], "offline")
        self.assertEqual(out["filtered_offline"], ["gate"])
        self.assertEqual(out["filtered_district"], ["lobby"])
        self.assertEqual(out["sorted_id"], ["gate", "lobby"])
        self.assertEqual(out["sorted_id_desc"], ["lobby", "gate"])
        self.assertEqual(out["heading_vi"], "Tình trạng camera")

        # The lock: listed, a reason required, released with it.
        self.assertEqual(out["lock_listed"][1], "lobby")
        self.assertIn("Vụ việc 17", out["lock_listed"])
        self.assertEqual(out["release_need"], "A reason is required.")
        self.assertEqual(out["release_msg"], "Lock #%d released." % lock)
        st, _, body = d.http("/api/locks?all=1", headers=hdr)
        rel = [x for x in json.loads(body) if x["id"] == lock][0]
        self.assertEqual(rel["released_by"], "ops")
        # The audit trail filtered by action shows the release.
        self.assertTrue(out["audit_release"])
        self.assertTrue(all(r["action"] == "lock_release" for r in out["audit_release"]))
        self.assertTrue(any(r["cells"][1] == "ops" and REASON in r["cells"][5]
                            for r in out["audit_release"]), out["audit_release"])
        self.assertIn("lock_create", out["audit_all_actions"])
        # The From filter reads the console's zone: every row from that second
        # on and none before (times are shown to the second, in that zone).
        since = {r["id"] for r in out["audit_since"]}
        self.assertIn(out["audit_release"][0]["id"], since)
        for r in out["audit_all"]:
            self.assertEqual(r["id"] in since, r["time"] >= out["audit_start"], r)
        # The trail's filters and pages over HTTP.
        def trail(q):
            st, _, body = d.http("/api/audit?" + q, headers=hdr)
            self.assertEqual(st, 200, body)
            return json.loads(body)
        self.assertEqual({r["token"] for r in trail("who=watch")}, {"watch"})
        self.assertEqual([r["action"] for r in trail("who=ops&action=lock_create")], ["lock_create"])
        everything = trail("")
        page = trail("limit=2")
        self.assertEqual(page, everything[-2:])
        older = trail("limit=2&before=%d" % page[0]["id"])
        self.assertEqual(older, everything[-4:-2])

        # Reload: the camera added, then a broken config refused with why.
        self.assertEqual(out["reload_added"], "added: yard")
        self.assertIn("unchanged: lobby, gate", out["reload_ok"])
        self.assertIn("yard", out["health_after_add"])
        self.assertIn("Refused", out["reload_refused"])
        self.assertRegex(out["reload_reason"], r"^Reason: %s:\d+: .*Bad Id" % re.escape(cfg))
        self.assertIn("Bị từ chối", out["reload_refused_vi"])
        self.assertTrue(out.get("logged_422"))
        # ... while the cameras keep recording (vigilctl reads the good copy).
        n = len(env.segments(added, "lobby"))
        wait_for(lambda: len(env.segments(added, "lobby")) >= n + 2, 30,
                 what="lobby records on after the refused reload")
        wait_for(lambda: len(env.segments(added, "yard")) >= 1, 30, what="yard records")
        last = json.loads(d.http("/api/reload", headers=hdr)[2])["last"]
        self.assertEqual((last["ok"], last["who"]), (False, "ops"))

        self.assertIn("default-src 'self'", out["csp"])
        self.assertEqual(out["foreign"], [])
        self.assertEqual(out["page_errors"], [])
        for suffix in ("vi", "en", "refused-vi"):
            self.assertTrue(os.path.getsize("%s-%s.png" % (shot, suffix)) > 10000)
        with open(cfg, "w") as f:
            f.write(added_text)
        d.stop()
        self.assertNotRegex(d.log(), r"ERROR: AddressSanitizer|runtime error")


if __name__ == "__main__":
    vigiltest.main()
