#!/usr/bin/env bash
# Start a private PostgreSQL cluster for the tests on 127.0.0.1 (port $PGPORT, default 54329).
# Writes var/test-postgres/env with DATAHEALTH_TEST_POSTGRES_URL. Durability settings stay on.
set -euo pipefail
cd "$(dirname "$0")/.."
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
root="$PWD/var/test-postgres"
port="${PGPORT:-54329}"
mkdir -p "$root"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then chown postgres "$root"; fi
if [ -f "$root/data/postmaster.pid" ]; then as_pg "$bindir/pg_ctl" -D "$root/data" -m fast stop >/dev/null 2>&1 || true; fi
rm -rf "$root/data"
as_pg "$bindir/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w \
  -o "-h 127.0.0.1 -p $port -k $root -c fsync=on -c synchronous_commit=on -c max_connections=200" start >/dev/null
echo "export DATAHEALTH_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/postgres" > "$root/env"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
