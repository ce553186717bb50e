#!/usr/bin/env python3
"""Sessions across a real LXD cluster, end to end through the real daemon, with OpenSSH as
the candidate (docs/runtime.md, "Clustering").

Usage: lxd_cluster_test.py BREAKFIX_BINARY SOURCE_DIR

1. Builds a two-member LXD cluster on this machine (lxd_cluster.sh: each member in network
   and mount namespaces of its own, so its storage pool is invisible to the daemon, as on
   another machine) and gives it breakfix's images from the main LXD.
2. A daemon whose config names the cluster (one member's socket, the cluster's pool) starts
   systemd labs; LXD places them, on both members. A two-host lab's hosts share a member
   and reach each other by name.
3. On a lab of each member, grading reads the lab through the helper on that member: an
   honest repair scores 100; a candidate who covers the grader's toolbox with a bash that
   says yes scores 0, and the report names the cover.
4. A member goes away (its LXD is killed): its sessions fail, saying which member is
   offline; a session on the other member goes on and is graded full marks; a new
   session starts, on the other member.
5. `breakfix gc` with the member away removes what it can reach and names what it cannot
   (exit 1); once the member is back, gc removes the rest and the cluster holds no lab.
Needs LXD with breakfix/base:bookworm and breakfix/toolbox:bookworm (setup-lxd.sh,
`breakfix image base --backend lxd`), root. Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-lxd-cluster-test-")
# Below /var/lib, not /tmp: the members' btrfs pools are loop files there (GiBs, sparse).
CLUSTER = tempfile.mkdtemp(prefix="breakfix-lxd-cluster-", dir="/var/lib")
HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lxd_cluster.sh")
M1_SOCKET = os.path.join(CLUSTER, "m1", "lxd", "unix.socket")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import daemon_test  # noqa: E402
from daemon_test import (Test, candidate_key, free_port, json_api, ssh_candidate, start_daemon,  # noqa: E402
                         stop_daemon, wait_for_state, write_config, write_flag_scenario)

test = Test("lxd_cluster_test", WORK)
check = test.check
api = json_api(WORK)


def harness(*args):
    result = subprocess.run(["bash", HARNESS, args[0], CLUSTER, *args[1:]], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        test.fail(f"lxd_cluster.sh {' '.join(args)}: {result.stderr[-2000:]}")
    return result


def lxc(*args, main=False, timeout=300):
    """`lxc` on the cluster (through its first member), or on the main LXD."""
    env = dict(os.environ)
    if not main:
        env["LXD_DIR"] = os.path.dirname(M1_SOCKET)
    return subprocess.run(["lxc", *args], capture_output=True, text=True, env=env, timeout=timeout)


def locations():
    """Instance name -> member, for the cluster's instances."""
    listed = lxc("list", "--format", "csv", "-c", "nL")
    return dict(line.split(",", 1) for line in listed.stdout.split() if "," in line)


def ssh(session, command):
    return ssh_candidate(key, SSH_PORT, session, command)


def graded_report(session):
    return daemon_test.graded_report(test, api, session, 240)


PAIR_SCENARIO = """apiVersion: breakfix/v1
id: systemd-pair
title: systemd-pair
kind: break-fix
description: Two systemd hosts of one session, for the cluster test.
duration: 30m
hosts:
  - name: web
    image: breakfix/base:bookworm
    init: systemd
    entry: true
    setup: touch /etc/flag
  - name: db
    image: breakfix/base:bookworm
    init: systemd
faults: [{name: lower the flag, host: web, run: "rm -f /etc/flag"}]
checks: [{name: the flag is up, host: web, run: "test -f /etc/flag"}]
solution: [{host: web, run: "touch /etc/flag"}]
"""

