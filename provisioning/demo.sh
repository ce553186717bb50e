#!/usr/bin/env bash
# The README's first command: the whole interviewer flow on a fresh Debian 12 machine.
# Installs what breakfix needs, builds it, builds the offline base image and the demo
# scenario's images, starts the daemon unless one already answers, starts a session of a
# shipped scenario and prints what to send the candidate. Idempotent.
#   SCENARIO=web-502   which scenario the demo session runs
#   CANDIDATE=demo     the candidate's name in the session
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${SCENARIO:-web-502}
candidate=${CANDIDATE:-demo}
breakfix=build/release/breakfix
socket=/run/breakfix/api.sock
config=/etc/breakfix/config.yaml
log=/var/log/breakfix.log

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

step "host: packages and the docker engine"
bash provisioning/setup-host.sh

step "build: breakfix in build/release"
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ccache-breakfix} CCACHE_BASEDIR=$(pwd)
# A unity build, as tests/run.sh does: a new machine compiles the daemon in far less time.
# -g1 (line tables, enough for a backtrace) instead of -g: the daemon's largest unity batch
# compiles in 57 s instead of 85 s.
cmake -S . -B build/release -G Ninja -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build/release --target breakfix

step "images: breakfix/base:bookworm (debootstrap on the first run) and $scenario's own"
"$breakfix" image base
# Only the demo's scenario: any other builds when a session of it first starts.
"$breakfix" image build "scenarios/$scenario"

if "$breakfix" session list --socket "$socket" >/dev/null 2>&1; then
  step "daemon: already running on $socket"
else
  if [[ ! -e $config ]]; then
    step "daemon: writing $config (see docs/config.md)"
    mkdir -p "$(dirname "$config")"
    cat >"$config" <<CONFIG
# Written by provisioning/demo.sh; every key is documented in docs/config.md.
listen:
  api_socket: $socket
  ssh: 0.0.0.0:2222
  ssh_public_host: localhost
data_dir: /var/lib/breakfix
scenario_dirs: [$(pwd)/scenarios]
CONFIG
  fi
  step "daemon: starting breakfix serve (log: $log)"
  "$breakfix" serve --config "$config" --check >&2
  nohup "$breakfix" serve --config "$config" >>"$log" 2>&1 &
  for _ in $(seq 1 100); do
    "$breakfix" session list --socket "$socket" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$breakfix" session list --socket "$socket" >/dev/null || { tail -20 "$log" >&2; exit 1; }
fi

step "session: $scenario for candidate '$candidate'"
"$breakfix" session start "$scenario" --candidate "$candidate" --password --socket "$socket"
cat <<NEXT

Follow it with:  $breakfix session list      (show, extend, end, grade, report, rm: docs/cli.md)
Stop the daemon: kill \$(pidof breakfix)      (sessions keep running; the next start adopts them)
NEXT
