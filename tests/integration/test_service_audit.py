"""
Access that must leave a trace, and a reload that must not open the door.

ReloadAuth: a daemon with auth: listening on 0.0.0.0 (every interface, so
"not loopback" by the start-up rule; the test only ever talks to 127.0.0.1)
is reloaded, by SIGHUP and by POST /api/reload, with a config that has no
auth: section. Both are refused with the start-up check's reason, audited as
config_reload_failed, and the running config stays: a request without a
token is still 401 and the admin token still works.

Trail: one recording daemon with viewer/investigator/admin tokens.
- every footage response is audited, not only those starting at byte 0: a
  clip asked for with Range: bytes=1- (and other ranges) has its row at once,
  a player's further ranges of that clip make no row until the run ends,
  then one "coalesced" row with their count and bytes (checked at the end);
  a snapshot likewise; a live view has its row while it is still open;
- export=ID on a clip is checked against the export: unknown 404, a camera
  or range it does not cover 403, a viewer token 403; a good one is audited
  as "export";
- failed authentication (401 no/unknown token, 403 role too low) is audited
  with the source address and path, never the query (access_token=), one row
  per address and run, the repeats counted in a coalesced row;
- an audit row the index cannot store (a trigger refuses inserts into the
  audit table, as a full disk or a locked file would make them fail) is
  counted in vigil_audit_rows_dropped_total on /metrics;
- at the end, with the daemon stopped, `vigilctl audit verify` finds the
  hash chain whole (exit 0, the head's hash), then a row edited in the SQLite
  file with the sqlite3 module is named as the first broken link (exit 1).
"""
import hashlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, wait_for  # noqa: E402

ADMIN = "tok-admin-0c7d51e9"
TOKENS = {"viewer": "tok-viewer-2f8e1b70", "investigator": "tok-police-a4c9d213",
          "admin": ADMIN}
NAMES = {"viewer": "ioc-viewer", "investigator": "police", "admin": "ops"}


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def auth_section(tokens):
    """tokens: [(name, role, secret)]"""
    return "auth:\n  tokens:\n" + "".join(
        '    - {name: %s, role: %s, token_sha256: "%s"}\n' % (n, r, sha(t)) for n, r, t in tokens)


class ReloadAuth(unittest.TestCase):
    def test_reload_cannot_drop_auth_on_open_listen(self):
        env = Env("svc-audit-reload")
        try:
            self.run_reload(env)
        except Exception:
            env.close(keep_on_failure=True)
            raise
        env.close()

    def run_reload(self, env):
        auth = auth_section([("ops", "admin", ADMIN)])
        cfg = env.config([], listen="0.0.0.0:0", extra=auth)
        d = env.vigild(cfg)
        admin = {"Authorization": "Bearer " + ADMIN}
        self.assertEqual(d.http("/api/audit")[0], 401)
        self.assertEqual(d.http("/api/audit", headers=admin)[0], 200)
        # A valid config in itself (vigilctl would accept it on loopback),
        # but served on every interface it would make anyone an admin.
        env.config([], listen="0.0.0.0:0")

        d.kill_with(signal.SIGHUP)
        m = d.wait_log(r"reload refused: (.*)")
        self.assertIn("loopback", m.group(1))
        self.assertEqual(d.http("/api/audit")[0], 401)

        st, _, body = d.http("/api/reload", headers=admin, method="POST", body={})
        self.assertEqual(st, 422, body)
        self.assertIn("loopback", json.loads(body)["error"])
        self.assertEqual(d.http("/api/audit")[0], 401)
        self.assertEqual(d.http("/metrics")[0], 401)

        def refused():
            st, _, data = d.http("/api/audit", headers=admin)
            self.assertEqual(st, 200)
            return [r for r in json.loads(data) if r["action"] == "config_reload_failed"]
        rows = wait_for(lambda: len(refused()) >= 2 and refused(), 10,
                        what="both refusals audited")
        self.assertEqual(sorted(r["token"] for r in rows), ["daemon", "ops"])
        self.assertTrue(all("loopback" in r["detail"] for r in rows), rows)
        self.assertFalse(any(r["action"] == "config_reload" for r in json.loads(
            d.http("/api/audit", headers=admin)[2])))

        # The same config with auth: is still a good reload.
        env.config([], listen="0.0.0.0:0", extra=auth)
        st, _, body = d.http("/api/reload", headers=admin, method="POST", body={})
        self.assertEqual(st, 200, body)
        d.stop()


