#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, builds with ASan and UBSan,
# builds the images meanwhile, builds the fuzzer with clang, runs every test through ctest,
# then runs the unit tier and the gateway test again on a ThreadSanitizer build
# (docs/development.md). Idempotent; build directories are reused, so a second run only
# rebuilds what changed.
#   FUZZ_SECONDS=30   how long the fuzz test runs (a minute of one core was a minute more of CI)
#   BUILD_ROOT=build  where the build directories go
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$(pwd)
build_root=${BUILD_ROOT:-build}
fuzz_seconds=${FUZZ_SECONDS:-30}
generator=(-G Ninja)

# wait_for PID LOG WHAT: a background job's end; on failure the tail of its log.
wait_for() {
  if ! wait "$1"; then
    tail -n 60 "$2" >&2
    echo "tests/run.sh: $3 failed; the whole log: $2" >&2
    exit 1
  fi
}
# in_background LOG COMMAND...: COMMAND in a process group of its own (setsid), so that
# stop_background can end it with everything it started (breakfix, ninja, compilers).
in_background() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 &
}
stop_background() { kill -- "-$1" 2>/dev/null || true; }
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "host: packages and the docker engine"
bash provisioning/setup-host.sh
step "host: LXD, for the runtime suite's second backend"
bash provisioning/setup-lxd.sh

# ccache (setup-host.sh installs it) keeps compiled objects across runs and clones on this
# machine: paths under the checkout are hashed relative to it, so a fresh clone elsewhere
# reuses what an earlier one compiled.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ccache-breakfix} CCACHE_BASEDIR=$source_dir
ccache --max-size=8G >/dev/null
generator+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

asan=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBREAKFIX_SANITIZE=ON -DBREAKFIX_WERROR=ON -DBREAKFIX_BENCH=OFF)
# One translation unit per batch of 8 sources: headers (Boost, CLI11, JSON) are parsed and
# their templates compiled once a batch instead of once a file (a clean ASan build: 425 s
# instead of 623 s here). tests/dev.sh keeps one unit a file for quick incremental builds.
unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8)

step "build: breakfix (g++, ASan + UBSan, warnings as errors) in $build_root/asan"
cmake -S . -B "$build_root/asan" "${generator[@]}" "${asan[@]}" "${unity[@]}" \
  -DBREAKFIX_FUZZER="$source_dir/$build_root/fuzz/scenario_loader_fuzzer" \
  -DBREAKFIX_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$build_root/asan" --target breakfix
breakfix=$build_root/asan/breakfix

# The images take minutes of network and disk, the tests minutes of CPU: build them side by
# side. The image log is printed if that build fails.
images_log=$build_root/images.log
step "images: breakfix/base:bookworm (Docker and LXD) and the scenarios' own, in the background (log: $images_log)"
in_background "$images_log" bash -c '"$0" image base && "$0" image base --backend lxd && "$0" image build scenarios' "$breakfix"
images_pid=$!
trap 'stop_background "$images_pid"' EXIT

step "build: the tests in $build_root/asan"
cmake --build "$build_root/asan"

step "build: fuzzer (clang, libFuzzer + ASan + UBSan) in $build_root/fuzz"
CC=clang CXX=clang++ cmake -S . -B "$build_root/fuzz" "${generator[@]}" -DBREAKFIX_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_root/fuzz"

step "lint: the shipped scenarios"
"$breakfix" scenario lint scenarios

step "images: waiting for the background build"
wait_for "$images_pid" "$images_log" "building the images"
trap - EXIT
tail -n 3 "$images_log"

# The ThreadSanitizer build compiles, at low priority, while the tests below run: much of
# their time is spent waiting on the Docker engine (docs/development.md). With clang: at
# -O0 it compiled the whole TSan build in 153 s here, where g++ 12 took about 660 s of the
# same two cores; the product and the ASan build stay on g++.
tsan_log=$build_root/tsan-build.log
step "build: breakfix and the unit tests with ThreadSanitizer (clang) in $build_root/tsan, in the background (log: $tsan_log)"
CC=clang CXX=clang++ cmake -S . -B "$build_root/tsan" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBREAKFIX_TSAN=ON \
  -DBREAKFIX_WERROR=ON -DBREAKFIX_BENCH=OFF "${unity[@]}" >/dev/null
in_background "$tsan_log" nice -n 10 cmake --build "$build_root/tsan" --target breakfix breakfix_unit_tests
tsan_pid=$!
trap 'stop_background "$tsan_pid"' EXIT

step "test: unit, integration (real Docker engine and LXD), schema and fuzz tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build_root/asan" --output-on-failure --parallel 2 --timeout 900 ||
  { bash tests/failed_tails.sh "$build_root/asan"; exit 8; }

# The gateway serves each connection on its own thread and shares the watch screens, the
# notices and its counters between them: ThreadSanitizer checks that sharing, on the unit
# tier and on the gateway test with the real OpenSSH client (labelled tsan).
step "build: waiting for the ThreadSanitizer build"
wait_for "$tsan_pid" "$tsan_log" "the ThreadSanitizer build"
trap - EXIT

step "test: the unit tier and the gateway test under ThreadSanitizer"
unset ASAN_OPTIONS UBSAN_OPTIONS
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ctest --test-dir "$build_root/tsan" -L 'unit|tsan' --output-on-failure --parallel 2 --timeout 900 ||
  { bash tests/failed_tails.sh "$build_root/tsan"; exit 8; }
step "done"
