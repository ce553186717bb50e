#!/usr/bin/env python3
"""A hostile candidate against the real daemon, real containers and the OpenSSH client.

Usage: hostile_candidate_test.py BREAKFIX_BINARY SOURCE_DIR [PARTS]

PARTS (default 1,2,3,4) picks the attacks below, e.g. to show one failing on an older
binary without the others.

The candidate is root in their lab. Over ssh, as a candidate would, this test:
  1. wraps the lab's shells (bash and dash exit 0 whatever they are asked): the
     unrepaired lab must still score 0;
  2. makes the tool a check relies on (visudo) hang, and the lab's /bin/sh too (which
     the kill of a timed-out exec used to run): the deadline must still end access on
     time while a progress run hangs, and the grading must finish within the longest
     check timeout plus 30 s;
  3. keeps a session busy with a hung progress run: `session end` must answer without
     409, and logins are refused right after it;
  4. stops the daemon with SIGTERM during a hung grading: it must exit within 35 s.
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PARTS = {int(part) for part in (sys.argv[3] if len(sys.argv) > 3 else "1,2,3,4").split(",")}
WORK = tempfile.mkdtemp(prefix="breakfix-hostile-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import (Test, api_call, backend, free_port, remove_lab_container, start_daemon,  # noqa: E402
                         write_config)

test = Test(f"hostile_candidate_test ({backend()})", WORK)
fail, check = test.fail, test.check


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


def start_session(candidate_pub, duration="30m"):
    status, session = api("POST", "/v1/sessions", {"scenario": "sudoers-broken", "candidate": "hostile",
                                                    "public_keys": [candidate_pub], "duration": duration})
    check(status == 202, f"session created ({status})")
    for _ in range(900):
        _, view = api("GET", "/v1/sessions/" + session["id"])
        if view["state"] == "ready":
            return session["id"]
        if view["state"] == "failed":
            fail("session failed: " + str(view["failure"]))
        time.sleep(0.2)
    fail("session never became ready")


def wait_state(session, states, timeout):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] in states:
            return view, time.monotonic() - started
        time.sleep(0.2)
    return view, time.monotonic() - started


def ssh(key, user, command, timeout=60):
    argv = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20", "-i", key,
            "-p", str(SSH_PORT), f"{user}@127.0.0.1", command]
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as expired:
        # The command was let in and hangs (in the lab's hung /bin/sh): not refused.
        return subprocess.CompletedProcess(argv, None, expired.stdout or b"", expired.stderr or b"")


def report(session):
    status, body = api("GET", f"/v1/sessions/{session}/report?format=json")
    check(status == 200, f"the report of {session} is there ({status})")
    return body


# The candidate's moves, as shell run over ssh (the gateway runs them with the lab's /bin/sh).
WRAP_SHELLS = r"""set -e
cp -a /usr/bin/bash /usr/bin/bash.real
cp -a /usr/bin/dash /usr/bin/dash.real
printf '#!/usr/bin/dash.real\nexit 0\n' >/tmp/wrapper
chmod 755 /tmp/wrapper
cp -a /tmp/wrapper /tmp/wrapper2
mv -f /tmp/wrapper /usr/bin/bash
mv -f /tmp/wrapper2 /usr/bin/dash
echo wrapped
"""
HANG_TOOLS = r"""set -e
cp -a /usr/bin/dash /usr/bin/dash.real
printf '#!/usr/bin/dash.real\nexec /usr/bin/sleep 100000\n' >/tmp/hang
chmod 755 /tmp/hang
cp -a /tmp/hang /tmp/hang2
mv -f /tmp/hang /usr/sbin/visudo
mv -f /tmp/hang2 /usr/bin/dash
echo hung
"""
# sudoers-broken's checks have the default 30 s timeout: a grading is over within 60 s.
GRADING_BOUND = 30 + 30


def part1():
    """wrapped shells cannot forge the score"""
    wrapped = start_session(pub)
    sessions.append(wrapped)
    run = ssh(key, wrapped, "umount /.breakfix; mount -t tmpfs none /.breakfix; mount -o remount,rw /.breakfix;"
                            " cp /bin/true /.breakfix/bin/bash; mv /.breakfix /toolbox; echo tried")
    if backend() == "docker":
        check(b"tried" in run.stdout and run.stderr.count(b"Read-only file system") == 1 and
              b"Device or resource busy" in run.stderr and run.stderr.count(b"permission denied") >= 2,
              f"the toolbox cannot be unmounted, covered, remounted, written or moved ({run.stderr!r})")
    else:
        # Root in a system container may mount and unmount: the backend's toolbox guard
        # refuses every grader exec after that (runtime_test.cpp), so the score below
        # stays 0 whatever these did.
        check(b"tried" in run.stdout, f"the candidate went at the toolbox's mount ({run.stderr!r})")
    run = ssh(key, wrapped, WRAP_SHELLS)
    check(run.returncode == 0 and b"wrapped" in run.stdout, f"the candidate wrapped bash and dash ({run.stderr!r})")
    status, _ = api("POST", f"/v1/sessions/{wrapped}/end")
    check(status == 202, f"session end is accepted ({status})")
    view, took = wait_state(wrapped, ("graded", "removed", "failed"), GRADING_BOUND + 30)
    check(view["state"] in ("graded", "removed"), f"the wrapped lab is graded ({view['state']})")
    graded = report(wrapped)
    check(graded["score"] == 0, f"an unrepaired lab with wrapped shells scores 0 (got {graded['score']})")
    tampered = {change["path"] for change in graded["tampering"]["paths"]}
    check(graded["tampering"]["tampered"] is True and {"/usr/bin/bash", "/usr/bin/dash"} <= tampered,
          f"the report names the wrapped shells under tampering ({sorted(tampered)})")
    _, view = api("GET", "/v1/sessions/" + wrapped)
    check(view["tampered"] is True, "the API flags the session as tampered")


def part2():
    """the deadline ends access on time while a progress run hangs"""
    short = start_session(pub, duration="25s")
    sessions.append(short)
    _, view = api("GET", "/v1/sessions/" + short)
    deadline = time.time() + view["time_left_s"]
    run = ssh(key, short, HANG_TOOLS)
    check(b"hung" in run.stdout, f"the candidate made visudo and /bin/sh hang ({run.stderr!r})")
    # Progress runs (every 5 s) hang on visudo for their 30 s timeout: the session is busy
    # when its deadline comes. Access must end on time all the same.
    time.sleep(max(0, deadline - time.time()) + 3)
    _, view = api("GET", "/v1/sessions/" + short)
    refused = ssh(key, short, "echo still-in", timeout=60)
    check(refused.returncode is not None and b"still-in" not in refused.stdout,
          f"3 s after the deadline no command runs (state {view['state']}; {refused.stdout!r})")
    view, _ = wait_state(short, ("graded", "removed"), GRADING_BOUND + 60)
    after_deadline = time.time() - deadline
    check(view["state"] in ("graded", "removed") and after_deadline <= GRADING_BOUND,
          f"graded {after_deadline:.0f}s after the deadline, within the longest check timeout plus 30 s ({view['state']})")
    check(report(short)["score"] == 0, "a hanging tool makes its checks fail, nothing else")


def part3():
    """end never answers busy; logins end with it"""
    busy = start_session(pub)
    sessions.append(busy)
    run = ssh(key, busy, HANG_TOOLS)
    check(b"hung" in run.stdout, "the candidate made visudo hang again")
    time.sleep(7)  # a progress run (every 5 s) is now hung on visudo
    started = time.monotonic()
    status, body = api("POST", f"/v1/sessions/{busy}/end")
    took = time.monotonic() - started
    check(status == 202, f"session end is accepted while a check hangs, never 409 ({status}, {body}, {took:.1f}s)")
    check(took < GRADING_BOUND, f"session end answered within the grading bound ({took:.1f}s)")
    refused = ssh(key, busy, "echo still-in", timeout=60)
    check(refused.returncode is not None and b"still-in" not in refused.stdout,
          f"commands are refused right after the end ({refused.returncode}, {refused.stdout!r})")


def part4():
    """SIGTERM during a hung grading: the daemon exits within 35 s"""
    time.sleep(2)
    started = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - started
    check(code == 0 and took <= 35, f"SIGTERM during a hung grading: exit {code} after {took:.1f}s (bound 35 s)")


SSH_PORT = free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, progress_interval="5s")
daemon = start_daemon(test, BINARY, config, api)
sessions = []
try:
    for part in sorted(PARTS):
        globals()[f"part{part}"]()
finally:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    for session in sessions:
        remove_lab_container(f"breakfix-{session}-main")
    shutil.rmtree(WORK, ignore_errors=True)

test.summary()
