"""
Access that must leave a trace, and a reload that must not open the door.

ReloadAuth: a daemon with auth: listening on 0.0.0.0 (every interface, so
"not loopback" by the start-up rule; the test only ever talks to 127.0.0.1)
is reloaded, by SIGHUP and by POST /api/reload, with a config that has no
auth: section. Both are refused with the start-up check's reason, audited as
config_reload_failed, and the running config stays: a request without a
token is still 401 and the admin token still works.

Trail: one recording daemon with viewer/investigator/admin tokens.
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
import unittest

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
        cls.cfg = env.config([env.camera("cam1", cls.cam.url("cam1"))], segment_seconds=2,
                             extra=auth)
        cls.d = env.vigild(cls.cfg)
        try:
            wait_for(lambda: len(env.segments(cls.cfg, "cam1")) >= 2, 40, what="two segments")
        except AssertionError:
            env.close(keep_on_failure=True)
            raise
        segs = env.segments(cls.cfg, "cam1")
        cls.start, cls.end = segs[0]["start"], segs[1]["end"]

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

    def test_4_dropped_rows_counted(self):
        self.assertEqual(self.metric("vigil_audit_rows_dropped_total"), 0)
        q = "/api/cameras/cam1/clip.mp4?start=%s&end=%s" % (self.start, self.end)
        c = self.db()
        c.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit "
                  "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        try:
            self.assertEqual(self.req(q, "viewer")[0], 200)
            self.assertEqual(self.req("/api/cameras/cam1/snapshot.jpg?at=" + self.start,
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
        self.d.stop()
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
