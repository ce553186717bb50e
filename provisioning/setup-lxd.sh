#!/usr/bin/env bash
# Prepares LXD for breakfix's LXD backend on a Debian 12 machine (as root): installs
# Debian's lxd (5.0.2), starts the daemon when none answers (no systemd on build machines
# and CI), and gives it the storage pool labs use ("breakfix", a directory pool). No
# network is made: labs have none unless their session makes one. Idempotent.
#   LXD_POOL=breakfix   the pool's name (runtime.lxd_pool in the daemon's config)
set -euo pipefail

pool=${LXD_POOL:-breakfix}
socket=${LXD_SOCKET:-/var/lib/lxd/unix.socket}
log() { printf '[setup-lxd] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-lxd.sh: run as root (it installs lxd and starts it)" >&2
  exit 1
fi

if [ "$(dpkg-query -W -f='${db:Status-Status}' lxd 2>/dev/null || true)" != installed ]; then
  log "installing lxd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends lxd
fi

lxd_answers() { curl -fsS --max-time 2 --unix-socket "$socket" http://lxd/1.0 >/dev/null 2>&1; }
if lxd_answers; then
  log "LXD answers on $socket"
else
  log "starting lxd (log: /var/log/breakfix-lxd.log)"
  # --group root: only root reaches the socket (Debian's lxd group is for a desktop user).
  nohup lxd --group root --logfile /var/log/breakfix-lxd.log >/dev/null 2>&1 &
  if ! timeout 60 lxd waitready; then
    echo "setup-lxd.sh: lxd did not answer within 60 s; see /var/log/breakfix-lxd.log" >&2
    tail -n 20 /var/log/breakfix-lxd.log >&2 || true
    exit 1
  fi
  log "LXD ready on $socket"
fi

if lxc storage show "$pool" >/dev/null 2>&1; then
  log "storage pool $pool present"
else
  log "creating storage pool $pool (dir) and the default profile's root disk"
  # No bridge: `lxd init --auto` would make one, and on machines like this its search for
  # a free subnet fails; breakfix makes its sessions' networks itself.
  lxd init --preseed <<EOF
storage_pools:
- name: $pool
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: $pool
      type: disk
EOF
fi
