#!/usr/bin/env bash
# failed_tails.sh BUILD_DIR [LINES]: the last LINES (60) lines each failed test printed,
# read from CTest's LastTest.log. tests/run.sh prints them after a failing ctest: CI keeps
# only the start and the end of a long log, and a failed test's own output sits in the
# middle, among 380 others, where it was cut (a scenario test failure was unreadable).
set -uo pipefail
log=$1/Testing/Temporary/LastTest.log
lines=${2:-60}
[[ -r $log ]] || { echo "failed_tails.sh: no $log" >&2; exit 0; }
# A test's record: "N/M Testing: NAME", "Output:", a rule, its output, "<end of output>",
# then "Test Passed." or "Test Failed." (or another status) some lines further down.
awk -v keep="$lines" '
  /^[0-9]+\/[0-9]+ Testing: / { name = substr($0, index($0, ": ") + 2); n = 0; inout = 0; next }
  /^Output:$/ { inout = 1; getline; next }
  /^<end of output>$/ { inout = 0; next }
  inout { out[n++] = $0; next }
  /^Test (Passed|Failed|Not Run)|^Test .*\.$/ && name != "" {
    if ($0 != "Test Passed.") {
      printf "\n==> the end of the output of %s (%s)\n", name, $0
      for (i = (n > keep ? n - keep : 0); i < n; i++) print out[i]
    }
    name = ""
  }' "$log"
