#!/usr/bin/env bash
# Long schemathesis run over the JSON API (exchange + FHIR) on a loopback server: see fuzz/fuzz_api.py.
#   scripts/fuzz_api.sh                 # 1000 examples per operation and phase, SQLite
#   scripts/fuzz_api.sh 5000 1800       # 5000 examples, at most 30 min per token
#   DATAHEALTH_FUZZ_POSTGRES_URL=postgresql://user@127.0.0.1:5432/postgres scripts/fuzz_api.sh
# Reports: var/fuzz-api/{consortium,researcher}/. Exit code non-zero when schemathesis found a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
args=(--examples "${1:-1000}")
if [ -n "${2:-}" ]; then args+=(--max-time "$2"); fi
exec python3 fuzz/fuzz_api.py "${args[@]}"
