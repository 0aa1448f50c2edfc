#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine, then runs the whole suite:
# lint (ruff), types (mypy --strict), and pytest on SQLite and PostgreSQL, browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need_apt+=(fonts-noto-cjk)
# Report PDFs: WeasyPrint needs Pango; the PDF tests turn pages into PNG with pdftoppm (poppler-utils).
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0" || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
# Linked analytics run the same tests on Apache Spark (PySpark 4.0 local mode needs Java 17 or 21).
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
if [ -z "${DATAHEALTH_TEST_POSTGRES_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
# pg_dump/pg_restore for the backup tests: the server package brings them (postgresql-client-<v> in
# /usr/lib/postgresql/<v>/bin); against an external server install the client tools on their own.
if [ ${#need_apt[@]} -eq 0 ] || [[ ! " ${need_apt[*]} " =~ " postgresql " ]]; then
  if ! ls /usr/lib/postgresql/*/bin/pg_restore >/dev/null 2>&1 && ! command -v pg_restore >/dev/null 2>&1; then
    need_apt+=(postgresql-client)
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "== installing Python packages"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

# A throw-away PostgreSQL cluster on loopback, unless one was given.
if [ -z "${DATAHEALTH_TEST_POSTGRES_URL:-}" ]; then
  bash scripts/pg-start.sh
  # shellcheck disable=SC1091
  source var/test-postgres/env
  trap 'bash scripts/pg-stop.sh' EXIT
fi

echo "== ruff"
ruff check src tests benchmarks scripts fuzz
echo "== mypy --strict"
mypy src
echo "== bandit"
bandit -c pyproject.toml -r src -q
echo "== pytest (SQLite and PostgreSQL)"
python3 -m pytest -n 2 --dist loadfile "$@"
