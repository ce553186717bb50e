#!/usr/bin/env python3
"""The SSH gateway against OpenSSH sshd + `docker exec`, side by side, in one run.

Starts its own `breakfix serve` (temp config, data dir, API socket, SSH port) and creates one
session of a shipped scenario (sudoers-broken) through the API. Then starts its own OpenSSH
`sshd` (a child: `/usr/sbin/sshd -D -e -f CONFIG -p PORT`, host key, authorized_keys and
config in the temp dir) whose ForceCommand is the path a user would build by hand: a wrapper
that runs `docker exec -i[t] breakfix-<session>-main ...` on the same lab container. Each
measurement runs both paths against that container, interleaved where it can be:

  1. bulk output: `ssh HOST 'head -c 200M /dev/zero'` read to the end (MiB/s), each run's
     byte count checked, and `seq 1 1500000` compared byte for byte with the local seq's;
     also bulk input (`wc -c` fed 200 MiB) and the time of `ssh HOST true`;
  2. keystroke echo: one character at a time through `ssh -tt` in a pty, echoed by bash's
     line editing, the two paths' keystrokes alternating (p50/p99 ms);
  3. 50 interactive connections at once: CPU seconds used idle and while each types a short
     command once a second, and memory with all open. For breakfix the daemon process; for
     the sshd path the sshd listener and all its descendants, docker CLI clients included.

    python3 bench/ssh_bench.py --breakfix build/h-sshbench/breakfix
    python3 bench/ssh_bench.py --quick      # small sizes, to try the script itself

Progress goes to stderr, a Markdown table to stdout, `--json FILE` writes the figures.
Everything (terminals, sessions, sshd, daemon, temp dir) is cleaned up in the end; --keep
keeps the temp dir (configs and the daemon log). Needs root (sshd, docker), the OpenSSH
client and server (`apt-get install --no-install-recommends openssh-server`), and a Docker
engine. Standard library only.

Timings are reported, never judged. Correctness is: a run whose output comes back short or
different is counted and replaced (up to twice the repetitions), and if the daemon dies it is
recorded and restarted on the same data dir, where it recovers the session. Exit status: 0,
all measured and every byte right; 3, all measured but the gateway lost or corrupted output
or died; 1, the run failed.
"""

import argparse
import datetime
import fcntl
import hashlib
import http.client
import json
import os
import platform
import pty
import pwd
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
START = time.monotonic()
PROMPT = b"bench$ "
# Sets a prompt the script can find; the doubled quote keeps the typed line from matching it.
PROMPT_COMMAND = b"PS1='bench''$ '; unset PROMPT_COMMAND\n"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session_load import read_proc_status  # noqa: E402  (the same /proc reader)

SSHD = "/usr/sbin/sshd"


class BenchError(Exception):
    """Something did not work (not: something was slow). Exit 1."""


def log(message):
    print(f"[{time.monotonic() - START:7.2f}s] {message}", file=sys.stderr, flush=True)


