#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, builds with ASan and UBSan,
# builds the fuzzer with clang, and runs every test through ctest. Idempotent; build
# directories are reused, so a second run only rebuilds what changed.
#   FUZZ_SECONDS=60   how long the fuzz test runs
#   BUILD_ROOT=build  where the build directories go
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$(pwd)
build_root=${BUILD_ROOT:-build}
fuzz_seconds=${FUZZ_SECONDS:-60}
generator=(-G Ninja)

step() { printf '\n==> %s\n' "$*"; }

step "host: packages and the docker engine"
bash provisioning/setup-host.sh

# ccache (setup-host.sh installs it) keeps compiled objects across runs and clones on this
# machine: paths under the checkout are hashed relative to it, so a fresh clone elsewhere
# reuses what an earlier one compiled.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ccache-breakfix} CCACHE_BASEDIR=$source_dir
ccache --max-size=8G >/dev/null
generator+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

step "build: fuzzer (clang, libFuzzer + ASan + UBSan) in $build_root/fuzz"
CC=clang CXX=clang++ cmake -S . -B "$build_root/fuzz" "${generator[@]}" -DBREAKFIX_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_root/fuzz"

step "build: breakfix and its tests (g++, ASan + UBSan, warnings as errors) in $build_root/asan"
cmake -S . -B "$build_root/asan" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBREAKFIX_SANITIZE=ON -DBREAKFIX_WERROR=ON \
  -DBREAKFIX_FUZZER="$source_dir/$build_root/fuzz/scenario_loader_fuzzer" \
  -DBREAKFIX_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$build_root/asan"

step "lint: the shipped scenarios"
"$build_root/asan/breakfix" scenario lint scenarios

step "images: breakfix/base:bookworm (debootstrap on the first run) and the scenarios' own"
"$build_root/asan/breakfix" image base
"$build_root/asan/breakfix" image build scenarios

step "test: unit, integration (real Docker engine), schema and fuzz tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build_root/asan" --output-on-failure --parallel 2 --timeout 900
