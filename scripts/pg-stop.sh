#!/usr/bin/env bash
# Stop the private test PostgreSQL cluster started by pg-start.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD/var/test-postgres"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -d "$root/data" ] || exit 0
if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$root/data" -m fast stop >/dev/null 2>&1
else "$bindir/pg_ctl" -D "$root/data" -m fast stop >/dev/null 2>&1; fi
exit 0
