#!/usr/bin/env python3
"""The web console in a real headless browser (Debian's chromium and chromium-driver,
driven by Debian's python3-selenium), against a real daemon, real containers and the
OpenSSH client as the candidate.

Usage: console_test.py BREAKFIX_BINARY SOURCE_DIR [SCREENSHOT_DIR]

Signs in with an interviewer's token; starts a session from the sessions page and reads
the ssh command it shows; opens the session page, where the candidate's terminal is live:
a scripted candidate types over ssh and the page shows it; gives a hint, writes a note,
rates the rubric and ends the session from the page; reads the report page and plays the
recording there. Also: a wrong token is refused, the API refuses the console's cookie
without its CSRF token, a WebSocket from another origin is refused, and every page
carries the Content-Security-Policy. Saves a screenshot of each page in SCREENSHOT_DIR
(default: docs/) for the README. Exits 1 on the first failed check."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BINARY, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SHOTS = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else os.path.join(SOURCE, "docs")
WORK = tempfile.mkdtemp(prefix="breakfix-console-test-")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from daemon_test import Test, api_call, free_port, start_daemon, stop_daemon, wait_for_state, write_config  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as error:
    print(f"console_test: {error}; apt-get install python3-selenium chromium chromium-driver", file=sys.stderr)
    sys.exit(1)

test = Test("console_test", WORK)
fail, check = test.fail, test.check
TOKEN = "console-test-token-0123456789abcdef"

SCENARIO = """apiVersion: breakfix/v1
id: flag
title: The flag is down
kind: break-fix
difficulty: easy
description: The flag file is gone. Put it back.
duration: 30m
image: breakfix/base:bookworm
setup: touch /etc/flag
faults: [{name: lower the flag, run: "rm -f /etc/flag"}]
checks: [{name: the flag is up, run: "test -f /etc/flag"}]
solution: [{run: "touch /etc/flag"}]
hints:
  - text: Look for a file called flag in /etc.
rubric:
  - name: method
    description: How the candidate worked
    levels: [guessed, read first, tested a hypothesis]
