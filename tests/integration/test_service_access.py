"""
Issue 5, access control, audit, metrics and vigilctl against a real daemon:
the 401/403 matrix over every route x role (Authorization header and
access_token=), /healthz open, the audit trail (GET /api/audit and
`vigilctl audit`) naming the token of every clip/snapshot and lock, /metrics
as Prometheus text with the required series, `vigilctl status/cameras/clip`,
no secret (camera passwords, password_file contents, tokens) in any response
or log line, and a daemon without auth: refusing a non-loopback listen.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import VIGILD, Env, SLOW, ffprobe, wait_for  # noqa: E402

TOKENS = {"viewer": "tok-viewer-6b1f0c2a", "investigator": "tok-police-93aa7e15",
          "admin": "tok-admin-5d0e44c8"}
NAMES = {"viewer": "ioc-viewer", "investigator": "police", "admin": "ops"}
PASSWORD = "Pw-d0-not-leak-91"
FILE_PASSWORD = "FilePw-also-secret-27"
ROLES = ["viewer", "investigator", "admin"]


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


class Access(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("svc-access")
        cls.cam = env.camsim(["cam1:codec=h264,user=viewer,password=%s" % PASSWORD,
                              "cam2:codec=h264,user=viewer,password=%s" % FILE_PASSWORD])
        pwfile = env.path("cam2.pw")
        with open(pwfile, "w") as f:
            f.write(FILE_PASSWORD + "\n")
        tokfile = env.path("admin.token")
        with open(tokfile, "w") as f:
            f.write(TOKENS["admin"] + "\n")
        auth = ("auth:\n  tokens:\n"
                '    - {name: ioc-viewer, role: viewer, token_sha256: "%s"}\n'
                '    - {name: police, role: investigator, token_sha256: "%s"}\n'
                '    - {name: ops, role: admin, token_file: "%s"}\n'
                % (sha(TOKENS["viewer"]), sha(TOKENS["investigator"]), tokfile))
        cls.cfg = env.config([
            env.camera("cam1", cls.cam.url("cam1"), username="viewer", password=PASSWORD),
            env.camera("cam2", cls.cam.url("cam2"), username="viewer", password_file=pwfile),
        ], segment_seconds=4, extra=auth)
        cls.d = env.vigild(cls.cfg)
        cls.responses = []
        try:
            cls.d.wait_log(r"vigild: recording \d+ cameras")
            for cid in ("cam1", "cam2"):
                wait_for(lambda: len(env.segments(cls.cfg, cid)) >= 2, 40,
                         what="%s: two segments" % cid)
        except AssertionError:
            print(cls.d.log()[-3000:], file=sys.stderr)
            env.close()
            raise
        segs = env.segments(cls.cfg, "cam1")
        cls.start, cls.end = segs[0]["start"], segs[-1]["end"]

    @classmethod
    def tearDownClass(cls):
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, method, path, token=None, query_token=None, body=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        if query_token:
            path += ("&" if "?" in path else "?") + "access_token=" + query_token
        st, hdrs, data = self.d.http(path, headers=headers, method=method, body=body)
        self.responses.append(json.dumps(hdrs) + data.decode(errors="replace"))
        return st, hdrs, data

    def test_session_says_who_and_headers_forbid_framing(self):
        # Who the console talks as: nobody before sign-in, the token's name
        # and role with one; the zone defaults to UTC without console:.
        st, hdrs, data = self.req("GET", "/api/session")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), {"user": None, "role": None, "auth": True,
                                            "timezone": "UTC"})
        st, _, data = self.req("GET", "/api/session", token=TOKENS["investigator"])
        self.assertEqual((st, json.loads(data)["user"], json.loads(data)["role"]),
                         (200, "police", "investigator"))
        # Every response, refusals included, carries the CSP and no framing.
        for path, token in (("/api/session", None), ("/api/cameras", TOKENS["viewer"]),
                            ("/api/cameras", None)):
            st, hdrs, _ = self.req("GET", path, token=token)
            csp = hdrs.get("content-security-policy", "")
            self.assertIn("default-src 'self'", csp, path)
            self.assertIn("frame-ancestors 'none'", csp, path)
            self.assertIn("media-src 'self' blob:", csp, path)
            self.assertEqual(hdrs.get("x-frame-options"), "DENY", path)

    def test_session_cookie_signs_in_once(self):
        # A sign-in with a token answers with a cookie the browser cannot read
        # from scripts and does not send cross-site.
        st, hdrs, data = self.req("POST", "/api/session", body={"token": TOKENS["investigator"]})
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data), {"user": "police", "role": "investigator"})
        cookie = hdrs["set-cookie"]
        m = re.match(r"vigil_session=([0-9a-f]{64}); (.*)$", cookie)
        self.assertTrue(m, cookie)
        attrs = [a.strip() for a in m.group(2).split(";")]
        self.assertIn("HttpOnly", attrs)
        self.assertIn("SameSite=Strict", attrs)
        self.assertIn("Path=/", attrs)
        jar = {"Cookie": "other=1; vigil_session=" + m.group(1)}
        # The cookie stands for the token: same routes, same role.
        st, _, data = self.d.http("/api/session", headers=jar)
        self.assertEqual(json.loads(data)["user"], "police")
        q = "start=%s&end=%s" % (self.start, self.end)
        st, _, data = self.d.http("/api/cameras/cam1/clip.mp4?" + q, headers=jar)
        self.assertEqual(st, 200)
        self.assertEqual(self.d.http("/api/locks", headers=jar)[0], 200)
        self.assertEqual(self.d.http("/api/audit", headers=jar)[0], 403)
        # A wrong token: 401, no cookie, audited as a failure.
        st, hdrs, _ = self.req("POST", "/api/session", body={"token": "not-a-token"})
        self.assertEqual(st, 401)
        self.assertNotIn("set-cookie", hdrs)
        self.assertEqual(self.d.http("/api/cameras", headers={"Cookie": "vigil_session=" + "0" * 64})[0],
                         401)

        def audit_rows():
            st, _, data = self.req("GET", "/api/audit", TOKENS["admin"])
            return json.loads(data)
        wait_for(lambda: any(r["token"] == "police" and r["action"] == "session_start"
                             for r in audit_rows()), 10, what="sign-in audited")
        # Refused sign-ins join the address's run of auth_failed rows, as
        # refused tokens do (one row per run, so a guessing loop cannot flood).
        wait_for(lambda: any(r["action"] == "auth_failed" and "127.0.0.1" in json.dumps(r)
                             for r in audit_rows()), 10, what="failed sign-in audited")
        # Sign-out: the cookie is cleared and no longer accepted.
        st, hdrs, _ = self.d.http("/api/session", headers=jar, method="DELETE")
        self.assertEqual(st, 200)
        self.assertIn("Max-Age=0", hdrs["set-cookie"])
        self.assertEqual(self.d.http("/api/cameras", headers=jar)[0], 401)
        self.assertIsNone(json.loads(self.d.http("/api/session", headers=jar)[2])["user"])

    def routes(self):
        q = "start=%s&end=%s" % (self.start, self.end)
        return [
            ("GET", "/api/cameras", "viewer"),
            ("GET", "/api/cameras/cam1/recordings?" + q, "viewer"),
            ("GET", "/api/cameras/cam1/clip.mp4?" + q, "viewer"),
            ("GET", "/api/cameras/cam1/snapshot.jpg?at=" + self.start, "viewer"),
            ("GET", "/api/events", "investigator"),
            ("GET", "/api/locks", "investigator"),
            ("POST", "/api/locks", "investigator"),
            ("GET", "/metrics", "admin"),
            ("GET", "/api/audit", "admin"),
            ("POST", "/api/reload", "admin"),
            ("GET", "/api/reload", "admin"),
        ]

    def test_1_matrix(self):
        for method, path, need in self.routes():
            body = {} if method == "POST" else None
            with self.subTest(route=path, who="nobody"):
                st, hdrs, _ = self.req(method, path, body=body)
                self.assertEqual(st, 401)
                self.assertIn("bearer", hdrs.get("www-authenticate", "").lower())
            with self.subTest(route=path, who="unknown"):
                self.assertEqual(self.req(method, path, "tok-unknown", body=body)[0], 401)
                self.assertEqual(self.req(method, path, query_token="tok-unknown",
                                          body=body)[0], 401)
            for role in ROLES:
                allowed = ROLES.index(role) >= ROLES.index(need)
                with self.subTest(route=path, who=role):
                    st = self.req(method, path, TOKENS[role], body=body)[0]
                    if allowed:
                        self.assertNotIn(st, (401, 403), "%s %s as %s" % (method, path, role))
                    else:
                        self.assertEqual(st, 403, "%s %s as %s" % (method, path, role))
                    if method == "GET":
                        st = self.req(method, path, query_token=TOKENS[role])[0]
                        self.assertEqual(st in (401, 403), not allowed, (path, role, st))
        st, _, body = self.req("GET", "/healthz")
        self.assertEqual(st, 200)

    def test_2_footage_is_audited(self):
        q = "start=%s&end=%s" % (self.start, self.end)
        st, _, data = self.req("GET", "/api/cameras/cam1/clip.mp4?" + q, TOKENS["investigator"])
        self.assertEqual(st, 200)
        st, _, _ = self.req("GET", "/api/cameras/cam2/snapshot.jpg?at=" + self.start,
                            query_token=TOKENS["viewer"])
        self.assertEqual(st, 200)

        def audit_rows():
            st, _, data = self.req("GET", "/api/audit", TOKENS["admin"])
            self.assertEqual(st, 200)
            return json.loads(data)
        rows = wait_for(lambda: [r for r in audit_rows() if r["token"] == "police"
                                 and r["action"] == "clip"], 10, what="clip audited")
        self.assertEqual(rows[-1]["camera"], "cam1")
        self.assertEqual(rows[-1]["start"][:19], self.start[:19])
        # rows commit with the index writer's next batch (<= 250 ms)
        wait_for(lambda: any(r["token"] == "ioc-viewer" and r["action"] == "snapshot"
                             and r["camera"] == "cam2" for r in audit_rows()), 10,
                 what="snapshot audited")
        # vigilctl prints the same trail as JSON lines
        r = self.env.vigilctl(self.cfg, "audit")
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertTrue(any(x["token"] == "police" and x["action"] == "clip" for x in lines))
        # a lock made with vigilctl is audited as "local"
        self.env.vigilctl(self.cfg, "lock", "cam1", self.start, self.end, "--reason", "case 17")
        r = self.env.vigilctl(self.cfg, "audit", "--camera", "cam1")
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertTrue(any(x["token"] == "local" and x["action"] == "lock_create"
                            for x in lines), lines)

    def test_3_metrics(self):
        st, hdrs, data = self.req("GET", "/metrics", TOKENS["admin"])
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"))
        text = data.decode()
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? '
                            r'(-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$')
        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) [a-z_]+ ")
            else:
                self.assertRegex(line, sample)
        for series in ['vigil_camera_recording{camera="cam1"} 1',
                       'vigil_camera_bitrate_bps{camera="cam1"}',
                       'vigil_camera_fps{camera="cam1"}',
                       'vigil_camera_frames_received_total{camera="cam1"}',
                       'vigil_camera_frames_written_total{camera="cam1"}',
                       'vigil_camera_frames_dropped_total{camera="cam1"}',
                       'vigil_camera_reconnects_total{camera="cam1"}',
                       'vigil_camera_seconds_since_last_frame{camera="cam1"}',
                       'vigil_pool_used_bytes{pool="main"}', 'vigil_pool_free_bytes{pool="main"}',
                       'vigil_pool_segments_deleted_total{pool="main"}',
                       'vigil_index_write_queue_depth', 'vigil_index_commit_latency_seconds',
                       'vigil_index_commit_latency_max_seconds', 'vigil_loop_stall_max_seconds',
                       'vigil_http_requests_total{code="200"}',
                       'vigil_http_requests_total{code="401"}']:
            self.assertIn(series, text)

    def test_4_vigilctl(self):
        tf = self.env.path("viewer.token")
        with open(tf, "w") as f:
            f.write(TOKENS["viewer"])
        # the daemon listens on a port of its choosing: tell vigilctl which
        url = ["--url", self.d.url("")]
        r = self.env.vigilctl(self.cfg, "status", "--token-file", tf, *url)
        st = json.loads(r.stdout)
        self.assertEqual(st["daemon"], "running")
        self.assertEqual(st["recording"], 2)
        r = self.env.vigilctl(self.cfg, "cameras", "--token-file", tf, *url)
        cams = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(sorted(c["id"] for c in cams), ["cam1", "cam2"])
        r = self.env.vigilctl(self.cfg, "cameras", "--offline")
        self.assertEqual(len(r.stdout.splitlines()), 2)
        self.responses += [r.stdout, r.stderr]
        # clip straight from the index and files
        out = self.env.path("out.mp4")
        r = self.env.vigilctl(self.cfg, "clip", "cam1", self.start, self.end, "-o", out)
        self.responses.append(r.stderr)
        info = ffprobe(out)
        self.assertGreater(float(info["format"]["duration"]), 2)
        # and through the API with a token
        out2 = self.env.path("out2.mp4")
        r = self.env.vigilctl(self.cfg, "clip", "cam1", self.start, self.end, "-o", out2,
                              "--token-file", tf, *url)
        self.assertEqual(os.path.getsize(out), os.path.getsize(out2))
        r = self.env.vigilctl(self.cfg, "clip", "cam1", self.start, self.end, "-o", out2,
                              "--token", "bad", *url, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)
        for cmd in ["status", "cameras", "clip", "audit", "config", "lock"]:
            r = self.env.vigilctl(self.cfg, cmd, "--help")
            self.assertIn("Usage: vigilctl", r.stdout)

    def test_5_no_secrets(self):
        # Everything the daemon said: every response so far, the API once more, the log.
        for role in ROLES:
            for method, path, _ in self.routes():
                if method == "GET":
                    self.req(method, path, TOKENS[role])
        text = "\n".join(self.responses) + self.d.log()
        for secret in [PASSWORD, FILE_PASSWORD] + list(TOKENS.values()):
            self.assertNotIn(secret, text)


class NoAuth(unittest.TestCase):
    def test_refuses_non_loopback(self):
        env = Env("svc-noauth")
        try:
            cfg = env.config([], listen="0.0.0.0:0")
            r = subprocess.run([VIGILD, "--config", cfg], capture_output=True, text=True,
                               timeout=60 * SLOW)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("loopback", r.stderr)
            r = env.vigilctl(cfg, "config", "check", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("loopback", r.stderr)
        finally:
            env.close()


if __name__ == "__main__":
    vigiltest.main()
