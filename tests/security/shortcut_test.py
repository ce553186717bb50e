#!/usr/bin/env python3
"""An impatient candidate takes web-502's shortcut over ssh, against the real daemon.

Usage: shortcut_test.py BREAKFIX_BINARY SOURCE_DIR [SCENARIO_DIR]

The candidate logs in with their key and, instead of pointing nginx at the app, makes
nginx answer /checkout itself with the body the check wants. Every fix check passes; the
report must still score 0, say which critical guard capped it, and list the hint the
interviewer gave on the way. With the library before issue 15 (pass its web-502 as
SCENARIO_DIR's parent) the same session scored 100%.
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SCENARIOS = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else os.path.join(SOURCE, "scenarios")
WORK = tempfile.mkdtemp(prefix="breakfix-shortcut-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, stop_daemon, wait_for_state, write_config  # noqa: E402

test = Test("shortcut_test", WORK)
check = test.check


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


SSH_PORT = free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[SCENARIOS])
daemon = start_daemon(test, BINARY, config, api)
session = None
try:
    status, created = api("POST", "/v1/sessions", {"scenario": "web-502", "candidate": "impatient", "public_keys": [pub]})
    check(status == 202, f"session created ({status})")
    session = created["id"]
    view = wait_for_state(api, session, ("ready", "failed"), 120)
    check(view["state"] == "ready", f"the session is ready ({view['state']}: {view.get('failure')})")
    status, _ = api("POST", f"/v1/sessions/{session}/hint", {})
    hinted = status == 200
    # The shortcut, typed over ssh as a candidate would.
    run = subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key,
                          "-p", str(SSH_PORT), f"{session}@127.0.0.1",
                          "sed -i 's#proxy_pass .*;#return 200 \"checkout ok\";#' /etc/nginx/sites-enabled/shop && "
                          "nginx -s reload && sleep 1 && curl -s http://127.0.0.1/checkout"],
                         capture_output=True, timeout=120)
    check(run.stdout.strip().endswith(b"checkout ok"), f"nginx now answers the check's body itself ({run.stdout[-200:]!r})")
    status, _ = api("POST", f"/v1/sessions/{session}/end")
    check(status == 202, "the interviewer ends the session")
    for _ in range(600):
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] in ("graded", "removed", "failed"):
            break
        time.sleep(0.2)
    status, report = api("GET", f"/v1/sessions/{session}/report")
    check(status == 200, f"the report exists ({status})")
    fixes = [c for c in report["checks"] if c["expect"] == "fix"]
    check(fixes and all(c["passed"] for c in fixes), "every fix check passes: the shortcut fooled them")
    check(report["score"] == 0, f"the shortcut scores 0, not {report['score']}")
    grade = report.get("grade") or {}
    check(grade.get("capped_by") and grade.get("cap") == 0,
          f"the report says which critical guard capped the score ({grade.get('capped_by')})")
    if hinted:
        check(any(e["kind"] == "hint" for e in report["events"]), "the hint given is an event of the report")
finally:
    stop_daemon(daemon, [f"breakfix-{session}-main"] if session else [])
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