# --- the daemon's API ------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("breakfix", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def api(socket_path, method, path, body=None):
    connection = UnixHTTPConnection(socket_path)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data.decode("utf-8", "replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes: CPU and memory from /proc -----------------------------------------------------


def proc_stat(pid):
    """(ppid, cpu seconds, comm) of `pid`, or None once it is gone. comm may hold ')': split at the last."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state) of proc(5): ppid is field 4, utime 14, stime 15.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, comm


def process_tree(root):
    """{pid: (cpu seconds, comm)} of `root` and all its descendants, from every /proc/*/stat's ppid."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat:
                stats[int(name)] = stat
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = stats[pid][1:]
            todo.extend(children.get(pid, []))
    return tree


def memory_kib(pid):
    """{VmRSS, VmHWM, Pss} of `pid` in KiB (missing keys once it is gone)."""
    values = read_proc_status(pid)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    values["Pss"] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return values


def pids_named(*names):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat and stat[2] in names:
                found.append(int(name))
    return found


class Accounting:
    """CPU and memory of one path: a single process (breakfix) or a process tree (sshd)."""

    def __init__(self, root, tree):
        self.root, self.tree = root, tree

    def cpu(self):
        """{pid: cpu seconds} of what this path is made of, now."""
        if self.tree:
            return {pid: cpu for pid, (cpu, _) in process_tree(self.root).items()}
        stat = proc_stat(self.root)
        return {self.root: stat[1]} if stat else {}

    @staticmethod
    def used(before, after):
        """CPU seconds used between two cpu() snapshots; a process born in between counts in full."""
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def memory(self):
        pids = list(process_tree(self.root)) if self.tree else [self.root]
        total = {"VmRSS": 0, "Pss": 0, "VmHWM": 0, "processes": len(pids)}
        by_comm = {}
        for pid in pids:
            values = memory_kib(pid)
            for key in ("VmRSS", "Pss", "VmHWM"):
                total[key] += values.get(key, 0)
            stat = proc_stat(pid)
            if stat:
                by_comm.setdefault(stat[2], [0, 0])
                by_comm[stat[2]][0] += 1
                by_comm[stat[2]][1] += values.get("VmRSS", 0)
        total["by_comm"] = {comm: {"count": n, "rss_kib": rss} for comm, (n, rss) in by_comm.items()}
        return total


def engine_cpu():
    """CPU seconds of dockerd, containerd and the shims so far: shared by both paths, and by whatever
    else runs on the machine, so only context."""
    pids = pids_named("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")
    return {pid: proc_stat(pid)[1] for pid in pids if proc_stat(pid)}


def listen_overflows():
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    with open("/proc/net/netstat") as netstat:
        lines = netstat.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


# --- terminals ---------------------------------------------------------------------------------


class Terminal:
    """`ssh -tt` in a pseudo-terminal, as a person's terminal runs it; output read without blocking."""

    def __init__(self, argv, rows=24, columns=80):
        env = dict(os.environ, TERM="xterm")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        os.set_blocking(self.fd, False)
        self.output = b""
        self.closed = False

    def send(self, data):
        os.write(self.fd, data)

    def read_available(self):
        """Appends whatever is readable now; False once the terminal has closed."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                self.closed = True
                return False
            if not data:
                self.closed = True
                return False
            self.output += data

    def settle(self, quiet=0.03, limit=2.0):
        """Reads until nothing has come for `quiet` seconds."""
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(quiet):
                    return
                if not self.read_available():
                    return

    def close(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_shells(argv, count, timeout):
    """Starts `count` terminals at once and waits until each shows the bench prompt.
    Returns (terminals, seconds until the last prompt)."""
    started = time.monotonic()
    terminals = [Terminal(argv) for _ in range(count)]
    pending = {t.fd: t for t in terminals}
    typed = set()
    deadline = started + timeout
    with selectors.DefaultSelector() as selector:
        for t in terminals:
            selector.register(t.fd, selectors.EVENT_READ, t)
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(0.2):
                t = key.data
                if t.fd not in pending:
                    t.read_available()
                    continue
                alive = t.read_available()
                # The first output means the shell (or the banner before it) is there: set the prompt.
                if t.fd not in typed and t.output:
                    t.send(PROMPT_COMMAND)
                    typed.add(t.fd)
                # The typed line itself cannot match: its quotes split the prompt text.
                if t.fd in typed and PROMPT in t.output:
                    del pending[t.fd]
                if not alive:
                    selector.unregister(t.fd)
                    if t.fd in pending:
                        raise BenchError(f"a terminal closed before its prompt: {t.output[-400:]!r}")
    if pending:
        sample = next(iter(pending.values())).output[-400:]
        for t in terminals:
            t.close()
        raise BenchError(f"{len(pending)} of {count} terminals showed no prompt within {timeout}s; one had {sample!r}")
    return terminals, time.monotonic() - started


def pump(terminals, seconds, schedule=None, sample=None):
    """Reads every terminal's output for `seconds`. `schedule` is [(time offset, terminal, bytes)]
    sent at those offsets; `sample()` is called about once a second."""
    started = time.monotonic()
    schedule = sorted(schedule or [], key=lambda item: item[0])
    next_sample = started
    sent = 0
    with selectors.DefaultSelector() as selector:
        for t in terminals:
            if not t.closed:
                selector.register(t.fd, selectors.EVENT_READ, t)
        while True:
            now = time.monotonic()
            if now - started >= seconds:
                break
            while sent < len(schedule) and started + schedule[sent][0] <= now:
                schedule[sent][1].send(schedule[sent][2])
                sent += 1
            if sample and now >= next_sample:
                sample()
                next_sample += 1.0
            wake = started + seconds
            if sent < len(schedule):
                wake = min(wake, started + schedule[sent][0])
            if sample:
                wake = min(wake, next_sample)
            for key, _ in selector.select(max(0.0, wake - time.monotonic())):
                t = key.data
                if not t.read_available():
                    selector.unregister(t.fd)
                # Keep memory flat: only the tail matters.
                if len(t.output) > 8192:
                    t.output = t.output[-4096:]
    return sent


# --- the two paths -----------------------------------------------------------------------------


def keygen(path, kind="ed25519"):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path], check=True)
    with open(path + ".pub") as public:
        return public.read().strip()


def ssh_base(key, port, cipher):
    options = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30",
               "-o", "ControlMaster=no", "-o", "ControlPath=none", "-i", key, "-p", str(port)]
    if cipher:
        options += ["-c", cipher]
    return options


class Path:
    """One way in: the ssh options and user@host that reach the lab container, and what it costs."""

    def __init__(self, name, base, target, accounting):
        self.name = name
        self.base, self.target = base, target
        self.accounting = accounting

    def command(self, command, tty=False):
        return [*self.base, "-tt" if tty else "-T", self.target, command]

    def shell(self):
        return [*self.base, "-tt", self.target]


def negotiated_cipher(path):
    run = subprocess.run([*path.base, "-v", "-T", path.target, "true"], capture_output=True, timeout=120)
    for line in run.stderr.decode(errors="replace").splitlines():
        if "kex: server->client cipher:" in line:
            return line.split("cipher:", 1)[1].split(" MAC:")[0].strip()
    return "?"


def run_output(path, command, expect_bytes, timeout, digest=None):
    """Runs `command`, reading its stdout to the end. Returns {wall: seconds from start to EOF,
    stream: seconds from the first byte to EOF, bytes, code, stderr, sha256 (when `digest`)}.
    A short or failed run is returned, not raised: the caller counts it."""
    started = time.monotonic()
    hasher = hashlib.sha256() if digest else None
    process = subprocess.Popen(path.command(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    fd = process.stdout.fileno()
    total, first = 0, None
    deadline = started + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(1.0):
                continue
            data = os.read(fd, 1 << 20)
            if not data:
                break
            if first is None:
                first = time.monotonic()
            total += len(data)
            if hasher:
                hasher.update(data)
        else:
            process.kill()
            process.wait()
            raise BenchError(f"{path.name}: `{command}` took over {timeout}s ({total} bytes so far)")
    ended = time.monotonic()
    stderr = process.stderr.read()
    code = process.wait()
    result = {"wall": ended - started, "stream": ended - (first or started), "bytes": total, "code": code,
              "stderr": stderr[-300:].decode(errors="replace"), "ok": code == 0 and total == expect_bytes}
    if hasher:
        result["sha256"] = hasher.hexdigest()
        result["ok"] = result["ok"] and result["sha256"] == digest
    return result


def run_input(path, size, timeout):
    """Feeds `size` bytes of zeros to `wc -c` through the path; returns (seconds from start to exit,
    whether `wc -c` counted them all)."""
    started = time.monotonic()
    process = subprocess.Popen(path.command("wc -c"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    # wc writes only at the end, so writing everything before reading cannot deadlock; the timer bounds it all.
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    chunk = bytes(1 << 20)
    try:
        left = size
        while left:
            piece = chunk[:min(left, len(chunk))]
            process.stdin.write(piece)
            left -= len(piece)
        process.stdin.close()
    except BrokenPipeError as error:
        log(f"{path.name}: input of {size} bytes failed after {size - left} bytes: {error}")
    out = process.stdout.read()
    err = process.stderr.read()
    code = process.wait()
    timer.cancel()
    elapsed = time.monotonic() - started
    ok = code == 0 and out.strip() == str(size).encode()
    if not ok:
        log(f"{path.name}: `wc -c` fed {size} bytes exited {code} saying {out!r} {err[-300:]!r}")
    return elapsed, ok


def run_true(path):
    started = time.monotonic()
    run = subprocess.run(path.command("true"), stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    if run.returncode != 0:
        raise BenchError(f"{path.name}: `ssh true` exited {run.returncode}: {run.stderr[-300:]!r}")
    return time.monotonic() - started


def echo_latencies(terminals, keystrokes, gap):
    """Per terminal, the seconds from writing one 'x' until it comes back, the terminals taking turns."""
    results = [[] for _ in terminals]
    for t in terminals:
        t.settle()
    for i in range(keystrokes):
        if i and i % 40 == 0:
            # Ctrl-U: the line would otherwise grow past the terminal's width (redraws, not echo).
            for t in terminals:
                t.send(b"\x15")
            for t in terminals:
                t.settle()
        for index, t in enumerate(terminals):
            t.read_available()
            t.output = b""
            sent = time.perf_counter()
            t.send(b"x")
            with selectors.DefaultSelector() as selector:
                selector.register(t.fd, selectors.EVENT_READ)
                deadline = sent + 10
                while b"x" not in t.output:
                    if time.perf_counter() > deadline or t.closed:
                        raise BenchError(f"keystroke {i} not echoed within 10s: {t.output[-200:]!r}")
                    selector.select(1.0)
                    t.read_available()
            results[index].append(time.perf_counter() - sent)
            time.sleep(gap)
    return results


# --- statistics and output ---------------------------------------------------------------------


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def markdown(figures):
    f = figures
    b, s = f["breakfix"], f["sshd"]
    n = f["parameters"]["connections"]
    reps = f["parameters"]["repetitions"]
    mib = f["parameters"]["mib"]
    secs = f["parameters"]["sample_seconds"]
    targets = f.get("targets", {})
    throughput_target = "at or above sshd: " + ("met" if targets.get("throughput_met") else "NOT met")
    def whole(count):  # "4/5" -> False
        return not count or len(set(count.split("/"))) == 1
    if not whole(b.get("output_complete")) or not whole(b.get("seq_intact")) or b.get("daemon_crashes"):
        throughput_target += ", but the gateway lost or corrupted output (rows below)"
    rows = [
        (f"bulk output `head -c {mib}M /dev/zero`, first byte to EOF (MiB/s, median of {reps})",
         "throughput_mib_s", 1, throughput_target),
        (f"bulk output, whole `ssh` command incl. login (MiB/s, median of {reps})", "throughput_wall_mib_s", 1, ""),
        (f"bulk output complete (runs with every byte and exit 0 / runs)", "output_complete", None, ""),
        (f"`seq 1 {f['parameters']['seq_lines']}` output identical to seq's (runs)", "seq_intact", None, ""),
        (f"bulk input `wc -c` fed {mib} MiB, whole command (MiB/s, median of {reps})", "input_mib_s", 1, ""),
        (f"bulk input counted in full (runs)", "input_complete", None, ""),
        ("server crashes during the run (restarted each time)", "daemon_crashes", None, ""),
        (f"`ssh HOST true`, login to exit (ms, median of {reps})", "true_ms", 0, ""),
        (f"keystroke echo p50 (ms, {f['parameters']['keystrokes']} keys)", "echo_p50_ms", 2,
         "p50 at most 1.2x sshd: " + ("met" if targets.get("echo_met") else "NOT met")),
        ("keystroke echo p99 (ms)", "echo_p99_ms", 2, ""),
        (f"{n} terminals: until the last shows its prompt (s)", "open_all_s", 1, ""),
        (f"{n} terminals: connections dropped by a full listen queue while opening (kernel count)",
         "listen_overflows", 0, ""),
        (f"{n} terminals: CPU idle for {secs:g} s (CPU s)", "idle_cpu_s", 2, ""),
        (f"{n} terminals: CPU while each runs `date` once a second for {secs:g} s (CPU s)", "active_cpu_s", 2, ""),
        (f"{n} terminals: RSS sum (MiB)", "rss_mib", 0, ""),
        (f"{n} terminals: PSS sum (MiB)", "pss_mib", 0, ""),
        (f"{n} terminals: processes counted", "processes", 0, ""),
        ("no connection: memory of the server (RSS MiB)", "rss_before_mib", 0, ""),
        (f"context: dockerd+containerd CPU while {n} type (CPU s)", "engine_active_cpu_s", 2, "shared, noisy"),
    ]
    lines = ["| measurement | breakfix gateway | sshd + docker exec | breakfix / sshd | target |",
             "|---|---|---|---|---|"]
    for label, key, digits, target in rows:
        bv, sv = b.get(key), s.get(key)
        if bv is None and sv is None:
            continue
        if digits is None:  # a count such as "4/5": no ratio
            lines.append(f"| {label} | {bv} | {sv} | | {target} |")
            continue
        lines.append(f"| {label} | {fmt(bv, digits)} | {fmt(sv, digits)} | {fmt(ratio(bv, sv), 2)} | {target} |")
    lines.append("")
    if "cipher" in b:
        lines.append(f"Cipher negotiated: breakfix `{b['cipher']}`, sshd `{s['cipher']}`.")
    lines.append(f"Load average (1, 5, 15 min) at the start: {f.get('load_before')}, before the echo test: "
                 f"{f.get('load_before_echo')}, before the {n} connections: {f.get('load_before_concurrency')}, "
                 f"at the end: {f.get('load_after')}.")
    for crash in f.get("crashes", []):
        lines.append(f"The daemon died ({crash['exit']}) during {crash['during']}, {crash['at_s']} s into the run; "
                     "it was restarted and recovered the session.")
    if f.get("failure"):
        lines.append(f"\n**The run failed:** {f['failure']}")
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="breakfix-ssh-bench-")
        self.daemon = None
        self.sshd = None
        self.session = None
        self.terminals = []
        self.api_socket = os.path.join(self.work, "api.sock")
        self.figures = None
        self.crashes = []  # [{during, signal}]: the daemon died and was restarted

    # setup

    def start_daemon(self):
        self.gateway_port = free_port()
        config = self.daemon_config = os.path.join(self.work, "config.yaml")
        scenario_dirs = ", ".join(json.dumps(os.path.abspath(d)) for d in self.args.scenarios)
        with open(config, "w") as out:
            out.write(f"""listen:
  api_socket: {json.dumps(self.api_socket)}
  api_socket_mode: "0600"
  ssh: 127.0.0.1:{self.gateway_port}
  ssh_public_host: 127.0.0.1
data_dir: {json.dumps(os.path.join(self.work, "data"))}
scenario_dirs: [{scenario_dirs}]
sessions:
  retention: 0s
  progress_interval: 0s
gateway:
  max_connections_per_session: {self.args.connections + 10}
log:
  level: info
""")
        self.daemon_log = os.path.join(self.work, "daemon.log")
        self.spawn_daemon()

    def spawn_daemon(self):
        """Starts `breakfix serve` on the config written by start_daemon; its log is appended to."""
        if os.path.exists(self.api_socket):
            os.unlink(self.api_socket)
        with open(self.daemon_log, "ab") as out:
            self.daemon = subprocess.Popen([self.args.breakfix, "serve", "--config", self.daemon_config],
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        for _ in range(400):
            if self.daemon.poll() is not None:
                raise BenchError(f"the daemon exited {self.daemon.returncode}: {self.log_tail()}")
            if os.path.exists(self.api_socket):
                try:
                    if api(self.api_socket, "GET", "/healthz")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise BenchError("the daemon did not answer /healthz")

    def log_tail(self, lines=30):
        try:
            with open(self.daemon_log, errors="replace") as log_file:
                return "".join(log_file.readlines()[-lines:])
        except OSError:
            return ""

    def create_session(self, public_key):
        status, session = api(self.api_socket, "POST", "/v1/sessions",
                              {"scenario": self.args.scenario, "candidate": "ssh-bench", "password": False,
                               "public_keys": [public_key], "duration": "2h"})
        if status != 202:
            raise BenchError(f"POST /v1/sessions: {status} {session}")
        self.session = session["id"]
        for _ in range(1500):
            _, view = api(self.api_socket, "GET", "/v1/sessions/" + self.session)
            if view["state"] == "ready":
                return
            if view["state"] == "failed":
                raise BenchError(f"the session failed: {view.get('failure')}")
            time.sleep(0.2)
        raise BenchError("the session was not ready within 5 minutes")

    def start_sshd(self, public_key, container):
        if not os.path.exists(SSHD):
            raise BenchError(f"{SSHD} is missing: apt-get install --no-install-recommends openssh-server")
        # sshd's privilege separation needs this directory (the package's service would make it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        host_key = os.path.join(self.work, "sshd_host_ed25519_key")
        keygen(host_key)
        authorized = os.path.join(self.work, "authorized_keys")
        with open(authorized, "w") as out:
            out.write(public_key + "\n")
        wrapper = os.path.join(self.work, "force-command.sh")
        # The hand-built path: the client's command (or a login shell) in the lab container,
        # with a terminal when the client asked for one.
        with open(wrapper, "w") as out:
            out.write(f"""#!/bin/sh
C={container}
if [ -n "$SSH_TTY" ]; then t=-it; else t=-i; fi
if [ -n "$SSH_ORIGINAL_COMMAND" ]; then
  exec docker exec $t "$C" sh -c "$SSH_ORIGINAL_COMMAND"
fi
exec docker exec -it "$C" bash -l
""")
        os.chmod(wrapper, 0o755)
        self.sshd_port = free_port()
        config = os.path.join(self.work, "sshd_config")
        with open(config, "w") as out:
            out.write(f"""ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {os.path.join(self.work, "sshd.pid")}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ForceCommand {wrapper}
MaxStartups {self.args.connections * 2}:30:{self.args.connections * 4}
MaxSessions {self.args.connections * 2}
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        check = subprocess.run([SSHD, "-t", "-f", config, "-p", str(self.sshd_port)], capture_output=True)
        if check.returncode != 0:
            raise BenchError(f"sshd -t: {check.stderr.decode(errors='replace')}")
        self.sshd_log = os.path.join(self.work, "sshd.log")
        argv = [SSHD, "-D", "-e", "-f", config, "-p", str(self.sshd_port)]
        bashrc = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".bashrc")
        if not self.args.keep_bashrc and os.path.exists(bashrc):
            # sshd runs ForceCommand as `$SHELL -c`, and bash sources ~/.bashrc when started by sshd. A
            # development machine's .bashrc (pyenv init here: over a second) is not the path being
            # measured: in a mount namespace of this sshd alone, an empty file hides it. unshare and sh
            # exec in place, so the sshd listener keeps the pid of the child.
            empty = os.path.join(self.work, "empty-bashrc")
            open(empty, "w").close()
            # sh -c SCRIPT EMPTY BASHRC SSHD...: $0 is the empty file, $1 the .bashrc, then sshd's argv.
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    'mount --bind "$0" "$1" && shift && exec "$@"', empty, bashrc, *argv]
        with open(self.sshd_log, "wb") as out:
            self.sshd = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        for _ in range(200):
            if self.sshd.poll() is not None:
                raise BenchError(f"sshd exited {self.sshd.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.sshd_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchError("sshd did not listen")

    def setup(self):
        key = os.path.join(self.work, "client_key")
        public_key = keygen(key)
        log(f"starting the daemon ({self.args.breakfix})")
        self.start_daemon()
        log(f"creating a {self.args.scenario} session")
        self.create_session(public_key)
        container = f"breakfix-{self.session}-main"
        inspect = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container], capture_output=True)
        if inspect.stdout.strip() != b"true":
            raise BenchError(f"container {container} is not running: {inspect.stderr!r}")
        log(f"session {self.session}, container {container}; starting sshd")
        self.start_sshd(public_key, container)
        self.paths = [
            Path("breakfix", ssh_base(key, self.gateway_port, self.args.cipher),
                 f"{self.session}@127.0.0.1", Accounting(self.daemon.pid, tree=False)),
            Path("sshd", ssh_base(key, self.sshd_port, self.args.cipher),
                 "root@127.0.0.1", Accounting(self.sshd.pid, tree=True)),
        ]
        for path in self.paths:
            run = subprocess.run(path.command("hostname; id -un"), capture_output=True, timeout=120)
            if run.stdout != b"main\nroot\n":
                raise BenchError(f"{path.name}: the login did not land in the lab: {run.returncode} {run.stdout!r} "
                                 f"{run.stderr[-300:]!r}")

    def wait_load(self):
        """With --max-load: waits (up to --max-load-wait s) for the 1-minute load average to drop below it.
        The machine is shared; a build beside the benchmark changes every figure."""
        if not self.args.max_load:
            return
        deadline = time.monotonic() + self.args.max_load_wait
        waited = False
        while os.getloadavg()[0] > self.args.max_load and time.monotonic() < deadline:
            if not waited:
                log(f"load average {os.getloadavg()[0]:.1f} > {self.args.max_load}: waiting")
                waited = True
            time.sleep(5)

    # measurements

    def alive(self, during):
        """False when the daemon died during `during`: the crash is recorded and the daemon restarted on
        the same data dir, where it recovers the ready session (same container, same SSH port and
        host key), so that the rest of the run still measures something. Raises after --max-crashes."""
        if self.daemon.poll() is None:
            return True
        code = self.daemon.returncode
        what = f"signal {-code}" if code < 0 else f"status {code}"
        self.crashes.append({"during": during, "exit": what, "at_s": round(time.monotonic() - START, 1)})
        log(f"the daemon DIED ({what}) during {during}; log tail:\n{self.log_tail(3)}")
        if len(self.crashes) > self.args.max_crashes:
            raise BenchError(f"the daemon died {len(self.crashes)} times; the last during {during} ({what})")
        self.spawn_daemon()
        for _ in range(600):
            status, view = api(self.api_socket, "GET", "/v1/sessions/" + self.session)
            if status == 200 and view.get("state") == "ready":
                break
            if status == 200 and view.get("state") not in ("ready", "provisioning", "injecting"):
                raise BenchError(f"after the restart the session is {view.get('state')}")
            time.sleep(0.2)
        else:
            raise BenchError("after the restart the session did not become ready again")
        self.paths[0].accounting.root = self.daemon.pid
        log(f"daemon restarted (pid {self.daemon.pid}); session {self.session} is ready again")
        return False

    def measure_bulk(self, figures):
        size = self.args.mib * 1024 * 1024
        command = f"head -c {self.args.mib}M /dev/zero"
        # Zeros show a lost byte, not a reordered one: a second command's output is checked byte for byte.
        lines = self.args.seq_lines
        check_command = f"seq 1 {lines}"
        expected = subprocess.run(["seq", "1", str(lines)], capture_output=True, check=True).stdout
        check_digest = hashlib.sha256(expected).hexdigest()
        for path in self.paths:
            figures[path.name]["cipher"] = negotiated_cipher(path)
            run_output(path, "head -c 1M /dev/zero", 1 << 20, 120)  # warm-up
        keys = ("wall", "stream", "input", "true")
        samples = {p.name: {**{k: [] for k in keys}, "attempts": 0, "complete": 0, "bad_output": [], "bad_input": 0,
                            "inputs": 0, "checks": 0, "bad_check": []} for p in self.paths}
        reps = self.args.repetitions
        # A run whose output came back short (or whose daemon died) is not a throughput sample; it is
        # counted, and another run takes its place, up to twice the repetitions.
        for round_ in range(2 * reps):
            # Alternate which path goes first, so a drift of the machine hits both alike.
            order = self.paths if round_ % 2 == 0 else list(reversed(self.paths))
            order = [p for p in order if samples[p.name]["complete"] < reps]
            if not order:
                break
            for path in order:
                s = samples[path.name]
                s["attempts"] += 1
                self.wait_load()
                out = run_output(path, command, size, 600)
                ok = self.alive(f"`{command}` through {path.name}") and out["ok"]
                if ok:
                    s["complete"] += 1
                    s["wall"].append(out["bytes"] / out["wall"] / 2**20)
                    s["stream"].append(out["bytes"] / out["stream"] / 2**20)
                else:
                    s["bad_output"].append({"bytes": out["bytes"], "code": out["code"], "stderr": out["stderr"]})
                    log(f"{path.name}: `{command}` exited {out['code']} with {out['bytes']} of {size} bytes "
                        f"{out['stderr']!r}")
                elapsed, input_ok = run_input(path, size, 600)
                input_ok = self.alive(f"bulk input through {path.name}") and input_ok
                s["inputs"] += 1
                if input_ok:
                    s["input"].append(size / elapsed / 2**20)
                else:
                    s["bad_input"] += 1
                s["true"].append(run_true(path) * 1000)
                check = run_output(path, check_command, len(expected), 300, digest=check_digest)
                check_ok = self.alive(f"`{check_command}` through {path.name}") and check["ok"]
                s["checks"] += 1
                if not check_ok:
                    s["bad_check"].append({"bytes": check["bytes"], "code": check["code"]})
                    log(f"{path.name}: `{check_command}` output differs from seq's: {check['bytes']} of "
                        f"{len(expected)} bytes, exit {check['code']}")
                rate = f"{s['stream'][-1]:.0f} MiB/s (wall {s['wall'][-1]:.0f})" if ok else "SHORT"
                log(f"bulk {path.name} run {s['attempts']}: output {rate}, input "
                    f"{f'{size / elapsed / 2**20:.0f} MiB/s' if input_ok else 'FAILED'}, true {s['true'][-1]:.0f} ms, "
                    f"seq {'ok' if check_ok else 'CORRUPT'}")
        for path in self.paths:
            s = samples[path.name]
            median = lambda values: statistics.median(values) if values else None
            figures[path.name].update({
                "throughput_mib_s": median(s["stream"]), "throughput_wall_mib_s": median(s["wall"]),
                "input_mib_s": median(s["input"]), "true_ms": median(s["true"]),
                "output_complete": f"{s['complete']}/{s['attempts']}",
                "input_complete": f"{s['inputs'] - s['bad_input']}/{s['inputs']}",
                "seq_intact": f"{s['checks'] - len(s['bad_check'])}/{s['checks']}",
                "bad_output": s["bad_output"], "bad_check": s["bad_check"],
                "samples": {k: [round(v, 2) for v in s[k]] for k in keys}})

    def measure_echo(self, figures):
        terminals = []
        try:
            for path in self.paths:
                shells, _ = open_shells(path.shell(), 1, 60)
                terminals += shells
                self.terminals += shells
            # Warm-up keystrokes, not counted.
            echo_latencies(terminals, 20, self.args.key_gap)
            for t in terminals:
                t.send(b"\x15")
                t.settle()
            results = echo_latencies(terminals, self.args.keystrokes, self.args.key_gap)
        finally:
            for t in terminals:
                t.close()
                self.terminals.remove(t)
        for path, values in zip(self.paths, results):
            figures[path.name]["echo_p50_ms"] = percentile(values, 0.5) * 1000
            figures[path.name]["echo_p99_ms"] = percentile(values, 0.99) * 1000
            figures[path.name]["echo_max_ms"] = max(values) * 1000
            log(f"echo {path.name}: p50 {figures[path.name]['echo_p50_ms']:.2f} ms, "
                f"p99 {figures[path.name]['echo_p99_ms']:.2f} ms, max {figures[path.name]['echo_max_ms']:.2f} ms")

    def wait_quiet(self, path, timeout=60):
        """After the terminals closed: until the path has no connection left (sshd: no child)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.accounting.tree:
                if len(process_tree(path.accounting.root)) <= 1:
                    return
            else:
                status, metrics = api(self.api_socket, "GET", "/metrics")
                text = metrics if isinstance(metrics, str) else ""
                open_now = [line for line in text.splitlines() if line.startswith("breakfix_ssh_connections_open ")]
                if not open_now or float(open_now[0].split()[1]) == 0:
                    return
            time.sleep(0.2)
        log(f"{path.name}: connections still open after {timeout}s")

    def measure_concurrency(self, figures):
        n, secs = self.args.connections, self.args.sample_seconds
        for path in self.paths:
            f = figures[path.name]
            before = path.accounting.memory()
            f["rss_before_mib"] = before["VmRSS"] / 1024
            log(f"{path.name}: opening {n} terminals")
            overflows = listen_overflows()
            terminals, opened = open_shells(path.shell(), n, 300)
            self.terminals += terminals
            try:
                f["open_all_s"] = opened
                f["listen_overflows"] = listen_overflows() - overflows
                pump(terminals, 2.0)  # let the logins' work finish
                cpu0, engine0 = path.accounting.cpu(), engine_cpu()
                pump(terminals, secs)
                cpu1, engine1 = path.accounting.cpu(), engine_cpu()
                f["idle_cpu_s"] = Accounting.used(cpu0, cpu1)
                f["engine_idle_cpu_s"] = Accounting.used(engine0, engine1)
                memory = path.accounting.memory()
                f["rss_mib"] = memory["VmRSS"] / 1024
                f["pss_mib"] = memory["Pss"] / 1024
                f["processes"] = memory["processes"]
                f["memory_by_process"] = memory["by_comm"]
                if not path.accounting.tree:
                    f["hwm_mib"] = memory["VmHWM"] / 1024
                # Each terminal types `date` once a second, the terminals spread over the second.
                schedule = [(k + i / n, t, b"date\n") for k in range(int(secs)) for i, t in enumerate(terminals)]
                peaks = []
                cpu0, engine0 = path.accounting.cpu(), engine_cpu()
                sent = pump(terminals, secs, schedule, sample=lambda: peaks.append(path.accounting.memory()["VmRSS"]))
                cpu1, engine1 = path.accounting.cpu(), engine_cpu()
                f["active_cpu_s"] = Accounting.used(cpu0, cpu1)
                f["engine_active_cpu_s"] = Accounting.used(engine0, engine1)
                f["active_commands_sent"] = sent
                f["active_rss_peak_mib"] = max(peaks) / 1024 if peaks else None
                alive = sum(1 for t in terminals if not t.closed)
                if alive != n:
                    raise BenchError(f"{path.name}: only {alive} of {n} terminals still open after the active period")
                log(f"{path.name}: {n} open in {opened:.1f}s; idle CPU {f['idle_cpu_s']:.2f}s, active CPU "
                    f"{f['active_cpu_s']:.2f}s, RSS {f['rss_mib']:.0f} MiB, PSS {f['pss_mib']:.0f} MiB "
                    f"({f['processes']} processes)")
            finally:
                for t in terminals:
                    try:
                        t.send(b"exit\n")
                    except OSError:
                        pass
                pump(terminals, 1.0)
                for t in terminals:
                    t.close()
                    self.terminals.remove(t)
            self.wait_quiet(path)

    def run(self):
        figures = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                   "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
                   "parameters": {"mib": self.args.mib, "repetitions": self.args.repetitions,
                                  "keystrokes": self.args.keystrokes, "connections": self.args.connections,
                                  "sample_seconds": self.args.sample_seconds, "cipher": self.args.cipher or "default",
                                  "seq_lines": self.args.seq_lines},
                   "breakfix": {}, "sshd": {}}
        self.figures = figures
        docker_version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True)
        figures["host"]["docker"] = docker_version.stdout.decode().strip()
        figures["host"]["sshd"] = subprocess.run([SSHD, "-V"], capture_output=True).stderr.decode().strip() \
            if os.path.exists(SSHD) else None
        self.setup()
        figures["session"] = self.session
        figures["load_before"] = load_average()
        if "bulk" in self.args.only:
            self.measure_bulk(figures)
        if "echo" in self.args.only:
            self.wait_load()
            figures["load_before_echo"] = load_average()
            self.measure_echo(figures)
            if not self.alive("the keystroke echo"):
                raise BenchError("the daemon died during the keystroke echo")
        if "concurrency" in self.args.only:
            self.wait_load()
            figures["load_before_concurrency"] = load_average()
            self.measure_concurrency(figures)
            if not self.alive(f"{self.args.connections} connections"):
                raise BenchError(f"the daemon died during the {self.args.connections} connections")
        return self.finish_figures()

    def finish_figures(self):
        figures = self.figures
        figures["breakfix"]["daemon_crashes"] = len(self.crashes)
        figures["sshd"]["daemon_crashes"] = 0
        figures["crashes"] = self.crashes
        figures["load_after"] = load_average()
        b, s = figures["breakfix"], figures["sshd"]
        figures["targets"] = {
            "throughput_met": bool(b.get("throughput_mib_s") and b["throughput_mib_s"] >= (s.get("throughput_mib_s") or 0)),
            "echo_met": bool(b.get("echo_p50_ms") and s.get("echo_p50_ms") and b["echo_p50_ms"] <= 1.2 * s["echo_p50_ms"]),
        }
        return figures

    def cleanup(self, keep):
        for t in self.terminals:
            t.close()
        if self.session:
            try:
                status, _ = api(self.api_socket, "DELETE", "/v1/sessions/" + self.session)
                log(f"DELETE session {self.session}: {status}")
                for _ in range(300):
                    status, view = api(self.api_socket, "GET", "/v1/sessions/" + self.session)
                    if status == 404 or (isinstance(view, dict) and view.get("state") in ("removed", "failed")):
                        break
                    time.sleep(0.2)
            except (OSError, http.client.HTTPException) as error:
                log(f"DELETE session {self.session} failed: {error}")
        if self.sshd:
            # Its connections' processes first (they outlive the listener), then the listener.
            for pid in sorted(process_tree(self.sshd.pid), reverse=True):
                if pid != self.sshd.pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            self.sshd.terminate()
            try:
                self.sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
        if self.daemon:
            self.daemon.terminate()
            try:
                code = self.daemon.wait(timeout=60)
                if code != 0:
                    log(f"the daemon exited {code} on SIGTERM")
            except subprocess.TimeoutExpired:
                log("the daemon did not stop within 60s: killed")
                self.daemon.kill()
                self.daemon.wait()
        if self.session:
            left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=breakfix.session={self.session}"],
                                  capture_output=True).stdout.split()
            if left:
                log(f"containers of session {self.session} left behind: {left}; removing them")
                subprocess.run(["docker", "rm", "-f", *[c.decode() for c in left]], capture_output=True)
            networks = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=breakfix.session={self.session}"],
                                      capture_output=True).stdout.split()
            if networks:
                log(f"networks of session {self.session} left behind: {networks}; removing them")
                subprocess.run(["docker", "network", "rm", *[n.decode() for n in networks]], capture_output=True)
        if keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--breakfix", default=os.path.join(source, "build/release/breakfix"), help="the breakfix binary")
    parser.add_argument("--scenarios", action="append", help="a scenario dir (repeatable; default: SOURCE/scenarios)")
    parser.add_argument("--scenario", default="sudoers-broken")
    parser.add_argument("--mib", type=int, default=200, help="MiB of bulk output and input")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--keystrokes", type=int, default=1000)
    parser.add_argument("--key-gap", type=float, default=0.005, help="seconds between keystrokes")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--seq-lines", type=int, default=1500000, help="lines of the `seq` output checked byte for byte")
    parser.add_argument("--max-load", type=float, help="before each bulk run and each part, wait for the load average to drop below this")
    parser.add_argument("--max-load-wait", type=float, default=600, help="seconds to wait for --max-load at most")
    parser.add_argument("--max-crashes", type=int, default=5,
                        help="daemon deaths tolerated (each is recorded, and the daemon restarted) before giving up")
    parser.add_argument("--keep-bashrc", action="store_true",
                        help="let the sshd path's `bash -c` read this machine's ~/.bashrc (hidden by default)")
    parser.add_argument("--cipher", help="ssh -c CIPHER for both paths (default: what the client and server agree)")
    parser.add_argument("--only", default="bulk,echo,concurrency", help="comma-separated: bulk, echo, concurrency")
    parser.add_argument("--quick", action="store_true", help="small sizes: try the script, not a result")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, daemon and sshd logs)")
    args = parser.parse_args()
    args.scenarios = args.scenarios or [os.path.join(source, "scenarios")]
    args.only = set(args.only.split(","))
    if args.quick:
        args.mib, args.repetitions, args.keystrokes, args.connections, args.sample_seconds = 20, 1, 100, 5, 3.0
        args.seq_lines = 100000
    if not os.access(args.breakfix, os.X_OK):
        parser.error(f"{args.breakfix} is not an executable (build it first)")

    bench = Bench(args)
    failed = True
    figures = None
    # SIGTERM cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        figures = bench.run()
        failed = False
    except BenchError as error:
        log(f"FAILED: {error}")
        tail = bench.log_tail() if bench.daemon else ""
        if tail:
            log("daemon log (tail):\n" + tail)
        # What was measured before the failure is still worth printing, marked as such.
        if bench.figures and (bench.figures["breakfix"] or bench.figures["sshd"]):
            figures = bench.finish_figures()
            figures["failure"] = str(error)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        bench.cleanup(args.keep or (failed and os.environ.get("BREAKFIX_KEEP_FAILED") == "1"))
    if figures:
        print(markdown(figures))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(figures, out, indent=2)
                out.write("\n")
    if failed:
        return 1
    b = figures["breakfix"]
    wrong = b.get("daemon_crashes") or b.get("bad_output") or b.get("bad_check") or \
        b.get("input_complete", "1/1").split("/")[0] != b.get("input_complete", "1/1").split("/")[1]
    return 3 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