daemon = None
try:
    # 1. The cluster, and breakfix's images in it.
    started = time.monotonic()
    harness("up", "2")
    members = lxc("cluster", "list", "--format", "csv").stdout
    check(members.count("Fully operational") == 2, f"the cluster has two members, both up ({members.strip()})")
    print(f"lxd_cluster_test: the cluster took {time.monotonic() - started:.1f} s", file=sys.stderr)
    for alias in ("breakfix/base:bookworm", "breakfix/toolbox:bookworm"):
        exported = os.path.join(WORK, alias.replace("/", "-").replace(":", "-"))
        os.makedirs(exported)
        result = lxc("image", "export", alias, exported + "/image", main=True)
        check(result.returncode == 0, f"{alias} exported from the main LXD ({result.stderr.strip()})")
        tarball = os.path.join(exported, os.listdir(exported)[0])
        result = lxc("image", "import", tarball, "--alias", alias)
        check(result.returncode == 0, f"{alias} imported into the cluster ({result.stderr.strip()})")
        shutil.rmtree(exported)
    # As on another machine: the daemon cannot see a member's pool (its own mount
    # namespace holds it), so whatever grading reads, it reads through the helpers.
    # (Looked at below, once labs are there: each member's pool directory exists here, but
    # the pool is mounted in the member's own namespace, so this machine sees it empty.)

    # 2. Labs across the members.
    library = os.path.join(WORK, "scenarios")
    write_flag_scenario(library, "systemd-flag", image="image: breakfix/base:bookworm\ninit: systemd")
    os.makedirs(os.path.join(library, "systemd-pair"))
    with open(os.path.join(library, "systemd-pair", "scenario.yaml"), "w") as out:
        out.write(PAIR_SCENARIO)
    SSH_PORT = free_port()
    key, pub = candidate_key(WORK)
    config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library],
                          extra=f"runtime:\n  backend: lxd\n  lxd_socket: {M1_SOCKET}\n  lxd_pool: labs\n")
    daemon = start_daemon(test, BINARY, config, api)

    def start(scenario, candidate):
        status, created = api("POST", "/v1/sessions", {"scenario": scenario, "candidate": candidate,
                                                       "public_keys": [pub]})
        check(status == 202, f"a session for {candidate} is created ({status}: {created})")
        return created["id"]

    sessions = [start("systemd-flag", f"candidate-{i}") for i in range(4)]
    pair = start("systemd-pair", "pair")
    for session in sessions + [pair]:
        view = wait_for_state(api, session, ("ready", "failed", "removed"), 300)
        check(view["state"] == "ready", f"lab {session} is ready ({view['state']}: {view.get('failure')})")
    placed = locations()
    member_of = {s: placed.get(f"breakfix-{s}-main") for s in sessions}
    check(set(member_of.values()) == {"m1", "m2"}, f"LXD placed the labs on both members ({member_of})")
    for member in ("m1", "m2"):
        pool_here = os.path.join(CLUSTER, member, "lxd", "storage-pools", "labs")
        check(os.path.isdir(pool_here) and os.listdir(pool_here) == [],
              f"{member}'s storage pool, which holds labs, is out of the daemon's sight ({pool_here})")
    helpers = {name: where for name, where in placed.items() if name.startswith("breakfix-hostview-")}
    check(helpers == {"breakfix-hostview-m1": "m1", "breakfix-hostview-m2": "m2"},
          f"each member has its host helper, on itself ({helpers})")
    web, db = placed.get(f"breakfix-{pair}-web"), placed.get(f"breakfix-{pair}-db")
    check(web is not None and web == db, f"the two hosts of one session share a member ({web}, {db})")
    reached = ssh(pair, "getent hosts db && ping -c 1 -W 3 db >/dev/null && echo reached")
    check(b"reached" in reached.stdout, f"web reaches db by name on their member ({reached.stdout!r} {reached.stderr!r})")

    on_m1 = [s for s in sessions if member_of[s] == "m1"]
    on_m2 = [s for s in sessions if member_of[s] == "m2"]

    # 3. Grading on each member, through its helper.
    for session in (on_m1[0], on_m2[0]):
        booted = ssh(session, "systemctl is-system-running; test -f /etc/flag && echo up || echo down")
        lines = booted.stdout.decode(errors="replace").split()
        check(lines[-1:] == ["down"], f"the fault bites on {member_of[session]} ({lines})")
    ssh(on_m2[0], "touch /etc/flag")
    report = graded_report(on_m2[0])
    check(report["score"] == 1, f"the lab repaired on m2 scores full marks ({report['score']})")
    changed = json.dumps(report.get("changes", report))
    check("/etc/flag" in changed, "the report lists what the candidate changed on m2, read through its helper")
    covered = ssh(on_m1[0], "mkdir -p /root/fake/bin && printf '#!/bin/sh\\nexit 0\\n' > /root/fake/bin/bash && "
                            "chmod 755 /root/fake/bin/bash && cp /root/fake/bin/bash /root/fake/bin/busybox && "
                            "mount --bind /root/fake /.breakfix && echo covered")
    check(b"covered" in covered.stdout, f"root in the lab on m1 covers the toolbox ({covered.stdout!r})")
    report = graded_report(on_m1[0])
    check(report["score"] == 0, f"the forged checks on m1 do not count: score {report['score']}")
    check("covered" in json.dumps(report["checks"]), "the report says the toolbox was covered")

    # 4. m2 goes away.
    survivors = [s for s in on_m1[1:]] + ([pair] if web == "m1" else [])
    lost = [s for s in on_m2[1:]] + ([pair] if web == "m2" else [])
    check(len(lost) >= 1 and len(survivors) >= 1, f"labs are left on both members ({lost} on m2, {survivors} on m1)")
    gone_at = time.monotonic()
    harness("stop", "m2")
    for session in lost:
        view = wait_for_state(api, session, ("failed", "removed"), 120)
        check(view["state"] in ("failed", "removed") and "m2" in (view.get("failure") or ""),
              f"session {session} on m2 fails, naming the member ({view['state']}: {view.get('failure')})")
    print(f"lxd_cluster_test: lost sessions failed {time.monotonic() - gone_at:.0f} s after m2 went away",
          file=sys.stderr)
    for session in survivors:
        _, view = api("GET", f"/v1/sessions/{session}")
        check(view["state"] == "ready", f"session {session} on m1 goes on ({view['state']})")
    survivor = survivors[0]
    ssh(survivor, "touch /etc/flag")
    report = graded_report(survivor)
    check(report["score"] == 1, f"a session on m1 is graded as usual while m2 is away ({report['score']})")
    # New sessions still start while m2 is away: LXD places them on m1.
    latecomer = start("systemd-flag", "latecomer")
    view = wait_for_state(api, latecomer, ("ready", "failed", "removed"), 300)
    check(view["state"] == "ready", f"a new session starts while m2 is away ({view['state']}: {view.get('failure')})")
    check(locations().get(f"breakfix-{latecomer}-main") == "m1", "LXD placed it on m1")
    stop_daemon(daemon)
    daemon = None

    # 5. gc with m2 away, then back.
    env = dict(os.environ, LXD_SOCKET=M1_SOCKET, LXD_POOL="labs")
    gc = subprocess.run([BINARY, "gc", "--backend", "lxd"], capture_output=True, text=True, env=env, timeout=600)
    check(gc.returncode == 1, f"gc with a member away says it is unfinished (exit {gc.returncode}: {gc.stderr[-600:]})")
    check("m2" in gc.stderr and "left container" in gc.stderr, f"gc names what it could not reach ({gc.stderr[-600:]})")
    remaining = [n for n, where in locations().items() if not n.startswith("breakfix-hostview-")]
    check(all(locations()[n] == "m2" for n in remaining), f"gc removed every lab it could reach ({remaining})")
    harness("start", "m2")
    for _ in range(60):
        if "OFFLINE" not in lxc("cluster", "list", "--format", "csv").stdout:
            break
        time.sleep(1)
    gc = subprocess.run([BINARY, "gc", "--backend", "lxd"], capture_output=True, text=True, env=env, timeout=600)
    check(gc.returncode == 0, f"gc with the member back finishes (exit {gc.returncode}: {gc.stderr[-600:]})")
    remaining = [n for n in locations() if not n.startswith("breakfix-hostview-")]
    check(remaining == [], f"no lab is left in the cluster ({remaining})")
finally:
    if daemon is not None:
        stop_daemon(daemon)
    subprocess.run(["bash", HARNESS, "down", CLUSTER], capture_output=True, timeout=600)
    shutil.rmtree(CLUSTER, ignore_errors=True)
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
