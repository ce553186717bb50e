# Shell helpers for every scenario of the library: a scenario names this file under
# `lib: [lab.sh]`, and its setup, faults, checks and solution may then call them.

# keep_mtime FILE COMMAND...: runs COMMAND, then gives FILE back the modification time
# it had before, so that `ls -lt` does not point at what a fault changed.
keep_mtime() {
  local file=$1 stamp
  shift
  stamp=$(stat -c %y "$file")
  "$@"
  touch -h -d "$stamp" "$file"
}

# blend_in DIR...: every file and directory under DIR is marked read now (atime), which
# sets every change time (ctime) to now and leaves modification times alone. A fault's
# change time can be neither set nor restored; after this, `find DIR -cmin -60` lists
# everything, not the one file a fault touched. Call it after the faults. One touch for
# many files: a process a file cost a second a lab.
blend_in() {
  find "$@" -xdev \( -type f -o -type d -o -type l \) -print0 2>/dev/null | xargs -0 -r touch -a -h -c 2>/dev/null || true
}

# lived_in [USER_HOME]: a shell history and rotated logs, so the host looks like one that
# has been in service for a while rather than one built a minute ago.
lived_in() {
  local home=${1:-/root}
  cat >>"$home/.bash_history" <<'HISTORY'
uptime
df -h
systemctl status --no-pager 2>/dev/null || service --status-all
tail -n 50 /var/log/syslog
apt list --upgradable
free -m
ps aux --sort=-%cpu | head
exit
HISTORY
  local log
  for log in /var/log/syslog /var/log/auth.log; do
    [ -e "$log.1" ] || printf '%s host kernel: [    0.000000] Linux version (rotated)\n' "$(date -d '-1 day' '+%b %e %T')" >"$log.1"
    [ -e "$log.2.gz" ] || printf '%s host systemd[1]: Started Daily apt upgrade and clean activities.\n' \
      "$(date -d '-2 days' '+%b %e %T')" | gzip -c >"$log.2.gz"
  done
}
