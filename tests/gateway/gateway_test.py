#!/usr/bin/env python3
"""The SSH gateway against the real OpenSSH client, a real daemon and real containers.

Usage: gateway_test.py BREAKFIX_BINARY SOURCE_DIR

Starts `breakfix serve` on free ports with its own data dir, creates sessions of the
shipped scenario sudoers-broken through the API, and drives ssh, scp, sftp and ssh-audit
as a candidate and an interviewer would: key and password logins, denials, a command's
exit status, a PTY whose size follows a resize, two connections at once, file copies
both ways, the recording, commands, sftp and scp in the report and in replay, live watch,
warnings and the end of time, and the rate limit on failed logins. Standard library only. Exits 1 on the first failed check."""

import fcntl
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="breakfix-gateway-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, write_config  # noqa: E402

test = Test("gateway_test", WORK)
fail, check = test.fail, test.check


def api(method, path, body=None):
    return api_call(os.path.join(WORK, "api.sock"), method, path, body)


def api_json(method, path, body=None):
    status, data = api(method, path, body)
    return status, json.loads(data) if data else None


def keygen(name):
    path = os.path.join(WORK, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    return path, open(path + ".pub").read().strip()


def start_session(duration="30m", password=True, keys=()):
    status, session = api_json("POST", "/v1/sessions", {"scenario": "sudoers-broken", "candidate": "gateway-test",
                                                         "password": password, "public_keys": list(keys),
                                                         "duration": duration})
    check(status == 202, f"session created ({status})")
    for _ in range(600):
        _, view = api_json("GET", "/v1/sessions/" + session["id"])
        if view["state"] == "ready":
            return session["id"], session.get("password")
        if view["state"] == "failed":
            fail("session failed: " + str(view["failure"]))
        time.sleep(0.2)
    fail("session never became ready")


def ssh_options(identity=None):
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=20"]
    if identity:
        options += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes", "-i", identity]
    else:
        options += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]
    return options


def askpass_env(password):
    script = os.path.join(WORK, "askpass-" + re.sub(r"\W", "", password or "none"))
    with open(script, "w") as out:
        out.write(f"#!/bin/sh\necho '{password}'\n")
    os.chmod(script, 0o700)
    return dict(os.environ, SSH_ASKPASS=script, SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")


def ssh(user, command, identity=None, password=None, stdin=b"", extra=()):
    argv = ["ssh", *ssh_options(identity), *extra, "-p", str(SSH_PORT), f"{user}@127.0.0.1", command]
    env = askpass_env(password) if password else dict(os.environ)
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120, start_new_session=True)


