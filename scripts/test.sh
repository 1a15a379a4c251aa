#!/usr/bin/env bash
# Install everything (system programs, the package, dev tools) and run the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/bootstrap.sh" --dev
cd "$root"
exec .venv/bin/python -m pytest "$@"
