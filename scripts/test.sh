#!/usr/bin/env bash
# Set up (scripts/setup.sh), make sure MariaDB runs (scripts/mariadb.sh), and run the whole test
# suite. Fails when any test fails or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
. scripts/venv.sh

# The MySQL/MariaDB tests need a server (installed and started if missing).
bash scripts/mariadb.sh

python3 -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
