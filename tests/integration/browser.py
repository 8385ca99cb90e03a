"""Runs the playwright-core scripts of tests/browser/ against Debian's chromium,
installing playwright-core from npm into tests/browser/node_modules the first
time (no browser download: Debian's /usr/bin/chromium is used). With
tests/browser/package-lock.json the install is `npm ci`: exactly the locked
versions and integrity hashes, never a newer release picked at test time."""
import json
import os
import subprocess

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser")


def _wanted():
    with open(os.path.join(HERE, "package.json")) as f:
        return json.load(f)["dependencies"]["playwright-core"]


def _installed():
    try:
        with open(os.path.join(HERE, "node_modules", "playwright-core", "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def ensure():
    # reinstall when package.json pins another version than the one installed
    if _installed() != _wanted():
        locked = os.path.exists(os.path.join(HERE, "package-lock.json"))
        subprocess.run(["npm", "ci" if locked else "install", "--no-audit", "--no-fund",
                        "--silent"], cwd=HERE, check=True, timeout=300)


def run(script, *args, timeout=120):
    """Returns (exit code, parsed JSON of the last stdout line or None, stderr)."""
    ensure()
    r = subprocess.run(["node", os.path.join(HERE, script)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    out = None
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if lines:
        try:
            out = json.loads(lines[-1])
        except ValueError:
            out = None
    return r.returncode, out, r.stderr
