#!/usr/bin/env bash
# A real LXD cluster on this one machine, for the clustering test (docs/runtime.md,
# "Clustering"). Each member is Debian's lxd in a network namespace and a mount namespace
# of its own, with its own /var/lib/lxd (a directory below $root bound over it), so each
# sees what a member on a machine of its own would: its own storage pool at the usual
# place, its own bridges and firewall; they share the kernel, the process table and the
# host's /proc. The members reach each other over a bridge in a namespace of its own.
#
#   lxd_cluster.sh up ROOT N      make members m1..mN (N >= 2); prints nothing else on success
#   lxd_cluster.sh stop ROOT NAME stop one member's daemon (a member that goes away)
#   lxd_cluster.sh start ROOT NAME start a stopped member's daemon again (it comes back)
#   lxd_cluster.sh down ROOT      stop every member and remove all of it (idempotent)
#
# The first member's socket is ROOT/m1/unix.socket. The main LXD (/var/lib/lxd) is not
# touched. Needs root, lxd, btrfs-progs and iproute2 (setup-lxd.sh).
set -euo pipefail

command=${1:?usage: lxd_cluster.sh up|stop|down ROOT [N|NAME]}
root=${2:?usage: lxd_cluster.sh up|stop|down ROOT [N|NAME]}
# The namespaces' names are derived from ROOT's, so two clusters (two test runs) never
# share one.
tag=$(printf '%s' "$root" | sha256sum | cut -c1-6)
lan=bfc$tag
log() { printf '[lxd-cluster] %s\n' "$*" >&2; }

address_of() { echo "10.251.${2:-0}.$((10 + ${1#m}))"; }

member_pid() { cat "$root/$1/lxd.pid" 2>/dev/null || true; }

stop_member() {
  local pid
  pid=$(member_pid "$1")
  [ -n "$pid" ] || return 0
  # SIGKILL, not `lxd shutdown`: a member that goes away does not stop its instances
  # first. Its instances' processes die with it below (down) or stay orphaned (stop).
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$root/$1/lxd.pid"
}

# kill_instances: every process of the members' instances. An instance's processes are in
# cgroups named after it (lxc.payload.NAME), whatever became of its member's daemon.
kill_instances() {
  local name procs
  for dir in "$root"/m*/lxd/containers/*; do
    [ -e "$dir" ] || continue
    name=$(basename "$dir")
    for procs in /sys/fs/cgroup/*/lxc.payload."$name"/cgroup.procs /sys/fs/cgroup/lxc.payload."$name"/cgroup.procs; do
      [ -f "$procs" ] || continue
      xargs -r kill -9 < "$procs" 2>/dev/null || true
    done
  done
}

