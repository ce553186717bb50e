#!/usr/bin/env python3
"""Session load: N sessions at once through the daemon's API, against a docker CLI loop.

Starts its own `breakfix serve` (temp config, data dir and API socket), POSTs N sessions of
one scenario at the same instant from N threads and polls each until it is ready; then
removes them all at once and checks with the docker CLI that nothing of them is left.
In the same run, unless --no-baseline, launches N containers the way a hand-rolled tool
would (a shell loop of `docker run` + `docker exec` of the scenario's setup and faults).

    python3 bench/session_load.py --breakfix build/release/breakfix --scenarios scenarios
    python3 bench/session_load.py --breakfix ... --scenarios scenarios --test   # ctest

Progress goes to stderr; the results, as a Markdown table, to stdout (docs/benchmarks.md).
--test skips the baseline and exits 1 with the reason if a session fails, anything leaks
or the daemon does not stop cleanly on SIGTERM; it never judges timings.

The temp dir (config, daemon log, data dir) is removed at the end; --keep, or
BREAKFIX_KEEP_FAILED=1 after a failure, keeps it. On a failure the daemon is killed, the
tail of its log printed and whatever its sessions left on the engine removed.

Standard library only, plus PyYAML (Debian's python3-yaml) for the baseline, which reads
the scenario's setup, fault and check scripts.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# include/breakfix/runtime.h: kLabelSession.
LABEL_SESSION = "breakfix.session"
SAMPLE_PERIOD_S = 0.05
# --auth key: a candidate key whose private half was thrown away (no yescrypt hash per POST).
BENCH_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAToNkVnG5XU000RfEN9dKlsipqpS/YOwH1LOA8C7fMv breakfix-bench"
STOP_GRACE_S = 40
CLK_TCK = os.sysconf("SC_CLK_TCK")
START = time.monotonic()


class BenchError(Exception):
    """A failure of what is measured (a session, a leak, the daemon's exit): exit 1."""


def log(message):
    print(f"[{time.monotonic() - START:7.2f}s] {message}", file=sys.stderr, flush=True)


# --- the API over its unix socket ---------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Api:
    """One connection per request: safe from any thread."""

    def __init__(self, socket_path, timeout=60.0):
        self.socket_path = socket_path
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()

    def call(self, method, path, body=None):
        """Returns (status, parsed JSON or text). Raises OSError/HTTPException on transport trouble."""
        with self._lock:
            self.requests += 1
        connection = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            headers = {"Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read().decode("utf-8", "replace")
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw
        finally:
            connection.close()


def error_text(body):
    if isinstance(body, dict) and "error" in body:
        return body["error"]
    return str(body).strip()[:300]


# --- the daemon ----------------------------------------------------------------------------


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_proc_status(pid):
    """VmRSS and VmHWM of `pid` in KiB ({} once it is gone)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def cpu_seconds(pid):
    """utime + stime of `pid` in seconds. The command name may hold spaces and ')': split after the last ')'."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state) of proc(5): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Daemon:
    def __init__(self, binary, scenario_dirs, work_dir, max_sessions, provision_workers):
        self.binary = binary
        self.work_dir = work_dir
        self.socket_path = os.path.join(work_dir, "api.sock")
        self.log_path = os.path.join(work_dir, "daemon.log")
        self.config_path = os.path.join(work_dir, "config.yaml")
        self.process = None
        self.peak_rss_kib = 0
        self._stop_sampling = threading.Event()
        self._sampler = None
        lines = [
            "listen:",
            f"  api_socket: {json.dumps(self.socket_path)}",
            '  api_socket_mode: "0600"',
            f'  ssh: "127.0.0.1:{free_tcp_port()}"',
            f"data_dir: {json.dumps(os.path.join(work_dir, 'data'))}",
            "scenario_dirs:",
            *[f"  - {json.dumps(os.path.abspath(d))}" for d in scenario_dirs],
            "sessions:",
            f"  max_sessions: {max_sessions}",
            "  retention: 0s",
            "  progress_interval: 0s",
        ]
        if provision_workers:
            lines.append(f"  provision_workers: {provision_workers}")
        lines += ["log:", "  level: info", ""]
        with open(self.config_path, "w") as config:
            config.write("\n".join(lines))
        self.api = Api(self.socket_path)

    @property
    def pid(self):
        return self.process.pid

    def start(self, timeout_s=30):
        log_file = open(self.log_path, "wb")
        try:
            # A session of its own: a Ctrl-C reaches this script, whose cleanup stops the daemon in order.
            self.process = subprocess.Popen([self.binary, "serve", "--config", self.config_path], stdin=subprocess.DEVNULL,
                                            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log_file.close()
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the daemon exited with status {self.process.returncode} before answering /healthz")
            try:
                status, body = self.api.call("GET", "/healthz")
                if status == 200:
                    return body
                last = f"{status}: {body}"
            except (OSError, http.client.HTTPException) as error:
                last = str(error)
            time.sleep(0.05)
        raise BenchError(f"GET /healthz did not answer 200 within {timeout_s}s (last: {last})")

    def _sample(self):
        while not self._stop_sampling.is_set():
            rss = read_proc_status(self.process.pid).get("VmRSS")
            if rss is None:
                return
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self._stop_sampling.wait(SAMPLE_PERIOD_S)

    def memory(self):
        """(sampled peak VmRSS, VmHWM) in KiB, read while the daemon still runs."""
        status = read_proc_status(self.process.pid)
        self.peak_rss_kib = max(self.peak_rss_kib, status.get("VmRSS", 0))
        return self.peak_rss_kib, status.get("VmHWM", 0)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM; returns (exit status or None if still running after the grace, seconds taken)."""
        self._stop_sampling.set()
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            status = None
        return status, time.monotonic() - started

    def kill(self):
        """SIGKILL to the daemon's process group (its own session, made at start), helpers included."""
        self._stop_sampling.set()
        if self.running():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as log_file:
                text = log_file.read().decode("utf-8", "replace")
        except OSError as error:
            return f"(no daemon log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self):
        try:
            with open(self.log_path, "rb") as log_file:
                text = log_file.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if " warn " in line or " error " in line or "critical" in line]


# --- figures -----------------------------------------------------------------------------


def percentile(values, fraction):
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values):
    return {
        "n": len(values),
        "min": min(values) if values else float("nan"),
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else float("nan"),
    }


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def metric_value(metrics_text, name):
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def docker(*args, check=True, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise BenchError(f"docker {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def docker_lines(*args):
    return [line for line in docker(*args).stdout.splitlines() if line.strip()]


# --- breakfix: sessions through the API -----------------------------------------------------


class SessionRun:
    def __init__(self, index):
        self.index = index
        self.id = None
        self.posted = None      # monotonic, just before the POST is sent
        self.accepted = None    # monotonic, when the 202 arrived
        self.ready = None       # monotonic, first GET that saw "ready"
        self.server_latency = None
        self.hosts = []
        self.error = None
        self.removal = None


def launch_sessions(api, scenario, count, auth, poll_interval, timeout_s, runs, created_ids):
    barrier = threading.Barrier(count)
    progress_lock = threading.Lock()
    ready_count = [0]

    def one(run):
        barrier.wait()
        run.posted = time.monotonic()
        request = {"scenario": scenario, "candidate": f"load-{run.index}"}
        if auth == "password":
            request["password"] = True
        else:
            request["public_keys"] = [BENCH_PUBLIC_KEY]
        try:
            status, body = api.call("POST", "/v1/sessions", request)
        except (OSError, http.client.HTTPException) as error:
            run.error = f"POST /v1/sessions: {error}"
            return
        run.accepted = time.monotonic()
        if status != 202:
            run.error = f"POST /v1/sessions answered {status}: {error_text(body)}"
            return
        run.id = body["id"]
        with progress_lock:
            created_ids.append(run.id)
        deadline = run.posted + timeout_s
        view = body
        while True:
            state = view.get("state")
            if state == "ready":
                run.ready = time.monotonic()
                break
            if state not in ("provisioning", "injecting"):
                run.error = f"session {run.id} became {state}: {view.get('failure')}"
                return
            if time.monotonic() > deadline:
                run.error = f"session {run.id} not ready after {timeout_s}s: {state} ({view.get('progress')})"
                return
            time.sleep(poll_interval)
            try:
                status, view = api.call("GET", f"/v1/sessions/{run.id}")
            except (OSError, http.client.HTTPException) as error:
                run.error = f"GET /v1/sessions/{run.id}: {error}"
                return
            if status != 200:
                run.error = f"GET /v1/sessions/{run.id} answered {status}: {error_text(view)}"
                return
        run.hosts = view.get("hosts", [])
        if view.get("created") and view.get("ready_at"):
            run.server_latency = (parse_iso(view["ready_at"]) - parse_iso(view["created"])).total_seconds()
        with progress_lock:
            ready_count[0] += 1
            log(f"ready {ready_count[0]}/{count} ({run.id}: {run.ready - run.posted:.2f}s)")

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, run) for run in runs]
        for future in futures:
            future.result()
    for run in runs:
        if run.error:
            log(f"FAILED session {run.index}: {run.error}")


def remove_sessions(api, runs, timeout_s):
    def one(run):
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            try:
                status, body = api.call("DELETE", f"/v1/sessions/{run.id}")
            except (OSError, http.client.HTTPException) as error:
                return f"DELETE /v1/sessions/{run.id}: {error}"
            if status == 200:
                break
            # 409: the session is busy (its own work holds it); the API says to try again.
            if status != 409 or time.monotonic() > deadline:
                return f"DELETE /v1/sessions/{run.id} answered {status}: {error_text(body)}"
            time.sleep(0.2)
        while body.get("state") != "removed":
            if time.monotonic() > deadline:
                return f"session {run.id} not removed after {timeout_s}s: {body.get('state')}"
            time.sleep(0.1)
            try:
                status, body = api.call("GET", f"/v1/sessions/{run.id}")
            except (OSError, http.client.HTTPException) as error:
                return f"GET /v1/sessions/{run.id}: {error}"
            if status != 200:
                return f"GET /v1/sessions/{run.id} answered {status}: {error_text(body)}"
        run.removal = time.monotonic() - started
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return [error for error in pool.map(one, runs) if error]


def leftovers(session_ids):
    """{id: (containers, networks)} for the ids that still have docker objects, asked per id."""
    def one(session_id):
        containers = docker_lines("ps", "-a", "-q", "--filter", f"label={LABEL_SESSION}={session_id}")
        networks = docker_lines("network", "ls", "-q", "--filter", f"label={LABEL_SESSION}={session_id}")
        return session_id, containers, networks

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return {sid: (c, n) for sid, c, n in pool.map(one, session_ids) if c or n}


def force_remove_sessions(session_ids):
    """Last-resort cleanup after a failure: what the daemon did not remove."""
    for session_id in session_ids:
        for kind in (("ps", "-a", "-q"), ("network", "ls", "-q")):
            result = docker(*kind, "--filter", f"label={LABEL_SESSION}={session_id}", check=False)
            ids = result.stdout.split()
            if not ids:
                continue
            if kind[0] == "ps":
                docker("rm", "-f", *ids, check=False)
            else:
                docker("network", "rm", *ids, check=False)
            log(f"cleanup: removed {len(ids)} leftover {'containers' if kind[0] == 'ps' else 'networks'} of {session_id}")


# --- baseline: the docker CLI in a shell loop ---------------------------------------------------


def read_single_host_scenario(scenario_dirs, scenario_id):
    """(image, setup script, [fault scripts], [check scripts], {var: [choices]}) of a one-host `image:` scenario."""
    try:
        import yaml  # Debian: python3-yaml
    except ImportError:
        raise BenchError("the baseline reads scenario.yaml with PyYAML: apt-get install python3-yaml, or --no-baseline")
    for directory in scenario_dirs:
        for root, _, files in os.walk(directory):
            for name in files:
                if name != "scenario.yaml":
                    continue
                path = os.path.join(root, name)
                with open(path) as file:
                    document = yaml.safe_load(file)
                if not isinstance(document, dict) or document.get("id") != scenario_id:
                    continue
                if "hosts" in document or "image" not in document:
                    raise BenchError(f"{path}: the baseline handles one-host scenarios with `image:` only; use --no-baseline")
                variables = {}
                for var, spec in (document.get("vars") or {}).items():
                    if not isinstance(spec, dict) or "choice" not in spec:
                        raise BenchError(f"{path}: var {var}: the baseline knows `choice` vars only")
                    variables[var] = [str(choice) for choice in spec["choice"]]
                faults = [fault["run"] for fault in document.get("faults") or []]
                checks = [check["run"] for check in document.get("checks") or []]
                return document["image"], document.get("setup") or "", faults, checks, variables
    raise BenchError(f"no scenario '{scenario_id}' in {', '.join(scenario_dirs)}")


BASELINE_SCRIPT = r"""
set -u
dir=$1
launch() {
  local i=$1 name=$2 start end
  shift 2
  start=$(date +%s.%N)
  if ! docker run -d --network none --label "$LABEL" --name "$name" "$IMAGE" sleep infinity >/dev/null 2>"$dir/err-$i"; then
    echo "FAIL $i docker run"; return
  fi
  if ! docker exec -i "$@" "$name" bash -e -s <"$dir/setup.sh" >>"$dir/err-$i" 2>&1; then
    echo "FAIL $i setup"; return
  fi
  for fault in "$dir"/fault-*.sh; do
    [ -e "$fault" ] || continue
    if ! docker exec -i "$@" "$name" bash -e -s <"$fault" >>"$dir/err-$i" 2>&1; then
      echo "FAIL $i $(basename "$fault")"; return
    fi
  done
  # --baseline-checks: the same work as breakfix's precheck; outcomes are not judged.
  for check in "$dir"/check-*.sh; do
    [ -e "$check" ] || continue
    docker exec -i "$@" "$name" bash -e -s <"$check" >/dev/null 2>&1 || true
  done
  end=$(date +%s.%N)
  echo "OK $i $start $end"
}
"""


def run_baseline(scenario_dirs, scenario_id, count, work_dir, label, with_checks):
    image, setup, faults, checks, variables = read_single_host_scenario(scenario_dirs, scenario_id)
    if not with_checks:
        checks = []
    base_dir = tempfile.mkdtemp(prefix="baseline-", dir=work_dir)
    with open(os.path.join(base_dir, "setup.sh"), "w") as file:
        file.write(setup)
    for number, fault in enumerate(faults):
        with open(os.path.join(base_dir, f"fault-{number:02d}.sh"), "w") as file:
            file.write(fault)
    for number, check in enumerate(checks):
        with open(os.path.join(base_dir, f"check-{number:02d}.sh"), "w") as file:
            file.write(check)
    prefix = label.split("=", 1)[1]
    lines = [f"LABEL={shlex.quote(label)}", f"IMAGE={shlex.quote(image)}", BASELINE_SCRIPT]
    for i in range(count):
        env = [f"-e {shlex.quote(f'{var}={random.choice(choices)}')}" for var, choices in sorted(variables.items())]
        lines.append(f"launch {i} {prefix}-{i} {' '.join(env)} &")
    lines.append("wait")
    script_path = os.path.join(base_dir, "launch.sh")
    with open(script_path, "w") as file:
        file.write("\n".join(lines) + "\n")

    log(f"baseline: {count} x (docker run + docker exec of setup, {len(faults)} fault(s) and {len(checks)} check(s)) "
        "from a shell loop")
    result = subprocess.run(["bash", script_path, base_dir], capture_output=True, text=True, timeout=1800)
    starts, ends, failures = {}, {}, []
    for line in result.stdout.splitlines():
        words = line.split()
        if words[:1] == ["OK"]:
            starts[int(words[1])], ends[int(words[1])] = float(words[2]), float(words[3])
        elif words[:1] == ["FAIL"]:
            i = int(words[1])
            with open(os.path.join(base_dir, f"err-{i}"), errors="replace") as err:
                failures.append(f"container {i}: {' '.join(words[2:])} failed: {err.read().strip()[-500:]}")
    if result.returncode != 0 or len(starts) + len(failures) != count:
        failures.append(f"launch.sh exit {result.returncode}, {len(starts)} ok of {count}: {result.stderr.strip()[-500:]}")
    latencies = [ends[i] - starts[i] for i in starts]
    wall = (max(ends.values()) - min(starts.values())) if starts else float("nan")

    log(f"baseline: {len(starts)}/{count} injected; docker rm -f of all")
    removal_started = time.monotonic()
    names = docker_lines("ps", "-a", "-q", "--filter", f"label={label}")
    if names:
        docker("rm", "-f", *names, timeout=600)
    removal = time.monotonic() - removal_started
    return {"latencies": latencies, "wall": wall, "removal": removal, "failures": failures, "image": image,
            "checks": len(checks)}


# --- the run ----------------------------------------------------------------------------------


def load_average():
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def fmt(value, digits=2):
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or a != a or b != b or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def median_of(rounds, *keys):
    """The median over rounds of rounds[i][keys[0]][keys[1]]..., None when absent."""
    values = []
    for one in rounds:
        for key in keys:
            one = one.get(key) if isinstance(one, dict) else None
        if one is not None:
            values.append(one)
    return percentile(values, 0.5) if values else None


def markdown(figures):
    n = figures["sessions"]
    rounds = figures["rounds"]
    has_baseline = all("baseline" in one for one in rounds)
    out = []
    auth = "a one-time password each" if figures["auth"] == "password" else "a public key each"
    out.append(f"Scenario `{figures['scenario']}`, {n} sessions posted at once ({auth}); each polled every "
               f"{figures['poll_interval_s']:.2f}s; provision_workers {figures['provision_workers']}; "
               f"{len(rounds)} round(s), " + ("one daemon throughout." if len(rounds) == 1 else
                                               "one daemon throughout; figures are the median over rounds."))
    loads = ", ".join(fmt(one["load_average_before"]) for one in rounds)
    out.append(f"1-minute load average before each launch: {loads} ({figures['cores']} cores).")
    out.append("")
    bf = lambda *keys: median_of(rounds, "breakfix", *keys)
    bl = lambda *keys: median_of(rounds, "baseline", *keys)
    if has_baseline:
        what = "setup, faults and checks" if rounds[0]["baseline"]["checks"] else "setup and faults"
        out.append(f"The docker CLI loop: `docker run -d --network none` then `docker exec` of the {what}, "
                   f"{n} at once from a shell loop; ready = the last exec returned.")
        out.append("")
        out.append("| launch to ready (s) | breakfix API | docker CLI loop | breakfix / CLI |")
        out.append("|---|---|---|---|")
        for key in ("min", "p50", "p90", "p99", "max"):
            a, b = bf("launch_latency_s", key), bl("latency_s", key)
            out.append(f"| {key} | {fmt(a)} | {fmt(b)} | {ratio(a, b) if key == 'p50' else ''} |")
        out.append(f"| wall time, all {n} ready | {fmt(bf('wall_s'))} | {fmt(bl('wall_s'))} | "
                   f"{ratio(bf('wall_s'), bl('wall_s'))} |")
        out.append(f"| removal of all {n} | {fmt(bf('removal_wall_s'))} | {fmt(bl('removal_wall_s'))} | "
                   f"{ratio(bf('removal_wall_s'), bl('removal_wall_s'))} |")
    else:
        out.append("| launch to ready (s) | breakfix API |")
        out.append("|---|---|")
        for key in ("min", "p50", "p90", "p99", "max"):
            out.append(f"| {key} | {fmt(bf('launch_latency_s', key))} |")
        out.append(f"| wall time, all {n} ready | {fmt(bf('wall_s'))} |")
        out.append(f"| removal of all {n} | {fmt(bf('removal_wall_s'))} |")
    if len(rounds) > 1:
        per_round = "; ".join(
            f"{fmt(one['breakfix']['launch_latency_s']['p50'], 1)} / {fmt(one['breakfix']['wall_s'], 1)}"
            + (f" vs {fmt(one['baseline']['latency_s']['p50'], 1)} / {fmt(one['baseline']['wall_s'], 1)}"
               if has_baseline else "")
            for one in rounds)
        out.append("")
        out.append(f"Per round, p50 / wall (s), breakfix{' vs CLI' if has_baseline else ''}: {per_round}.")
    daemon = figures["daemon"]
    out.append("")
    out.append("| daemon | value |")
    out.append("|---|---|")
    out.append(f"| server-side ready_at − created, p50 / max (s; the API gives whole seconds) | "
               f"{fmt(bf('server_latency_s', 'p50'), 0)} / {fmt(bf('server_latency_s', 'max'), 0)} |")
    out.append(f"| server-side mean launch from /metrics (s) | {fmt(bf('metrics_launch_mean_s'))} |")
    out.append(f"| POST /v1/sessions answer time p50 / max (s) | {fmt(bf('post_latency_s', 'p50'), 3)} / "
               f"{fmt(bf('post_latency_s', 'max'), 3)} |")
    out.append(f"| RSS idle → peak (MiB; VmHWM) | {fmt(daemon['rss_idle_mib'], 1)} → {fmt(daemon['vm_hwm_mib'], 1)} |")
    out.append(f"| peak RSS sampled every 50 ms (MiB) | {fmt(daemon['rss_peak_sampled_mib'], 1)} |")
    out.append(f"| CPU time (user + sys) while launching, per round / whole run (s) | {fmt(bf('cpu_launch_s'))} / "
               f"{fmt(daemon['cpu_total_s'])} |")
    out.append(f"| API requests made by the bench, whole run | {daemon['api_requests']} |")
    out.append(f"| SIGTERM to exit (s), status | {fmt(daemon['stop_s'])}, {daemon['exit_status']} |")
    left_c = sum(one["breakfix"]["containers_left"] for one in rounds)
    left_n = sum(one["breakfix"]["networks_left"] for one in rounds)
    out.append(f"| left behind after DELETE | {left_c} containers, {left_n} networks |")
    return "\n".join(out)


def breakfix_round(daemon, args, created_ids, previous_metrics):
    """One launch of N sessions and their removal; raises BenchError on a failed session or a leak."""
    cpu_before = cpu_seconds(daemon.pid)
    runs = [SessionRun(i) for i in range(args.sessions)]
    log(f"posting {args.sessions} sessions of {args.scenario} at once")
    launch_sessions(daemon.api, args.scenario, args.sessions, args.auth, args.poll_interval, args.timeout, runs,
                    created_ids)
    cpu_launch = cpu_seconds(daemon.pid) - cpu_before
    failures = [f"session {run.index}: {run.error}" for run in runs if run.error]
    if failures:
        raise BenchError(f"{len(failures)} of {args.sessions} sessions failed:\n  " + "\n  ".join(failures))
    wall = max(run.ready for run in runs) - min(run.posted for run in runs)
    log(f"all {args.sessions} ready in {wall:.2f}s")

    # The leak check below must be able to see the hosts it later finds gone.
    labelled = docker_lines("ps", "-a", "--filter", f"label={LABEL_SESSION}", "--format",
                            f'{{{{.Label "{LABEL_SESSION}"}}}}')
    missing = [run.id for run in runs if run.id not in labelled]
    if missing:
        raise BenchError(f"ready sessions without a container labelled {LABEL_SESSION}: {', '.join(missing)}")
    # The histogram is cumulative over the daemon's life: this round's share is the difference.
    status, metrics_text = daemon.api.call("GET", "/metrics")
    metrics = (0.0, 0.0)
    if status == 200:
        metrics = (metric_value(metrics_text, "breakfix_session_launch_seconds_sum") or 0.0,
                   metric_value(metrics_text, "breakfix_session_launch_seconds_count") or 0.0)
    count = metrics[1] - previous_metrics[1]
    metrics_mean = (metrics[0] - previous_metrics[0]) / count if count > 0 else None

    log(f"removing {args.sessions} sessions at once")
    removal_started = time.monotonic()
    errors = remove_sessions(daemon.api, runs, args.timeout)
    removal_wall = time.monotonic() - removal_started
    if errors:
        raise BenchError(f"{len(errors)} sessions were not removed:\n  " + "\n  ".join(errors))
    left = leftovers([run.id for run in runs])
    containers_left = sum(len(c) for c, _ in left.values())
    networks_left = sum(len(n) for _, n in left.values())
    print(f"{containers_left} containers, {networks_left} networks left", file=sys.stderr)
    if left:
        details = [f"{sid}: containers {c}, networks {n}" for sid, (c, n) in sorted(left.items())]
        raise BenchError("docker objects left after DELETE:\n  " + "\n  ".join(details))
    created_ids.clear()  # verified gone: nothing for the cleanup to do
    return {
        "launch_latency_s": distribution([run.ready - run.posted for run in runs]),
        "server_latency_s": distribution([run.server_latency for run in runs if run.server_latency is not None]),
        "post_latency_s": distribution([run.accepted - run.posted for run in runs]),
        "metrics_launch_mean_s": metrics_mean,
        "wall_s": wall,
        "removal_wall_s": removal_wall,
        "removal_latency_s": distribution([run.removal for run in runs]),
        "cpu_launch_s": cpu_launch,
        "containers_left": containers_left,
        "networks_left": networks_left,
        "sessions": [{"id": run.id, "client_s": run.ready - run.posted, "server_s": run.server_latency,
                      "post_s": run.accepted - run.posted, "removal_s": run.removal} for run in runs],
    }, metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--breakfix", default="build/release/breakfix", help="the breakfix binary")
    parser.add_argument("--scenarios", action="append", help="a scenario dir (repeatable; default: scenarios)")
    parser.add_argument("--scenario", default="sudoers-broken", help="the scenario id (default sudoers-broken)")
    parser.add_argument("--sessions", type=int, default=30, help="sessions launched at once (default 30)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="launch-and-remove rounds (each followed by its baseline); figures are medians over them")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also launch N containers with a docker CLI shell loop (default on)")
    parser.add_argument("--baseline-checks", action="store_true",
                        help="the baseline also runs the scenario's checks once, as breakfix's precheck does")
    parser.add_argument("--test", action="store_true",
                        help="ctest mode: no baseline; exit 1 on a failed session, a leak or an unclean exit")
    parser.add_argument("--json", metavar="FILE", help="write the measured figures to FILE")
    parser.add_argument("--auth", choices=["password", "key"], default="password",
                        help='candidate access: "password": true (a yescrypt hash per POST) or a public key')
    parser.add_argument("--poll-interval", type=float, default=0.25, help="seconds between GETs of one session")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a session may take to be ready or removed")
    parser.add_argument("--provision-workers", type=int, default=0, help="sessions.provision_workers (0: the daemon's default)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config, daemon log, data dir)")
    args = parser.parse_args()
    if args.sessions < 1 or args.rounds < 1:
        parser.error("--sessions and --rounds must be at least 1")
    scenario_dirs = args.scenarios or ["scenarios"]
    baseline = args.baseline and not args.test
    binary = os.path.abspath(args.breakfix)
    if not os.access(binary, os.X_OK):
        parser.error(f"{args.breakfix} is not an executable (build it: cmake --build BUILD --target breakfix)")
    if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode != 0:
        print("FAIL: the Docker engine does not answer (bash provisioning/setup-host.sh starts it)", file=sys.stderr)
        return 1

    work_dir = tempfile.mkdtemp(prefix="bf-load-")
    daemon = None
    created_ids = []  # sessions not yet seen removed with nothing left: the cleanup's work
    failed = True
    bench_label = f"breakfix-bench=load-{os.getpid()}"
    figures = {"scenario": args.scenario, "sessions": args.sessions, "auth": args.auth,
               "poll_interval_s": args.poll_interval,
               "provision_workers": args.provision_workers or 8, "date": datetime.date.today().isoformat(),
               "cores": os.cpu_count(),
               "docker": docker("version", "--format", "{{.Server.Version}}", check=False).stdout.strip(),
               "rounds": []}
    try:
        daemon = Daemon(binary, scenario_dirs, work_dir, args.sessions, args.provision_workers)
        health = daemon.start()
        log(f"daemon {daemon.pid} up: {health.get('scenarios')} scenarios, runtime {health.get('runtime')}")
        if baseline:
            image = read_single_host_scenario(scenario_dirs, args.scenario)[0]
            # Neither side pays for a cold page cache of the image.
            docker("run", "--rm", "--network", "none", image, "true")
        rss_idle, _ = daemon.memory()
        metrics = (0.0, 0.0)
        for number in range(args.rounds):
            if args.rounds > 1:
                log(f"round {number + 1}/{args.rounds}")
            one = {"load_average_before": load_average()}
            one["breakfix"], metrics = breakfix_round(daemon, args, created_ids, metrics)
            if baseline:
                base = run_baseline(scenario_dirs, args.scenario, args.sessions, work_dir, bench_label,
                                    args.baseline_checks)
                if base["failures"]:
                    raise BenchError("baseline failed:\n  " + "\n  ".join(base["failures"]))
                one["baseline"] = {"latency_s": distribution(base["latencies"]), "wall_s": base["wall"],
                                   "removal_wall_s": base["removal"], "checks": base["checks"],
                                   "latencies": base["latencies"]}
            figures["rounds"].append(one)

        rss_peak, vm_hwm = daemon.memory()
        cpu_total = cpu_seconds(daemon.pid)
        api_requests = daemon.api.requests
        log("SIGTERM to the daemon")
        exit_status, stop_s = daemon.stop()
        if exit_status is None:
            raise BenchError(f"the daemon did not exit within {STOP_GRACE_S}s of SIGTERM")
        if exit_status != 0:
            raise BenchError(f"the daemon exited with status {exit_status} after SIGTERM")
        problems = daemon.log_problems()
        if problems:
            log(f"{len(problems)} warnings/errors in the daemon's log, e.g.: {problems[0]}")
        figures["daemon"] = {"rss_idle_mib": rss_idle / 1024, "rss_peak_sampled_mib": rss_peak / 1024,
                             "vm_hwm_mib": vm_hwm / 1024, "cpu_total_s": cpu_total, "api_requests": api_requests,
                             "stop_s": stop_s, "exit_status": exit_status, "log_warnings": len(problems)}

        print(markdown(figures))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(figures, file, indent=2)
                file.write("\n")
        failed = False
        return 0
    except BenchError as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    finally:
        if daemon is not None and daemon.process is not None:
            if failed and daemon.running():
                # Sessions whose POST answer was lost are known to the daemon only.
                try:
                    status, body = daemon.api.call("GET", "/v1/sessions")
                    if status == 200:
                        created_ids += [s["id"] for s in body.get("sessions", []) if s["id"] not in created_ids]
                except (OSError, http.client.HTTPException):
                    pass
            daemon.kill()
            if failed:
                print(f"--- last lines of the daemon's log ---\n{daemon.log_tail()}\n---", file=sys.stderr)
        if created_ids:
            force_remove_sessions(created_ids)
        stale = docker("ps", "-a", "-q", "--filter", f"label={bench_label}", check=False).stdout.split()
        if stale:
            docker("rm", "-f", *stale, check=False)
        if args.keep or (failed and os.environ.get("BREAKFIX_KEEP_FAILED")):
            print(f"kept {work_dir} (config.yaml, daemon.log, data/)", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
