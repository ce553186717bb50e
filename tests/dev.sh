#!/usr/bin/env bash
# The developer's loop (README): an incremental build of everything in build/dev and the
# unit tier (ctest -L unit: no Docker, network or root). Needs the packages that
# provisioning/setup-host.sh installs; run that once first.
#   BUILD_DIR=build/dev   where the build goes
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build/dev}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ccache-breakfix} CCACHE_BASEDIR=$(pwd)
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [[ ! -f $build_dir/build.ninja ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBREAKFIX_WERROR=ON "${launcher[@]}" >/dev/null
fi
cmake --build "$build_dir"
ctest --test-dir "$build_dir" -L unit --output-on-failure --parallel "$(nproc)"