class Trail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = Env("svc-audit-trail")
        cls.cam = env.camsim(["cam1:codec=h264"])
        auth = auth_section([(NAMES[r], r, TOKENS[r]) for r in TOKENS])
        # cam2 is configured but records nothing: an export of cam1 cannot
        # be used to read it.
        cls.cfg = env.config([env.camera("cam1", cls.cam.url("cam1")),
                              env.camera("cam2", "rtsp://127.0.0.1:9/none", enabled=False)],
                             segment_seconds=2, extra=auth)
        cls.d = env.vigild(cls.cfg)
        try:
            wait_for(lambda: len(env.segments(cls.cfg, "cam1")) >= 4, 40, what="four segments")
        except AssertionError:
            env.close(keep_on_failure=True)
            raise
        cls.segs = env.segments(cls.cfg, "cam1")
        cls.start, cls.end = cls.segs[0]["start"], cls.segs[1]["end"]
        cls.expect = {}  # what the coalesced rows must say at the end

    @classmethod
    def tearDownClass(cls):
        cls.env.close(keep_on_failure=os.environ.get("VIGIL_KEEP") == "1")

    def req(self, path, role=None, headers=None, **kw):
        h = dict(headers or {})
        if role:
            h["Authorization"] = "Bearer " + TOKENS[role]
        return self.d.http(path, headers=h, **kw)

    def audit(self, **filters):
        st, _, data = self.req("/api/audit", "admin")
        self.assertEqual(st, 200)
        return [r for r in json.loads(data)
                if all(r.get(k) == v for k, v in filters.items())]

    def metric(self, name):
        st, _, data = self.req("/metrics", "admin")
        self.assertEqual(st, 200)
        m = re.search(r"^%s (\S+)$" % re.escape(name), data.decode(), re.M)
        self.assertIsNotNone(m, name + " in /metrics")
        return float(m.group(1))

    def db(self):
        c = sqlite3.connect(self.env.path("index.db"), timeout=10)
        c.isolation_level = None
        return c

    def settle(self):
        """Lets the index writer commit what was queued (batches of <= 250 ms)."""
        time.sleep(1.0)

    def test_1_every_range_is_audited(self):
        q = "/api/cameras/cam1/clip.mp4?start=%s&end=%s" % (self.start, self.end)
        st, hdrs, _ = self.req(q, "viewer", headers={"Range": "bytes=1-"})
        self.assertEqual(st, 206)
        rows = wait_for(lambda: self.audit(token="ioc-viewer", action="clip"), 10,
                        what="a range from byte 1 audited")
        self.assertEqual(len(rows), 1)
        d = json.loads(rows[0]["detail"])
        self.assertEqual((d["requests"], d["bytes"]), (1, int(hdrs["content-length"])))
        self.assertEqual(d["range"][0], 1)
        self.assertEqual(rows[0]["camera"], "cam1")
        # A player's further ranges of the same clip: counted, not a row each.
        total, n = 0, 0
        for rng in ["bytes=1000-2999", "bytes=5-", "bytes=-4096", "bytes=0-0", "bytes=200-"]:
            st, hdrs, body = self.req(q, "viewer", headers={"Range": rng})
            self.assertEqual(st, 206, rng)
            total += len(body)
            n += 1
        st, hdrs, body = self.req(q, "viewer")
        self.assertEqual(st, 200)
        total += len(body)
        n += 1
        self.settle()
        self.assertEqual(len(self.audit(token="ioc-viewer", action="clip")), 1)
        self.expect["clip"] = (n, total)
        # Snapshots of one frame likewise.
        at = self.segs[1]["start"]
        st, _, jpeg = self.req("/api/cameras/cam1/snapshot.jpg?at=" + at, "viewer")
        self.assertEqual(st, 200)
        st, _, jpeg2 = self.req("/api/cameras/cam1/snapshot.jpg?at=" + at, "viewer")
        self.assertEqual(st, 200)
        rows = wait_for(lambda: self.audit(token="ioc-viewer", action="snapshot"), 10,
                        what="snapshot audited")
        self.settle()
        rows = self.audit(token="ioc-viewer", action="snapshot")
        self.assertEqual(len(rows), 1)
        self.assertEqual(json.loads(rows[0]["detail"])["bytes"], len(jpeg))
        self.expect["snapshot"] = (1, len(jpeg2))

    def test_1_live_is_audited_while_open(self):
        url = self.d.url("/api/cameras/cam1/live.mp4")
        rq = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKENS["viewer"]})
        with urllib.request.urlopen(rq, timeout=30) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.read(1000))
            rows = wait_for(lambda: self.audit(token="ioc-viewer", action="live"), 10,
                            what="a live view audited while open")
            d = json.loads(rows[0]["detail"])
            self.assertEqual((d["stream"], d["requests"]), ("main", 1))

    def test_2_export_id_is_checked(self):
        estart, eend = self.segs[1]["start"], self.segs[2]["end"]
        st, _, raw = self.req("/api/exports", "investigator", method="POST",
                              body={"cameras": ["cam1"], "start": estart, "end": eend,
                                    "reason": "case 9: the checked export"})
        self.assertEqual(st, 201, raw)
        m = json.loads(raw)["manifest"]
        eid = m["export"]
        url = m["cameras"][0]["clips"][0]["url"]
        self.assertIn("export=%d" % eid, url)
        st, _, _ = self.req(url, "investigator", headers={"Range": "bytes=1-"})
        self.assertEqual(st, 206)
        rows = wait_for(lambda: self.audit(token="police", action="export"), 10,
                        what="the export download audited")
        self.assertEqual(json.loads(rows[0]["detail"])["export"], eid)

        def clip(cam, start, end, export, role="investigator"):
            return self.req("/api/cameras/%s/clip.mp4?start=%s&end=%s&export=%s"
                            % (cam, start, end, export), role)
        st, _, body = clip("cam1", estart, eend, 999999)
        self.assertEqual(st, 404, body)
        self.assertIn("no such export", json.loads(body)["error"])
        st, _, body = clip("cam1", self.segs[0]["start"], eend, eid)  # starts before it
        self.assertEqual(st, 403, body)
        st, _, body = clip("cam1", estart, self.segs[3]["end"], eid)  # ends after it
        self.assertEqual(st, 403, body)
        st, _, body = clip("cam2", estart, eend, eid)  # a camera it does not name
        self.assertEqual(st, 403, body)
        self.assertIn("cam2", json.loads(body)["error"])
        st, _, body = clip("cam1", estart, eend, eid, role="viewer")
        self.assertEqual(st, 403, body)
        st, _, _ = clip("cam1", estart, eend, eid)
        self.assertEqual(st, 200)
        self.settle()
        self.assertFalse(self.audit(token="ioc-viewer", action="export"))
        self.assertFalse([r for r in self.audit(action="export")
                          if json.loads(r["detail"]).get("export") != eid])

    def test_3_failed_authentication_is_audited(self):
        path = "/api/cameras/cam1/recordings"
        self.assertEqual(self.d.http(path)[0], 401)
        rows = wait_for(lambda: self.audit(action="auth_failed"), 10,
                        what="a failed authentication audited")
        self.assertEqual(len(rows), 1)
        d = json.loads(rows[0]["detail"])
        self.assertEqual((d["address"], d["status"], d["path"]), ("127.0.0.1", 401, path))
        self.assertEqual(rows[0]["token"], "")
        # A guesser: counted in the run, not a row each, the guesses never stored.
        for i in range(7):
            st = self.d.http("/api/cameras?access_token=tok-guess-%d" % i)[0]
            self.assertEqual(st, 401)
        for i in range(4):
            st = self.d.http("/api/audit", headers={"Authorization": "Bearer tok-guess-x%d" % i})[0]
            self.assertEqual(st, 401)
        self.expect["auth_failed"] = 11
        # A token above its role: auth_denied, with its name.
        self.assertEqual(self.req("/api/audit", "viewer")[0], 403)
        self.assertEqual(self.req("/metrics", "viewer")[0], 403)
        self.settle()
        self.assertEqual(len(self.audit(action="auth_failed")), 1)
        rows = self.audit(action="auth_denied")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["token"], "ioc-viewer")
        self.assertEqual(json.loads(rows[0]["detail"])["path"], "/api/audit")
        self.expect["auth_denied"] = 1
        self.assertNotIn("tok-guess", json.dumps(self.audit()))

    def test_4_dropped_rows_counted(self):
        self.assertEqual(self.metric("vigil_audit_rows_dropped_total"), 0)
        # Resources no earlier test touched: each starts a run (a row now).
        q = "/api/cameras/cam1/clip.mp4?start=%s&end=%s" % (self.segs[2]["start"],
                                                            self.segs[3]["end"])
        c = self.db()
        c.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit "
                  "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        try:
            self.assertEqual(self.req(q, "viewer")[0], 200)
            self.assertEqual(self.req("/api/cameras/cam1/snapshot.jpg?at=" + self.segs[3]["end"],
                                      "investigator")[0], 200)
            wait_for(lambda: self.metric("vigil_audit_rows_dropped_total") >= 2, 10,
                     what="the dropped rows counted")
        finally:
            c.execute("DROP TRIGGER refuse")
            c.close()
        self.assertEqual(self.metric("vigil_audit_rows_dropped_total"), 2)
        self.assertEqual(self.req(q, "investigator")[0], 200)
        wait_for(lambda: self.audit(token="police", action="clip"), 10, what="audited again")
        self.assertEqual(self.metric("vigil_audit_rows_dropped_total"), 2)

    def test_9_chain_verifies_and_names_an_edit(self):
        self.d.stop()  # ends every run: their coalesced rows are written
        rows = [json.loads(line) for line in
                self.env.vigilctl(self.cfg, "audit").stdout.splitlines()]

        def coalesced(token, action):
            return [json.loads(r["detail"]) for r in rows if r["token"] == token
                    and r["action"] == action and json.loads(r["detail"]).get("coalesced")]
        n, total = self.expect["clip"]
        self.assertEqual([(d["requests"], d["bytes"]) for d in coalesced("ioc-viewer", "clip")],
                         [(n, total)])
        n, total = self.expect["snapshot"]
        self.assertEqual([(d["requests"], d["bytes"])
                          for d in coalesced("ioc-viewer", "snapshot")], [(n, total)])
        self.assertEqual([(d["requests"], d["address"]) for d in coalesced("", "auth_failed")],
                         [(self.expect["auth_failed"], "127.0.0.1")])
        self.assertEqual([d["requests"] for d in coalesced("ioc-viewer", "auth_denied")],
                         [self.expect["auth_denied"]])
        r = self.env.vigilctl(self.cfg, "audit", "verify")
        v = json.loads(r.stdout)
        self.assertTrue(v["ok"], v)
        c = self.db()
        n, last = c.execute("SELECT count(*), max(id) FROM audit").fetchone()
        self.assertEqual(v["rows"], n)
        self.assertGreaterEqual(n, 1)
        head = c.execute("SELECT hex(hash) FROM audit WHERE id = ?", (last,)).fetchone()[0]
        self.assertEqual(v["head"], head.lower())
        # Someone with the file makes a download look like another token's.
        victim = c.execute("SELECT id FROM audit WHERE action = 'clip' ORDER BY id "
                           "LIMIT 1").fetchone()[0]
        c.execute("UPDATE audit SET token = 'ops' WHERE id = ?", (victim,))
        c.close()
        r = self.env.vigilctl(self.cfg, "audit", "verify", check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        v = json.loads(r.stdout)
        self.assertFalse(v["ok"])
        self.assertEqual(v["broken_row"], victim)
        self.assertIn("row %d" % victim, r.stderr)


if __name__ == "__main__":
    vigiltest.main()
