#!/usr/bin/env python3
"""The warm pool (sessions.warm) through the real daemon, with OpenSSH as the candidate.

Usage: [BREAKFIX_BACKEND=lxd] warm_pool_test.py BREAKFIX_BINARY SOURCE_DIR

A daemon keeps one lab of a small scenario warm (on LXD, a systemd lab):
1. The pool fills: a session in state `warm`, pooled, with no candidate; nobody can log
   in to it, and it shows in the metrics.
2. A start claims it: the answer is already `ready`, under the warm lab's id, for this
   candidate, with the scenario's whole duration left. The time the answer took is
   printed (docs/benchmarks.md has the measured figures; no timing is asserted).
3. The candidate logs in with their key, finds the fault in place, repairs it; the
   report scores 100 and names them.
4. The pool refills with a new lab, never the claimed one; a second start gets that one.
5. A daemon restart finds the warm lab still warm and hands it out.
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-warm-pool-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import (Test, api_call, backend, candidate_key, free_port, remove_lab_container,  # noqa: E402
                         ssh_candidate, start_daemon, stop_daemon, wait_for_state, write_config,
                         write_flag_scenario)

BACKEND = backend()

test = Test(f"warm_pool_test ({BACKEND})", WORK)
check = test.check


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, data.decode(errors="replace")


def ssh(session, command):
    return ssh_candidate(KEY, SSH_PORT, session, command)


def warm_sessions():
    status, listed = api("GET", "/v1/sessions")
    if status != 200:
        test.fail(f"sessions are not listed ({status}: {listed})")
    return [s for s in listed["sessions"] if s["state"] == "warm"]


def wait_for_warm(exclude=(), seconds=300):
    for _ in range(seconds * 2):
        warm = [s for s in warm_sessions() if s["id"] not in exclude]
        if warm:
            return warm[0]
        time.sleep(0.5)
    test.fail(f"no warm lab within {seconds} s")


def claim(candidate):
    began = time.monotonic()
    status, created = api("POST", "/v1/sessions", {"scenario": "flag", "candidate": candidate, "public_keys": [PUB]})
    took = (time.monotonic() - began) * 1000
    check(status in (201, 202), f"{candidate}'s start is accepted ({status}: {created})")
    print(f"warm_pool_test ({BACKEND}): start answered in {took:.1f} ms", file=sys.stderr)
    return created, took


library = os.path.join(WORK, "scenarios")
image = "image: breakfix/base:bookworm" + ("\ninit: systemd" if BACKEND == "lxd" else "")
write_flag_scenario(library, "flag", image=image)
SSH_PORT = free_port()
KEY, PUB = candidate_key(WORK)
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library], sessions_extra="warm: {flag: 1}")
daemon = start_daemon(test, BINARY, config, api)
seen = set()
try:
    # 1. The pool fills.
    warm = wait_for_warm()
    seen.add(warm["id"])
    check(warm["pooled"] and warm["candidate"] == "", f"the warm lab is pooled and nobody's ({warm})")
    check(warm["time_left_s"] == 0 and warm["ready_at"] is None, "a warm lab has no clock running")
    refused = ssh(warm["id"], "true")
    check(refused.returncode != 0, "nobody logs in to a warm lab")
    status, metrics = api("GET", "/metrics")
    check('breakfix_warm_labs{kind="warm",scenario="flag"} 1' in metrics,
          "the metrics show the warm lab: " + " ".join(l for l in metrics.splitlines() if "warm" in l))

    # 2. A start claims it.
    created, took = claim("Ada")
    check(created["id"] == warm["id"], f"the start got the warm lab ({created['id']} vs {warm['id']})")
    check(created["state"] == "ready", f"it is ready in the answer itself ({created['state']})")
    check(created["candidate"] == "Ada" and not created["pooled"], "it is Ada's now")
    check(created["time_left_s"] >= 30 * 60 - 5, f"with the whole duration left ({created['time_left_s']} s)")

    # 3. The candidate repairs it.
    down = ssh(created["id"], "test -f /etc/flag && echo up || echo down")
    check(down.stdout.strip() == b"down", f"the fault is in place ({down.stdout!r} {down.stderr!r})")
    ssh(created["id"], "touch /etc/flag")
    status, _ = api("POST", f"/v1/sessions/{created['id']}/end")
    check(status == 202, "the interviewer ends Ada's session")
    view = wait_for_state(api, created["id"], ("graded", "removed", "failed"), 180)
    check(view["state"] in ("graded", "removed"), f"Ada's session is graded ({view['state']})")
    status, report = api("GET", f"/v1/sessions/{created['id']}/report")
    check(status == 200 and report["score"] == 1 and report["candidate"] == "Ada",
          f"the report scores Ada's repair ({status}: {report.get('score') if isinstance(report, dict) else report})")

    # 4. The pool refills with another lab.
    refill = wait_for_warm(exclude=seen)
    seen.add(refill["id"])
    check(refill["id"] != created["id"], "the pool made a new lab, not the claimed one again")

    # 5. A restart keeps it warm, and a start gets it.
    stop_daemon(daemon)
    daemon = start_daemon(test, BINARY, config, api)
    again = wait_for_warm(seconds=60)
    check(again["id"] == refill["id"], f"the warm lab outlived the restart ({again['id']} vs {refill['id']})")
    # The store lists it at once; the engine has it once the daemon has resumed its
    # sessions (which waits for the runtime to answer): the metrics say so. A start before
    # that gets a lab of its own.
    for _ in range(120):
        if 'breakfix_warm_labs{kind="warm",scenario="flag"} 1' in api("GET", "/metrics")[1]:
            break
        time.sleep(0.5)
    else:
        test.fail("the restarted daemon never resumed the warm lab")
    bob, _ = claim("Bob")
    check(bob["id"] == refill["id"] and bob["state"] == "ready", "Bob gets it after the restart, ready")
    up = ssh(bob["id"], "test -f /etc/flag && echo up || echo down")
    check(up.stdout.strip() == b"down", f"Bob's lab is whole: the fault in place, Ada's repair not in it ({up.stdout!r})")
    api("DELETE", f"/v1/sessions/{bob['id']}")
finally:
    # What the run left (the pool's next lab, a failed run's labs) goes with the test; only
    # this daemon's sessions: other tests' labs run beside it.
    try:
        seen.update(s["id"] for s in api("GET", "/v1/sessions")[1]["sessions"])
    except Exception:  # noqa: BLE001 - the daemon may be the thing that failed
        pass
    stop_daemon(daemon, [])
    for session in seen:
        remove_lab_container(f"breakfix-{session}-main")
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
