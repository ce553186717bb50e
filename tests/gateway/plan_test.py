#!/usr/bin/env python3
"""A two-part interview (a plan) through the real daemon, with OpenSSH as the candidate.

Usage: plan_test.py BREAKFIX_BINARY SOURCE_DIR

A library of two flag labs and two plans (in sequence, and together) in a temp dir. In
sequence, the candidate logs in with the plan session's id and sees the parts in the
banner, repairs the first lab, and moves on with `breakfix-next` typed in the lab; the
next login reaches the second lab, which has the unused time of the first added. The
interviewer notes and rates with the CLI and ends the interview; the report puts both
parts' scores beside the plan's rubric. Together, both labs are up at once and each is
reached as ID+host. Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-plan-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, stop_daemon, write_config, write_flag_scenario  # noqa: E402

test = Test("plan_test", WORK)
fail, check = test.fail, test.check
SOCKET = os.path.join(WORK, "api.sock")


def api(method, path, body=None):
    status, data = api_call(SOCKET, method, path, body)
    return status, json.loads(data) if data else None


def cli(*args):
    run = subprocess.run([BINARY, "session", *args, "--socket", SOCKET], capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


def wait_for(plan_id, predicate, what, seconds=180):
    view = None
    for _ in range(seconds * 5):
        _, view = api("GET", "/v1/sessions/" + plan_id)
        if predicate(view):
            return view
        time.sleep(0.2)
    fail(f"{what}: never happened; last view {json.dumps(view)[:600]}")


def ssh(user, command=None, stdin=b"", tty=False):
    args = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20", "-i", KEY,
            "-p", str(SSH_PORT)] + (["-tt"] if tty else []) + [f"{user}@127.0.0.1"] + ([command] if command else [])
    return subprocess.run(args, input=stdin, capture_output=True, timeout=120)


library = os.path.join(WORK, "scenarios")
os.makedirs(library)
write_flag_scenario(library, "alpha")
write_flag_scenario(library, "beta")
# For the plan run together: hosts of their own names.
write_flag_scenario(library, "gamma", setup="", image="hosts: [{name: web, image: breakfix/base:bookworm, "
                    "setup: touch /etc/flag}]")
write_flag_scenario(library, "delta", setup="", image="hosts: [{name: db, image: breakfix/base:bookworm, "
                    "setup: touch /etc/flag}]")
RUBRIC = """rubric:
  - name: communication
    description: How the candidate explained what they did
    levels: [silent, terse, clear, taught us]
"""
for plan_id, mode, parts in (("interview", "sequence", ("alpha", "beta")), ("sidebyside", "together", ("gamma", "delta"))):
    os.makedirs(os.path.join(library, plan_id))
    with open(os.path.join(library, plan_id, "plan.yaml"), "w") as out:
        out.write(f"""apiVersion: breakfix/v1
kind: plan
id: {plan_id}
title: Two labs, {mode}
description: A plan for the plan test.
mode: {mode}
parts:
  - {{name: first, scenario: {parts[0]}, duration: 20m}}
  - {{name: second, scenario: {parts[1]}, duration: 10m}}
