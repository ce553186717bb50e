#!/usr/bin/env bash
# Bash completion: sources `breakfix completion bash` and drives _breakfix as bash would
# (COMP_WORDS, COMP_CWORD), checking subcommands, options, option values, live session
# ids from a stand-in daemon, scenario ids, and that nothing is printed when no daemon
# answers.
#
# Usage: completion_test.sh BREAKFIX_BINARY SOURCE_DIR
set -uo pipefail

binary=${1:?usage: completion_test.sh BREAKFIX_BINARY SOURCE_DIR}
source_dir=${2:?usage: completion_test.sh BREAKFIX_BINARY SOURCE_DIR}
binary=$(realpath "$binary")
source_dir=$(realpath "$source_dir")

work=$(mktemp -d)
daemon_pid=""
failures=0
checks=0
cleanup() {
  if [[ -n $daemon_pid ]]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
  if ((failures == 0)); then rm -rf "$work"; else echo "completion_test: evidence kept in $work" >&2; fi
}
trap cleanup EXIT

fail() {
  echo "completion_test: FAIL: $*" >&2
  failures=$((failures + 1))
}

# `breakfix` on the PATH is the binary under test, as it would be once installed.
mkdir -p "$work/bin"
ln -s "$binary" "$work/bin/breakfix"
export PATH="$work/bin:$PATH"
unset BREAKFIX_URL BREAKFIX_TOKEN
export BREAKFIX_SOCKET="$work/no-daemon-here.sock"
export BREAKFIX_SCENARIO_DIRS="$source_dir/scenarios"

if ! breakfix completion bash >"$work/completion.bash" 2>"$work/generate.err"; then
  echo "completion_test: FAIL: 'breakfix completion bash' failed: $(cat "$work/generate.err")" >&2
  exit 1
fi
if ! bash -n "$work/completion.bash" 2>"$work/syntax.err"; then
  echo "completion_test: FAIL: the script is not valid bash: $(cat "$work/syntax.err")" >&2
  exit 1
fi
# shellcheck source=/dev/null
source "$work/completion.bash" >"$work/source.out" 2>&1
if [[ -s $work/source.out ]]; then fail "sourcing the script printed: $(cat "$work/source.out")"; fi
if [[ $(complete -p breakfix 2>/dev/null) != *"-F _breakfix"* ]]; then
  echo "completion_test: FAIL: the script does not register 'complete -F _breakfix breakfix'" >&2
  exit 1
fi

# Completes the last of the words given, as bash would with the cursor at its end.
# Leaves the candidates, sorted, one a line in $work/reply, and whatever _breakfix printed
# in $work/printed.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _breakfix >"$work/printed" 2>&1
  if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}" | sort >"$work/reply"; else : >"$work/reply"; fi
}

