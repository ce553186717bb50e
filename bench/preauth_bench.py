#!/usr/bin/env python3
"""Login floods against the gateway and against OpenSSH sshd, side by side, in one run.

An anonymous attacker on loopback addresses other than the candidate's:
  1. 1,500 password attempts with random 60 KB usernames, from 127.0.0.4: the server's
     RSS before and after (for sshd: the listener and all its children), and how long;
  2. 120 wrong passwords at once, from 127.0.1.1 to 127.0.1.120: the server's RSS
     sampled every 20 ms, its peak above the start;
  3. after each, the candidate's key login from 127.0.0.1 (breakfix: into a session of
     sudoers-broken; sshd: root with the same key).

    python3 bench/preauth_bench.py --breakfix build/release/breakfix [--attempts 1500]

Needs root, a Docker engine with the scenario's image (breakfix image build), OpenSSH's
client and server (`apt-get install --no-install-recommends openssh-server`) and paramiko
(python3-paramiko). A Markdown table goes to stdout. Timings are reported, never judged.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paramiko

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, write_config  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def say(text):
    print(f"[preauth_bench] {text}", file=sys.stderr, flush=True)


def tree_rss_kib(root_pid):
    """VmRSS of `root_pid` and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def connect_from(address, port):
    sock = socket.socket()
    sock.settimeout(30)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def flood_usernames(port, attempts):
    """`attempts` password attempts, each with a new random 60 KB username, over as few
    connections as the server allows. Returns the seconds taken."""
    started, done = time.monotonic(), 0
    while done < attempts:
        try:
            transport = paramiko.Transport(connect_from("127.0.0.4", port))
            transport.start_client(timeout=30)
        except (OSError, paramiko.SSHException, EOFError):
            done += 1
            continue
        try:
            while done < attempts:
                try:
                    transport.auth_password(os.urandom(30000).hex(), "x")
                except paramiko.AuthenticationException:
                    pass
                done += 1
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()
    return time.monotonic() - started


def burst(port, user, count, server_pid):
    """`count` wrong passwords at once from `count` addresses; (peak RSS rise in KiB, outcomes)."""
    baseline = tree_rss_kib(server_pid)
    peak, stop = [baseline], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_kib(server_pid))
            time.sleep(0.02)

    outcomes, barrier = [], threading.Barrier(count, timeout=120)

    def attempt(n):
        try:
            transport = paramiko.Transport(connect_from(f"127.0.1.{n + 1}", port))
            transport.start_client(timeout=60)
        except (OSError, paramiko.SSHException, EOFError):
            outcomes.append("not connected")
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass
            return
        try:
            barrier.wait()
            transport.auth_password(user, "wrong-password")
            outcomes.append("accepted")
        except paramiko.AuthenticationException:
            outcomes.append("refused")
        except (threading.BrokenBarrierError, paramiko.SSHException, EOFError, OSError):
            outcomes.append("error")
        finally:
            transport.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    sampler.join()
    return peak[0] - baseline, {o: outcomes.count(o) for o in sorted(set(outcomes))}


def key_login(port, user, key):
    run = subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key,
                          "-p", str(port), f"{user}@127.0.0.1", "true"], capture_output=True, timeout=120)
    return run.returncode == 0


def measure(name, port, pid, user, key, attempts):
    say(f"{name}: {attempts} attempts with random 60 KB usernames")
    before = tree_rss_kib(pid)
    took = flood_usernames(port, attempts)
    time.sleep(1)
    grown = tree_rss_kib(pid) - before
    after_flood = key_login(port, user, key)
    say(f"{name}: 120 wrong passwords at once")
    peak, outcomes = burst(port, user, 120, pid)
    after_burst = key_login(port, user, key)
    return {"server": name, "flood_seconds": round(took, 1), "flood_rss_mib": round(grown / 1024, 1),
            "burst_peak_mib": round(peak / 1024, 1), "burst_outcomes": outcomes,
            "key_login_after_flood": after_flood, "key_login_after_burst": after_burst}


def start_sshd(work, port, pub):
    config = os.path.join(work, "sshd_config")
    host_key = os.path.join(work, "sshd_host_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key], check=True)
    keys = os.path.join(work, "authorized_keys")
    open(keys, "w").write(pub + "\n")
    os.chmod(keys, 0o600)
    open(config, "w").write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {keys}
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
""")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "sshd.log"), "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sshd
        except OSError:
            time.sleep(0.05)
    raise SystemExit("sshd did not start; see " + os.path.join(work, "sshd.log"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--breakfix", required=True)
    parser.add_argument("--attempts", type=int, default=1500)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="breakfix-preauth-bench-")
    test = Test("preauth_bench", work)
    key = os.path.join(work, "candidate")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    pub = open(key + ".pub").read().strip()
    ssh_port, sshd_port = free_port(), free_port()
    config = write_config(work, SOURCE, ssh_port, "gateway:\n  failure_delay: 0s\n")

    def api(method, path, body=None):
        return api_call(os.path.join(work, "api.sock"), method, path, body)

    daemon = start_daemon(test, os.path.abspath(args.breakfix), config, api)
    sshd, session, results = None, None, []
    try:
        status, data = api("POST", "/v1/sessions", {"scenario": "sudoers-broken", "candidate": "bench",
                                                   "public_keys": [pub], "password": True})
        session = json.loads(data)["id"]
        while json.loads(api("GET", "/v1/sessions/" + session)[1])["state"] != "ready":
            time.sleep(0.2)
        results.append(measure("breakfix gateway", ssh_port, daemon.pid, session, key, args.attempts))
        sshd = start_sshd(work, sshd_port, pub)
        results.append(measure("OpenSSH sshd 9.2", sshd_port, sshd.pid, "root", key, args.attempts))
    finally:
        for process in (daemon, sshd):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
        if session:
            subprocess.run(["docker", "rm", "-f", f"breakfix-{session}-main"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"| server | {args.attempts} attempts, 60 KB usernames: seconds | RSS added (MiB) | "
          "120 wrong passwords at once: peak RSS rise (MiB) | their outcomes | candidate's key login after each |")
    print("|---|---|---|---|---|---|")
    for r in results:
        outcomes = ", ".join(f"{n} {o}" for o, n in r["burst_outcomes"].items())
        logins = "yes, yes" if r["key_login_after_flood"] and r["key_login_after_burst"] else \
            f"{r['key_login_after_flood']}, {r['key_login_after_burst']}"
        print(f"| {r['server']} | {r['flood_seconds']} | {r['flood_rss_mib']} | {r['burst_peak_mib']} | "
              f"{outcomes} | {logins} |")


if __name__ == "__main__":
    main()
