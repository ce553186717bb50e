#!/usr/bin/env python3
"""An anonymous attacker against the gateway's port and the TCP API, from other loopback
addresses, while a candidate holds a real session (issue 14, docs/security.md).

Usage: preauth_abuse_test.py BREAKFIX_BINARY SOURCE_DIR [PARTS]

PARTS (default 1,2,3,4,5,6) picks the attacks, to show one failing on an older binary alone:
  1. lock-out: 30 wrong passwords for the candidate's session id from 127.0.0.2; the
     candidate's key login from 127.0.0.1 must still work, and so must their password;
  2. slots: 256 idle TCP connections from 127.0.0.3; the candidate must still get in;
  3. memory: 600 login attempts with random 60 KB usernames from 127.0.0.4 must add under 16 MiB
     to the daemon's RSS, and no log line may carry such a name;
  4. hashing: 120 wrong passwords at once, from 120 addresses, must raise the daemon's
     peak RSS by under 150 MiB, and the candidate must still get in;
  5. the API: 130 idle connections to its TCP port must leave the unix socket answering;
  6. a request trickled to the API's TCP port a byte every second must be hung up on
     within its api_request_timeout (5 s here; 30 s by default).
The daemon runs with ASan's quarantine off, so that its RSS counts live memory only.
Needs paramiko (Debian's python3-paramiko) and the OpenSSH client."""

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paramiko

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PARTS = {int(part) for part in (sys.argv[3] if len(sys.argv) > 3 else "1,2,3,4,5,6").split(",")}
WORK = tempfile.mkdtemp(prefix="breakfix-preauth-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, write_config  # noqa: E402

test = Test("preauth_abuse_test", WORK)
fail, check = test.fail, test.check


def api(method, path, body=None):
    return api_call(os.path.join(WORK, "api.sock"), method, path, body)


def start_session(keys):
    import json
    status, data = api("POST", "/v1/sessions", {"scenario": "sudoers-broken", "candidate": "abuse-test",
                                               "password": True, "public_keys": keys, "duration": "30m"})
    check(status == 202, f"session created ({status})")
    session = json.loads(data)
    for _ in range(600):
        view = json.loads(api("GET", "/v1/sessions/" + session["id"])[1])
        if view["state"] == "ready":
            return session["id"], session["password"]
        if view["state"] == "failed":
            fail("session failed: " + str(view["failure"]))
        time.sleep(0.2)
    fail("session never became ready")


def rss_kib(field="VmRSS"):
    for line in open(f"/proc/{daemon.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    fail(f"no {field} for the daemon")


def connect_from(address, timeout=20):
    """A TCP connection to the gateway whose source is `address` (any of 127.0.0.0/8)."""
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", SSH_PORT))
    return sock


def password_attempts(address, user, password, count):
    """`count` password attempts as `user` (a name, or a function giving each attempt's)
    from `address`, over as few connections as the gateway allows; returns how many were
    answered (accepted or refused)."""
    name = user if callable(user) else (lambda: user)
    answered = 0
    while answered < count:
        try:
            transport = paramiko.Transport(connect_from(address))
            transport.start_client(timeout=20)
        except (OSError, paramiko.SSHException, EOFError):
            answered += 1  # refused before the key exchange: that counts as an answer too
            continue
        try:
            while answered < count:
                try:
                    transport.auth_password(name(), password)
                except paramiko.AuthenticationException:
                    pass
                answered += 1
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()
    return answered


def ssh_options(identity=None):
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=20", "-p", str(SSH_PORT)]
    if identity:
        options += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes", "-i", identity]
    return options


def candidate_key_login():
    run = subprocess.run(["ssh", *ssh_options(KEY), f"{SESSION}@127.0.0.1", "echo in"], capture_output=True,
                         text=True, timeout=120)
    return run.returncode == 0 and "in" in run.stdout, run.stderr.strip()


def candidate_password_login():
    """The candidate's password from their own address, through paramiko (no askpass)."""
    transport = paramiko.Transport(connect_from("127.0.0.1"))
    try:
        transport.start_client(timeout=20)
        transport.auth_password(SESSION, PASSWORD)
        return transport.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def part1():
    answered = password_attempts("127.0.0.2", SESSION, "wrong-password", 30)
    check(answered == 30, "30 wrong passwords for the candidate's session from 127.0.0.2 were answered")
    ok, why = candidate_key_login()
    check(ok, f"the candidate's key still logs in from 127.0.0.1 ({why})")
    check(candidate_password_login(), "the candidate's password still logs in from 127.0.0.1")


def part2():
    idle = []
    try:
        for _ in range(256):
            try:
                idle.append(connect_from("127.0.0.3"))
            except OSError:
                break
        time.sleep(1)
        ok, why = candidate_key_login()
        check(ok, f"with {len(idle)} idle connections from 127.0.0.3 open, the candidate logs in ({why})")
    finally:
        for sock in idle:
            sock.close()


def part3():
    before = rss_kib()
    # A new name each time, as an attacker would send: a limiter keyed by the raw name keeps them all.
    answered = password_attempts("127.0.0.4", lambda: os.urandom(30000).hex(), "x", 600)
    check(answered == 600, "600 attempts with random 60 KB usernames were answered")
    time.sleep(1)
    grown = (rss_kib() - before) / 1024
    check(grown < 16, f"the daemon's RSS grew by {grown:.1f} MiB (bound 16 MiB)")
    longest = max(len(line) for line in open(os.path.join(WORK, "daemon.log"), errors="replace"))
    check(longest < 2000, f"the longest log line has {longest} characters")


def part4():
    before = rss_kib("VmHWM")
    barrier = threading.Barrier(120)
    results = []

    def attempt(n):
        address = f"127.0.1.{n + 1}"
        try:
            transport = paramiko.Transport(connect_from(address))
            transport.start_client(timeout=60)
        except (OSError, paramiko.SSHException, EOFError) as error:
            results.append(f"connect: {error}")
            return
        try:
            barrier.wait(timeout=60)
            transport.auth_password(SESSION, "wrong-password")
            results.append("accepted")
        except paramiko.AuthenticationException:
            results.append("refused")
        except (threading.BrokenBarrierError, paramiko.SSHException, EOFError, OSError) as error:
            results.append(f"error: {error}")
        finally:
            transport.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    check(results.count("refused") == 120, f"120 wrong passwords at once were all refused ({sorted(set(results))})")
    peak = (rss_kib("VmHWM") - before) / 1024
    check(peak < 150, f"the daemon's peak RSS rose by {peak:.1f} MiB (bound 150 MiB)")
    ok, why = candidate_key_login()
    check(ok, f"the candidate's key still logs in ({why})")


def part5():
    idle = []
    try:
        for _ in range(130):
            sock = socket.socket()
            sock.settimeout(10)
            sock.bind(("127.0.0.6", 0))
            sock.connect(("127.0.0.1", API_PORT))
            idle.append(sock)
        time.sleep(1)
        status = api("GET", "/healthz")[0]
        check(status == 200, f"with 130 connections open on the API's TCP port, the unix socket answers ({status})")
    finally:
        for sock in idle:
            sock.close()


def part6():
    slow = socket.socket()
    slow.settimeout(5)
    slow.bind(("127.0.0.7", 0))
    slow.connect(("127.0.0.1", API_PORT))
    started = time.monotonic()
    request = b"GET /v1/sessions HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100  # 130 s at a byte a second
    closed_after = None
    for byte in request:
        try:
            slow.sendall(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - started
            break
        time.sleep(1)
        # Readable before the request is whole: the server hung up (or answered, which it must not).
        if select.select([slow], [], [], 0)[0]:
            closed_after = time.monotonic() - started
            break
        if time.monotonic() - started > 60:
            break
    slow.close()
    check(closed_after is not None and closed_after < 15,
          f"a request trickled a byte a second is hung up on within its 5 s ({closed_after})")
    # Half a request, then silence: before the fix the blocking read waited forever (its
    # receive timeout retried), and 64 such sockets shut the TCP API for everybody.
    stalled = socket.socket()
    stalled.settimeout(30)
    stalled.bind(("127.0.0.7", 0))
    stalled.connect(("127.0.0.1", API_PORT))
    stalled.sendall(b"GET / HTTP/1.1\r\n")
    started = time.monotonic()
    try:
        gone = stalled.recv(1024) == b""
    except OSError:
        gone = True
    waited = time.monotonic() - started
    stalled.close()
    check(gone and waited < 15, f"half a request and then silence is hung up on within its 5 s ({waited:.1f} s)")


SSH_PORT = free_port()
API_PORT = free_port()
KEY = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", KEY], check=True)
PUB = open(KEY + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, """gateway:
  free_failures: 3
  max_failures: 20
  failure_delay: 0s
interviewers:
  - name: ops
    token: 0123456789abcdef0123456789abcdef
""", api_tcp=f"127.0.0.1:{API_PORT}", api_request_timeout="5s")
env = dict(os.environ)
env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0:detect_leaks=0"
daemon = start_daemon(test, BINARY, config, api, env=env)
SESSION = None
try:
    SESSION, PASSWORD = start_session([PUB])
    for part in sorted(PARTS):
        globals()[f"part{part}"]()
finally:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    if SESSION:
        subprocess.run(["docker", "rm", "-f", f"breakfix-{SESSION}-main"], capture_output=True)
    shutil.rmtree(WORK, ignore_errors=True)

test.summary()
