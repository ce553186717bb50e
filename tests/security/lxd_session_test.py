#!/usr/bin/env python3
"""A systemd lab on LXD, end to end through the real daemon, with OpenSSH as the candidate.

Usage: lxd_session_test.py BREAKFIX_BINARY SOURCE_DIR

Two sessions of a small `init: systemd` lab (a flag file the fault removes), on a daemon
configured with `runtime.backend: lxd`:
1. An honest candidate logs in with their key, finds systemd running, repairs the lab:
   the report scores 100.
2. A hostile candidate repairs nothing and covers the grader's toolbox with a bind mount
   whose "bash" exits 0 for every check (root in a system container may mount): the
   report must score 0 and say the toolbox was covered. Without the backend's guard
   the forged checks passed (28 of 30 grader execs, runtime_test.cpp).
Needs LXD with breakfix/base:bookworm (setup-lxd.sh, `breakfix image base --backend lxd`).
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-lxd-session-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import daemon_test  # noqa: E402
from daemon_test import (Test, candidate_key, free_port, json_api, ssh_candidate, start_daemon,  # noqa: E402
                         stop_daemon, wait_for_state, write_config, write_flag_scenario)

test = Test("lxd_session_test", WORK)
check = test.check
api = json_api(WORK)


def ssh(key, session, command):
    return ssh_candidate(key, SSH_PORT, session, command)


def graded_report(session):
    return daemon_test.graded_report(test, api, session, 180)


library = os.path.join(WORK, "scenarios")
write_flag_scenario(library, "systemd-flag", image="image: breakfix/base:bookworm\ninit: systemd")
SSH_PORT = free_port()
key, pub = candidate_key(WORK)
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library], extra="runtime:\n  backend: lxd\n")
daemon = start_daemon(test, BINARY, config, api)
sessions = []
try:
    def start(candidate):
        status, created = api("POST", "/v1/sessions", {"scenario": "systemd-flag", "candidate": candidate,
                                                       "public_keys": [pub]})
        check(status == 202, f"a session for {candidate} is created ({status}: {created})")
        sessions.append(created["id"])
        view = wait_for_state(api, created["id"], ("ready", "failed"), 180)
        check(view["state"] == "ready", f"{candidate}'s lab is ready ({view['state']}: {view.get('failure')})")
        return created["id"]

    # 1. Honest.
    honest = start("honest")
    booted = ssh(key, honest, "systemctl is-system-running; test -f /etc/flag && echo up || echo down")
    lines = booted.stdout.decode(errors="replace").split()
    check(lines[:1] in (["running"], ["degraded"]), f"the candidate finds systemd running ({lines})")
    check(lines[-1:] == ["down"], f"the fault bites ({lines})")
    ssh(key, honest, "touch /etc/flag")
    report = graded_report(honest)
    check(report["score"] == 1 or report["score"] == 100, f"the repaired lab scores full marks ({report['score']})")

    # 2. Hostile: no repair, a toolbox whose bash says yes to everything.
    hostile = start("hostile")
    covered = ssh(key, hostile, "mkdir -p /root/fake/bin && printf '#!/bin/sh\\nexit 0\\n' > /root/fake/bin/bash && "
                                "chmod 755 /root/fake/bin/bash && cp /root/fake/bin/bash /root/fake/bin/busybox && "
                                "mount --bind /root/fake /.breakfix && echo covered")
    check(b"covered" in covered.stdout, f"root in the lab covers the toolbox ({covered.stdout!r} {covered.stderr!r})")
    report = graded_report(hostile)
    check(report["score"] == 0, f"the forged checks do not count: score {report['score']}")
    text = json.dumps(report["checks"])
    check("covered" in text, f"the report says the toolbox was covered ({text[:400]})")
finally:
    stop_daemon(daemon, [])
    # What a failed run left: the daemon removes graded labs itself.
    for session in sessions:
        subprocess.run(["lxc", "delete", "--force", f"breakfix-{session}-main"], capture_output=True)
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
