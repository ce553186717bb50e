#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build, test and run breakfix: installs the
# Debian packages it needs and starts the Docker engine when none is running.
# Idempotent: a second run finds everything in place and returns in a second or two.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config git ccache
  # libraries (Debian 12 packages; the web console's two browser libraries come from the
  # npm registry at build time, pinned by orchestrator/web/package-lock.json: npm is
  # installed below unless one is on the PATH)
  libssh-dev libboost-dev libboost-filesystem-dev libyaml-cpp-dev libspdlog-dev
  libsqlite3-dev nlohmann-json3-dev libcli11-dev libarchive-dev doctest-dev libdtl-dev
  prometheus-cpp-dev
  # the fuzzer needs clang's libFuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # runtime: the container engine, the base-image tooling, OpenSSL for hashing
  libssl-dev iproute2
  docker.io debootstrap
  # the grader's toolbox in every lab (docs/security.md): static bash and busybox
  bash-static busybox-static
  # tools the tests drive for real
  openssh-client ssh-audit curl python3 python3-yaml python3-jsonschema python3-paramiko
  # the web console's tests, in a real headless browser
  chromium chromium-driver python3-selenium
)

log() { printf '[setup-host] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh: run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done
# Debian's npm, unless an npm is there already: a Node.js from elsewhere (NodeSource's
# nodejs package) brings its own npm and conflicts with Debian's.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "all ${#PACKAGES[@]} packages present"
fi

# The Docker engine: use the one running (DOCKER_HOST or the default socket), else
# start Debian's dockerd in the background (no systemd on build machines and CI).
socket=/var/run/docker.sock
if [[ "${DOCKER_HOST:-}" == unix://* ]]; then socket=${DOCKER_HOST#unix://}; fi
engine_answers() { curl -fsS --max-time 2 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1; }
if engine_answers; then
  log "docker engine answers on $socket"
else
  log "starting dockerd (log: /var/log/breakfix-dockerd.log)"
  nohup dockerd >/var/log/breakfix-dockerd.log 2>&1 &
  for _ in $(seq 60); do
    engine_answers && break
    sleep 0.5
  done
  if ! engine_answers; then
    echo "setup-host.sh: dockerd did not answer on $socket within 30 s; see /var/log/breakfix-dockerd.log" >&2
    tail -n 20 /var/log/breakfix-dockerd.log >&2 || true
    exit 1
  fi
  log "docker engine ready on $socket"
fi