""" + RUBRIC)

SSH_PORT = free_port()
KEY = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", KEY], check=True)
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library])
daemon = start_daemon(test, BINARY, config, api)
containers = []
try:
    # --- in sequence ---------------------------------------------------------------------
    code, out = cli("start", "interview", "--candidate", "Ada", "--key", KEY + ".pub")
    check(code == 0, f"`session start` takes a plan ({out[-400:]})")
    check("Interview " in out and "breakfix-next" in out and "1. first" in out,
          "the interviewer is shown the parts and how the candidate moves on")
    _, listed = api("GET", "/v1/sessions")
    plan_id = listed["plans"][0]["id"]
    view = wait_for(plan_id, lambda v: v["parts"][0]["session"] and v["parts"][0]["session"]["state"] == "ready",
                    "the first part is ready")
    first = view["parts"][0]["session"]["id"]
    check(view["parts"][1]["session"] is None, "the second part has not started: its hosts come when the candidate moves on")
    check(first != plan_id, "the part is a session of its own")
    containers.append(f"breakfix-{first}-main")

    shell = ssh(plan_id, stdin=b"exit\n", tty=True)
    banner = shell.stdout.decode(errors="replace")
    check("> 1. first" in banner and "2. second" in banner and "breakfix-next" in banner,
          f"the banner shows the parts, where the candidate is and how to move on ({banner[:400]!r})")
    run = ssh(plan_id, "test -f /etc/flag && echo up || echo down")
    check(run.stdout.strip() == b"down", f"the login reaches the first lab, broken ({run.stdout!r} {run.stderr!r})")
    run = ssh(plan_id, "touch /etc/flag && echo fixed")
    check(run.stdout.strip() == b"fixed", "the candidate repairs the first lab over ssh")
    # Without the yes, the command asks and a "no" keeps the candidate where they are.
    run = ssh(plan_id, "breakfix-next", stdin=b"n\n")
    check(run.returncode == 1 and b"Staying on this part" in run.stdout, "breakfix-next asks first; no means no")
    time.sleep(2)
    _, view = api("GET", "/v1/sessions/" + plan_id)
    check(view["current_part"] == 0, "a refused move changes nothing")

    run = ssh(plan_id, "breakfix-next -y")
    check(b"Moving on" in run.stdout, f"the candidate moves on from inside the lab ({run.stdout!r} {run.stderr!r})")
    view = wait_for(plan_id, lambda v: v["current_part"] == 1 and v["parts"][1]["session"]
                    and v["parts"][1]["session"]["state"] == "ready", "the second part is ready")
    second = view["parts"][1]["session"]
    containers.append(f"breakfix-{second['id']}-main")
    part_one = view["parts"][0]["session"]
    check(part_one["state"] in ("grading", "graded", "removed"), f"the first part ended ({part_one['state']})")
    check(second["duration_s"] > 10 * 60, f"the unused time of the first part went to the second ({second['duration_s']} s)")
    run = ssh(plan_id, "test -f /etc/flag && echo up || echo down; test -e /usr/local/bin/breakfix-next && echo has-next")
    check(run.stdout.split() == [b"down"], f"the same login now reaches the second lab, which is the last ({run.stdout!r})")
    # The marker from the last part moves nothing (and harms nothing).
    ssh(plan_id, r"printf '\033]4747;breakfix-next-part\007'")
    time.sleep(2)
    _, view = api("GET", "/v1/sessions/" + plan_id)
    check(view["current_part"] == 1 and view["parts"][1]["session"]["state"] == "ready", "the last part has no next")
    status, answer = api("POST", f"/v1/sessions/{plan_id}/next", {})
    check(status == 409 and "is the last" in answer["error"], f"nor does the interviewer's next ({status} {answer})")

    code, out = cli("note", plan_id, "Explained the fix before moving on.")
    check(code == 0, f"the interviewer notes the interview ({out})")
    code, out = cli("rate", plan_id, "communication", "3")
    check(code == 0 and "clear" in out, f"and rates the plan's rubric ({out})")
    code, out = cli("show", plan_id)
    check(code == 0 and "second" in out and second["id"] in out, f"`session show` lists the parts ({out[-300:]})")
    code, out = cli("end", plan_id)
    check(code == 0, f"the interviewer ends the interview ({out[-300:]})")
    wait_for(plan_id, lambda v: v["state"] in ("graded", "removed"), "the interview is graded")
    status, report = api("GET", f"/v1/sessions/{plan_id}/report")
    check(status == 200 and report["kind"] == "plan", f"the interview has a report ({status})")
    scores = [part["score"] for part in report["parts"]]
    check(scores == [1.0, 0.0], f"each part's checks are scored on their own ({scores})")
    check(report["parts"][0]["report"]["checks"][0]["passed"], "the part's own report is in the interview's")
    check(report["rubric"][0]["rating"]["level"] == 3, "the rubric is beside the parts' scores")
    check(report["notes"][0]["text"] == "Explained the fix before moving on.", "with the interviewer's note")
    check(any("ended by the candidate" in event["detail"] for event in report["events"]),
          "the timeline says the candidate moved on")
    status, markdown = api_call(SOCKET, "GET", f"/v1/sessions/{plan_id}/report?format=md")
    text = markdown.decode()
    check("# Part 1: first" in text and "# Part 2: second" in text and "| communication | 3 of 4 | clear |" in text,
          "the Markdown report has both parts and the rubric")
    recordings = os.path.join(WORK, "data", "recordings", first)
    check(os.path.isdir(recordings) and os.listdir(recordings), "the first part's terminals are recorded under its own id")

    # --- together --------------------------------------------------------------------------
    status, created = api("POST", "/v1/sessions", {"scenario": "sidebyside", "candidate": "Bo",
                                                   "public_keys": [open(KEY + ".pub").read().strip()]})
    check(status == 202 and created["kind"] == "plan", f"a plan together starts ({status})")
    together = created["id"]
    view = wait_for(together, lambda v: all(p["session"] and p["session"]["state"] == "ready" for p in v["parts"]),
                    "both parts together are ready")
    for part, host in zip(view["parts"], ("web", "db")):
        containers.append(f"breakfix-{part['session']['id']}-{host}")
        check(part["session"]["duration_s"] == 30 * 60, "each part runs as long as the whole plan")
        run = ssh(f"{together}+{host}", "hostname")
        check(run.stdout.strip() == host.encode(), f"{together}+{host} reaches that part's host ({run.stdout!r})")
    status, _ = api("POST", f"/v1/sessions/{together}/next", {})
    check(status == 409, "a plan together has no next part")
    status, _ = api("POST", f"/v1/sessions/{together}/end", {})
    check(status == 202, "the interviewer ends it")
    wait_for(together, lambda v: v["state"] in ("graded", "removed"), "the plan together is graded")
    status, report = api("GET", f"/v1/sessions/{together}/report")
    check(status == 200 and len(report["parts"]) == 2, "its report has both parts")
finally:
    stop_daemon(daemon, containers)
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