down() {
  [ -d "$root" ] || return 0
  local member
  # The instances first, through the cluster while it answers; then whatever is left.
  if curl -fsS --max-time 2 --unix-socket "$root/m1/lxd/unix.socket" http://lxd/1.0 >/dev/null 2>&1; then
    for name in $(LXD_DIR=$root/m1/lxd timeout 60 lxc list --format csv -c n 2>/dev/null); do
      LXD_DIR=$root/m1/lxd timeout 30 lxc delete --force "$name" >/dev/null 2>&1 || true
    done
  fi
  kill_instances
  for dir in "$root"/m*; do
    [ -d "$dir" ] || continue
    member=$(basename "$dir")
    stop_member "$member"
    # The member's instances: their monitors run `[lxc monitor] /var/lib/lxd/containers`
    # in the member's mount namespace; their init processes are children of those.
    for ns in $(ip netns list 2>/dev/null | awk -v m="$lan-$member" '$1 == m {print $1}'); do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns delete "$ns" 2>/dev/null || true
    done
  done
  # The members' instances' own processes are in namespaces of their own; they die with
  # their monitors' parents gone only when killed: find them by the member's directory.
  for pid in $(pgrep -f "$root/" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns delete "$lan" 2>/dev/null || true
  # Loop devices of the members' btrfs pools.
  for loop in $(losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v r="$root/" 'index($2, r) == 1 {print $1}'); do
    losetup -d "$loop" 2>/dev/null || true
  done
  # Mounts left below ROOT (the members' mount namespaces are gone with their processes).
  { grep -o " $root/[^ ]*" /proc/self/mounts 2>/dev/null || true; } | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  rm -rf "$root" 2>/dev/null || { sleep 1; rm -rf "$root"; }
}

# run_lxd NAME: the member's lxd in its namespaces (made by start_member), once it answers.
run_lxd() {
  local name=$1 dir=$root/$1 ns=$lan-$1
  # A mount namespace of the member's own: its /var/lib/lxd and /var/lib/breakfix, and a
  # /sys of its network namespace (LXD reads its interfaces there) with the host's cgroup
  # hierarchies kept below it (`ip netns exec` would mount a /sys without them, and no
  # instance starts).
  mkdir -p "$dir/cgroup" "$dir/breakfix" /var/lib/breakfix
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private sh -c '
    set -e
    mount --rbind /sys/fs/cgroup "$4"
    mount -t sysfs sysfs /sys
    mount --rbind "$4" /sys/fs/cgroup
    umount -l "$4"
    mount --bind "$1" /var/lib/lxd
    mount --bind "$5" /var/lib/breakfix
    echo $$ > "$2"
    exec lxd --group root --logfile "$3"' \
    member "$dir/lxd" "$dir/lxd.pid" "$dir/lxd.log" "$dir/cgroup" "$dir/breakfix" >/dev/null 2>&1 &
  local socket=$dir/lxd/unix.socket
  for _ in $(seq 1 120); do
    curl -fsS --max-time 2 --unix-socket "$socket" http://lxd/1.0 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "$name did not answer; its log:"
  tail -n 20 "$dir/lxd.log" >&2
  exit 1
}

# start_member NAME PRESEED: the member's namespaces, its lxd, then its preseed.
start_member() {
  local name=$1 preseed=$2 dir=$root/$1 ns=$lan-$1 address
  address=$(address_of "$name")
  mkdir -p "$dir/lxd"
  chmod 711 "$dir/lxd"
  ip netns add "$ns"
  ip link add "v$tag${name#m}" type veth peer name eth0 netns "$ns"
  ip link set "v$tag${name#m}" netns "$lan"
  ip -n "$lan" link set "v$tag${name#m}" master br0 up
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  run_lxd "$name"
  # A join right after the first member enabled clustering can meet its listener still
  # serving the certificate from before ("fingerprint mismatch"): try again. The client
  # checks the certificate itself, so it runs in the member's network namespace.
  local attempt
  for attempt in 1 2 3 4 5 6; do
    printf '%s\n' "$preseed" | ip netns exec "$ns" env LXD_DIR="$dir/lxd" lxd init --preseed && return 0
    log "$name: preseed failed (attempt $attempt); again in 2 s"
    sleep 2
  done
  exit 1
}

up() {
  local count=${1:?N}
  down
  mkdir -p "$root"
  ip netns add "$lan"
  ip -n "$lan" link add br0 type bridge
  ip -n "$lan" link set br0 up
  ip -n "$lan" link set lo up
  local first
  first=$(address_of m1)
  log "m1 at $first (first member)"
  start_member m1 "config:
  core.https_address: $first:8443
  cluster.https_address: $first:8443
storage_pools:
- name: labs
  driver: btrfs
  config:
    size: 8GiB
profiles:
- name: default
  devices:
    root:
      path: /
      pool: labs
      type: disk
cluster:
  server_name: m1
  enabled: true"
  for i in $(seq 2 "$count"); do
    local name=m$i address token
    address=$(address_of "$name")
    token=$(LXD_DIR=$root/m1/lxd lxc cluster add "$name" --quiet)
    log "$name at $address (joins)"
    start_member "$name" "cluster:
  enabled: true
  server_name: $name
  server_address: $address:8443
  cluster_token: $token
  member_config:
  - entity: storage-pool
    name: labs
    key: size
    value: 8GiB"
  done
  # A member that goes away is told offline after this many seconds without a heartbeat
  # (LXD's least; 20 by default).
  LXD_DIR=$root/m1/lxd lxc config set cluster.offline_threshold 11
  LXD_DIR=$root/m1/lxd lxc cluster list --format csv >&2
}

case $command in
  up) up "${3:?N}" ;;
  stop) stop_member "${3:?NAME}" ;;
  start) run_lxd "${3:?NAME}" ;;
  down) down ;;
  *) echo "lxd_cluster.sh: unknown command $command" >&2; exit 2 ;;
esac
