#!/usr/bin/env python3
"""A candidate who tries to fill the host's disk, over ssh, against the real daemon.

Usage: disk_abuse_test.py BREAKFIX_BINARY SOURCE_DIR

With the session's recordings capped at 1 MiB and 6 files and its hosts at 40 MiB of
writable layer, the candidate:
  1. pours 3 MB of random text through a terminal (`cat /dev/urandom`, bounded): the
     recordings stay under their cap, the terminal says the rest is not recorded, and
     the terminal keeps working;
  2. opens 10 command channels: at most 6 recording files exist, and every command runs;
  3. fills the file the check prints with 18 KB of two-byte characters and bytes that are
     not UTF-8, so that the grader's cut of the output falls inside a character;
  4. writes 80 MiB to the lab's disk: the session ends within seconds, is graded, and its
     report says why (event `disk`), its JSON valid and the check's output cut on a
     character with the bad bytes replaced.
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-disk-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import (Test, api_call, backend, free_port, start_daemon, stop_daemon, write_config,  # noqa: E402
                         write_flag_scenario)

test = Test(f"disk_abuse_test ({backend()})", WORK)
fail, check = test.fail, test.check
NOTICE = b"reached their size limit"


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


def ssh(key, user, command=None, tty=False, stdin=None, timeout=120):
    argv = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key, "-p", str(SSH_PORT)]
    if tty:
        argv.append("-tt")
    argv.append(f"{user}@127.0.0.1")
    if command:
        argv.append(command)
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)


def recordings(session):
    directory = os.path.join(WORK, "data", "recordings", session)
    names = os.listdir(directory) if os.path.isdir(directory) else []
    return names, sum(os.path.getsize(os.path.join(directory, name)) for name in names)


library = os.path.join(WORK, "scenarios")
write_flag_scenario(library, "disk-lab")
SSH_PORT = free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
# `extra` follows the config's sessions: section, so its indented lines go on with it.
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library],
                      extra="  max_disk_mib: 40\n  disk_check_interval: 2s\n"
                            "gateway:\n  max_recording_mib: 1\n  max_recording_files: 6\n")
daemon = start_daemon(test, BINARY, config, api)
session = None
try:
    status, created = api("POST", "/v1/sessions", {"scenario": "disk-lab", "candidate": "filler", "public_keys": [pub]})
    check(status == 202, f"session created ({status})")
    session = created["id"]
    for _ in range(300):
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] == "ready":
            break
        time.sleep(0.2)
    check(view["state"] == "ready", "the session is ready")

    # 1. A terminal flooded with random text.
    flood = b"head -c 2300000 /dev/urandom | base64 -w 200; echo flood-$((6*7))\nexit\n"
    run = ssh(key, session, tty=True, stdin=flood)
    for _ in range(2):
        if backend() != "lxd" or b"flood-42" in run.stdout or run.returncode != 0:
            break
        # LXD 5.0.2 may end an interactive exec before all of its output is sent: under
        # load here it lost the tail of the flood in 2 runs of 6, and `lxc exec -t` itself
        # lost it too (docs/runtime.md, "Known limits of LXD 5.0.2"; the symptom of
        # canonical/lxd#11890). What this test proves is the
        # gateway's caps, so the flood is tried again, at most twice.
        print(f"{test.name}: LXD lost the end of the terminal's output; the flood again", file=sys.stderr)
        run = ssh(key, session, tty=True, stdin=flood)
    names, size = recordings(session)
    flooded = b"flood-42" in run.stdout
    check(flooded, "the flood ran to its end in the terminal" +
          ("" if flooded else f" ({run.returncode}, {run.stdout[-300:]!r}, {run.stderr[-300:]!r})"))
    check(size <= 1024 * 1024 + 64 * 1024, f"the recordings hold {size} bytes, within the 1 MiB cap (+ closing lines)")
    check(NOTICE in run.stdout, "the terminal was told that the rest is not recorded")
    cast = [name for name in names if name.endswith(".cast")]
    check(cast and NOTICE in open(os.path.join(WORK, "data", "recordings", session, cast[0]), "rb").read(),
          "the recording ends with a line saying why")

    # 2. Channel after channel.
    answers = [ssh(key, session, f"echo channel-{n}") for n in range(10)]
    check(all(f"channel-{n}".encode() in answer.stdout for n, answer in enumerate(answers)),
          "every command ran, recorded or not")
    names, size = recordings(session)
    check(len(names) <= 6, f"{len(names)} recording files, within the cap of 6")

    # 3. Output that is not UTF-8, and a cut inside a character.
    ssh(key, session, "{ printf x; for i in $(seq 1 9000); do printf '\\303\\251'; done; "
                      "printf '\\377\\376 raw bytes\\n'; } > /etc/flag-note")
    # 4. The lab's disk.
    ssh(key, session, "dd if=/dev/zero of=/var/tmp/fill bs=1M count=80 status=none; sync")
    started = time.monotonic()
    while time.monotonic() - started < 60:
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] in ("graded", "removed"):
            break
        time.sleep(0.5)
    check(view["state"] in ("graded", "removed"),
          f"the session ended and was graded {time.monotonic() - started:.1f}s after the disk filled ({view['state']})")
    status, report = api("GET", f"/v1/sessions/{session}/report")
    disk = [event["detail"] for event in (report or {}).get("events", []) if event.get("kind") == "disk"]
    check(status == 200 and disk and "over the limit of 40 MiB" in disk[0], f"the report says why: {disk}")
    output = report["checks"][0].get("output", "")
    # 16 KiB kept; each of the two bad bytes became a 3-byte U+FFFD.
    check(output.startswith("\u00e9\u00e9") and "\ufffd\ufffd raw bytes" in output and len(output.encode()) <= 16384 + 4,
          f"the check's output in the report starts on a whole character and replaces the bad bytes "
          f"({len(output.encode())} bytes, {output[:4]!r} ... {output[-16:]!r})")
finally:
    stop_daemon(daemon, [f"breakfix-{session}-main"] if session else [])
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
