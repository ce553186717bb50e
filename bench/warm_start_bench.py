#!/usr/bin/env python3
"""Start to ready: a cold start, a start from the warm pool, and `docker run`, in one run.

    python3 bench/warm_start_bench.py --breakfix build/dev/breakfix [--runs 7] [--backends docker,lxd]

For each backend, one daemon with `sessions.warm: {flag: 1}` serves a one-host lab (the
flag scenario of the e2e tests; a systemd lab on LXD). Each run measures, through the API:
- cold: POST /v1/sessions with a seed (a seed is never served from the pool) until the
  session is `ready` (provision, setup, faults, precheck, baseline);
- warm: POST /v1/sessions once a warm lab waits; the answer is `ready` itself.
On Docker, also what a user would do by hand: `docker run -d` of the same image plus a
`docker exec` of the same setup and fault.
Prints a Markdown table of medians and ratios (docs/benchmarks.md); progress on stderr.
Standard library only."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "common"))
from daemon_test import (Test, api_call, free_port, start_daemon, stop_daemon, wait_for_state,  # noqa: E402
                         write_config, write_flag_scenario)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAToNkVnG5XU000RfEN9dKlsipqpS/YOwH1LOA8C7fMv breakfix-bench"


def log(message):
    print(f"[warm_start_bench] {message}", file=sys.stderr, flush=True)


def bench_backend(binary, backend, runs):
    work = tempfile.mkdtemp(prefix=f"breakfix-warm-bench-{backend}-")
    test = Test(f"warm_start_bench ({backend})", work)

    def api(method, path, body=None):
        status, data = api_call(os.path.join(work, "api.sock"), method, path, body)
        return status, json.loads(data) if data else None

    library = os.path.join(work, "scenarios")
    write_flag_scenario(library, "flag", image="image: breakfix/base:bookworm" +
                        ("\ninit: systemd" if backend == "lxd" else ""))
    config = write_config(work, SOURCE, free_port(), scenario_dirs=[library], sessions_extra="warm: {flag: 1}",
                          extra="runtime:\n  backend: lxd\n" if backend == "lxd" else "")
    daemon = start_daemon(test, binary, config, api)
    cold, warm, ids = [], [], []
    try:
        for run in range(runs):
            # Each measure starts with the pool full and idle: no refill runs beside it.
            for _ in range(600):
                _, listed = api("GET", "/v1/sessions")
                if any(s["state"] == "warm" for s in listed["sessions"]):
                    break
                time.sleep(0.5)
            began = time.monotonic()
            status, created = api("POST", "/v1/sessions", {"scenario": "flag", "candidate": "cold",
                                                           "public_keys": [KEY], "seed": run + 1})
            if status != 202:
                test.fail(f"cold start refused: {status} {created}")
            ids.append(created["id"])
            view = wait_for_state(api, created["id"], ("ready", "failed"), 300)
            if view["state"] != "ready":
                test.fail(f"cold start failed: {view.get('failure')}")
            cold.append((time.monotonic() - began) * 1000)
            api("DELETE", f"/v1/sessions/{created['id']}")
            began = time.monotonic()
            status, created = api("POST", "/v1/sessions", {"scenario": "flag", "candidate": "warm",
                                                           "public_keys": [KEY]})
            took = (time.monotonic() - began) * 1000
            if status != 202 or created["state"] != "ready":
                test.fail(f"warm start not ready: {status} {created}")
            ids.append(created["id"])
            warm.append(took)
            api("DELETE", f"/v1/sessions/{created['id']}")
            log(f"{backend} run {run + 1}: cold {cold[-1]:.0f} ms, warm {warm[-1]:.1f} ms")
    finally:
        try:
            ids.extend(s["id"] for s in api("GET", "/v1/sessions")[1]["sessions"])
        except Exception:  # noqa: BLE001
            pass
        stop_daemon(daemon)
        for session in ids:
            remove = ["lxc", "delete", "--force"] if backend == "lxd" else ["docker", "rm", "-f"]
            subprocess.run(remove + [f"breakfix-{session}-main"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return cold, warm


def docker_by_hand(runs):
    took = []
    for _ in range(runs):
        began = time.monotonic()
        name = f"breakfix-bench-by-hand-{os.getpid()}"
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", "breakfix/base:bookworm",
                        "sleep", "infinity"], check=True, capture_output=True)
        subprocess.run(["docker", "exec", name, "sh", "-c", "touch /etc/flag && rm -f /etc/flag"], check=True)
        took.append((time.monotonic() - began) * 1000)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--breakfix", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backends", default="docker,lxd")
    args = parser.parse_args()
    binary = os.path.abspath(args.breakfix)
    rows = []
    for backend in args.backends.split(","):
        cold, warm = bench_backend(binary, backend, args.runs)
        rows.append((backend, statistics.median(cold), statistics.median(warm)))
    by_hand = statistics.median(docker_by_hand(args.runs)) if "docker" in args.backends else None
    print(f"| start to ready, one-host lab (median of {args.runs}, ms) | cold start | warm pool | cold / warm |")
    print("|---|---|---|---|")
    for backend, cold, warm in rows:
        print(f"| breakfix on {backend} | {cold:.0f} | {warm:.1f} | {cold / warm:.0f} |")
    if by_hand is not None:
        print(f"| by hand: `docker run -d` + `docker exec` of setup and fault | {by_hand:.0f} | - | - |")


if __name__ == "__main__":
    main()
