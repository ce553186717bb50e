#!/usr/bin/env python3
"""SIGTERM in every state: the real daemon stops within 35 s, exits 0, and gets there by
joining its threads, not by its watchdog's forced exit.

Usage: shutdown_test.py BREAKFIX_BINARY SOURCE_DIR

At the moment of the signal the daemon holds, all at once:
  - a session whose image build hangs (provisioning: `RUN sleep 3600`);
  - a session whose setup script hangs (injecting: `sleep 3600`);
  - a ready session with a candidate's command hung over ssh (`sleep 3600`) and a
    terminal hung in `sleep 3600` (`ssh -tt`);
  - an ssh client connected and silent before its key exchange;
  - an API client that sent half a request line and stopped.
Standard library only. Exits 1 on the first failed check."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-shutdown-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, write_config, write_flag_scenario  # noqa: E402

test = Test("shutdown_test", WORK)
fail, check = test.fail, test.check

def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


def start_session(scenario, pub=None):
    body = {"scenario": scenario, "candidate": "stopper"}
    if pub:
        body["public_keys"] = [pub]
    status, session = api("POST", "/v1/sessions", body)
    check(status == 202, f"session of {scenario} created ({status})")
    return session["id"]


def wait_state(session, wanted, timeout=90):
    started = time.monotonic()
    view = {}
    while time.monotonic() - started < timeout:
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] == wanted and (wanted != "provisioning" or "building" in (view.get("progress") or "")):
            return view
        if view["state"] == "failed":
            fail(f"session {session} failed: {view.get('failure')}")
        time.sleep(0.2)
    fail(f"session {session} never reached {wanted} (now {view.get('state')}, {view.get('progress')!r})")


def ssh_argv(key, user, *extra):
    return ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key, "-p", str(SSH_PORT), *extra,
            f"{user}@127.0.0.1"]


library = os.path.join(WORK, "scenarios")
write_flag_scenario(library, "stop-ready")
write_flag_scenario(library, "stop-hung-setup", setup="setup: sleep 3600")
# Each run builds anew: the tag holds the scenario's content, and this line changes it.
write_flag_scenario(library, "stop-hung-build", image="build: ./image",
               dockerfile=f"FROM breakfix/base:bookworm\nRUN echo {time.time_ns()} && sleep 3600\n")

SSH_PORT = free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, scenario_dirs=[library])
daemon = start_daemon(test, BINARY, config, api)
clients = []
sessions = []
try:
    ready = start_session("stop-ready", pub)
    sessions.append(ready)
    wait_state(ready, "ready")
    setup = start_session("stop-hung-setup", pub)
    sessions.append(setup)
    build = start_session("stop-hung-build", pub)
    sessions.append(build)
    wait_state(setup, "injecting")
    wait_state(build, "provisioning")

    # The candidate's command and terminal, both hung in the lab.
    clients.append(subprocess.Popen(ssh_argv(key, ready) + ["sleep 3600"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    clients.append(subprocess.Popen(ssh_argv(key, ready, "-tt"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True))
    clients[-1].stdin.write(b"sleep 3600\n")
    clients[-1].stdin.flush()
    # Silent before the key exchange, and half a request line on the API.
    silent = socket.create_connection(("127.0.0.1", SSH_PORT))
    half = socket.socket(socket.AF_UNIX)
    half.connect(os.path.join(WORK, "api.sock"))
    half.sendall(b"GET /v1/sess")
    time.sleep(3)  # the commands are running in the lab
    _, metrics = api_call(os.path.join(WORK, "api.sock"), "GET", "/metrics")
    check(b"breakfix_ssh_connections_open 3" in metrics,
          "the gateway holds both candidate connections and the silent one")

    started = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        code = None
    took = time.monotonic() - started
    log = open(os.path.join(WORK, "daemon.log")).read()
    check(code == 0 and took <= 35, f"SIGTERM with a hung build, setup, command and terminal: exit {code} after "
                                    f"{took:.1f}s (bound 35 s)")
    check("exiting now" not in log and "still busy" not in log,
          "the daemon stopped by joining its work, not by the watchdog's forced exit")
    check(log.rstrip().endswith("stopped"), "the daemon's last word is 'stopped'")
    for client in clients:
        try:
            client.wait(timeout=20)
        except subprocess.TimeoutExpired:
            fail("an ssh client was still connected 20 s after the daemon stopped")
    check(True, "every ssh client was disconnected")
finally:
    for client in clients:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    for session in sessions:
        subprocess.run(["docker", "rm", "-f", f"breakfix-{session}-main"], capture_output=True)
        subprocess.run(["docker", "network", "rm", f"breakfix-{session}"], capture_output=True)
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