# expect_exactly "WORDS TYPED" "EXPECTED CANDIDATES" -- WORD...
expect_exactly() {
  local typed=$1 expected=$2
  shift 3
  checks=$((checks + 1))
  complete_words "$@"
  local got
  got=$(tr '\n' ' ' <"$work/reply" | sed 's/ $//')
  expected=$(tr ' ' '\n' <<<"$expected" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
  [[ $got == "$expected" ]] || fail "'$typed<TAB>' offers [$got], expected [$expected]"
  [[ -s $work/printed ]] && fail "'$typed<TAB>' printed: $(cat "$work/printed")"
  return 0
}

# expect_including "WORDS TYPED" "CANDIDATES THAT MUST BE AMONG THEM" -- WORD...
expect_including() {
  local typed=$1 expected=$2 word
  shift 3
  checks=$((checks + 1))
  complete_words "$@"
  for word in $expected; do
    grep -qxF -- "$word" "$work/reply" || fail "'$typed<TAB>' does not offer $word (offers: $(tr '\n' ' ' <"$work/reply"))"
  done
  [[ -s $work/printed ]] && fail "'$typed<TAB>' printed: $(cat "$work/printed")"
  return 0
}

# --- subcommands and options, from the command tree ---------------------------------------

expect_exactly "breakfix se" "serve session" -- breakfix se
expect_exactly "breakfix session " "start list show extend hint note rate end next grade report rm replay watch drive" -- breakfix session ""
expect_exactly "breakfix completion " "bash" -- breakfix completion ""
expect_exactly "breakfix session start --ca" "--candidate" -- breakfix session start --ca
expect_including "breakfix scenario lint --" "--output --help" -- breakfix scenario lint --
expect_including "breakfix session list --" "--all --socket --url --token --output --help" -- breakfix session list --
expect_including "breakfix serve --" "--config --check" -- breakfix serve --
# Options before a subcommand do not stop it from being found.
expect_exactly "breakfix session list --output json --a" "--all" -- breakfix session list --output json --a

# --- option values --------------------------------------------------------------------------

expect_exactly "breakfix session list -o " "table json" -- breakfix session list -o ""
expect_exactly "breakfix session list --output=" "table json" -- breakfix session list --output =
expect_exactly "breakfix session list --output=j" "json" -- breakfix session list --output = j
expect_exactly "breakfix scenario lint --output " "text json" -- breakfix scenario lint --output ""
expect_exactly "breakfix session report ID --format " "md json" -- breakfix session report abc --format ""
mkdir -p "$work/files"
touch "$work/files/candidate.pub" "$work/files/other.txt"
expect_exactly "breakfix session start --key .../cand" "$work/files/candidate.pub" -- \
  breakfix session start --key "$work/files/cand"
# --key takes one file; the next word is the scenario again (and `--key` may repeat).
expect_exactly "breakfix session start --key .../candidate.pub --key .../oth" "$work/files/other.txt" -- \
  breakfix session start --key "$work/files/candidate.pub" --key "$work/files/oth"
# Free text takes nothing from us: no file names for a duration.
expect_exactly "breakfix session start --duration " "" -- breakfix session start --duration ""

# --- session ids, when no daemon answers: nothing, and nothing printed ---------------------

expect_exactly "breakfix session show  (no daemon)" "" -- breakfix session show ""
expect_exactly "breakfix session rm k  (no daemon)" "" -- breakfix session rm k
expect_exactly "breakfix session show --url http://127.0.0.1:9 (no daemon)" "" -- \
  breakfix session show --url http : //127.0.0.1 : 9 ""

# --- session ids from a daemon ---------------------------------------------------------------

if ! command -v python3 >/dev/null; then
  fail "python3 is needed for the stand-in daemon"
  exit 1
fi
daemon_socket="$work/api.sock"
# A stand-in for `breakfix serve` on a unix socket: GET /v1/sessions answers two sessions,
# one of whose vars is called "id" (it must not be taken for a session id).
cat >"$work/fake_daemon.py" <<'PY'
import http.server, json, socketserver, sys

SESSIONS = [
    {"id": "k7mqa2xwpe", "scenario": "web-502", "state": "ready", "vars": {"id": "notasession"},
     "ssh": {"user": "k7mqa2xwpe", "port": 2222}},
    {"id": "b3cd4efgh2", "scenario": "disk-full", "state": "provisioning", "vars": {},
     "ssh": {"user": "b3cd4efgh2", "port": 2222}},
]

# A plan's session is offered too; its parts' sessions, nested deeper, are not (they are
# in SESSIONS when they exist).
PLANS = [
    {"id": "p2anid2345", "kind": "plan", "plan": "interview", "state": "ready",
     "parts": [{"name": "first", "session": {"id": "nestedpart", "vars": {}}}]},
]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == "/v1/sessions":
            status, body = 200, {"sessions": SESSIONS, "plans": PLANS}
        else:
            status, body = 404, {"error": "no such endpoint"}
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

Server(sys.argv[1], Handler).serve_forever()
PY
python3 "$work/fake_daemon.py" "$daemon_socket" 2>"$work/fake_daemon.err" &
daemon_pid=$!
for _ in $(seq 50); do [[ -S $daemon_socket ]] && break; sleep 0.1; done
if [[ ! -S $daemon_socket ]]; then
  fail "the stand-in daemon did not start: $(cat "$work/fake_daemon.err")"
  exit 1
fi

# The daemon named on the command line wins over $BREAKFIX_SOCKET (which answers nothing).
expect_exactly "breakfix session show --socket SOCK " "k7mqa2xwpe b3cd4efgh2 p2anid2345" -- \
  breakfix session show --socket "$daemon_socket" ""
expect_exactly "breakfix session rm --socket SOCK k7" "k7mqa2xwpe" -- breakfix session rm --socket "$daemon_socket" k7
expect_exactly "breakfix session extend --socket=SOCK b" "b3cd4efgh2" -- \
  breakfix session extend --socket = "$daemon_socket" b
for command in show extend hint note rate end next grade report rm replay watch; do
  BREAKFIX_SOCKET="$daemon_socket" expect_exactly "breakfix session $command  (\$BREAKFIX_SOCKET)" \
    "k7mqa2xwpe b3cd4efgh2 p2anid2345" -- breakfix session "$command" ""
done
BREAKFIX_SOCKET="$daemon_socket" expect_exactly "breakfix report compare  (\$BREAKFIX_SOCKET)" \
  "k7mqa2xwpe b3cd4efgh2 p2anid2345" -- breakfix report compare ""
# Only the first argument is an id: extend's second is a duration.
BREAKFIX_SOCKET="$daemon_socket" expect_exactly "breakfix session extend k7mqa2xwpe " "" -- \
  breakfix session extend k7mqa2xwpe ""

# --- scenario ids ----------------------------------------------------------------------------

expected_scenarios=$(breakfix scenario list -o json 2>/dev/null |
  python3 -c 'import json, sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))' 2>/dev/null)
if [[ -z $expected_scenarios ]]; then
  fail "no scenarios found in $BREAKFIX_SCENARIO_DIRS to complete"
else
  expect_exactly "breakfix session start " "$expected_scenarios" -- breakfix session start ""
  expect_exactly "breakfix session start --candidate Ada " "$expected_scenarios" -- \
    breakfix session start --candidate Ada ""
  first=${expected_scenarios%% *}
  expect_including "breakfix session start ${first:0:3}" "$first" -- breakfix session start "${first:0:3}"
fi
BREAKFIX_SCENARIO_DIRS="$work/none" expect_exactly "breakfix session start  (no scenarios)" "" -- \
  breakfix session start ""

if ((failures)); then
  echo "completion_test: $failures of $checks checks failed" >&2
  exit 1
fi
echo "completion_test: all $checks checks passed"
