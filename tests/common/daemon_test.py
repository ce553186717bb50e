"""What the end-to-end tests of a real `breakfix serve` share: a test that counts its
checks and, on the first failure, prints the daemon's log and exits 1; free loopback
ports; and the daemon's API over its unix socket. Standard library only."""

import http.client
import json
import os
import socket
import sys


class Test:
    def __init__(self, name, work):
        self.name, self.work, self.checks = name, work, 0

    def fail(self, message):
        print(f"{self.name}: FAIL: {message}", file=sys.stderr)
        log = os.path.join(self.work, "daemon.log")
        if os.path.exists(log):
            print("--- daemon log (tail) ---", file=sys.stderr)
            print("".join(open(log).readlines()[-80:]), file=sys.stderr)
        raise SystemExit(1)

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.fail(message)
        print(f"{self.name}: ok: {message}", file=sys.stderr)

    def summary(self):
        # The plain closing line test runners read: N passed, N failed.
        print(f"{self.name}: {self.checks} passed, 0 failed", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=180):
        super().__init__("breakfix", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api_call(socket_path, method, path, body=None):
    """(status, body bytes) of one request to the API on `socket_path`."""
    connection = UnixHTTPConnection(socket_path)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def json_api(work):
    """The API of the daemon whose socket is `work`/api.sock, as (method, path, body) ->
    (status, parsed body or None)."""
    def call(method, path, body=None):
        status, data = api_call(os.path.join(work, "api.sock"), method, path, body)
        return status, json.loads(data) if data else None
    return call


def backend():
    """The backend the e2e tests run on: BREAKFIX_BACKEND (docker, the default, or lxd), as
    for the runtime suite, so that CMake registers a test once per backend."""
    return os.environ.get("BREAKFIX_BACKEND", "docker")


def remove_lab_container(name):
    """Removes a lab host the daemon left (a failed run), on the backend under test."""
    import subprocess
    command = ["lxc", "delete", "--force"] if backend() == "lxd" else ["docker", "rm", "-f"]
    subprocess.run(command + [name], capture_output=True)


def candidate_key(work):
    """A new ed25519 key for the candidate in `work`: (private key file, public line)."""
    import subprocess
    key = os.path.join(work, "candidate")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    return key, open(key + ".pub").read().strip()


def ssh_candidate(key, port, session, command, timeout=120):
    """The real OpenSSH client logging in to `session` on the gateway at 127.0.0.1:`port`
    with `key` and running `command`: the CompletedProcess (output captured)."""
    import subprocess
    return subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key,
                           "-p", str(port), f"{session}@127.0.0.1", command],
                          capture_output=True, timeout=timeout)


def write_config(work, source, ssh_port, extra="", progress_interval="0s", api_tcp="", api_request_timeout="30s",
                 scenario_dirs=None, sessions_extra=""):
    """A daemon config in `work` for a test: the API on work/api.sock (and on `api_tcp` when
    given), ssh on 127.0.0.1:ssh_port, the shipped scenarios, sessions removed at once after
    grading. `extra` is more YAML, top-level sections that these defaults leave out
    (gateway:, interviewers:). `scenario_dirs`: other scenario libraries instead.
    `sessions_extra`: more keys of sessions: ("warm: {flag: 1}")."""
    dirs = ", ".join(scenario_dirs or [f"{source}/scenarios"])
    if backend() == "lxd" and "runtime:" not in extra:
        # Last: `extra` may go on with keys of sessions: first.
        extra = extra + ("\n" if extra and not extra.endswith("\n") else "") + "runtime:\n  backend: lxd\n"
    path = os.path.join(work, "config.yaml")
    with open(path, "w") as out:
        out.write(f"""listen:
  api_socket: {work}/api.sock
  api_tcp: "{api_tcp}"
  api_request_timeout: {api_request_timeout}
  ssh: 127.0.0.1:{ssh_port}
  ssh_public_host: 127.0.0.1
data_dir: {work}/data
scenario_dirs: [{dirs}]
sessions:
  retention: 0s
  progress_interval: {progress_interval}
""" + (f"  {sessions_extra}\n" if sessions_extra else "") + extra + ("\n" if extra and not extra.endswith("\n") else ""))
    return path


def start_daemon(test, binary, config, api, env=None):
    """`breakfix serve` with `config`, its log in the test's work dir, once /healthz answers
    through `api` (a (method, path) -> (status, body) function); fails the test otherwise.
    `env`: the daemon's environment, when not this process's."""
    import subprocess
    import time
    log = open(os.path.join(test.work, "daemon.log"), "w")
    daemon = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        if os.path.exists(os.path.join(test.work, "api.sock")):
            try:
                if api("GET", "/healthz")[0] == 200:
                    return daemon
            except OSError:
                pass
        time.sleep(0.05)
    daemon.kill()
    daemon.wait()
    test.fail("the daemon did not start")


def wait_for_state(api, session, states, seconds=180):
    """The session's view once its state is one of `states`, or its last view after
    `seconds` (the caller checks it). `api` is (method, path) -> (status, parsed body)."""
    import time
    view = None
    for _ in range(seconds * 5):
        _, view = api("GET", "/v1/sessions/" + session)
        if view["state"] in states:
            break
        time.sleep(0.2)
    return view


def graded_report(test, api, session, seconds=180):
    """The interviewer ends `session` through `api` (json_api); the report, once graded,
    each step a check of `test`."""
    status, _ = api("POST", f"/v1/sessions/{session}/end")
    test.check(status == 202, f"the interviewer ends session {session}")
    view = wait_for_state(api, session, ("graded", "removed", "failed"), seconds)
    test.check(view["state"] in ("graded", "removed"),
               f"session {session} is graded ({view['state']}: {view.get('failure')})")
    status, report = api("GET", f"/v1/sessions/{session}/report")
    test.check(status == 200, f"the report of {session} exists ({status})")
    return report


def stop_daemon(daemon, containers=()):
    """The end of a test: the daemon stopped (SIGTERM, as in production) and the named
    lab containers removed, whatever the test left running."""
    import subprocess
    if daemon.poll() is None:
        daemon.terminate()
        daemon.wait(timeout=60)
    for name in containers:
        remove_lab_container(name)


FLAG_SCENARIO = """apiVersion: breakfix/v1
id: {id}
title: {id}
kind: break-fix
description: A lab for a test of the daemon.
duration: 30m
{image}
{setup}
faults: [{{name: lower the flag, run: "rm -f /etc/flag"}}]
checks: [{{name: the flag is up, run: "cat /etc/flag-note 2>/dev/null || true; test -f /etc/flag"}}]
solution: [{{run: "touch /etc/flag"}}]
"""


def write_flag_scenario(library, scenario_id, image="image: breakfix/base:bookworm", setup="setup: touch /etc/flag",
                        dockerfile=None):
    """A small scenario on the base image in `library`/`scenario_id` (a flag file the fault
    removes), for tests that need a lab and not a story. Its check prints /etc/flag-note,
    which the candidate may fill with any bytes. `dockerfile`: built from an
    image/ directory instead (then pass image="build: ./image")."""
    directory = os.path.join(library, scenario_id)
    os.makedirs(directory)
    with open(os.path.join(directory, "scenario.yaml"), "w") as out:
        out.write(FLAG_SCENARIO.format(id=scenario_id, image=image, setup=setup))
    if dockerfile:
        os.makedirs(os.path.join(directory, "image"))
        with open(os.path.join(directory, "image", "Dockerfile"), "w") as out:
            out.write(dockerfile)
