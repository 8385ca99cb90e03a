"""
Access that must leave a trace, and a reload that must not open the door.

ReloadAuth: a daemon with auth: listening on 0.0.0.0 (every interface, so
"not loopback" by the start-up rule; the test only ever talks to 127.0.0.1)
is reloaded, by SIGHUP and by POST /api/reload, with a config that has no
auth: section. Both are refused with the start-up check's reason, audited as
config_reload_failed, and the running config stays: a request without a
token is still 401 and the admin token still works.
"""
import hashlib
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vigiltest  # noqa: E402
from vigiltest import Env, wait_for  # noqa: E402

ADMIN = "tok-admin-0c7d51e9"


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


if __name__ == "__main__":
    vigiltest.main()
