#!/usr/bin/env python3
"""Soak: many sessions, each with a scripted candidate working over ssh, while an attacker
floods the gateway with logins; then every session is graded.

    python3 bench/soak_bench.py --breakfix build/dev/breakfix [--sessions 50] [--minutes 10]

Each candidate, for `--minutes`, every 5 to 15 s either runs a command (`ssh ID cmd`,
appending to a file in the lab and reading its line count back) or pipes a few commands
into a terminal (`ssh -tt`). Half of them fix the lab at the end. Meanwhile an attacker
tries wrong passwords for random session-shaped usernames over paramiko, as
fast as the gateway answers, from 8 threads on 2,000 loopback addresses. At the end:

  - lost sessions: sessions that were not graded with a report (0 expected);
  - lost recording bytes: for every terminal the candidate saw, the bytes it received
    that its asciicast recording does not hold (0 expected);
  - the daemon's RSS, sampled every 5 s: once all sessions are ready, its peak, and at
    the end of the work;
  - commands that did not answer as expected, and the attacker's attempts.

Needs root, Docker with breakfix/base:bookworm, OpenSSH's client and python3-paramiko.
A Markdown table goes to stdout. Nothing is judged: the figures are reported.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paramiko

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, write_config, write_flag_scenario  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def say(text):
    print(f"[soak_bench] {text}", file=sys.stderr, flush=True)


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Candidate(threading.Thread):
    """One candidate's scripted work in one session."""

    def __init__(self, number, session, key, port, until, fix):
        super().__init__(daemon=True)
        self.number, self.session, self.key, self.port, self.until, self.fix = number, session, key, port, until, fix
        self.commands = self.failures = 0
        self.terminals = []  # the bytes each terminal showed the candidate
        self.errors = []

    def ssh(self, *extra, stdin=None):
        argv = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "-i", self.key,
                "-p", str(self.port), *extra]
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=120)

    def run(self):
        rng = random.Random(self.number)
        step = 0
        while time.monotonic() < self.until:
            step += 1
            self.commands += 1
            run = None
            try:
                if step % 3 == 0:
                    run = self.ssh("-tt", f"{self.session}@127.0.0.1",
                                   stdin=f"echo term-{step}-$((6*7)); seq 1 2000 | tail -n 2\nexit\n".encode())
                    self.terminals.append(run.stdout)
                    ok = f"term-{step}-42\r\n1999\r\n2000\r\n".encode() in run.stdout
                else:
                    run = self.ssh(f"{self.session}@127.0.0.1", f"echo step-{step} >> /root/work.log; wc -l < /root/work.log")
                    ok = run.returncode == 0 and run.stdout.strip().isdigit()
            except subprocess.TimeoutExpired:
                ok = False
            if not ok:
                self.failures += 1
                self.errors.append(f"step {step}: " + ("timed out" if run is None else
                                                           f"{run.returncode} {run.stdout[-120:]!r} {run.stderr[-120:]!r}"))
            time.sleep(rng.uniform(5, 15))
        if self.fix:
            self.ssh(f"{self.session}@127.0.0.1", "touch /etc/flag")


class Attacker(threading.Thread):
    """Wrong passwords for random session-shaped usernames, until stopped, from a new
    address of 127.0.`net`.1-250 on each connection: the gateway's per-address limits
    slow each address, so the flood spreads over many."""

    def __init__(self, port, net):
        super().__init__(daemon=True)
        self.port, self.net, self.stop, self.attempts = port, net, threading.Event(), 0

    def run(self):
        alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
        host = 0
        while not self.stop.is_set():
            host = host % 250 + 1
            try:
                sock = socket.socket()
                sock.settimeout(30)
                sock.bind((f"127.0.{self.net}.{host}", 0))
                sock.connect(("127.0.0.1", self.port))
                transport = paramiko.Transport(sock)
                transport.start_client(timeout=30)
            except (OSError, paramiko.SSHException, EOFError):
                self.attempts += 1
                time.sleep(0.05)
                continue
            try:
                while not self.stop.is_set():
                    user = "".join(random.choice(alphabet) for _ in range(10))
                    try:
                        transport.auth_password(user, "guess")
                    except paramiko.AuthenticationException:
                        pass
                    self.attempts += 1
            except (paramiko.SSHException, EOFError, OSError):
                pass
            finally:
                transport.close()


