#!/bin/bash
# Tests for bin/rotate-backups. Each test builds a directory in /tmp, gives the
# files distinct modification times and checks which files are left.
#   usage: bash tests/test-rotate-backups.sh

cd "$(dirname "$0")/.." || exit 2
prog=$PWD/bin/rotate-backups
pass=0 fail=0

# mk DIR NAME... : create the files, the first one newest, one hour apart
mk() {
	local dir=$1 t i=0
	shift
	t=$(date -d '2024-05-01 12:00' +%s)
	for name in "$@"; do
		touch -d "@$((t - i * 3600))" "$dir/$name"
		i=$((i + 1))
	done
}

# expect NAME DIR FILE... : DIR must hold exactly these files
expect() {
	local name=$1 dir=$2 want got
	shift 2
	want=$(printf '%s\n' "$@" | sort)
	got=$(ls -A "$dir" | sort)
	if [ "$want" == "$got" ]; then
		echo "PASS $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name"
		diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
		fail=$((fail + 1))
	fi
}

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

mkdir "$t/1"
mk "$t/1" d5.tar.gz d4.tar.gz d3.tar.gz d2.tar.gz d1.tar.gz
"$prog" -n 3 "$t/1"
expect "keeps the newest 3" "$t/1" d5.tar.gz d4.tar.gz d3.tar.gz

mkdir "$t/2"
mk "$t/2" b.tar.gz a.tar.gz
"$prog" -n 3 "$t/2"
expect "fewer archives than -n: nothing deleted" "$t/2" b.tar.gz a.tar.gz

mkdir "$t/3"
mk "$t/3" new.tar.gz notes.txt mid.tar.gz old.tar.gz.part old.tar.gz
"$prog" -n 2 "$t/3"
expect "only archives are deleted" "$t/3" new.tar.gz notes.txt mid.tar.gz old.tar.gz.part

mkdir "$t/4"
mk "$t/4" c.sql.gz b.sql.gz a.tar.gz a.sql.gz
"$prog" -n 2 -p '*.sql.gz' "$t/4"
expect "-p chooses the archives" "$t/4" c.sql.gz b.sql.gz a.tar.gz

mkdir "$t/5"
mk "$t/5" "pg 3.tar.gz" "pg 2.tar.gz" "pg 1.tar.gz"
"$prog" -n 2 "$t/5"
expect "names with spaces" "$t/5" "pg 3.tar.gz" "pg 2.tar.gz"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
