#!/bin/bash
# Refresh the finance reporting copy from a Stackwell backup download.
# Run by hand on reports-db01, once a month before the close:
#   ./restore-reporting.sh /srv/restore/<file>.dump
set -uo pipefail

DUMP="${1:?usage: restore-reporting.sh DUMPFILE}"
PGHOST=pg-reporting.fernhill.internal
PGDATABASE=fernhill_reporting
PGUSER=restore_admin
LOG=/var/log/fernhill/restore-reporting.log

echo "$(date -Is) starting restore of $DUMP into $PGHOST/$PGDATABASE" | tee -a "$LOG"
pg_restore --verbose --clean --if-exists --jobs=4 \
    -h "$PGHOST" -U "$PGUSER" -d "$PGDATABASE" "$DUMP" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
echo "$(date -Is) restore finished rc=$rc" | tee -a "$LOG"
exit "$rc"