def recorded_terminals(work, session):
    """The output bytes of each asciicast recording of `session`."""
    directory = os.path.join(work, "data", "recordings", session)
    outputs = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if not name.endswith(".cast"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as cast:
            next(cast)  # the header
            data = "".join(event[2] for event in map(json.loads, cast) if event[1] == "o")
        outputs.append(data.encode("utf-8"))
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breakfix", required=True)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="breakfix-soak-")
    test = Test("soak_bench", work)
    library = os.path.join(work, "scenarios")
    write_flag_scenario(library, "soak-lab")
    port = free_port()
    key = os.path.join(work, "candidate")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    pub = open(key + ".pub").read().strip()
    # `extra` goes on with the config's sessions: section.
    config = write_config(work, SOURCE, port, scenario_dirs=[library], progress_interval="2m",
                          extra=f"  max_sessions: {args.sessions + 10}\n")

    def api(method, path, body=None):
        status, data = api_call(os.path.join(work, "api.sock"), method, path, body)
        return status, json.loads(data) if data else None

    daemon = start_daemon(test, os.path.abspath(args.breakfix), config, api)
    samples = []
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            samples.append((time.monotonic(), rss_mib(daemon.pid)))
            time.sleep(5)

    threading.Thread(target=sample, daemon=True).start()
    sessions = []
    try:
        started = time.monotonic()
        duration = f"{int(args.minutes * 60) + 60}s"
        for n in range(args.sessions):
            status, created = api("POST", "/v1/sessions", {"scenario": "soak-lab", "candidate": f"c{n}",
                                                           "public_keys": [pub], "duration": duration})
            if status != 202:
                test.fail(f"session {n} not created: {status} {created}")
            sessions.append(created["id"])
        pending = set(sessions)
        while pending and time.monotonic() - started < 900:
            for session in list(pending):
                state = api("GET", "/v1/sessions/" + session)[1]["state"]
                if state == "ready":
                    pending.discard(session)
                elif state == "failed":
                    test.fail(f"session {session} failed while starting")
            time.sleep(1)
        ready_after = time.monotonic() - started
        say(f"{args.sessions} sessions ready after {ready_after:.0f}s; the candidates work for {args.minutes} min")
        ready_at = time.monotonic()
        attackers = [Attacker(port, net) for net in range(2, 10)]
        for attacker in attackers:
            attacker.start()
        until = ready_at + args.minutes * 60
        candidates = [Candidate(n, s, key, port, until, fix=n % 2 == 0) for n, s in enumerate(sessions)]
        for candidate in candidates:
            candidate.start()
        for candidate in candidates:
            candidate.join()
        work_ended = time.monotonic()
        for attacker in attackers:
            attacker.stop.set()
        for attacker in attackers:
            attacker.join(timeout=60)
        attempts = sum(attacker.attempts for attacker in attackers)
        say(f"work done; {attempts} attacker attempts; waiting for the gradings")
        graded = {}
        while len(graded) < len(sessions) and time.monotonic() - work_ended < 600:
            for session in sessions:
                if session in graded:
                    continue
                state = api("GET", "/v1/sessions/" + session)[1]["state"]
                if state in ("graded", "removed", "failed"):
                    status, report = api("GET", f"/v1/sessions/{session}/report")
                    graded[session] = report if status == 200 else None
            time.sleep(2)
        sampling.set()
        lost_sessions = [s for s in sessions if graded.get(s) is None]
        scores = [graded[s]["score"] for s in sessions if graded.get(s)]
        lost_bytes = terminals = 0
        for candidate in candidates:
            recorded = recorded_terminals(work, candidate.session)
            for shown in candidate.terminals:
                terminals += 1
                if shown in recorded:
                    recorded.remove(shown)
                else:
                    best = max((r for r in recorded if shown.startswith(r)), key=len, default=b"")
                    lost_bytes += len(shown) - len(best)
        at_ready = [rss for t, rss in samples if t >= ready_at][:1] or [0]
        at_end = [rss for t, rss in samples if t <= work_ended][-1:] or [0]
        peak = max(rss for _, rss in samples)
        commands = sum(c.commands for c in candidates)
        failures = sum(c.failures for c in candidates)
        for candidate in candidates:
            for error in candidate.errors[:3]:
                say(f"session {candidate.session}: {error}")
        print(f"| what | {args.sessions} sessions, {args.minutes:g} min of work |")
        print("|---|---|")
        print(f"| sessions ready after | {ready_after:.0f} s |")
        print(f"| candidate actions over ssh (terminals among them) | {commands} ({terminals}) |")
        print(f"| actions without the expected answer | {failures} |")
        print(f"| attacker's login attempts (8 floods over 2,000 loopback addresses) | {attempts} |")
        print(f"| lost sessions (not graded with a report) | {len(lost_sessions)} |")
        print(f"| scores (half the labs fixed) | {sum(1 for s in scores if s == 1.0)} at 100%, "
              f"{sum(1 for s in scores if s == 0.0)} at 0% |")
        print(f"| lost recording bytes (terminal output not in its recording) | {lost_bytes} |")
        print(f"| daemon RSS: all ready / peak / end of work | {at_ready[0]:.1f} / {peak:.1f} / {at_end[0]:.1f} MiB |")
    finally:
        sampling.set()
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=60)
        for session in sessions:
            subprocess.run(["docker", "rm", "-f", f"breakfix-{session}-main"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