"""


def api(method, path, body=None):
    status, data = api_call(os.path.join(WORK, "api.sock"), method, path, body)
    return status, json.loads(data) if data else None


def http(method, path, headers=None, data=None):
    request = urllib.request.Request(f"http://127.0.0.1:{API_PORT}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def shot(name):
    os.makedirs(SHOTS, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(os.path.join(SHOTS, name))


def wait(condition, what, seconds=60):
    try:
        return WebDriverWait(browser, seconds, poll_frequency=0.2).until(condition)
    except Exception:
        shot("console-failure.png")
        for entry in browser.get_log("browser"):
            print(f"console_test: browser: {entry['level']} {entry['message'][:300]}", file=sys.stderr)
        fail(f"{what}: not within {seconds} s (page: {browser.current_url}; "
             f"status: {browser.find_element(By.ID, 'status').text if browser.find_elements(By.ID, 'status') else '-'})")


library = os.path.join(WORK, "scenarios", "flag")
os.makedirs(library)
with open(os.path.join(library, "scenario.yaml"), "w") as out:
    out.write(SCENARIO)
SSH_PORT, API_PORT = free_port(), free_port()
key = os.path.join(WORK, "candidate")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
pub = open(key + ".pub").read().strip()
config = write_config(WORK, SOURCE, SSH_PORT, api_tcp=f"127.0.0.1:{API_PORT}", scenario_dirs=[os.path.dirname(library)],
                      extra=f"interviewers:\n  - name: alice\n    token: {TOKEN}\n")
daemon = start_daemon(test, BINARY, config, api)
options = webdriver.ChromeOptions()
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
             "--window-size=1366,900", f"--user-data-dir={WORK}/chromium"):
    options.add_argument(flag)
browser = None
candidate = None
session = None
try:
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    base = f"http://127.0.0.1:{API_PORT}"

    # --- headers and refusals, without the browser -----------------------------------------
    status, headers, _ = http("GET", "/ui/")
    check(status == 200 and "script-src 'self'" in headers.get("Content-Security-Policy", ""),
          "the console's page has a strict Content-Security-Policy")
    check(http("GET", "/ui/assets/xterm.js")[0] == 200, "xterm.js is served from the binary")
    status, headers, _ = http("GET", "/v1/sessions")
    check(status == 401, "the API refuses a request with neither token nor cookie")

    # --- sign in ------------------------------------------------------------------------------
    browser.get(base + "/")
    wait(ready.url_contains("/ui/login.html"), "an unsigned browser is sent to the sign-in page")
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(ready.visibility_of_element_located((By.ID, "failed")), "a wrong token is refused, and the page says so")
    shot("console-sign-in.png")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(ready.presence_of_element_located((By.ID, "start-form")), "the interviewer signs in and sees the sessions page")
    cookie = browser.get_cookie("breakfix_console")
    check(cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict",
          f"the session cookie is HttpOnly and SameSite=Strict ({cookie})")
    # The cookie alone does not let a change through: the CSRF token must come with it.
    cookie_header = {"Cookie": f"breakfix_console={cookie['value']}", "Content-Type": "application/json"}
    status, _, body = http("POST", "/v1/sessions", cookie_header, b'{"scenario":"flag","candidate":"csrf","password":true}')
    check(status == 403 and b"CSRF" in body, f"a change with the cookie and no CSRF token is refused ({status})")
    check(http("GET", "/v1/sessions", {"Cookie": f"breakfix_console={cookie['value']}"})[0] == 200,
          "a read with the cookie is allowed")

    # --- start a session ---------------------------------------------------------------------
    Select(browser.find_element(By.ID, "scenario")).select_by_value("flag")
    wait(lambda b: "Put it back" in b.find_element(By.ID, "scenario-about").text, "the picker describes the scenario")
    browser.find_element(By.ID, "candidate").send_keys("Ada Lovelace")
    browser.find_element(By.ID, "keys").send_keys(pub)
    browser.find_element(By.CSS_SELECTOR, "#start-form button[type=submit]").click()
    started = wait(ready.presence_of_element_located((By.CSS_SELECTOR, "#started input")), "the page shows what to send")
    command = started.get_attribute("value")
    check(command.startswith("ssh ") and f"-p {SSH_PORT}" in command, f"the ssh command is ready to copy ({command})")
    session = command.split()[-1].split("@")[0]
    pins = [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#started input")]
    check(any("ssh-ed25519" in pin for pin in pins), "the host-key pin is ready to copy")
    view = wait_for_state(api, session, ("ready", "failed"), 60)
    check(view["state"] == "ready", f"the session is ready ({view['state']})")
    wait(lambda b: "ready" in b.find_element(By.ID, "sessions").text, "the live list shows the session ready")
    shot("console-sessions.png")
    # Every control has a label a screen reader reads, and the keyboard reaches the form.
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')].filter(e => "
        "!(e.id && document.querySelector(`label[for='${e.id}']`)) && !e.getAttribute('aria-label')).map(e => e.outerHTML)")
    check(not unlabelled, f"every form control on the sessions page is labelled ({unlabelled})")
    browser.find_element(By.TAG_NAME, "body").click()
    reached = set()
    # The focused element is read in one script: the list is redrawn every 3 s, and an
    # element found first and read later may be gone by then.
    focused_name = "const e = document.activeElement; return e.id || e.textContent.slice(0, 30);"
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        reached.add(browser.execute_script(focused_name))
    check({"scenario", "candidate", "keys", "Start session"} <= reached,
          f"Tab reaches the picker, the name, the keys and the start button ({sorted(reached)})")
    # A keyboard user on a session's link keeps their place while the list refreshes.
    browser.execute_script("document.querySelector(`#sessions a[href='#/session/${arguments[0]}']`).focus()", session)
    time.sleep(4)
    kept = browser.execute_script("const e = document.activeElement; return e.tagName + ' ' + (e.getAttribute('href') || '');")
    check(kept == f"A #/session/{session}", f"focus on a session's link survives the list's refresh ({kept})")

    # --- the session page: a live terminal ---------------------------------------------------
    browser.get(f"{base}/ui/#/session/{session}")
    wait(ready.presence_of_element_located((By.CSS_SELECTOR, "#terminal .xterm")), "the session page opens a terminal")
    candidate = subprocess.Popen(["ssh", "-tt", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                  "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key,
                                  "-p", str(SSH_PORT), f"{session}@127.0.0.1"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    candidate.stdin.write(b"echo the-candidate-$((6*7))-types\n")
    candidate.stdin.flush()
    wait(lambda b: "the-candidate-42-types" in b.execute_script(
        "return document.querySelector('#terminal .xterm-rows') ? "
        "document.querySelector('#terminal .xterm-rows').textContent : ''"),
         "the candidate's typing appears live in the browser's terminal")
    shot("console-session.png")
    candidate.stdin.write(b"touch /etc/flag\n")
    candidate.stdin.flush()
    # A command without a terminal joins the page's exec log.
    subprocess.run(["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key, "-p", str(SSH_PORT),
                    f"{session}@127.0.0.1", "cat /etc/hostname"], capture_output=True, timeout=60)
    wait(lambda b: "cat /etc/hostname" in b.find_element(By.ID, "commands").text,
         "the candidate's command without a terminal shows in the exec log")
    # Another site's page cannot open the terminal's WebSocket with the cookie.
    # (A raw handshake: urllib would send "Connection: close".)
    def handshake(origin):
        with socket.create_connection(("127.0.0.1", API_PORT), timeout=10) as raw:
            raw.sendall((f"GET /v1/sessions/{session}/terminal HTTP/1.1\r\nHost: 127.0.0.1:{API_PORT}\r\n"
                         f"Cookie: breakfix_console={cookie['value']}\r\nOrigin: {origin}\r\n"
                         "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
            return raw.recv(200).split(b"\r\n")[0].decode()
    refused = handshake("http://evil.example")
    check(" 403 " in refused, f"a WebSocket opened from another site's page is refused ({refused})")
    # A site whose name only begins like this one's, or names it in its path, is another site.
    for origin in (f"http://127.0.0.1:{API_PORT}.evil.example", f"http://evil.example/?//127.0.0.1:{API_PORT}", "null"):
        refused = handshake(origin)
        check(" 403 " in refused, f"a WebSocket from {origin} is refused ({refused})")
    accepted = handshake(f"http://127.0.0.1:{API_PORT}")
    check(" 101 " in accepted, f"the console's own page opens it ({accepted})")

    def click(label):
        buttons = [b for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.text == label]
        if not buttons:
            fail(f"no button {label!r} on the page")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", buttons[0])
        buttons[0].click()

    click("Give the next hint")
    wait(lambda b: "hint 1 of 1 given" in b.find_element(By.ID, "status").text, "the interviewer gives a hint")
    browser.find_element(By.ID, "note").send_keys("Checked /etc before touching anything.")
    click("Add note")
    wait(lambda b: "noted at" in b.find_element(By.ID, "status").text, "the interviewer writes a note")
    Select(browser.find_element(By.ID, "rate-method")).select_by_value("3")
    click("Rate method")
    wait(lambda b: "method rated 3 of 3" in b.find_element(By.ID, "status").text, "the interviewer rates the rubric")
    click("Grade now")
    wait(lambda b: "1 of 1 checks pass now" in b.find_element(By.ID, "status").text, "grade now shows the repair")
    wait(lambda b: "hint" in b.find_element(By.ID, "timeline").text, "the timeline shows the hint")
    click("End session")
    browser.switch_to.alert.accept()
    wait(lambda b: "ended" in b.find_element(By.ID, "status").text, "the interviewer ends the session")
    candidate.stdin.close()
    candidate.wait(timeout=60)
    view = wait_for_state(api, session, ("graded", "removed"), 60)
    check(view["state"] in ("graded", "removed"), f"the session is graded ({view['state']})")

    # --- the report page ---------------------------------------------------------------------
    browser.get(f"{base}/ui/#/report/{session}")
    wait(lambda b: b.find_elements(By.ID, "score") and b.find_element(By.ID, "score").text == "100%",
         "the report page shows the score")
    text = browser.find_element(By.ID, "main").text
    check("method: 3 of 3" in text and "Checked /etc before touching anything." in text,
          "the report page shows the rubric and the note")
    check(browser.find_elements(By.CSS_SELECTOR, "#check-chart .row .bar"),
          "the chart shows when the check passed")
    check(browser.find_element(By.ID, "explanation").text.strip() != "", "the page explains the score")
    check("/etc/flag" in browser.find_element(By.ID, "changes").text, "the page lists the candidate's changes")
    wait(ready.presence_of_element_located((By.CSS_SELECTOR, "#recordings .ap-player")), "the recording has a player")
    start = wait(ready.element_to_be_clickable((By.CSS_SELECTOR, "#recordings .ap-overlay-start, #recordings .ap-play-button")),
                 "the player offers to play")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", start)
    start.click()
    wait(lambda b: "the-candidate-42-types" in b.execute_script(
        "return document.querySelector('#recordings .ap-term') ? document.querySelector('#recordings .ap-term').textContent : ''"),
         "the recording plays in the page and shows what the candidate typed", seconds=30)
    shot("console-report.png")
    # Printing leaves the buttons and the player out.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    hidden = browser.execute_script("return getComputedStyle(document.querySelector('header')).display")
    check(hidden == "none", "the print stylesheet leaves the header out")
finally:
    if candidate and candidate.poll() is None:
        candidate.kill()
    if browser:
        browser.quit()
    stop_daemon(daemon, [f"breakfix-{session}-main"] if session else [])
shutil.rmtree(WORK, ignore_errors=True)
test.summary()