class Terminal:
    """ssh -tt in a pseudo-terminal of a given size, as a person's terminal runs it."""

    def __init__(self, argv, env, rows=24, columns=80):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.execvpe(argv[0], argv, env)
        self.output = b""

    def send(self, text):
        os.write(self.fd, text.encode())

    def resize(self, rows, columns):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def read_until(self, pattern, timeout=30):
        deadline = time.time() + timeout
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        while time.time() < deadline:
            if regex.search(self.output):
                return True
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return bool(regex.search(self.output))
                if not data:
                    return bool(regex.search(self.output))
                self.output += data
        return bool(regex.search(self.output))

    def wait_exit(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.read_until("(?!x)x", 0.2)  # drain
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        return None

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def terminal(user, password=None, identity=None, rows=24, columns=80):
    argv = ["ssh", "-tt", *ssh_options(identity), "-p", str(SSH_PORT), f"{user}@127.0.0.1"]
    env = askpass_env(password) if password else dict(os.environ)
    env["TERM"] = "xterm"
    return Terminal(argv, env, rows, columns)


# --- the daemon --------------------------------------------------------------------------

SSH_PORT = free_port()
candidate_key, candidate_pub = keygen("candidate")
stranger_key, _ = keygen("stranger")
interviewer_key, interviewer_pub = keygen("interviewer")
config = write_config(WORK, SOURCE, SSH_PORT, f"""gateway:
  free_failures: 2
  max_failures: 5
  failure_delay: 1s
interviewers:
  - name: interviewer
    ssh_keys: ["{interviewer_pub}"]""")
daemon = start_daemon(test, BINARY, config, api)
sessions = []
try:
    session, password = start_session(keys=[candidate_pub])
    sessions.append(session)

    # --- logins --------------------------------------------------------------------------
    run = ssh(session, "echo out; echo err >&2; exit 7", identity=candidate_key)
    check(run.returncode == 7 and run.stdout == b"out\n" and run.stderr == b"err\n",
          f"key login runs a command with stdout, stderr and exit status apart ({run.returncode}, {run.stdout}, {run.stderr})")
    run = ssh(session, "hostname; id -un", password=password)
    check(run.returncode == 0 and run.stdout == b"main\nroot\n", f"password login lands on the entry host ({run.returncode}, {run.stdout}, {run.stderr})")
    run = ssh(session, "cat | tr a-z A-Z", identity=candidate_key, stdin=b"hello\n")
    check(run.stdout == b"HELLO\n", "stdin reaches the command and its end-of-file is passed on")
    # Piped into a terminal, every byte sent before the client's end-of-file runs, as with
    # OpenSSH's sshd, even while the first command still runs when the EOF comes (issue 14
    # reported this input lost).
    piped = subprocess.run(["ssh", "-tt", *ssh_options(candidate_key), "-p", str(SSH_PORT), f"{session}@127.0.0.1"],
                           input=b"sleep 1; echo piped-$((6*7)) > /tmp/piped\nexit\n", capture_output=True, timeout=120,
                           start_new_session=True)
    run = ssh(session, "cat /tmp/piped", identity=candidate_key)
    check(run.stdout == b"piped-42\n",
          f"input piped into ssh -tt runs before its end-of-file ({piped.returncode}, {run.stdout}, {piped.stdout[-200:]})")
    # ...and what it prints reaches the client: closing a TTY exec's stdin at the EOF made
    # Docker end its output, so the commands ran unseen.
    piped = subprocess.run(["ssh", "-tt", *ssh_options(candidate_key), "-p", str(SSH_PORT), f"{session}@127.0.0.1"],
                           input=b"echo seen-$((6*7)); head -c 300000 /dev/zero | wc -c\nexit\n", capture_output=True,
                           timeout=120, start_new_session=True)
    check(b"seen-42\r\n" in piped.stdout and b"300000\r\n" in piped.stdout and piped.returncode == 0,
          f"the output of input piped into ssh -tt reaches the client ({piped.returncode}, {piped.stdout[-200:]})")
    run = ssh(session, "true", identity=stranger_key)
    check(run.returncode == 255 and b"Permission denied" in run.stderr, "a key not given for the session is denied")
    run = ssh("nosuchsession", "true", identity=candidate_key)
    check(run.returncode == 255 and b"Permission denied" in run.stderr, "an unknown session is denied like a wrong key")
    run = ssh(session + "+nosuchhost", "true", identity=candidate_key)
    check(run.returncode == 255, "an unknown host of the session is denied")
    run = ssh(session + "+main", "hostname", identity=candidate_key)
    check(run.stdout == b"main\n", "<session>+<host> opens the named host")

    # --- forwarding is refused, the session itself goes on ---------------------------------------
    run = ssh(session, "echo agent=$SSH_AUTH_SOCK display=$DISPLAY", identity=candidate_key,
              extra=("-A", "-X", "-o", "ForwardX11Trusted=yes"))
    check(run.returncode == 0 and run.stdout == b"agent= display=\n",
          f"agent and X11 forwarding are refused, the command still runs ({run.returncode}, {run.stdout})")
    run = ssh(session, "true", identity=candidate_key, extra=("-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"))
    check(run.returncode == 255 and b"forwarding failed" in run.stderr,
          f"remote port forwarding is refused ({run.returncode}, {run.stderr[-200:]})")
    local_port = free_port()
    forward = subprocess.Popen(["ssh", "-o", "LogLevel=INFO", *ssh_options(candidate_key), "-N",
                                "-L", f"{local_port}:127.0.0.1:80",
                                "-p", str(SSH_PORT), f"{session}@127.0.0.1"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    reply = b"no connection"
    for _ in range(100):
        try:
            probe = socket.create_connection(("127.0.0.1", local_port), timeout=5)
        except OSError:
            time.sleep(0.1)
            continue
        with probe:
            try:
                probe.sendall(b"GET / HTTP/1.0\r\n\r\n")
                reply = probe.recv(100)
            except OSError:
                reply = b""  # reset: the client closed it when the gateway refused the channel
        break
    time.sleep(0.5)  # for the client to log the refusal
    forward.kill()
    forward_stderr = forward.communicate(timeout=10)[1]
    check(reply == b"" and b"open failed" in forward_stderr,
          f"local port forwarding opens no channel ({reply}, {forward_stderr[-200:]})")

    # --- bulk data: every byte, in order, both ways ------------------------------------------
    # Far more than the channel window and the gateway's backlog, so that flow control is
    # exercised (an earlier gateway lost and reordered output here).
    run = ssh(session, "seq 1 1500000", identity=candidate_key)
    expected = "".join(f"{i}\n" for i in range(1, 1500001)).encode()
    check(run.returncode == 0 and run.stdout == expected,
          f"10 MB of numbered lines arrive complete and in order ({len(run.stdout)} of {len(expected)} bytes)")
    run = ssh(session, "head -c 52428800 /dev/zero; seq 1 100000 >&2", identity=candidate_key)
    check(len(run.stdout) == 52428800 and run.stderr == "".join(f"{i}\n" for i in range(1, 100001)).encode(),
          f"50 MiB of stdout and 0.6 MB of stderr arrive whole ({len(run.stdout)}, {len(run.stderr)})")
    upload = os.urandom(20 * 1024 * 1024)
    run = ssh(session, "cat", identity=candidate_key, stdin=upload)
    check(run.returncode == 0 and run.stdout == upload,
          f"20 MiB through cat and back: stdin and stdout at once, unchanged ({len(run.stdout)} bytes)")
    run = ssh(session, "sha256sum", identity=candidate_key, stdin=upload)
    check(run.stdout.split(b" ")[0].decode() == hashlib.sha256(upload).hexdigest(),
          "20 MiB of stdin reach the process unchanged before its end-of-file")

    # --- a terminal whose size follows the window ------------------------------------------
    term = terminal(session, identity=candidate_key, rows=30, columns=100)
    check(term.read_until("Time left: "), "the banner shows the time left")
    check(b"Deploys fail" in term.output, "the banner shows the scenario's title")
    term.send("stty size\n")
    check(term.read_until(r"30 100"), "stty size reports the terminal's size")
    term.resize(40, 120)
    time.sleep(0.5)
    term.send("stty size; echo typed-$((6*7))\n")
    check(term.read_until(r"40 120"), "stty size follows a window change")
    check(term.read_until(r"typed-42"), "typed commands run in the shell")

    # --- two connections at once, and watching ----------------------------------------------
    watcher = terminal("watch+" + session, identity=interviewer_key)
    check(watcher.read_until("read-only"), "an interviewer's key opens watch+<session>")
    check(watcher.read_until("typed-42"), "the watcher sees the screen as it was when joining")
    term.send("echo live-$((40+2))-line\n")
    check(watcher.read_until("live-42-line"), "the watcher sees the candidate's output live")
    run = ssh("watch+" + session, "true", identity=candidate_key)
    check(run.returncode == 255, "a candidate's key does not open watch")
    both = [subprocess.Popen(["ssh", *ssh_options(candidate_key), "-p", str(SSH_PORT), f"{session}@127.0.0.1",
                              f"sleep 1; echo parallel-{i}"], stdout=subprocess.PIPE) for i in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in both]
    check(outputs == [b"parallel-0\n", b"parallel-1\n"], "two connections at once, beside an open terminal")

    # --- files both ways ---------------------------------------------------------------------
    payload = os.path.join(WORK, "payload.bin")
    with open(payload, "wb") as out:
        out.write(os.urandom(2 * 1024 * 1024 + 17))
    scp = ["scp", *ssh_options(candidate_key), "-P", str(SSH_PORT)]
    for mode, flags in (("sftp", []), ("legacy -O", ["-O"])):
        back = os.path.join(WORK, "back-" + mode[:4])
        up = subprocess.run([*scp, *flags, payload, f"{session}@127.0.0.1:/tmp/up.bin"], capture_output=True, timeout=120)
        down = subprocess.run([*scp, *flags, f"{session}@127.0.0.1:/tmp/up.bin", back], capture_output=True, timeout=120)
        check(up.returncode == 0 and down.returncode == 0 and open(back, "rb").read() == open(payload, "rb").read(),
              f"scp ({mode}) copies a file up and back unchanged {up.stderr + down.stderr}")
    batch = f"put {payload} /tmp/sftp.bin\nget /tmp/sftp.bin {WORK}/sftp-back.bin\n"
    sftp = subprocess.run(["sftp", "-b", "-", *ssh_options(candidate_key), "-P", str(SSH_PORT), f"{session}@127.0.0.1"],
                          input=batch.encode(), capture_output=True, timeout=120)
    check(sftp.returncode == 0 and open(f"{WORK}/sftp-back.bin", "rb").read() == open(payload, "rb").read(),
          f"sftp puts and gets a file {sftp.stderr}")

    # --- the recording -------------------------------------------------------------------------
    term.send("exit\n")
    check(term.wait_exit() == 0, "the terminal closes when the shell exits")
    term.close()
    watcher.close()
    status, cast = api("GET", f"/v1/sessions/{session}/recording")
    lines = cast.decode().splitlines()
    header = json.loads(lines[0])
    check(status == 200 and header["version"] == 2 and header["width"] == 100 and header["height"] == 30,
          "the recording is asciicast v2 with the terminal's first size")
    events = [json.loads(line) for line in lines[1:]]
    output = "".join(e[2] for e in events if e[1] == "o")
    typed = "".join(e[2] for e in events if e[1] == "i")
    check("typed-42" in output and "40 120" in output and "stty size" in typed,
          "the recording holds the typed command and its output")
    check(any(e[1] == "r" and e[2] == "120x40" for e in events), "the recording notes the resize")
    replayed = subprocess.run([BINARY, "session", "replay", session, "--no-wait", "--socket", os.path.join(WORK, "api.sock")],
                              capture_output=True, timeout=60)
    check(replayed.returncode == 0 and b"typed-42" in replayed.stdout, "breakfix session replay plays the recording")
    if shutil.which("asciinema"):
        cast_file = os.path.join(WORK, "recording.cast")
        open(cast_file, "wb").write(cast)
        # asciinema wants a terminal of its own, even to cat.
        player = Terminal(["asciinema", "cat", cast_file], dict(os.environ, TERM="xterm"))
        check(player.read_until("typed-42") and player.wait_exit() == 0, "asciinema reads the recording")
        player.close()

    # --- commands, sftp and scp outside terminals: recorded, in the report and in replay ----------
    recorded, _ = start_session(keys=[candidate_pub])
    sessions.append(recorded)
    run = ssh(recorded, "echo hi; exit 3", identity=candidate_key)
    check(run.returncode == 3 and run.stdout == b"hi\n", f"a command's exit status comes back ({run.returncode})")
    size = os.path.getsize(payload)
    batch = f"put {payload} /tmp/rec-sftp.bin\nget /tmp/rec-sftp.bin {WORK}/rec-sftp-back.bin\n"
    sftp = subprocess.run(["sftp", "-b", "-", *ssh_options(candidate_key), "-P", str(SSH_PORT), f"{recorded}@127.0.0.1"],
                          input=batch.encode(), capture_output=True, timeout=120)
    check(sftp.returncode == 0, f"sftp puts and gets a file in the recorded session {sftp.stderr}")
    for mode, flags, remote in (("sftp", [], "/tmp/rec-scp.bin"), ("legacy -O", ["-O"], "/tmp/rec-legacy.bin")):
        up = subprocess.run([*scp, *flags, payload, f"{recorded}@127.0.0.1:{remote}"], capture_output=True, timeout=120)
        down = subprocess.run([*scp, *flags, f"{recorded}@127.0.0.1:{remote}", os.path.join(WORK, "rec-back")],
                              capture_output=True, timeout=120)
        check(up.returncode == 0 and down.returncode == 0, f"scp ({mode}) up and back in the recorded session")
    status, _ = api("POST", f"/v1/sessions/{recorded}/end")
    check(status == 202, "the recorded session is ended")
    for _ in range(600):
        status, report_json = api("GET", f"/v1/sessions/{recorded}/report")
        if status == 200:
            break
        time.sleep(0.2)
    check(status == 200, f"the recorded session's report is written ({status})")
    report = json.loads(report_json)
    channels = report.get("channels", [])

    def operations(kind, op, path):
        return [(channel, o) for channel in channels if channel["type"] == kind
                for o in channel["operations"] if o["op"] == op and o["path"] == path]

    execs = [c for c in channels if c["type"] == "exec" and c["command"] == "echo hi; exit 3"]
    check(len(execs) == 1 and execs[0]["exit_status"] == 3 and execs[0]["bytes_out"] == 3
          and execs[0]["connection"]["from"] == "127.0.0.1" and execs[0]["started"] and execs[0]["ended"],
          f"the report lists the command with its exit status 3 ({execs})")
    for path in ("/tmp/rec-sftp.bin", "/tmp/rec-scp.bin"):
        ups, downs = operations("sftp", "upload", path), operations("sftp", "download", path)
        check(len(ups) == 1 and ups[0][1]["bytes"] == size and ups[0][1]["ok"] is True,
              f"the report lists the sftp upload of {path} with its size ({[o for _, o in ups]})")
        check(len(downs) == 1 and downs[0][1]["bytes"] == size and downs[0][1]["ok"] is True,
              f"the report lists the sftp download of {path} with its size ({[o for _, o in downs]})")
    ups = operations("scp", "upload", "/tmp/rec-legacy.bin")
    downs = operations("scp", "download", "/tmp/rec-legacy.bin")
    check(len(ups) == 1 and ups[0][1]["bytes"] == size and ups[0][0]["command"].endswith("-t /tmp/rec-legacy.bin")
          and ups[0][0]["exit_status"] == 0, f"the report lists scp -O's upload with its command and size ({[o for _, o in ups]})")
    check(len(downs) == 1 and downs[0][1]["bytes"] == size and "-f /tmp/rec-legacy.bin" in downs[0][0]["command"],
          f"the report lists scp -O's download with its command and size ({[o for _, o in downs]})")
    _, markdown = api("GET", f"/v1/sessions/{recorded}/report?format=md")
    markdown = markdown.decode()
    check("## Commands and file transfers" in markdown and "`echo hi; exit 3` | exit 3 |" in markdown
          and f"| upload | `/tmp/rec-sftp.bin`, {size} bytes | ok |" in markdown
          and f"| download | `/tmp/rec-sftp.bin`, {size} bytes | ok |" in markdown
          and f"| upload | `/tmp/rec-legacy.bin` (sent as `payload.bin`), {size} bytes | ok |" in markdown,
          "the Markdown report shows the command, its exit status and the transfers\n"
          + markdown[markdown.find("## Commands"):])
    socket_option = ["--socket", os.path.join(WORK, "api.sock")]
    # The interviewer's notes and rubric ratings, after grading: the report is written
    # again with them, on its timeline and in its Rubric, and the score does not move.
    noted = subprocess.run([BINARY, "session", "note", recorded, "Checked sudo's error first.", *socket_option],
                           capture_output=True, timeout=60)
    check(noted.returncode == 0 and b"noted at " in noted.stdout, f"session note writes a note ({noted.stdout + noted.stderr})")
    rated = subprocess.run([BINARY, "session", "rate", recorded, "method", "3", *socket_option], capture_output=True, timeout=60)
    check(rated.returncode == 0 and rated.stdout.startswith(b"method: 3 of 4, "), f"session rate rates ({rated.stdout + rated.stderr})")
    wrong = subprocess.run([BINARY, "session", "rate", recorded, "speed", "3", *socket_option], capture_output=True, timeout=60)
    check(wrong.returncode == 1 and b"(method, communication)" in wrong.stderr,
          f"an unknown criterion is refused, naming the rubric's ({wrong.returncode}, {wrong.stderr})")
    status, again = api("GET", f"/v1/sessions/{recorded}/report")
    again = json.loads(again)
    check(status == 200 and again["score"] == report["score"] and again["notes"][0]["text"] == "Checked sudo's error first."
          and again["rubric"][0]["rating"]["level"] == 3, f"the report carries the note and the rating ({again.get('rubric')})")
    _, markdown = api("GET", f"/v1/sessions/{recorded}/report?format=md")
    markdown = markdown.decode()
    check("note: Checked sudo's error first." in markdown and "| method | 3 of 4 |" in markdown,
          "the Markdown report shows the note on its timeline and the rating in its Rubric")
    listed = subprocess.run([BINARY, "session", "replay", recorded, "--list", *socket_option], capture_output=True, timeout=60)
    names = listed.stdout.decode().split()
    check(listed.returncode == 0 and names == [c["file"] for c in channels]
          and any(n.endswith(".exec.jsonl") for n in names) and any(n.endswith(".sftp.jsonl") for n in names)
          and any(n.endswith(".scp.jsonl") for n in names), f"replay --list lists the records ({names})")
    shown = subprocess.run([BINARY, "session", "replay", recorded, "--name", execs[0]["file"], *socket_option],
                           capture_output=True, timeout=60)
    check(shown.returncode == 0 and b"$ echo hi; exit 3\nhi\n# exit status 3" in shown.stdout,
          f"replay shows a command, its output and its exit status ({shown.stdout})")

    # --- ssh-audit: only modern algorithms --------------------------------------------------------
    audit = subprocess.run(["ssh-audit", "-n", "-p", str(SSH_PORT), "127.0.0.1"], capture_output=True, timeout=120)
    text = audit.stdout.decode()
    check("(kex) curve25519-sha256" in text, "ssh-audit reached the gateway")
    bad = [line for line in text.splitlines() if "[fail]" in line or line.startswith("(cve)")]
    check(not bad, f"ssh-audit reports no failure and no CVE {bad}")

    # --- warnings, the end of time, and afterwards -------------------------------------------------
    short, short_password = start_session(duration="65s", keys=[candidate_pub])
    sessions.append(short)
    term = terminal(short, identity=candidate_key)
    check(term.read_until("Time left: "), "a second session's terminal opens")
    check(term.read_until(r"breakfix: 1 minute left", timeout=40), "the one-minute warning appears in the terminal")
    # The interviewer gives a hint: every open terminal shows it, once.
    status, given = api_json("POST", f"/v1/sessions/{short}/hint", {})
    check(status == 200 and given["number"] == 1 and given["of"] >= 1, f"the interviewer gives the first hint ({status}, {given})")
    check(term.read_until(r"breakfix: hint 1 of \d+: ", timeout=30), "the hint appears in the candidate's terminal")
    status, refused = api_json("POST", f"/v1/sessions/{short}/hint", {"number": 1})
    check(status == 409 and "given already" in refused["error"], f"a hint is given once ({status}, {refused})")
    _, view = api_json("GET", f"/v1/sessions/{short}")
    check(view["hints"]["given"] == 1, f"the session counts the hints given ({view['hints']})")
    later = terminal(short, identity=candidate_key)
    check(later.read_until(r"Hints given so far:\s+hint 1 of \d+: ", timeout=30),
          "a terminal opened after the hint shows it in its banner")
    later.close()
    status, _ = api("POST", f"/v1/sessions/{short}/end")
    check(status == 202, "the interviewer ends the session")
    check(term.read_until("time is up", timeout=30), "the terminal shows the closing message")
    check(term.wait_exit(30) is not None, "the connection closes at the end")
    term.close()
    run = ssh(short, "true", identity=candidate_key)
    check(run.returncode != 0 and b"session is over" in run.stdout + run.stderr,
          f"after the end a login gets a clear refusal ({run.returncode}, {run.stdout + run.stderr})")
    # Two graded sessions of one scenario side by side, as CSV for calibration.
    for _ in range(600):
        if api("GET", f"/v1/sessions/{short}/report")[0] == 200:
            break
        time.sleep(0.2)
    compared = subprocess.run([BINARY, "report", "compare", recorded, short, "-o", "csv", *socket_option],
                              capture_output=True, timeout=60)
    rows = compared.stdout.decode().split("\r\n")
    check(compared.returncode == 0 and rows[0].startswith("session,candidate,variant,score,tampered,hints,notes,")
          and rows[0].endswith(",rubric: method,rubric: communication") and rows[1].startswith(recorded + ",")
          and rows[1].endswith(",3/4,-") and rows[2].startswith(short + ",") and rows[3] == "",
          f"report compare puts both sessions side by side as CSV ({compared.returncode}, {compared.stdout}, {compared.stderr})")

    # --- failed logins are rate-limited ------------------------------------------------------------
    limited, limited_password = start_session()
    sessions.append(limited)
    for attempt in range(5):
        ssh(limited, "true", password="wrong-password-" + str(attempt))
    run = ssh(limited, "echo in", password=limited_password)
    check(run.returncode == 255, "after 5 failures even the right password is refused (rate limit)")
    status, metrics = api("GET", "/metrics")
    failures = re.search(rb"breakfix_ssh_auth_failures_total (\d+)", metrics)
    check(failures and int(failures.group(1)) >= 6, "failed logins are counted in the metrics")
finally:
    for session in sessions:
        api("DELETE", "/v1/sessions/" + session)
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        code = -1
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", "label=breakfix.session"], capture_output=True).stdout
    mine = [s for s in sessions if s.encode() in subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True).stdout]
# Checked before the work dir goes: a failure prints the daemon's log (a sanitizer's report).
if code != 0:
    fail(f"the daemon exited {code} on SIGTERM")
if mine:
    fail(f"containers left behind for sessions {mine}")
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
