#!/bin/bash
# Regression tests for wordfreq: on every input it must print exactly what the
# shell pipeline it replaced prints.
#
#   usage: tests/run-tests.sh [PROGRAM]     (default ./wordfreq)

prog=${1:-./wordfreq}
cd "$(dirname "$0")/.." || exit 2
export LC_ALL=C

reference() {
	tr -cs 'A-Za-z0-9' '\n' | tr 'A-Z' 'a-z' | sed '/^$/d' | sort | uniq -c | sort -k1,1nr -k2
}

pass=0 fail=0
check() {               # check NAME INPUT-FILE [OPTIONS...]
	local name=$1 input=$2 got want
	shift 2
	got=$("$prog" "$@" < "$input")
	want=$(reference < "$input")
	if [ "$#" -gt 0 ]; then want=$(head -n "${2}" <<<"$want"); fi
	if [ "$got" == "$want" ]; then
		echo "PASS $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name"
		diff <(echo "$want") <(echo "$got") | head -20 | sed 's/^/    /'
		fail=$((fail + 1))
	fi
}

check "empty input"              tests/empty.txt
check "short text"               tests/short.txt
check "mixed case, punctuation"  tests/case.txt
check "no newline at the end"    tests/no-newline.txt
check "top 5"                    tests/short.txt -n 5
check "GPL-3 (about 35 KB)"      /usr/share/common-licenses/GPL-3

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
