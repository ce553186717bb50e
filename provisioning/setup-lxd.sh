#!/usr/bin/env bash
# Prepares LXD for breakfix's LXD backend on a Debian 12 machine (as root): installs
# Debian's lxd (5.0.2), starts the daemon when none answers (no systemd on build machines
# and CI), and gives it the storage pool labs use ("breakfix"): btrfs on a loop file, so
# that a lab's root file system is a snapshot of the image's (0.35 s) instead of a copy of
# it (12 to 16 s on a directory pool, measured here); a directory pool where btrfs cannot
# be had. No network is made: labs have none unless their session makes one (a bridge of
# its own, which LXD will not make without dnsmasq, and which breakfix's iptables rules
# fence off: docs/runtime.md, "LXD session networks"). Idempotent.
#   LXD_POOL=breakfix      the pool's name (runtime.lxd_pool in the daemon's config)
#   LXD_POOL_SIZE=40GiB    the btrfs pool's loop file (sparse: it takes what labs write)
set -euo pipefail

pool=${LXD_POOL:-breakfix}
pool_size=${LXD_POOL_SIZE:-40GiB}
socket=${LXD_SOCKET:-/var/lib/lxd/unix.socket}
log() { printf '[setup-lxd] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-lxd.sh: run as root (it installs lxd and starts it)" >&2
  exit 1
fi

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]; }
packages=(lxd btrfs-progs dnsmasq-base iptables)
missing=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
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

# preseed DRIVER [CONFIG]: the pool, and the default profile's root disk on it. No bridge:
# `lxd init --auto` would make one, and on machines like this its search for a free subnet
# fails; breakfix makes its sessions' networks itself.
preseed() {
  lxd init --preseed <<EOF
storage_pools:
- name: $pool
  driver: $1
  config: {$2}
profiles:
- name: default
  devices:
    root:
      path: /
      pool: $pool
      type: disk
EOF
}
if lxc storage show "$pool" >/dev/null 2>&1; then
  driver=$(lxc storage show "$pool" | sed -n 's/^driver: //p')
  log "storage pool $pool present ($driver)"
  if [ "$driver" = dir ]; then
    log "note: on a dir pool each lab copies the image (12 to 16 s); with no lab on it, 'lxc profile device remove default root' and 'lxc storage delete $pool' let this script make a btrfs one"
  fi
elif grep -qw btrfs /proc/filesystems && preseed btrfs "size: $pool_size"; then
  log "created storage pool $pool (btrfs on a $pool_size loop file)"
else
  log "btrfs cannot be had here (kernel or loop devices): creating storage pool $pool as a directory pool"
  preseed dir ""
fi
