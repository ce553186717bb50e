#!/usr/bin/env python3
"""A hostile candidate's reply to a customer ticket, over ssh, against the real daemon.

Usage: customer_reply_test.py BREAKFIX_BINARY SOURCE_DIR

Three sessions of a small customer scenario, each ended after the candidate, root in the
lab, makes the reply file something other than a reply: a symlink to /etc/shadow (the
report must not show the shadow file), a FIFO (the grading must not hang on it), and a
2 GiB sparse file (the report keeps 64 KiB and the daemon does not read it all). Each
report must say what the reply was, and every grading must end. Standard library only.
Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-reply-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, stop_daemon, wait_for_state, write_config  # noqa: E402

test = Test("customer_reply_test", WORK)
fail, check = test.fail, test.check

TICKET = """apiVersion: breakfix/v1
id: ticket
title: A customer's ticket
kind: customer
description: Read /root/ticket.md and answer in /root/reply.md.
duration: 30m
image: breakfix/base:bookworm
setup: "echo 'Our runner cannot reach the server.' > /root/ticket.md"
reply: {path: /root/reply.md}
checks:
  - {name: the reply names the proxy, timeout: 10s, run: "grep -qi proxy /root/reply.md"}
solution: [{run: "echo 'Set the proxy in the runner.' > /root/reply.md"}]
rubric:
  - name: tone
    description: How the reply reads
    levels: [curt, kind]
"""

# What the candidate makes of the reply, and what the report must then say of it.
ATTACKS = {
    "symlink": "ln -sf /etc/shadow /root/reply.md",
    "fifo": "mkfifo /root/reply.md",
    "huge": "printf 'Check the proxy settings.\\n' > /root/reply.md && truncate -s 2G /root/reply.md",
}


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


def wait_state(session, states):
    view = wait_for_state(api, session, states)
    if view["state"] not in states:
        fail(f"session {session} never reached {states}: {view['state']}")
    return view


library = os.path.join(WORK, "scenarios", "ticket")
os.makedirs(library)
with open(os.path.join(library, "scenario.yaml"), "w") as out:
    out.write(TICKET)
SSH_PORT = free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[os.path.dirname(library)])
daemon = start_daemon(test, BINARY, config, api)
sessions = {}
try:
    for attack in ATTACKS:
        status, created = api("POST", "/v1/sessions", {"scenario": "ticket", "candidate": attack, "public_keys": [pub]})
        check(status == 202, f"session for the {attack} created ({status})")
        sessions[attack] = created["id"]
    for attack, command in ATTACKS.items():
        session = sessions[attack]
        wait_state(session, ("ready",))
        run = subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                              "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key,
                              "-p", str(SSH_PORT), f"{session}@127.0.0.1", command + " && ls -l /root/reply.md"],
                             capture_output=True, timeout=60)
        check(run.returncode == 0, f"the candidate makes the reply a {attack} ({run.stdout[-200:]!r} {run.stderr[-200:]!r})")
        status, _ = api("POST", f"/v1/sessions/{session}/end")
        check(status == 202, f"the {attack} session is ended")
    reports = {}
    for attack, session in sessions.items():
        began = time.monotonic()
        wait_state(session, ("graded", "removed", "failed"))
        status, report = api("GET", f"/v1/sessions/{session}/report")
        check(status == 200, f"the {attack} session is graded in {time.monotonic() - began:.0f} s and has a report")
        reports[attack] = report
    shadow = reports["symlink"]["reply"]
    check(shadow["text"] is None and "link" in shadow["problem"],
          f"a reply that is a symlink is named as one and not followed ({shadow['problem']!r})")
    check("root:" not in json.dumps(reports["symlink"]), "nothing of /etc/shadow reaches the report")
    fifo = reports["fifo"]["reply"]
    check(fifo["text"] is None and fifo["problem"], f"a FIFO is named, not read ({fifo['problem']!r})")
    check(not reports["fifo"]["checks"][0]["passed"], "the check that reads the FIFO fails (within its timeout)")
    huge = reports["huge"]["reply"]
    check(huge["cut"] and huge["text"].startswith("Check the proxy settings.") and len(huge["text"]) <= 64 * 1024,
          f"a 2 GiB reply is cut to 64 KiB ({len(huge['text'] or '')} bytes kept)")
    check(reports["huge"]["checks"][0]["passed"], "what the huge reply says is still read by its check")
    status, markdown = api_call(os.path.join(WORK, "api.sock"), "GET", f"/v1/sessions/{sessions['huge']}/report?format=md")
    check(status == 200 and len(markdown) < 200 * 1024, f"the Markdown report stays small ({len(markdown)} bytes)")
finally:
    stop_daemon(daemon, [f"breakfix-{session}-main" for session in sessions.values()])
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
